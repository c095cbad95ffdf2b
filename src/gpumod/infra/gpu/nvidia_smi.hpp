// The nvidia-smi probe (the fallback when NVML cannot be loaded) and its pure CSV parsers.
// It runs, each under the caller's deadline (util::run_capture, argv only):
//   nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.used,memory.free,driver_version
//              --format=csv,noheader,nounits
//   nvidia-smi --query-compute-apps=gpu_uuid,pid,used_memory,process_name
//              --format=csv,noheader,nounits
// The parsers read line by line (one GPU or process a line; blank lines skipped), trim spaces
// around fields, read "N/A" and "[...]" ("[N/A]", "[Not Supported]") as unknown, accept quoted
// CSV fields, and take extra unquoted commas as part of the name. A malformed line is an error
// (corrupt) that names the line number.
// Thread-safety: the parsers are pure; the probe may be used from several threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gpumod/core/gpu.hpp"
#include "gpumod/infra/gpu/probe.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::gpu {

// Output of --query-gpu=index,uuid,name,memory.total,memory.used,memory.free,driver_version.
// used_mib is total - free when free is known (see probe.hpp), else the reported used.
util::Result<std::vector<core::GpuDevice>> parse_query_gpu_csv(std::string_view csv);

// The driver version from the same output (the first GPU's); empty when there is no GPU line.
util::Result<std::string> parse_driver_version_csv(std::string_view csv);

// Output of --query-compute-apps=gpu_uuid,pid,used_memory,process_name: (gpu uuid, process)
// pairs. Empty output (no processes) is an empty list.
util::Result<std::vector<std::pair<std::string, core::GpuProcess>>> parse_compute_apps_csv(
    std::string_view csv);

// A probe that runs `program` (a name looked up on PATH, or a path).
std::unique_ptr<GpuProbe> make_nvidia_smi_probe(std::string program = "nvidia-smi");

}  // namespace gpumod::infra::gpu
