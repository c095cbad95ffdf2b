// ProcessSpawner: starts an inference server as a detached process (own session and process group,
// output appended to a log file), tells whether it still runs, stops it (SIGTERM to the group,
// SIGKILL after a grace period) and waits for its exit without polling (pidfd + poll).
// Processes are identified by ProcessIdentity (pid + start time), so a daemon restarted later can
// adopt processes an earlier daemon started; for those ("adopted", not our children) the exit
// status cannot be known.
// The interface exists so the engine's tests can use a fake; LinuxProcessSpawner is the real one.
// Thread-safety: LinuxProcessSpawner may be used from several threads at once (an internal mutex
// guards its record of own children). It reaps only the pids it spawned (waitpid on those pids,
// never waitpid(-1)), so it does not steal the statuses of other code's children.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gpumod/infra/process/identity.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::process {

struct SpawnSpec {
  std::vector<std::string> argv;             // argv[0] is looked up on PATH (the child's PATH)
  std::map<std::string, std::string> env;    // added to (or replacing in) the environment
  bool inherit_env = true;                   // start from the daemon's environment
  std::filesystem::path cwd;                 // empty: the daemon's working directory
  std::filesystem::path log_file;            // stdout+stderr appended here (0600); empty: /dev/null
};

// How a process ended. Returned only once the process is gone.
struct ExitInfo {
  bool exited = false;   // ended through exit(): exit_code is valid
  int exit_code = -1;
  int signal = 0;        // killed by this signal (exited is false)
  bool known = false;    // false for adopted non-children: gone, but how cannot be known

  bool clean() const { return known && exited && exit_code == 0; }
  std::string describe() const;  // "exit code 3", "killed by signal 9 (SIGKILL)", "exited (status unknown)"
};

class ProcessSpawner {
 public:
  virtual ~ProcessSpawner() = default;

  // Starts the process. Errors: invalid_argument (empty argv), not_found (the program is not on
  // PATH or not executable, or cwd does not exist), io (the log file cannot be opened),
  // failed (fork/exec failed otherwise).
  virtual util::Result<ProcessIdentity> spawn(const SpawnSpec& spec) = 0;

  // What spawn would refuse, checked without starting anything (a switch's preflight): the
  // program on the child's PATH and executable, the working directory. Same errors as spawn.
  // The default accepts everything (spawners whose processes are not programs on this host).
  virtual util::Status can_start(const SpawnSpec& spec) const {
    (void)spec;
    return {};
  }

  // True when the identified process is alive (not a zombie, not a recycled pid).
  virtual bool alive(const ProcessIdentity& identity) = 0;

  // SIGTERM to the process group, waits up to grace, then SIGKILL to the group; returns once the
  // process is confirmed gone. Stopping a process that is already gone succeeds.
  // Errors: failed (no permission to signal), timeout (still present after SIGKILL).
  virtual util::Result<ExitInfo> stop(const ProcessIdentity& identity, std::chrono::milliseconds grace) = 0;

  // Waits up to timeout for the process to end; nullopt if it still runs. Own children are reaped
  // here and their status returned; for adopted processes known is false.
  virtual std::optional<ExitInfo> wait_exit(const ProcessIdentity& identity, std::chrono::milliseconds timeout) = 0;
};

class LinuxProcessSpawner final : public ProcessSpawner {
 public:
  LinuxProcessSpawner() = default;
  LinuxProcessSpawner(const LinuxProcessSpawner&) = delete;
  LinuxProcessSpawner& operator=(const LinuxProcessSpawner&) = delete;

  util::Result<ProcessIdentity> spawn(const SpawnSpec& spec) override;
  util::Status can_start(const SpawnSpec& spec) const override;
  bool alive(const ProcessIdentity& identity) override;
  util::Result<ExitInfo> stop(const ProcessIdentity& identity, std::chrono::milliseconds grace) override;
  std::optional<ExitInfo> wait_exit(const ProcessIdentity& identity, std::chrono::milliseconds timeout) override;

  // True when this spawner started the process (it is, or was, our child).
  bool is_own_child(const ProcessIdentity& identity) const;

  // How long stop() waits after SIGKILL for the process to disappear.
  static constexpr std::chrono::milliseconds k_kill_confirm_timeout{5000};

 private:
  struct ChildRecord {
    std::uint64_t start_time_ticks = 0;
    std::optional<ExitInfo> exit;  // set once reaped
  };

  // Non-blocking reap of an own child; returns its exit once known. Caller holds no lock.
  std::optional<ExitInfo> try_reap(const ProcessIdentity& identity);
  void prune_locked();

  mutable std::mutex m_mutex;
  std::map<int, ChildRecord> m_children;  // pid -> record
};

}  // namespace gpumod::infra::process
