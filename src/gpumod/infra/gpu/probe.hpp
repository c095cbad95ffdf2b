// GpuProbe: where gpumod reads the GPU's facts (devices, memory, compute processes). Three
// implementations: NVML (nvml_probe.hpp), nvidia-smi (nvidia_smi.hpp) and the simulated GPU
// (simulated_probe.hpp); select.hpp picks one. Every read has a deadline.
//
// Memory convention, the same for every source: total_mib, used_mib and free_mib are MiB
// (bytes / 2^20) and used_mib = total_mib - free_mib, so memory the driver reserves for itself
// (about 480 MiB on an H100) counts as used, as NVML reports it (nvidia-smi shows it apart).
// A process whose memory the driver does not report has used_mib 0.
//
// Thread-safety: each probe's snapshot() may be called from several threads at once.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "gpumod/core/gpu.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::gpu {

class GpuProbe {
 public:
  virtual ~GpuProbe() = default;
  // Errors: timeout (the deadline passed; the caller is not blocked past it), unavailable (the
  // GPU or its driver does not answer), corrupt (the driver's answer cannot be read).
  virtual util::Result<core::GpuSnapshot> snapshot(std::chrono::milliseconds deadline) = 0;
  // "nvml", "nvidia-smi" or "simulated".
  virtual std::string_view name() const = 0;
};

// The device named by a UUID ("GPU-6f58...", case-insensitive) or a decimal index ("0");
// empty picks index 0 (else the first device). nullptr when there is no such device.
const core::GpuDevice* find_device(const core::GpuSnapshot& snapshot,
                                   std::string_view uuid_or_index);

// The short name of a process from /proc/<pid>/comm; empty when it cannot be read.
std::string process_name_of(int pid);

std::string_view to_string(core::GpuSource source);

}  // namespace gpumod::infra::gpu
