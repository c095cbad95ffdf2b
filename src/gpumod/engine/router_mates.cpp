// Router-mates in the engine: the services of one llama-server router are models of ONE process.
// Loading one into a router at models_max unloads a named mate first (refused when that mate is of
// the current mode, unless `--evict`); a mate the router unloaded is "evicted", never crashed; the
// router process stays while a mate is running or asleep; the undo of a failed switch's step
// restores the state before it (#19 F1). Decisions are core::router_mates; this file acts.
#include <algorithm>

#include "gpumod/core/mode_plan.hpp"
#include "gpumod/core/router_mates.hpp"
#include "gpumod/drivers/llamacpp_driver.hpp"
#include "gpumod/engine/engine_impl.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::engine {

using core::ServiceState;
using util::ErrorCode;

namespace {

std::optional<std::string> model_on_router(const core::Service& svc, const drivers::Observation& obs) {
  std::vector<std::string> ids;
  for (const auto& m : obs.models) ids.push_back(m.id);
  auto id = drivers::resolve_model_id(svc, ids);
  if (!id) return std::nullopt;
  return *id;
}

std::string model_value(const drivers::Observation& obs, const std::string& id) {
  for (const auto& m : obs.models) {
    if (m.id == id) return m.value;
  }
  return "";
}

}  // namespace

std::set<std::string> Engine::Impl::current_mode_services() {
  std::set<std::string> out;
  auto cur = store.get_current_mode();
  if (!cur || !*cur) return out;
  const auto* mode = config.find_mode(**cur);
  if (!mode) return out;
  if (auto order = core::start_order(config, mode->services)) {
    for (const auto& [id, dependency_only] : *order) out.insert(id);
  }
  return out;
}

void Engine::Impl::adjust_mate_observation(const Slot& s, drivers::Observation& obs) {
  if (!is_mate(s) || obs.state != ServiceState::sleeping) return;
  const auto id = model_on_router(*s.service, obs);
  if (!id || model_value(obs, *id) != "unloaded") return;  // idle-sleeping in the router: asleep
  ServiceState recorded;
  std::string recorded_reason;
  bool evicted = false;
  {
    std::lock_guard lock(state_mutex);  // status observes from its own threads
    recorded = s.state;
    recorded_reason = s.reason;
    evicted = s.evicted || s.reason.starts_with("evicted");
  }
  switch (core::classify_unloaded(recorded)) {
    case core::UnloadedMate::stopped:
      obs.state = ServiceState::stopped;
      obs.sleeping = false;
      obs.reason = "router up, model '" + *id + "' not loaded";
      break;
    case core::UnloadedMate::failed:
      obs.state = ServiceState::failed;
      obs.sleeping = false;
      obs.reason = recorded_reason;
      break;
    case core::UnloadedMate::asleep:
      if (evicted) obs.reason = recorded_reason;
      break;
    case core::UnloadedMate::pending:
      obs.state = recorded;
      obs.sleeping = false;
      obs.reason = "router up, model '" + *id + "' about to load";
      break;
    case core::UnloadedMate::evicted:
      obs.reason = "evicted: the router unloaded model '" + *id + "' (not a crash; not restarted)";
      break;
  }
}

