// GPU facts as plain data: devices, their memory, and the compute processes on them.
// Produced by infra/gpu (NVML, nvidia-smi, or a simulation); used by status, simulation and
// admission control. Memory is in MiB (bytes / 2^20), as NVML and nvidia-smi count.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gpumod::core {

struct GpuProcess {
  int pid = 0;
  std::int64_t used_mib = 0;
  std::string name;  // process name when known
};

struct GpuDevice {
  int index = 0;
  std::string uuid;
  std::string name;
  std::int64_t total_mib = 0;
  std::int64_t used_mib = 0;
  std::int64_t free_mib = 0;
  std::vector<GpuProcess> processes;
};

enum class GpuSource { nvml, nvidia_smi, simulated };

struct GpuSnapshot {
  GpuSource source = GpuSource::simulated;
  std::string driver_version;
  std::vector<GpuDevice> devices;
  bool simulated() const { return source == GpuSource::simulated; }
};

}  // namespace gpumod::core
