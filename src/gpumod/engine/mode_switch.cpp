// Mode switching: observe, plan (core::plan_mode_switch), journal, execute with admission
// control, roll back on failure. See engine.hpp for the contract.
#include <algorithm>
#include <future>
#include <set>

#include "gpumod/engine/engine.hpp"
#include "gpumod/engine/engine_impl.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::engine {

using core::ServiceState;
using core::StepAction;

namespace {

std::int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

}  // namespace

util::Result<SwitchResult> Engine::Impl::run_switch(const std::string& mode_id, const SwitchOptions& options) {
  const auto t0 = Clock::now();
  SwitchResult res;
  res.to_mode = mode_id;
  res.dry_run = options.dry_run;
  if (auto cur = store.get_current_mode(); cur) res.from_mode = *cur;

  // Observe every service: process, HTTP, GPU (W1: never trust the recorded mode).
  auto snap = snapshot();
  if (!snap) return std::unexpected(snap.error());
  const auto* dev = device(*snap);
  if (!dev) return util::fail(util::ErrorCode::unavailable, "no GPU device");
  core::PlanInput in;
  in.config = &config;
  in.target_mode = mode_id;
  in.gpu_free_mib = dev->free_mib;
  in.margin_mib = settings.margin_mib;
  if (res.from_mode) {
    if (const auto* from = config.find_mode(*res.from_mode)) {
      if (auto order = core::start_order(config, from->services)) {
        for (const auto& [id, dependency_only] : *order) in.leaving.insert(id);
      }
    }
  }
  for (auto& [id, s] : slots) {
    const auto obs = observe(s);
    core::ObservedService o;
    o.state = obs.state;
    if (s.state != obs.state) set_state(s, obs.state, obs.reason);
    // A router mate holds its model's share of the router process, not the whole process.
    o.resident_mib = mate_resident_mib(s, *snap);
    o.learned_mib = s.learned_mib;
    o.learned_sleep_mib = s.learned_sleep_mib;
    o.sleep_level = s.sleep_level;
    in.observed[id] = o;
  }
  auto plan = core::plan_mode_switch(in);
  if (!plan) return std::unexpected(plan.error());
  res.plan = *plan;
  // Preflight (W24): every service the switch would start or wake must be able to come up; one
  // that cannot is found here, before the current mode is touched, not after it was taken down.
  util::ErrorCode preflight_code = util::ErrorCode::failed;
  for (const auto& step : plan->steps) {
    const bool start = step.action == StepAction::start || step.action == StepAction::restart;
    if (!start && step.action != StepAction::wake) continue;
    Slot& s = slot(step.service_id);
    const bool new_process = start && (s.instance_key == s.service->id || !instance_alive(s.instance_key));
    util::ErrorCode code = util::ErrorCode::failed;
    auto problems = preflight(s, new_process, &code);
    if (new_process && s.instance_key == s.service->id) {
      if (auto p = port_problem(s); !p.empty()) {
        if (problems.empty()) code = util::ErrorCode::conflict;
        problems.push_back(std::move(p));
      }
    }
    if (res.preflight.empty() && !problems.empty()) preflight_code = code;
    for (auto& p : problems) res.preflight.push_back(std::move(p));
  }
  {
    auto expected = expected_durations(store, *plan, dev->uuid);
    res.expected_step_ms = std::move(expected.step_ms);
    res.expected_total_ms = expected.total_ms;
  }
  if (options.dry_run) {
    res.success = true;
    res.message = plan->changes_anything() ? "plan only (--dry-run); nothing was changed"
                                           : "already in mode " + mode_id + "; nothing to do";
    if (!plan->predicted_to_fit) res.message += "; predicted not to fit: " + plan->fit_problem;
    if (!res.preflight.empty()) res.message += "; preflight found problems: " + util::join(res.preflight, "; ");
    res.elapsed_ms = ms_since(t0);
    return res;
  }

  if (!plan->predicted_to_fit) {
    // Refused before any change (§16.1): starting part of a mode that cannot fit would only
    // disrupt the current one and then roll back.
    std::string holders;
    for (const auto& p : dev->processes) {
      holders += (holders.empty() ? "" : ", ") + std::string("pid ") + std::to_string(p.pid) +
                 (p.name.empty() ? "" : " (" + p.name + ")") + " " + util::group_thousands(p.used_mib) + " MiB";
    }
    res.message = "mode " + mode_id + " does not fit: " + plan->fit_problem +
                  (holders.empty() ? "" : "; GPU memory is held by " + holders) + "; nothing was changed";
    for (const auto& step : plan->steps) {
      res.steps.push_back(StepOutcome{step, "skipped", "not run (the mode does not fit)", 0});
    }
    emit({"switch.refused", "", mode_id, res.message, "", "refused", "does_not_fit", ms_since(t0)});
    res.failure = util::ErrorCode::insufficient_vram;
    res.elapsed_ms = ms_since(t0);
    return res;
  }

  if (!res.preflight.empty()) {
    res.failure = preflight_code;
    res.message = "mode " + mode_id + " cannot start: " + util::join(res.preflight, "; ") + "; nothing was changed";
    for (const auto& step : plan->steps) {
      res.steps.push_back(StepOutcome{step, "skipped", "not run (preflight)", 0});
    }
    emit({"switch.refused", "", mode_id, res.message, "", "refused", "preflight", ms_since(t0)});
    res.elapsed_ms = ms_since(t0);
    return res;
  }

  const std::string gpu_uuid = dev->uuid;
  std::vector<infra::state::PlannedStep> journal_steps;
  for (const auto& step : plan->steps) {
    journal_steps.push_back({std::string(core::to_string(step.action)), step.service_id});
  }
  auto switch_id = store.begin_switch(res.from_mode.value_or(""), mode_id, journal_steps);
  if (!switch_id) return std::unexpected(switch_id.error());
  emit("switch.started", "", mode_id,
       "switching " + res.from_mode.value_or("(none)") + " -> " + mode_id + ": " + std::to_string(plan->steps.size()) + " steps");

  res.steps.resize(plan->steps.size());
  const auto run_step = [&](std::size_t i) -> util::Status {
    const auto& step = plan->steps[i];
    Slot& s = slot(step.service_id);
    const auto ts = Clock::now();
    (void)store.update_step(*switch_id, static_cast<int>(i), infra::state::StepStatus::running);
    util::Result<OpResult> r = OpResult{step.service_id, std::string(core::to_string(step.action)), false,
                                        s.state, "", 0};
    bool slept_as_stop = false;
    switch (step.action) {
      case StepAction::keep: r->message = step.service_id + " kept (running)"; break;
      case StepAction::sleep:
        r = do_sleep(s, step.sleep_level);
        if (!r && step.outgoing && s.instance_key == s.service->id) {
          // A server whose sleep fails (answers 500) would block every switch away from its
          // mode: it is stopped instead, and the step says so (#19).
          const std::string why = r.error().message;
          if (auto stopped = do_stop(s)) {
            stopped->message = "sleep failed (" + why + "); stopped instead: " + stopped->message;
            r = std::move(stopped);
            slept_as_stop = true;
          }
        }
        break;
      case StepAction::stop: r = do_stop(s); break;
      case StepAction::wake: r = do_wake(s); break;
      case StepAction::start: r = do_start(s); break;
      case StepAction::restart: r = do_restart(s); break;
      case StepAction::await_ready: {
        auto ctx = context(s);
        auto st = driver(*s.service).await_ready(*s.service, ctx,
                                                 std::chrono::duration_cast<std::chrono::milliseconds>(s.service->startup_timeout));
        if (st) {
          set_state(s, ServiceState::running, "");
          r->message = step.service_id + " became ready";
        } else {
          r = std::unexpected(st.error());
        }
        break;
      }
    }
    StepOutcome& out = res.steps[i];
    out.step = step;
    if (slept_as_stop) out.step.action = StepAction::stop;  // undone (and reported) as a stop
    out.elapsed_ms = ms_since(ts);
    if (!r) {
      out.outcome = "failed";
      out.message = r.error().message;
      (void)store.update_step(*switch_id, static_cast<int>(i), infra::state::StepStatus::failed, out.message);
      emit({"switch.step", step.service_id, mode_id,
            std::string(core::to_string(step.action)) + " " + step.service_id + " failed: " + out.message,
            std::string(core::to_string(step.action)), "failed", "", out.elapsed_ms});
      return std::unexpected(r.error());
    }
    out.outcome = step.action == StepAction::keep ? "skipped" : "done";
    out.message = r->message;
    if (r->changed) {  // learned durations: what dry runs and on-demand choices expect next time
      (void)store.add_step_timing({step.service_id, std::string(core::to_string(step.action)), out.elapsed_ms, gpu_uuid, 0});
    }
    (void)store.update_step(*switch_id, static_cast<int>(i), step.action == StepAction::keep ? infra::state::StepStatus::skipped : infra::state::StepStatus::done, out.message);
    emit({"switch.step", step.service_id, mode_id, out.message, std::string(core::to_string(step.action)),
          out.outcome, "", out.elapsed_ms});
    return {};
  };

  std::optional<util::Error> failure;
  // Outgoing: one thread per process (router-mates share one), all at once.
  {
    std::map<std::string, std::vector<std::size_t>> groups;
    for (std::size_t i = 0; i < plan->steps.size(); ++i) {
      if (plan->steps[i].outgoing) groups[slot(plan->steps[i].service_id).instance_key].push_back(i);
    }
    std::vector<std::future<std::optional<util::Error>>> futures;
    for (auto& [key, idxs] : groups) {
      futures.push_back(std::async(std::launch::async, [&run_step, idxs]() -> std::optional<util::Error> {
        for (const auto i : idxs) {
          if (auto st = run_step(i); !st) return st.error();
        }
        return std::nullopt;
      }));
    }
    for (auto& f : futures) {
      if (auto e = f.get(); e && !failure) failure = e;
    }
  }
  // Incoming, in order.
  if (!failure) {
    for (std::size_t i = 0; i < plan->steps.size(); ++i) {
      if (plan->steps[i].outgoing) continue;
      if (auto st = run_step(i); !st) {
        failure = st.error();
        break;
      }
    }
  }

  for (std::size_t i = 0; i < res.steps.size(); ++i) {
    const auto& o = res.steps[i];
    if (o.outcome.empty()) {  // never ran
      res.steps[i].step = plan->steps[i];
      res.steps[i].outcome = "skipped";
      res.steps[i].message = "not run (an earlier step failed)";
      continue;
    }
    if (o.outcome != "done" && !(o.outcome == "skipped" && o.step.action == StepAction::keep)) continue;
    const auto& id = o.step.service_id;
    switch (o.step.action) {
      case StepAction::keep: res.kept.push_back(id); break;
      case StepAction::sleep: res.slept.push_back(id); break;
      case StepAction::stop: res.stopped.push_back(id); break;
      case StepAction::wake: res.woken.push_back(id); break;
      case StepAction::start: (o.step.as_dependency ? res.dependencies : res.started).push_back(id); break;
      case StepAction::restart: res.restarted.push_back(id); break;
      case StepAction::await_ready: res.kept.push_back(id); break;
    }
  }

  if (!failure) {
    res.success = true;
    (void)store.set_current_mode(mode_id, "switch");
    (void)store.finish_switch(*switch_id, infra::state::SwitchState::done);
    res.elapsed_ms = ms_since(t0);
    res.message = "now in mode " + mode_id + " (" + std::to_string(res.elapsed_ms) + " ms)";
    emit({"switch.done", "", mode_id, res.message, "", "done", "", res.elapsed_ms});
    return res;
  }

  res.message = "switch to " + mode_id + " failed: " + failure->message;
  res.failure = failure->code;  // e.g. insufficient_vram from admission before a start
  if (options.no_rollback) {
    (void)store.finish_switch(*switch_id, infra::state::SwitchState::failed, res.message);
    res.elapsed_ms = ms_since(t0);
    emit({"switch.failed", "", mode_id, res.message + " (no rollback)", "", "failed", "", res.elapsed_ms});
    return res;
  }
  // Roll back what was done, newest first: the GPU returns to the mode it started from.
  for (std::size_t k = res.steps.size(); k-- > 0;) {
    const auto& o = res.steps[k];
    if (o.outcome != "done") continue;
    if (o.step.action == StepAction::keep || o.step.action == StepAction::await_ready) continue;
    const auto ts = Clock::now();
    // Back to the state before the step (#19 F1): what was asleep sleeps again at its level.
    util::Result<OpResult> r = undo_step(o.step);
    StepOutcome undo;
    undo.step = o.step;
    undo.elapsed_ms = ms_since(ts);
    undo.outcome = r ? "undone" : "failed";
    undo.message = r ? r->message : r.error().message;
    res.rollback.push_back(undo);
    emit({"switch.undo", o.step.service_id, mode_id, undo.message, std::string(core::to_string(o.step.action)),
          undo.outcome, "", undo.elapsed_ms});
    (void)store.update_step(*switch_id, static_cast<int>(k), r ? infra::state::StepStatus::undone : infra::state::StepStatus::failed, undo.message);
  }
  res.rolled_back = std::ranges::all_of(res.rollback, [](const StepOutcome& o) { return o.outcome == "undone"; });
  (void)store.finish_switch(*switch_id, res.rolled_back ? infra::state::SwitchState::rolled_back : infra::state::SwitchState::failed, res.message);
  res.message += res.rolled_back ? "; rolled back to " + res.from_mode.value_or("the previous state")
                                 : "; rollback incomplete";
  res.elapsed_ms = ms_since(t0);
  emit({"switch.failed", "", mode_id, res.message, "", res.rolled_back ? "rolled_back" : "failed", "",
        res.elapsed_ms});
  return res;
}

util::Result<SwitchResult> Engine::switch_mode(const std::string& mode_id, const SwitchOptions& options) {
  if (options.dry_run) {
    Impl::Busy lock(*m, "plan of a switch to " + mode_id);
    return m->run_switch(mode_id, options);
  }
  std::promise<util::Result<SwitchResult>> promise;
  {
    std::unique_lock lock(m->switch_mutex);
    if (const auto it = m->pending_switches.find(mode_id); it != m->pending_switches.end()) {
      auto joined = it->second;
      lock.unlock();
      auto r = joined.get();
      if (r) r->joined = true;
      return r;
    }
    m->pending_switches.emplace(mode_id, promise.get_future().share());
  }
  util::Result<SwitchResult> result = util::fail(util::ErrorCode::internal, "switch did not run");
  {
    Impl::Busy lock(*m, "switch to " + mode_id);
    result = m->run_switch(mode_id, options);
  }
  {
    std::lock_guard lock(m->switch_mutex);
    m->pending_switches.erase(mode_id);
  }
  promise.set_value(result);
  return result;
}

}  // namespace gpumod::engine
