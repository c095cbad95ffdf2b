// Test helper: starts a program (argv, never a shell) as a child of the test, with extra or
// removed environment variables and its stdout+stderr captured in a file; stops it by pid
// (SIGTERM / SIGKILL to that pid only) and reaps it. The destructor kills and reaps a child that
// is still running, so a failing test leaves nothing behind.
// Also: wait_until(), polling a condition with a deadline.
// Thread-safety: one ChildProcess belongs to one thread (the test).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gpumod::test_support {

struct ChildOptions {
  std::map<std::string, std::string> env;  // added to (or replacing in) the test's environment
  std::vector<std::string> unset_env;      // removed from it
  std::filesystem::path output_file;       // stdout+stderr; empty: a temporary file
};

class ChildProcess {
 public:
  // Starts argv[0] (a path) with argv; pid() <= 0 when it could not be started (see error()).
  ChildProcess(const std::vector<std::string>& argv, ChildOptions options = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return m_pid; }
  const std::string& error() const { return m_error; }
  bool running();  // not yet exited (reaps it if it has)
  // Waits for the exit; the exit status, or 128 + signal; nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  // SIGTERM, then wait up to `grace`: the exit status; nullopt when it had to be SIGKILLed.
  std::optional<int> terminate(std::chrono::milliseconds grace = std::chrono::seconds(5));
  void send_signal(int sig);
  std::string output() const;  // what the child wrote so far
  const std::filesystem::path& output_file() const { return m_output_file; }

 private:
  pid_t m_pid = -1;
  std::optional<int> m_status;
  std::string m_error;
  std::filesystem::path m_output_file;
  bool m_remove_output = false;
};

// Polls `condition` every `poll` until true (returns true) or `timeout` passes (returns false).
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll = std::chrono::milliseconds(5));

}  // namespace gpumod::test_support
