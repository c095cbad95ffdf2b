#include "support/gpumod_runner.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "gpumod/util/subprocess.hpp"

namespace gpumod::testing {

namespace fs = std::filesystem;

fs::path source_dir() { return GPUMOD_SOURCE_DIR; }
fs::path example_config_dir() { return source_dir() / "examples" / "config"; }

GpumodRunner::GpumodRunner() {
  std::random_device rd;
  m_home = fs::temp_directory_path() / ("gpumod-e2e-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  fs::create_directories(m_home / "runtime");
  fs::permissions(m_home / "runtime", fs::perms::owner_all, fs::perm_options::replace);
  m_env["HOME"] = m_home.string();
  m_env["XDG_STATE_HOME"] = (m_home / "state").string();
  m_env["XDG_RUNTIME_DIR"] = (m_home / "runtime").string();
  m_env["XDG_CONFIG_HOME"] = (m_home / "config").string();
  m_env["GPUMOD_SIM_GPU_DIR"] = ledger_dir().string();
  m_env["GPUMOD_DB_PATH"] = (m_home / "state" / "gpumod.db").string();
  m_env["GPUMOD_CONFIG_DIR"] = "";
  m_env["GPUMOD_SERVE_LISTEN"] = "off";  // no test daemon takes the default 127.0.0.1:7979
}

GpumodRunner::~GpumodRunner() {
  // Stop a daemon (and the services it started) left by the test; harmless when none runs.
  if (fs::exists(m_home / "runtime" / "gpumod" / "daemon.sock")) {
    (void)run({"daemon", "stop", "--with-services"}, 30000);
  }
  std::error_code ec;
  fs::remove_all(m_home, ec);
}

RunResult GpumodRunner::run(const std::vector<std::string>& args, int deadline_ms) const {
  std::vector<std::string> argv{m_binary.empty() ? std::string(GPUMOD_BIN) : m_binary.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  util::CaptureOptions opts;
  opts.deadline = std::chrono::milliseconds(deadline_ms);
  opts.env_overrides = m_env;
  auto r = util::run_capture(argv, opts);
  if (!r) return {-1, "", "run_capture failed: " + r.error().message};
  return {r->exit_code, r->out, r->err};
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  if (from.empty()) return text;
  for (std::size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size()) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

std::string compare_golden(const std::string& name, const std::string& actual) {
  const fs::path path = source_dir() / "tests" / "golden" / name;
  if (const char* u = std::getenv("GPUMOD_UPDATE_GOLDEN"); u && std::string(u) == "1") {
    std::ofstream(path, std::ios::trunc) << actual;
    return "";
  }
  std::ifstream in(path);
  if (!in) return "missing golden file " + path.string() + " (run with GPUMOD_UPDATE_GOLDEN=1)";
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str() == actual) return "";
  return "output differs from " + path.string() + "\n--- expected\n" + ss.str() + "\n--- actual\n" + actual;
}

}  // namespace gpumod::testing
