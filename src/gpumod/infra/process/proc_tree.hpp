// Process trees and ports from /proc: the descendants of a process, its command line, and which
// process listens on a TCP port (to tie a port to a service's process tree, W14).
// Only processes whose /proc/<pid>/fd gpumod may read (same user, or root) are seen as listeners.
// Thread-safety: free functions reading /proc; safe from any thread.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gpumod/util/result.hpp"

namespace gpumod::infra::process {

// Every process below pid (children, grandchildren, ...), from one scan of /proc; pid itself is not
// included. Empty when pid has no children or does not exist.
std::vector<int> descendants(int pid);

// The parent pid, if the process exists.
std::optional<int> parent_pid(int pid);

// True when pid is root_pid or one of its descendants (walks the parent chain up from pid).
bool is_in_tree(int root_pid, int pid);

// The command line with arguments joined by single spaces ("" for kernel threads and zombies).
// Errors: invalid_argument (pid <= 0), not_found (no such process).
util::Result<std::string> read_cmdline(int pid);

// The pids whose open sockets include a TCP (v4 or v6) socket in LISTEN state on the port, in
// ascending order (several when a socket is shared by forked workers).
std::vector<int> listening_pids_for_port(int port);

// The inodes of the TCP (v4 or v6) sockets in LISTEN state on the port, from /proc/net/tcp{,6}
// (no per-process scan): empty when nothing listens there.
std::set<unsigned long> listen_socket_inodes(int port);

// True when the process has one of these sockets open (reads only /proc/<pid>/fd; false when
// that cannot be read). Checking a known pid this way costs one directory instead of all of them.
bool holds_socket(int pid, const std::set<unsigned long>& inodes);

// The lowest such pid (normally the parent of forked workers), if any.
std::optional<int> listening_pid_for_port(int port);

}  // namespace gpumod::infra::process
