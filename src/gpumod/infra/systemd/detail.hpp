// Internal to infra/systemd: pieces shared by the systemctl and sd-bus backends.
// Thread-safety: the functions are safe to call from several threads.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gpumod/infra/systemd/manager.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::systemd::detail {

// journalctl --user -u <unit> -n <lines> --no-pager -o cat, with a deadline.
util::Result<std::vector<std::string>> journal_tail_via_journalctl(
    const std::string& journalctl_path, const std::map<std::string, std::string>& env_fix,
    const std::string& unit, int lines, std::chrono::milliseconds deadline);

// Connects to the user bus (using env_fix for a missing DBUS_SESSION_BUS_ADDRESS) and checks
// that systemd answers there. unavailable when it does not or when built without libsystemd.
util::Result<std::unique_ptr<SystemdManager>> open_sdbus_manager(
    const std::map<std::string, std::string>& env_fix, std::string journalctl_path,
    std::chrono::milliseconds probe_deadline);

}  // namespace gpumod::infra::systemd::detail
