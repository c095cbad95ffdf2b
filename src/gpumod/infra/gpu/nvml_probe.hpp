// The NVML probe: reads the GPUs through libnvidia-ml, loaded at run time with dlopen
// (libnvidia-ml.so.1, then libnvidia-ml.so); gpumod has no link-time dependency on NVIDIA.
// NVML is initialized once per probe and shut down when the probe (and any query still running
// on its behalf) is gone. Each snapshot runs the NVML calls on a worker thread and waits at most
// the deadline; a caller is never blocked past it, even when the driver hangs.
// Thread-safety: snapshot() may be called from several threads; queries run one at a time.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gpumod/infra/gpu/probe.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::gpu {

// Errors: unavailable (the library is missing or lacks NVML's functions, the driver is not
// loaded, or NVML sees no GPU), timeout (NVML did not initialize within the deadline).
util::Result<std::unique_ptr<GpuProbe>> open_nvml_probe(
    std::chrono::milliseconds deadline = std::chrono::seconds(10));

// The same, trying the given library names in order (for tests and unusual installs).
util::Result<std::unique_ptr<GpuProbe>> open_nvml_probe_from(
    const std::vector<std::string>& library_names, std::chrono::milliseconds deadline);

}  // namespace gpumod::infra::gpu
