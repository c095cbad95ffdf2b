#include "support/promtool.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/temp_dir.hpp"

extern char** environ;

namespace gpumod::test_support {

namespace fs = std::filesystem;

std::string promtool_path() {
  for (const char* p : {"/usr/bin/promtool", "/usr/local/bin/promtool"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

std::optional<PromtoolResult> promtool_check_metrics(const std::string& exposition) {
  const std::string tool = promtool_path();
  if (tool.empty()) return std::nullopt;
  TempDir dir;
  const fs::path in = dir.path() / "metrics.txt";
  const fs::path out = dir.path() / "promtool.out";
  std::ofstream(in) << exposition;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::string a0 = tool, a1 = "check", a2 = "metrics";
  char* argv[] = {a0.data(), a1.data(), a2.data(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, tool.c_str(), &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return std::nullopt;
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return std::nullopt;
  std::ifstream o(out);
  std::stringstream ss;
  ss << o.rdbuf();
  return PromtoolResult{WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), ss.str()};
}

}  // namespace gpumod::test_support
