// The simulated GPU's ledger: how processes (the mock servers) account the memory they "use" on
// a simulated GPU, so that status and admission see memory move as services start, sleep, stop.
//
// Format: a directory; one file per process, named by its pid, holding one line
// "<used_mib> <name>\n", written atomically (temporary file + rename). A file whose pid is no
// longer alive is ignored (and removed by read_ledger). The directory is
// $GPUMOD_SIM_GPU_DIR, else $XDG_RUNTIME_DIR/gpumod/simgpu, else /tmp/gpumod-<uid>/simgpu.
// Thread-safety: functions are safe to call from any thread; the file system serializes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "gpumod/core/gpu.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::gpu {

std::filesystem::path default_ledger_dir();

// Records that `pid` uses `used_mib`; 0 removes the entry.
util::Status write_ledger_entry(const std::filesystem::path& dir, int pid, std::int64_t used_mib,
                                const std::string& name);
void remove_ledger_entry(const std::filesystem::path& dir, int pid);

// Entries of live processes; stale files are deleted.
std::vector<core::GpuProcess> read_ledger(const std::filesystem::path& dir);

}  // namespace gpumod::infra::gpu
