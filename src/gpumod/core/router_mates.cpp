#include "gpumod/core/router_mates.hpp"

#include <algorithm>

#include "gpumod/core/mode_plan.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::core {

int models_max_of(const Service& s) {
  const auto v = s.var("models_max");
  if (!v) return 4;
  const auto n = util::parse_int(util::trim(*v), 0, 1'000'000, "models_max");
  return n ? static_cast<int>(*n) : 4;
}

bool occupies_router(const std::string& status) {
  return status == "loaded" || status == "loading" || status == "sleeping" || status == "downloading";
}

EvictionChoice choose_eviction(const std::vector<RouterModel>& models, const std::string& loading_model,
                               int models_max) {
  EvictionChoice c;
  if (models_max <= 0) return c;
  int occupied = 0;
  for (const auto& m : models) {
    if (m.model_id == loading_model) {
      if (occupies_router(m.status)) return c;  // already in: nothing to make room for
      continue;
    }
    if (occupies_router(m.status)) ++occupied;
  }
  if (occupied < models_max) return c;
  c.needed = true;
  const RouterModel* pick = nullptr;
  for (const bool in_mode : {false, true}) {
    for (const auto& m : models) {
      if (m.model_id == loading_model || m.service_id.empty() || !occupies_router(m.status)) continue;
      if (m.in_current_mode != in_mode) continue;
      pick = &m;
      break;
    }
    if (pick) break;
  }
  if (!pick) {
    c.problem = "the router already holds " + std::to_string(occupied) + " model(s) (models_max " +
                std::to_string(models_max) + ") and none of them is served by a gpumod service";
    return c;
  }
  c.victim = pick->service_id;
  c.victim_model = pick->model_id;
  c.victim_in_mode = pick->in_current_mode;
  return c;
}

UnloadedMate classify_unloaded(ServiceState recorded) {
  switch (recorded) {
    case ServiceState::stopped: return UnloadedMate::stopped;
    case ServiceState::failed: return UnloadedMate::failed;
    case ServiceState::sleeping: return UnloadedMate::asleep;
    case ServiceState::starting:
    case ServiceState::loading: return UnloadedMate::pending;
    case ServiceState::running:
    case ServiceState::unhealthy:
    case ServiceState::unknown: return UnloadedMate::evicted;
  }
  return UnloadedMate::evicted;
}

std::vector<std::string> mode_modifications(const Config& config, const std::string& mode_id,
                                            const std::vector<std::pair<std::string, ServiceNow>>& services) {
  std::vector<std::string> out;
  const Mode* mode = config.find_mode(mode_id);
  if (!mode) return out;
  std::set<std::string> in_mode;
  if (auto order = start_order(config, mode->services)) {
    for (const auto& [id, dep] : *order) in_mode.insert(id);
  }
  for (const auto& [id, now] : services) {
    if (in_mode.contains(id) || now.state != ServiceState::running) continue;
    const auto* s = config.find_service(id);
    const bool woken = s && (s->sleep_mode == SleepMode::router || s->can_sleep());
    out.push_back(id + (woken ? " woken" : " started"));
  }
  for (const auto& [id, now] : services) {
    if (!in_mode.contains(id) || now.state == ServiceState::running) continue;
    if (now.state == ServiceState::starting || now.state == ServiceState::loading) continue;
    out.push_back(id + (now.evicted ? " evicted" : " " + std::string(to_string(now.state))));
  }
  return out;
}

RouterRestartPlan plan_router_restart(const std::vector<MateNow>& mates, const std::set<std::string>& mode_services) {
  RouterRestartPlan plan;
  for (const auto& m : mates) {
    switch (m.state) {
      case ServiceState::running:
      case ServiceState::unhealthy:
      case ServiceState::starting:
      case ServiceState::loading:
      case ServiceState::unknown:
        if (mode_services.empty() || mode_services.contains(m.service_id)) {
          plan.load.push_back(m.service_id);
        } else {
          plan.stop.push_back(m.service_id);
        }
        break;
      case ServiceState::sleeping: plan.asleep.push_back(m.service_id); break;
      case ServiceState::stopped:
      case ServiceState::failed: break;
    }
  }
  return plan;
}

}  // namespace gpumod::core
