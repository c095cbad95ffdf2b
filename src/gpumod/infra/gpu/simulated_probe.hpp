// The simulated GPU: one device whose memory use is the sum of the simulated GPU ledger's live
// entries (sim_ledger.hpp), so status and admission see memory move as mock servers start,
// sleep and stop. Also the parser of --simulate-gpu NAME:MiB.
// Thread-safety: snapshot() may be called from several threads (the ledger is files).
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>

#include "gpumod/core/config.hpp"
#include "gpumod/infra/gpu/probe.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::gpu {

inline constexpr std::string_view k_simulated_uuid = "GPU-SIMULATED-0";
inline constexpr std::int64_t k_max_simulated_mib = 2097152;  // 2 TiB
inline constexpr std::size_t k_max_simulated_name = 128;

// One device: index 0, uuid k_simulated_uuid, gpu.name, total gpu.total_mib; used = the sum of
// the ledger's live entries, free = max(0, total - used); processes = the ledger's entries;
// driver_version "simulated"; source simulated.
std::unique_ptr<GpuProbe> make_simulated_probe(core::SimulatedGpu gpu,
                                               std::filesystem::path ledger_dir);

// "NAME:MiB" (split at the last ':'): NAME 1..128 printable ASCII characters (trimmed), MiB a
// whole number in 1..2097152. Errors: invalid_argument, saying what is wrong. The result has
// only_without_gpu = false (asked for explicitly).
util::Result<core::SimulatedGpu> parse_simulate_gpu_arg(std::string_view text);

}  // namespace gpumod::infra::gpu
