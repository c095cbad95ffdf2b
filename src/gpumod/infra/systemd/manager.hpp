// Talking to the systemd user manager: start/stop/restart units, reload unit files, read a
// unit's state (ActiveState, SubState, NRestarts, MainPID, ExecMainStatus, ExecMainCode) and the
// tail of its journal. Every call takes a deadline; nothing here waits without one.
// SystemdManager is an interface so that the engine's tests can fake it. Two real backends:
// sd-bus over the user bus (no process per call; built when libsystemd is available) and
// `systemctl --user` / `journalctl --user` through util::run_capture.
// start/stop/restart enqueue a job ("replace" mode) and return once systemd accepted it; callers
// watch unit_status() for the outcome (activating, active, failed, auto-restart).
// Thread-safety: the real managers may be used from several threads (the sd-bus one serialises
// its calls with a mutex). The free functions are pure or read the environment only.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gpumod/util/result.hpp"

namespace gpumod::infra::systemd {

struct UnitStatus {
  std::string load_state;    // "loaded", "not-found", ...
  std::string active_state;  // "active", "inactive", "activating", "failed", ...
  std::string sub_state;     // "running", "dead", "auto-restart", "exited", ...
  int main_pid = 0;          // 0 when no main process
  int n_restarts = 0;        // automatic restarts since the unit was last started by hand
  int exec_main_status = 0;  // exit status or signal number of the last main process
  int exec_main_code = 0;    // CLD_EXITED (1), CLD_KILLED (2), CLD_DUMPED (3), or 0
};

class SystemdManager {
 public:
  virtual ~SystemdManager() = default;

  virtual util::Status daemon_reload(std::chrono::milliseconds deadline) = 0;
  virtual util::Status start(const std::string& unit, std::chrono::milliseconds deadline) = 0;
  virtual util::Status stop(const std::string& unit, std::chrono::milliseconds deadline) = 0;
  virtual util::Status restart(const std::string& unit, std::chrono::milliseconds deadline) = 0;
  virtual util::Result<UnitStatus> unit_status(const std::string& unit,
                                               std::chrono::milliseconds deadline) = 0;
  // The last `lines` lines (clamped to [1, 1000]) the unit logged, oldest first.
  virtual util::Result<std::vector<std::string>> journal_tail(
      const std::string& unit, int lines, std::chrono::milliseconds deadline) = 0;

  // "sd-bus" or "systemctl", for messages.
  virtual std::string_view backend() const = 0;
};

// Parses `systemctl show -p ...` output (KEY=VALUE lines). Missing numeric keys, empty values
// and "[not set]" read as 0; a missing ActiveState or a non-numeric number is corrupt.
util::Result<UnitStatus> parse_show_output(std::string_view text);

// The environment variables that make the user bus reachable when they are missing (cron, MCP,
// sudo -u): XDG_RUNTIME_DIR=<run_user_root>/<uid> if that directory exists, and
// DBUS_SESSION_BUS_ADDRESS=unix:path=<runtime>/bus if that socket exists. Only variables that
// are absent (nullptr or empty) are returned; present ones are never replaced.
std::map<std::string, std::string> user_bus_env_fix(const char* xdg_runtime_dir,
                                                    const char* dbus_session_bus_address,
                                                    const std::filesystem::path& run_user_root,
                                                    unsigned uid);
// The same for this process (getenv, /run/user, getuid()).
std::map<std::string, std::string> user_bus_env_fix_for_this_process();

// The systemctl/journalctl backend (no probe; calls fail if there is no user session).
std::unique_ptr<SystemdManager> make_systemctl_manager(std::string systemctl_path,
                                                       std::string journalctl_path);

// Picks a working backend: sd-bus when the user bus answers, else `systemctl --user` when it
// answers, else unavailable with a message saying why (no user session, no systemctl). Bounded
// by `probe_deadline` per backend.
util::Result<std::unique_ptr<SystemdManager>> open_systemd_manager(
    std::chrono::milliseconds probe_deadline = std::chrono::milliseconds{3000});

}  // namespace gpumod::infra::systemd
