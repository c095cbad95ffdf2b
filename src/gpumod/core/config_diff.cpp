#include "gpumod/core/config_diff.hpp"

#include <tuple>

namespace gpumod::core {

namespace {

auto fields(const Service& s) {
  return std::tie(s.id, s.name, s.driver, s.port, s.vram_mib, s.context_size, s.kv_cache_per_1k_mib, s.model_id,
                  s.model_path, s.health_endpoint, s.startup_timeout, s.supports_sleep, s.sleep_mode,
                  s.unit_template, s.unit_vars, s.depends_on, s.supervisor, s.stop_timeout, s.restart,
                  s.max_restarts, s.restart_window, s.command, s.env, s.gpu);
}

template <typename T, typename Same>
void diff_lists(const std::vector<T>& before, const std::vector<T>& after, Same same, std::vector<std::string>& added,
                std::vector<std::string>& removed, std::vector<std::string>& changed) {
  for (const auto& b : before) {
    bool found = false;
    for (const auto& a : after) {
      if (a.id != b.id) continue;
      found = true;
      if (!same(a, b)) changed.push_back(b.id);
    }
    if (!found) removed.push_back(b.id);
  }
  for (const auto& a : after) {
    bool found = false;
    for (const auto& b : before) found = found || a.id == b.id;
    if (!found) added.push_back(a.id);
  }
}

}  // namespace

bool ConfigDiff::empty() const {
  return services_added.empty() && services_removed.empty() && services_changed.empty() && modes_added.empty() &&
         modes_removed.empty() && modes_changed.empty() && settings_changed.empty();
}

bool same_service(const Service& a, const Service& b) { return fields(a) == fields(b); }

bool same_mode(const Mode& a, const Mode& b) {
  return a.id == b.id && a.name == b.name && a.description == b.description && a.services == b.services;
}

ConfigDiff diff_config(const Config& before, const Config& after) {
  ConfigDiff d;
  diff_lists(before.services, after.services, same_service, d.services_added, d.services_removed, d.services_changed);
  diff_lists(before.modes, after.modes, same_mode, d.modes_added, d.modes_removed, d.modes_changed);
  const auto& x = before.settings;
  const auto& y = after.settings;
  if (x.vram_margin_mib != y.vram_margin_mib) d.settings_changed.push_back("vram_margin_mib");
  if (x.gpu_uuid != y.gpu_uuid) d.settings_changed.push_back("gpu_uuid");
  if (x.health_interval != y.health_interval) d.settings_changed.push_back("health_interval_ms");
  const bool sim_same = x.simulate_gpu.has_value() == y.simulate_gpu.has_value() &&
                        (!x.simulate_gpu || (x.simulate_gpu->name == y.simulate_gpu->name &&
                                             x.simulate_gpu->total_mib == y.simulate_gpu->total_mib &&
                                             x.simulate_gpu->only_without_gpu == y.simulate_gpu->only_without_gpu));
  if (!sim_same) d.settings_changed.push_back("gpu.simulate");
  return d;
}

}  // namespace gpumod::core
