#include "support/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace gpumod::test_support {

ChildProcess::ChildProcess(const std::vector<std::string>& argv, ChildOptions options) {
  if (argv.empty()) {
    m_error = "empty argv";
    return;
  }
  m_output_file = options.output_file;
  if (m_output_file.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gpumod-child-XXXXXX").string();
    const int fd = ::mkstemp(tmpl.data());
    if (fd >= 0) ::close(fd);
    m_output_file = tmpl;
    m_remove_output = true;
  }
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    const std::string kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& k : options.unset_env) env.erase(k);
  for (const auto& [k, v] : options.env) env[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& s : args) argp.push_back(s.data());
  argp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, m_output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0].c_str(), &actions, &attr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    m_error = "posix_spawn " + args[0] + ": " + std::strerror(rc);
    return;
  }
  m_pid = pid;
}

ChildProcess::~ChildProcess() {
  if (m_pid > 0 && !m_status) {
    ::kill(m_pid, SIGKILL);
    int st = 0;
    ::waitpid(m_pid, &st, 0);
  }
  if (m_remove_output) {
    std::error_code ec;
    std::filesystem::remove(m_output_file, ec);
  }
}

bool ChildProcess::running() {
  if (m_pid <= 0 || m_status) return false;
  int st = 0;
  const pid_t r = ::waitpid(m_pid, &st, WNOHANG);
  if (r == m_pid) {
    m_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return r == 0;
}

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (m_pid <= 0) return std::nullopt;
  wait_until([this] { return !running(); }, timeout, std::chrono::milliseconds(2));
  return m_status;
}

std::optional<int> ChildProcess::terminate(std::chrono::milliseconds grace) {
  if (!running()) return m_status;
  ::kill(m_pid, SIGTERM);
  if (auto st = wait_exit(grace)) return st;
  ::kill(m_pid, SIGKILL);
  wait_exit(std::chrono::seconds(5));
  return std::nullopt;
}

void ChildProcess::send_signal(int sig) {
  if (running()) ::kill(m_pid, sig);
}

std::string ChildProcess::output() const {
  std::ifstream in(m_output_file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

}  // namespace gpumod::test_support