util::Status Engine::Impl::make_room_in_router(Slot& s, const drivers::Observation& obs) {
  const auto mine = model_on_router(*s.service, obs);
  if (!mine) return {};  // the driver's load says why
  const auto in_mode = current_mode_services();
  std::vector<core::RouterModel> models;
  for (const auto& m : obs.models) {
    core::RouterModel rm{m.id, m.value, "", false};
    for (auto& [id, other] : slots) {
      if (&other == &s || other.instance_key != s.instance_key) continue;
      if (model_on_router(*other.service, obs) == m.id) {
        rm.service_id = id;
        rm.in_current_mode = in_mode.contains(id);
      }
    }
    models.push_back(std::move(rm));
  }
  const int max = core::models_max_of(*s.service);
  const auto choice = core::choose_eviction(models, *mine, max);
  if (!choice.needed) return {};
  const std::string where = "the router on port " + std::to_string(s.service->port.value_or(0)) +
                            " (models_max " + std::to_string(max) + ")";
  if (!choice.victim) return util::fail(ErrorCode::conflict, "cannot load " + s.service->id + " into " + where + ": " + choice.problem);
  if (choice.victim_in_mode && refuse_mode_evictions) {
    auto cur = store.get_current_mode();
    const std::string mode = cur && *cur ? **cur : "?";
    return util::fail(ErrorCode::conflict, "loading " + s.service->id + " into " + where + " would evict " +
                                               *choice.victim + " of the current mode " + mode +
                                               "; nothing was changed (add --evict to do it anyway; the mode is then shown as modified)");
  }
  Slot& v = slot(*choice.victim);
  // Unloading the victim must make enough room; if even then the load cannot be admitted, the
  // victim stays loaded (nothing is changed for a load that would be refused anyway).
  if (auto snap = snapshot()) {
    if (const auto* dev = device(*snap)) {
      const std::int64_t need = s.learned_mib.value_or(s.service->vram_mib);
      const std::int64_t freed = std::min(memory_of(*snap, s.instance_key), v.learned_mib.value_or(v.service->vram_mib));
      if (dev->free_mib + freed < need + settings.margin_mib) {
        return util::fail(ErrorCode::insufficient_vram,
                          s.service->id + " needs " + util::group_thousands(need) + " MiB + " +
                              util::group_thousands(settings.margin_mib) + " MiB margin; even after unloading " +
                              v.service->id + " only " + util::group_thousands(dev->free_mib + freed) +
                              " MiB would be free; nothing was changed");
      }
    }
  }
  auto ctx = context(v);
  if (auto st = driver(*v.service).sleep(*v.service, ctx, 0, settings.control_timeout); !st) {
    return util::fail(st.error().code, "unloading " + v.service->id + " to make room for " + s.service->id + ": " + st.error().message);
  }
  const std::string why = "evicted: unloaded to load " + s.service->id + " into " + where;
  if (v.state == ServiceState::stopped || v.state == ServiceState::failed) {
    set_state(v, v.state, v.reason);  // loaded by someone else: still stopped for gpumod
  } else {
    {
      std::lock_guard lock(state_mutex);
      v.evicted = true;
    }
    set_state(v, ServiceState::sleeping, why);
  }
  emit("service.evicted", v.service->id, "", v.service->id + " " + why);
  return {};
}

util::Status Engine::Impl::ensure_router_process(Slot& s) {
  const auto& svc = *s.service;
  if (!instance_alive(s.instance_key)) {
    if (auto st = check_port_free(s); !st) return st;
    if (auto st = spawn_instance(s); !st) return st;
    persist(s);
  }
  auto ctx = context(s);
  const auto deadline = Clock::now() + std::chrono::duration_cast<std::chrono::milliseconds>(svc.startup_timeout);
  while (true) {
    const auto obs = driver(svc).observe(svc, ctx);
    if (obs.healthy) return {};
    if (!instance_alive(s.instance_key)) return util::fail(ErrorCode::failed, "the router of " + svc.id + " exited: " + obs.reason);
    if (Clock::now() >= deadline) {
      return util::fail(ErrorCode::timeout, "the router of " + svc.id + " did not answer within its startup_timeout: " + obs.reason);
    }
    ctx.wait(std::chrono::milliseconds(50));
  }
}

std::int64_t Engine::Impl::mate_resident_mib(const Slot& s, const core::GpuSnapshot& snap) {
  const std::int64_t process = memory_of(snap, s.instance_key);
  if (!is_mate(s)) return process;
  if (s.state != ServiceState::running) return 0;
  return std::min(process, s.learned_mib.value_or(s.service->vram_mib));
}

std::vector<std::string> Engine::Impl::mates_of(const std::string& key) {
  std::vector<std::string> out;
  std::lock_guard lock(state_mutex);
  for (const auto& [id, s] : slots) {
    if (s.instance_key == key && is_mate(s)) out.push_back(id);
  }
  return out;
}

core::RouterRestartPlan Engine::Impl::router_restart_plan(const std::string& key, bool mode_only) {
  std::vector<core::MateNow> mates;
  {
    std::lock_guard lock(state_mutex);
    for (const auto& [id, s] : slots) {
      if (s.instance_key == key && is_mate(s)) mates.push_back({id, s.state});
    }
  }
  return core::plan_router_restart(mates, mode_only ? current_mode_services() : std::set<std::string>{});
}

