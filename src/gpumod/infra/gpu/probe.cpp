#include "gpumod/infra/gpu/probe.hpp"

#include <fstream>

#include "gpumod/util/strings.hpp"

namespace gpumod::infra::gpu {

const core::GpuDevice* find_device(const core::GpuSnapshot& snapshot,
                                   std::string_view uuid_or_index) {
  const auto key = util::trim(uuid_or_index);
  if (key.empty()) {
    for (const auto& d : snapshot.devices) {
      if (d.index == 0) return &d;
    }
    return snapshot.devices.empty() ? nullptr : &snapshot.devices.front();
  }
  if (const auto index = util::parse_int(key, 0, 1 << 20, "GPU index"); index.has_value()) {
    for (const auto& d : snapshot.devices) {
      if (d.index == *index) return &d;
    }
    return nullptr;
  }
  const auto wanted = util::to_lower(key);
  for (const auto& d : snapshot.devices) {
    if (util::to_lower(d.uuid) == wanted) return &d;
  }
  return nullptr;
}

std::string process_name_of(int pid) {
  if (pid <= 0) return {};
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  if (!in || !std::getline(in, name)) return {};
  return std::string(util::trim(name));
}

std::string_view to_string(core::GpuSource source) {
  switch (source) {
    case core::GpuSource::nvml: return "nvml";
    case core::GpuSource::nvidia_smi: return "nvidia-smi";
    case core::GpuSource::simulated: return "simulated";
  }
  return "unknown";
}

}  // namespace gpumod::infra::gpu
