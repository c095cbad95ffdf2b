#include "gpumod/core/mode_plan.hpp"

#include <algorithm>
#include <functional>
#include <set>

#include "gpumod/core/simulation.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::core {

std::string_view to_string(StepAction action) {
  switch (action) {
    case StepAction::keep: return "keep";
    case StepAction::sleep: return "sleep";
    case StepAction::stop: return "stop";
    case StepAction::wake: return "wake";
    case StepAction::start: return "start";
    case StepAction::restart: return "restart";
    case StepAction::await_ready: return "await";
  }
  return "keep";
}

bool Plan::changes_anything() const {
  return std::ranges::any_of(steps, [](const PlanStep& s) { return s.action != StepAction::keep; });
}

std::string router_group(const Service& s) {
  if (s.driver != DriverKind::llamacpp || s.sleep_mode != SleepMode::router || !s.port) return "";
  return std::to_string(*s.port) + "|" + s.var("models_dir").value_or("");
}

util::Result<std::vector<std::pair<std::string, bool>>> start_order(const Config& config,
                                                                    const std::vector<std::string>& targets) {
  std::vector<std::pair<std::string, bool>> order;
  std::set<std::string> done, on_stack;
  const std::set<std::string> target_set(targets.begin(), targets.end());
  std::function<util::Status(const std::string&)> visit = [&](const std::string& id) -> util::Status {
    if (done.contains(id)) return {};
    if (on_stack.contains(id)) {
      return util::fail(util::ErrorCode::config_invalid, "dependency cycle through '" + id + "'");
    }
    const auto* s = config.find_service(id);
    if (!s) return util::fail(util::ErrorCode::not_found, "no service '" + id + "'");
    on_stack.insert(id);
    for (const auto& dep : s->depends_on) {
      if (auto st = visit(dep); !st) return st;
    }
    on_stack.erase(id);
    done.insert(id);
    order.emplace_back(id, !target_set.contains(id));
    return {};
  };
  for (const auto& id : targets) {
    if (auto st = visit(id); !st) return std::unexpected(st.error());
  }
  return order;
}

namespace {

std::int64_t need_of(const Service& s, const ObservedService& o) {
  return o.learned_mib.value_or(s.vram_mib);
}

// A router's sleep is an unload: no level (0).
int sleep_level(const Service& s) {
  if (s.sleep_mode == SleepMode::router) return 0;
  return s.sleep_mode == SleepMode::l2 ? 2 : 1;
}

bool is_stopped(ServiceState st) { return st == ServiceState::stopped; }

}  // namespace

util::Result<Plan> plan_mode_switch(const PlanInput& in) {
  const Config& cfg = *in.config;
  const Mode* mode = cfg.find_mode(in.target_mode);
  if (!mode) {
    const auto ids = cfg.mode_ids();
    return util::fail(util::ErrorCode::not_found,
                      "no mode '" + in.target_mode + "'" + util::did_you_mean(in.target_mode, ids));
  }
  auto order = start_order(cfg, mode->services);
  if (!order) return std::unexpected(order.error());
  std::set<std::string> incoming_ids;
  std::set<std::string> incoming_groups;
  for (const auto& [id, dep] : *order) {
    incoming_ids.insert(id);
    if (const auto* s = cfg.find_service(id); s && !router_group(*s).empty()) incoming_groups.insert(router_group(*s));
  }
  const auto observed = [&](const std::string& id) {
    const auto it = in.observed.find(id);
    return it == in.observed.end() ? ObservedService{} : it->second;
  };

  Plan plan;
  plan.target_mode = mode->id;
  std::int64_t free_mib = in.gpu_free_mib;

  // Outgoing, in id order (each independent; the executor runs stops in parallel).
  for (const auto& s : cfg.services) {
    if (incoming_ids.contains(s.id)) continue;
    const auto o = observed(s.id);
    if (is_stopped(o.state)) continue;
    PlanStep step;
    step.service_id = s.id;
    step.outgoing = true;
    step.prior_state = o.state;
    step.prior_sleep_level = o.sleep_level;
    const bool shares_router = !router_group(s).empty() && incoming_groups.contains(router_group(s));
    if (o.state == ServiceState::running && s.can_sleep()) {
      step.action = StepAction::sleep;
      step.sleep_level = sleep_level(s);
      const std::int64_t residue = o.learned_sleep_mib.value_or(default_sleep_residue_mib(s.sleep_mode, o.resident_mib));
      step.frees_mib = std::max<std::int64_t>(0, o.resident_mib - residue);
      step.reason = s.sleep_mode == SleepMode::router
                        ? "not in mode " + mode->id + "; its model is unloaded (the router stays)"
                        : "not in mode " + mode->id + "; sleeps at level " + std::to_string(step.sleep_level);
    } else if (o.state == ServiceState::sleeping && shares_router) {
      continue;  // its model is unloaded; the router process stays for the incoming service
    } else if (o.state == ServiceState::sleeping && s.can_sleep() && in.leaving.contains(s.id)) {
      continue;  // of the mode being left, and already asleep: where this switch puts it
    } else {
      step.action = StepAction::stop;
      step.frees_mib = o.resident_mib;
      step.reason = "not in mode " + mode->id + " (" + std::string(to_string(o.state)) + ")";
    }
    free_mib += step.frees_mib;
    step.predicted_free_mib = free_mib;
    plan.steps.push_back(std::move(step));
  }

  // Incoming, in the mode's order with dependencies first.
  for (const auto& [id, dependency_only] : *order) {
    const auto* s = cfg.find_service(id);
    const auto o = observed(id);
    PlanStep step;
    step.service_id = id;
    step.as_dependency = dependency_only;
    step.prior_state = o.state;
    step.prior_sleep_level = o.sleep_level;
    const std::string why = dependency_only ? "a dependency of mode " + mode->id : "in mode " + mode->id;
    switch (o.state) {
      case ServiceState::running:
        step.action = StepAction::keep;
        step.reason = why + "; running";
        break;
      case ServiceState::sleeping:
        step.action = StepAction::wake;
        step.need_mib = std::max<std::int64_t>(0, need_of(*s, o) - o.resident_mib);
        step.reason = why + "; asleep";
        break;
      case ServiceState::starting:
      case ServiceState::loading:
        step.action = StepAction::await_ready;
        step.reason = why + "; already " + std::string(to_string(o.state));
        break;
      case ServiceState::unhealthy:
      case ServiceState::unknown:
        step.action = StepAction::restart;
        step.need_mib = std::max<std::int64_t>(0, need_of(*s, o) - o.resident_mib);
        step.reason = why + "; " + std::string(to_string(o.state)) + ", repaired by a restart";
        break;
      case ServiceState::stopped:
      case ServiceState::failed:
        step.action = StepAction::start;
        step.need_mib = need_of(*s, o);
        step.reason = why + (o.state == ServiceState::failed ? "; failed, started again" : "; stopped");
        break;
    }
    if (step.need_mib > 0 && free_mib < step.need_mib + in.margin_mib && plan.predicted_to_fit) {
      plan.predicted_to_fit = false;
      plan.fit_problem = id + " needs " + util::group_thousands(step.need_mib) + " MiB + " +
                         util::group_thousands(in.margin_mib) + " MiB margin, but only " +
                         util::group_thousands(free_mib) + " MiB is predicted free";
    }
    free_mib -= step.need_mib;
    step.predicted_free_mib = free_mib;
    plan.steps.push_back(std::move(step));
  }
  plan.predicted_free_mib = free_mib;
  return plan;
}

}  // namespace gpumod::core
