// Server markers (issue 19, F3): every process gpumod starts carries two environment variables,
// GPUMOD_SERVICE_ID (its instance: the service id, or the router group's key) and GPUMOD_STATE_DB
// (the state database of the daemon that started it), plus a pid file in the state directory's
// `servers/` folder. With them a daemon whose database is damaged, lost or was not written (a
// full disk) still finds, lists and stops every server it started: /proc/<pid>/environ is read
// once per daemon start, never per command.
// Thread-safety: free functions over /proc and the pid-file folder; safe from any thread.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "gpumod/infra/process/identity.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::process {

inline constexpr const char* k_marker_service_env = "GPUMOD_SERVICE_ID";
inline constexpr const char* k_marker_state_env = "GPUMOD_STATE_DB";

// The environment a server of `instance_key` gets so it can be found without the database.
std::map<std::string, std::string> marker_env(const std::string& instance_key, const std::filesystem::path& state_db);

// The folder of the pid files of the servers started for `state_db`: `<state_db>.servers`.
inline std::filesystem::path pid_dir_for(const std::filesystem::path& state_db) {
  return state_db.string() + ".servers";
}

struct MarkedProcess {
  std::string instance_key;
  ProcessIdentity identity;
};

// The live processes started for `state_db`: session leaders (gpumod starts each server in its
// own session, so a server's children, which inherit its environment, are not listed twice)
// carrying the marker, plus those named by a pid file under `pid_dir` whose process still runs
// with the recorded start time. One entry per instance key (the oldest when several).
std::vector<MarkedProcess> find_marked_processes(const std::filesystem::path& state_db,
                                                 const std::filesystem::path& pid_dir);

// `<pid_dir>/<escaped key>.pid` holds "pid start_time key". Written (atomically, by rename) when
// a server starts and removed when it stops; errors are io.
util::Status write_pid_file(const std::filesystem::path& pid_dir, const std::string& instance_key,
                            const ProcessIdentity& identity);
void remove_pid_file(const std::filesystem::path& pid_dir, const std::string& instance_key);

}  // namespace gpumod::infra::process
