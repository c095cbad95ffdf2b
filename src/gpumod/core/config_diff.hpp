// What changed between two configurations: services and modes added, removed or changed, and
// the settings that changed. Pure: the engine decides what each change means for running
// services (engine/reload.cpp); this only compares values (where a thing was defined, its file
// and line, is not a change).
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "gpumod/core/config.hpp"

namespace gpumod::core {

struct ConfigDiff {
  std::vector<std::string> services_added, services_removed, services_changed;
  std::vector<std::string> modes_added, modes_removed, modes_changed;
  std::vector<std::string> settings_changed;  // names: vram_margin_mib, gpu_uuid, health_interval_ms, gpu.simulate
  bool empty() const;
};

bool same_service(const Service& a, const Service& b);
bool same_mode(const Mode& a, const Mode& b);
ConfigDiff diff_config(const Config& before, const Config& after);

}  // namespace gpumod::core
