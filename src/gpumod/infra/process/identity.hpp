// ProcessIdentity: a pid plus its kernel start time, so a process can be recognised across daemon
// restarts and a recycled pid is never mistaken for the process gpumod started (Linux /proc).
// Thread-safety: free functions reading /proc; safe from any thread.
#pragma once

#include <cstdint>

#include "gpumod/util/result.hpp"

namespace gpumod::infra::process {

struct ProcessIdentity {
  int pid = 0;
  std::uint64_t start_time_ticks = 0;  // /proc/<pid>/stat field 22 (clock ticks since boot)
  bool operator==(const ProcessIdentity&) const = default;
};

// The start time of a process (field 22 of /proc/<pid>/stat, parsed after the last ')').
// Errors: not_found (no such process), corrupt (unparsable stat), invalid_argument (pid <= 0).
util::Result<std::uint64_t> process_start_time(int pid);

// The identity of a running process now. Errors as process_start_time.
util::Result<ProcessIdentity> identify(int pid);

// True when the pid exists, is not a zombie (or dead), and has the recorded start time.
bool is_same_process_alive(const ProcessIdentity& identity);

// True when /proc/<pid> exists with the recorded start time, zombie or not (the process has not
// been reaped yet). Used before signalling or opening a pidfd.
bool is_same_process_present(const ProcessIdentity& identity);

}  // namespace gpumod::infra::process
