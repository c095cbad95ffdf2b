// Picks the GPU probe for this run. Order:
//   1. --simulate-gpu NAME:MiB (cli_override)
//   2. gpumod.yaml gpu.simulate with only_without_gpu: false
//   3. NVML
//   4. nvidia-smi, when it is on PATH and answers
//   5. gpumod.yaml gpu.simulate (only_without_gpu: true)
//   else an unavailable error that says what was tried and how to simulate a GPU.
// Thread-safety: may be called from any thread (reads PATH and loads libraries).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "gpumod/core/config.hpp"
#include "gpumod/infra/gpu/probe.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::gpu {

struct ProbeSelection {
  std::unique_ptr<GpuProbe> probe;
  // Why this probe, for people, when it is not plain NVML; e.g. "no NVIDIA GPU found (...);
  // using the simulated GPU from gpumod.yaml". Empty for NVML.
  std::string note;
};

util::Result<ProbeSelection> select_probe(const core::Settings& settings,
                                          const std::optional<core::SimulatedGpu>& cli_override,
                                          const std::filesystem::path& ledger_dir);

}  // namespace gpumod::infra::gpu