util::Result<OpResult> Engine::Impl::restart_router(const std::string& key, const core::RouterRestartPlan& plan,
                                                    const std::string& why) {
  const auto t0 = Clock::now();
  const std::string lead_id = !plan.load.empty() ? plan.load.front() : !plan.asleep.empty() ? plan.asleep.front() : "";
  if (lead_id.empty()) return util::fail(ErrorCode::invalid_argument, "no mate of the router to bring back");
  Slot& lead = slot(lead_id);
  const std::string router = "the router on port " + std::to_string(lead.service->port.value_or(0));
  if (instance_alive(key)) {  // hung: taken down first, with every mate it serves
    if (auto st = stop_instance(key, lead.service->stop_timeout); !st) {
      return util::fail(st.error().code, "restarting " + router + " (" + why + "): " + st.error().message);
    }
  }
  {
    std::lock_guard lock(state_mutex);
    instances.erase(key);
  }
  for (const auto& id : plan.stop) {
    Slot& m = slot(id);
    m.restart_due.reset();
    set_state(m, ServiceState::stopped, "its router was restarted (" + why + "); not loaded again: not in the current mode");
  }
  for (const auto& id : plan.load) {
    Slot& m = slot(id);
    m.restart_due.reset();
    set_state(m, ServiceState::stopped, "its router restarts (" + why + ")");
  }
  std::vector<std::string> failed;
  ErrorCode code = ErrorCode::failed;
  std::string down;  // why the router process is not up again ("" when it is)
  if (!plan.load.empty()) {
    if (auto r = do_start(lead); !r) {
      failed.push_back(lead_id + " (" + r.error().message + ")");
      code = r.error().code;
      if (!instance_alive(key)) down = r.error().message;
    }
  } else if (auto st = ensure_router_process(lead); !st) {
    code = st.error().code;
    down = st.error().message;
  }
  for (const auto& id : plan.load) {
    if (id == lead_id) continue;
    Slot& m = slot(id);
    if (!down.empty()) {
      set_state(m, ServiceState::failed, "its router could not be restarted: " + down);
      failed.push_back(id);
      continue;
    }
    if (auto w = do_wake(m); !w) {
      if (m.state != ServiceState::failed) set_state(m, ServiceState::failed, w.error().message);
      failed.push_back(id + " (" + w.error().message + ")");
      if (code == ErrorCode::failed) code = w.error().code;
    }
  }
  for (const auto& id : plan.asleep) {
    Slot& m = slot(id);
    if (!down.empty()) {
      set_state(m, ServiceState::failed, "its router could not be restarted: " + down);
      continue;
    }
    set_state(m, ServiceState::sleeping, m.reason);  // asleep (or evicted) as before: not loaded
  }
  if (!down.empty() && !instance_alive(key)) {
    std::lock_guard lock(state_mutex);
    instances.erase(key);
  }
  if (!failed.empty()) {
    return util::fail(code, "restarting " + router + " (" + why + "): " +
                                (down.empty() ? "not loaded again: " + util::join(failed, ", ") : down));
  }
  OpResult r{lead_id, "restart", true, plan.load.empty() ? ServiceState::sleeping : ServiceState::running, "", 0};
  r.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  r.message = router + " restarted (" + why + ")";
  if (!plan.load.empty()) r.message += "; loaded " + util::join(plan.load, ", ");
  if (!plan.asleep.empty()) r.message += "; still asleep " + util::join(plan.asleep, ", ");
  if (!plan.stop.empty()) r.message += "; not loaded again (not in the current mode) " + util::join(plan.stop, ", ");
  r.message += " in " + std::to_string(r.elapsed_ms) + " ms";
  return r;
}

util::Result<OpResult> Engine::Impl::undo_step(const core::PlanStep& step) {
  Slot& s = slot(step.service_id);
  const auto level_before = [&] {
    if (is_mate(s)) return 0;
    if (step.prior_sleep_level > 0) return step.prior_sleep_level;
    return s.service->sleep_mode == core::SleepMode::l2 ? 2 : 1;
  };
  switch (step.action) {
    case core::StepAction::start:
    case core::StepAction::restart: return do_stop(s);
    case core::StepAction::wake: {
      auto r = do_sleep(s, level_before());
      if (r && step.prior_state == ServiceState::sleeping && is_mate(s)) r->message = s.service->id + " unloaded again (as before the switch)";
      return r;
    }
    case core::StepAction::sleep: return do_wake(s);
    case core::StepAction::stop: {
      if (step.prior_state == ServiceState::failed) {
        return OpResult{s.service->id, "stop", false, s.state, s.service->id + " left stopped (it had failed before the switch)", 0};
      }
      if (step.prior_state != ServiceState::sleeping) return do_start(s);
      // It was asleep: asleep again, not woken (#19 F1).
      if (is_mate(s)) {
        if (auto st = ensure_router_process(s); !st) return std::unexpected(st.error());
        set_state(s, ServiceState::sleeping, "asleep (restored by a rollback)");
        return OpResult{s.service->id, "sleep", true, ServiceState::sleeping,
                        s.service->id + " asleep again (its router runs, its model unloaded, as before the switch)", 0};
      }
      auto started = do_start(s);
      if (!started) return started;
      return do_sleep(s, level_before());
    }
    case core::StepAction::keep:
    case core::StepAction::await_ready: break;
  }
  return OpResult{s.service->id, std::string(core::to_string(step.action)), false, s.state, "", 0};
}

}  // namespace gpumod::engine
