#include "gpumod/infra/process/identity.hpp"

#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "gpumod/infra/process/proc_stat.hpp"

namespace gpumod::infra::process {

util::Result<std::uint64_t> process_start_time(int pid) {
  auto st = read_proc_stat(pid);
  if (!st) return std::unexpected(st.error());
  return st->start_time_ticks;
}

util::Result<ProcessIdentity> identify(int pid) {
  auto t = process_start_time(pid);
  if (!t) return std::unexpected(t.error());
  return ProcessIdentity{pid, *t};
}

bool is_same_process_alive(const ProcessIdentity& identity) {
  if (identity.pid <= 0) return false;
  auto st = read_proc_stat(identity.pid);
  if (!st) return false;
  if (st->state == 'Z' || st->state == 'X' || st->state == 'x') return false;
  return st->start_time_ticks == identity.start_time_ticks;
}

bool is_same_process_present(const ProcessIdentity& identity) {
  if (identity.pid <= 0) return false;
  auto st = read_proc_stat(identity.pid);
  return st && st->start_time_ticks == identity.start_time_ticks;
}

}  // namespace gpumod::infra::process
