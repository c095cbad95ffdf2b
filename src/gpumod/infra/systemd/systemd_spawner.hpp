// SystemdSpawner: the `systemd` supervision backend. It runs a service as the systemd user unit
// `gpumod-<name>.service` (a unit file gpumod writes) instead of as a child of the daemon:
//   spawn  renders the unit from the SpawnSpec (argv[0] resolved to an absolute path, env, working
//          directory, StandardOutput/StandardError=append:<log_file>, Restart=no because gpumod's
//          own restart policy decides, KillMode=control-group, TimeoutStopSec), installs it
//          atomically, runs daemon-reload only when the file changed (its status checked), starts
//          it (restarts it when it was running with an older unit file) and waits, with a deadline,
//          until the unit is active with a MainPID, whose ProcessIdentity it returns. A unit that
//          fails or exits instead gives an error carrying the unit's journal tail and log tail.
//   alive  the pid + start-time check (no fork, no D-Bus call per probe).
//   stop   stops the unit (systemd sends SIGTERM to the cgroup, SIGKILL after TimeoutStopSec),
//          then waits for the MainPID to exit (pidfd) for grace + a margin; a process still there
//          then is killed (SIGKILL to every pid in the unit's cgroup) and waited for once more.
//   wait_exit  waits (pidfd) for the MainPID to end; the exit status comes from the unit
//          (ExecMainCode/ExecMainStatus) when systemd reports it.
// The unit of an identity is remembered at spawn; for a process adopted after a daemon restart it
// is read from /proc/<pid>/cgroup (the `gpumod-*.service` component).
// The unit name comes from the log file's stem (the engine names logs after the service or
// router instance), else from argv[0]'s base name; characters a unit name cannot hold become '_'.
// The environment of the unit is the systemd user manager's plus SpawnSpec::env (inherit_env is
// ignored: the daemon's own environment is not copied into unit files). Every SystemdManager call
// has a deadline; so has every wait.
// Thread-safety: all methods may be called from several threads at once (a mutex guards the
// identity -> unit map; the SystemdManager must itself be thread-safe, as the real ones are).
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "gpumod/infra/process/identity.hpp"
#include "gpumod/infra/process/spawner.hpp"
#include "gpumod/infra/systemd/manager.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::systemd {

struct SystemdSpawnerSettings {
  std::filesystem::path unit_dir;                        // where unit files go (user_unit_dir())
  std::chrono::seconds stop_timeout{30};                 // TimeoutStopSec= of rendered units
  std::chrono::milliseconds call_deadline{10000};        // each start/stop/status/journal call
  std::chrono::milliseconds reload_deadline{30000};      // daemon-reload
  std::chrono::milliseconds start_timeout{30000};        // start -> active with a MainPID
  // A failed/inactive state seen right after a start may be the previous run's until systemd
  // runs the job; it counts as the outcome once seen for this long (or after any other state).
  std::chrono::milliseconds settle_time{1000};
  std::chrono::milliseconds poll_interval{50};           // unit_status polling while starting
  std::chrono::milliseconds stop_margin{5000};           // added to the grace in stop()
  int journal_lines = 20;                                // in error messages
};

class SystemdSpawner final : public process::ProcessSpawner {
 public:
  SystemdSpawner(SystemdManager& manager, SystemdSpawnerSettings settings);
  SystemdSpawner(const SystemdSpawner&) = delete;
  SystemdSpawner& operator=(const SystemdSpawner&) = delete;

  // Errors: invalid_argument (empty argv, a value the unit file cannot hold), not_found (program
  // not found / not executable), io (unit file or log file), failed (daemon-reload, start, or the
  // unit failed / exited: the message has the journal tail), timeout (not active in time),
  // unavailable / timeout from the manager.
  util::Result<process::ProcessIdentity> spawn(const process::SpawnSpec& spec) override;
  bool alive(const process::ProcessIdentity& identity) override;
  // Errors: failed (the pid is alive but not in a gpumod unit; the unit stop failed), timeout.
  util::Result<process::ExitInfo> stop(const process::ProcessIdentity& identity,
                                       std::chrono::milliseconds grace) override;
  std::optional<process::ExitInfo> wait_exit(const process::ProcessIdentity& identity,
                                             std::chrono::milliseconds timeout) override;

  // "gpumod-<name>.service" for this spec (see the header comment).
  static std::string unit_name_for(const process::SpawnSpec& spec);
  // The unit file text spawn() would install (argv[0] resolved, paths made absolute).
  util::Result<std::string> render(const process::SpawnSpec& spec) const;
  // The unit that runs this process: remembered at spawn, else from /proc/<pid>/cgroup.
  std::optional<std::string> unit_of(const process::ProcessIdentity& identity);

  const SystemdSpawnerSettings& settings() const { return m_settings; }

 private:
  util::Result<process::ProcessIdentity> await_active(const std::string& unit,
                                                      const process::SpawnSpec& spec,
                                                      const UnitStatus& before);
  util::Error unit_error(const std::string& unit, const process::SpawnSpec& spec,
                         const std::string& what);
  process::ExitInfo exit_from_unit(const std::string& unit, std::chrono::milliseconds budget);
  void forget(const process::ProcessIdentity& identity);

  SystemdManager& m_manager;
  SystemdSpawnerSettings m_settings;
  process::LinuxProcessSpawner m_waiter;  // pidfd waits for non-children

  std::mutex m_mutex;
  std::map<std::pair<int, std::uint64_t>, std::string> m_units;  // (pid, start time) -> unit
};

// The `gpumod-*.service` unit named in a /proc/<pid>/cgroup text, if any (exposed for tests).
std::optional<std::string> gpumod_unit_from_cgroup(std::string_view cgroup_text);

}  // namespace gpumod::infra::systemd
