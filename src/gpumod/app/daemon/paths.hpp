// Where the daemon lives on disk: its runtime directory (socket, pid file; 0700), its state
// directory (logs), derived from the XDG variables.
// Thread-safety: pure functions over the environment.
#pragma once

#include <filesystem>
#include <string>

namespace gpumod::app {

// $XDG_RUNTIME_DIR/gpumod, else /tmp/gpumod-<uid>.
std::filesystem::path daemon_runtime_dir();
// <runtime>/daemon.sock
std::filesystem::path daemon_socket_path();
// <runtime>/daemon.lock: held by the running daemon (util::LockFile)
std::filesystem::path daemon_lock_path();
// The running program's file as "device:inode:size:mtime_ns" (stat of /proc/self/exe; "" when it
// cannot be read). A rebuilt or upgraded gpumod differs from the one a running daemon was started
// from, even at the same path (a replaced file is a new inode; the daemon keeps the old one).
std::string binary_identity();
// $XDG_STATE_HOME/gpumod (default ~/.local/state/gpumod)
std::filesystem::path state_dir();
// <state>/logs
std::filesystem::path service_log_dir();

}  // namespace gpumod::app
