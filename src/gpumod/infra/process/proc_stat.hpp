// Parsing of /proc/<pid>/stat (the fields gpumod needs). Internal to infra/process, but usable by
// other infra code.
// Thread-safety: pure parsing / a single file read; safe from any thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "gpumod/util/result.hpp"

namespace gpumod::infra::process {

struct ProcStat {
  int pid = 0;
  char state = '?';                  // field 3: R S D Z T t X I ...
  int ppid = 0;                      // field 4
  int pgid = 0;                      // field 5
  int session = 0;                   // field 6
  std::uint64_t start_time_ticks = 0;  // field 22
};

// Parses the text of /proc/<pid>/stat; the command name (field 2) may hold spaces and ')', so the
// fields are read after the LAST ')'. Errors: corrupt.
util::Result<ProcStat> parse_proc_stat(std::string_view text);

// Reads and parses /proc/<pid>/stat. Errors: invalid_argument (pid <= 0), not_found, corrupt.
util::Result<ProcStat> read_proc_stat(int pid);

}  // namespace gpumod::infra::process
