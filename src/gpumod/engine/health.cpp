// Health monitoring (the predecessor built a monitor and never started it: W23). The daemon calls
// health_tick() every interval; a service that fails its checks `health_failure_threshold` times
// in a row (or whose process died) turns unhealthy and is restarted under its restart policy,
// with backoff and a budget; every transition goes to the event log.
#include <algorithm>
#include <mutex>

#include "gpumod/engine/engine.hpp"
#include "gpumod/engine/engine_impl.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::engine {

using core::ServiceState;

// A sleeping service is watched too: its process must stay alive and its server answer. It is not
// restarted (a restart would bring it back awake and take the memory its mode gave away); it is
// marked failed, so that `service wake` says so and the next switch to a mode with it starts it.
void Engine::Impl::check_sleeping(const std::string& id, Slot& s) {
  if (!instance_alive(s.instance_key)) {
    const std::string why = "process exited while asleep";
    set_state(s, ServiceState::failed, why + "; not restarted (it would wake); a switch to a mode with it starts it");
    emit("health.unhealthy", id, "", id + " is unhealthy: " + why);
    return;
  }
  const auto obs = observe(s);
  if (obs.state == ServiceState::sleeping) {
    s.health_failures = 0;
    return;
  }
  if (obs.state == ServiceState::running) {  // woken by someone else (a request, an operator)
    s.health_failures = 0;
    set_state(s, ServiceState::running, "");
    emit("health.woke", id, "", id + " is awake (woken outside gpumod)");
    return;
  }
  if (++s.health_failures < settings.health_failure_threshold) return;
  s.health_failures = 0;
  const std::string why = "asleep but its server does not answer (" + std::string(core::to_string(obs.state)) +
                          (obs.reason.empty() ? "" : ": " + obs.reason) + ")";
  set_state(s, ServiceState::unhealthy, why);
  emit("health.unhealthy", id, "", id + " is unhealthy: " + why);
}

Engine::Impl::RouterWatch& Engine::Impl::watch_of(const std::string& key, const Slot& lead) {
  auto& w = router_watch[key];
  if (!w.restarts) {
    w.restarts = std::make_unique<core::RestartTracker>(
        core::RestartSettings::for_service(*lead.service),
        [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); });
  }
  return w;
}

// A router process is one instance whatever number of mates it serves: when it died (or stopped
// answering its own health endpoint `health_failure_threshold` times in a row) it is restarted
// ONCE, charged once to the instance's restart budget, and reloads only the mates the current
// mode wants running; asleep and evicted mates stay unloaded (core::plan_router_restart). One
// event of each kind names the router and its mates.
std::set<std::string> Engine::Impl::check_routers(Clock::time_point now) {
  std::set<std::string> handled;
  std::map<std::string, std::vector<Slot*>> by_key;
  for (auto& [id, s] : slots) {
    if (is_mate(s)) by_key[s.instance_key].push_back(&s);
  }
  for (const auto& [key, mates] : by_key) {
    const auto up = [](ServiceState st) {
      return st == ServiceState::running || st == ServiceState::unhealthy || st == ServiceState::sleeping ||
             st == ServiceState::loading || st == ServiceState::starting;
    };
    std::vector<std::string> names;
    for (const auto* m : mates) names.push_back(m->service->id);
    const std::string router = "the router on port " + std::to_string(mates.front()->service->port.value_or(0)) +
                               " (" + util::join(names, ", ") + ")";
    auto& w = watch_of(key, *mates.front());
    if (w.restart_due) {
      handled.insert(key);
      if (now < *w.restart_due) continue;
      w.restart_due.reset();
      if (w.process_dead && instance_alive(key)) continue;  // a command started it meanwhile
      // A mate a command stopped (or a switch took elsewhere) meanwhile stays as it is now.
      const auto still = [&](std::vector<std::string>& ids, ServiceState was) {
        std::erase_if(ids, [&](const std::string& id) {
          const auto st = slot(id).state;
          return was == ServiceState::sleeping ? st != ServiceState::sleeping && st != ServiceState::failed
                                               : st != ServiceState::unhealthy && st != ServiceState::failed;
        });
      };
      still(w.plan.load, ServiceState::unhealthy);
      still(w.plan.asleep, ServiceState::sleeping);
      if (!w.plan.restarts_process()) continue;
      // The event's service is the first mate loaded again (none: only the router process).
      emit("health.restart", w.plan.load.empty() ? "" : w.plan.load.front(), "",
           "restarting " + router + " once (" + w.why + "): loading " +
               (w.plan.load.empty() ? std::string("none") : util::join(w.plan.load, ", ")) +
               (w.plan.asleep.empty() ? "" : "; kept asleep " + util::join(w.plan.asleep, ", ")));
      auto r = restart_router(key, w.plan, w.why);
      if (r) {
        w.health_failures = 0;
        w.restarts->on_ready(Clock::now());
        emit("health.restarted", w.plan.load.empty() ? "" : r->service_id, "", r->message);
        continue;
      }
      const auto d = w.restarts->on_exit(Clock::now(), core::ExitKind::crashed, false);
      if (d.action == core::RestartAction::restart && !instance_alive(key)) {
        for (const auto& id : w.plan.load) set_state(slot(id), ServiceState::unhealthy, r.error().message);
        w.restart_due = Clock::now() + d.delay;
        w.process_dead = true;
        emit("health.restart_scheduled", w.plan.load.empty() ? "" : w.plan.load.front(), "", d.reason);
      } else {
        emit("health.gave_up", w.plan.load.empty() ? "" : w.plan.load.front(), "",
             router + ": " + (d.reason.empty() ? r.error().message : d.reason));
      }
      continue;
    }
    bool tracked = false;
    {
      std::lock_guard lock(state_mutex);
      tracked = instances.contains(key);
    }
    if (!tracked || std::ranges::none_of(mates, [&](const Slot* m) { return up(m->state); })) {
      w.health_failures = 0;
      continue;
    }
    const bool dead = !instance_alive(key);
    std::string why;
    if (dead) {
      why = "its process exited (gone; gpumod did not stop it)";
    } else {
      if (std::ranges::any_of(mates, [](const Slot* m) {
            return m->state == ServiceState::starting || m->state == ServiceState::loading;
          })) {
        continue;
      }
      Slot& lead = *mates.front();
      auto ctx = context(lead);
      const auto obs = driver(*lead.service).observe(*lead.service, ctx);
      if (obs.healthy) {
        w.health_failures = 0;
        continue;
      }
      handled.insert(key);  // its mates are not judged one by one while the router itself fails
      if (++w.health_failures < settings.health_failure_threshold) continue;
      why = "it did not answer its health check " + std::to_string(w.health_failures) + " times (" + obs.reason + ")";
      w.health_failures = 0;
    }
    handled.insert(key);
    w.process_dead = dead;
    w.why = why;
    w.plan = router_restart_plan(key, true);
    for (const auto& id : w.plan.load) {
      Slot& m = slot(id);
      m.restart_due.reset();
      m.health_failures = 0;
      set_state(m, ServiceState::unhealthy, "its router " + why + "; the health monitor restarts it");
    }
    for (const auto& id : w.plan.stop) {
      set_state(slot(id), ServiceState::stopped, "its router " + why + "; not loaded again: not in the current mode");
    }
    emit("health.unhealthy", w.plan.load.empty() ? mates.front()->service->id : w.plan.load.front(), "",
         router + " is unhealthy: " + why);
    if (!w.plan.restarts_process()) {
      if (dead) {
        std::lock_guard lock(state_mutex);
        instances.erase(key);
      }
      continue;
    }
    const auto d = w.restarts->on_exit(now, core::ExitKind::crashed, true);
    const auto all = [&](ServiceState st, const std::string& reason) {
      for (const auto* l : {&w.plan.load, &w.plan.asleep}) {
        for (const auto& id : *l) set_state(slot(id), st, reason);
      }
    };
    if (d.action == core::RestartAction::restart) {
      w.restart_due = now + d.delay;
      emit("health.restart_scheduled", w.plan.load.empty() ? "" : w.plan.load.front(), "",
           router + ": " + d.reason);
    } else if (d.action == core::RestartAction::give_up) {
      all(ServiceState::failed, "its router " + why + "; " + d.reason);
      emit("health.gave_up", mates.front()->service->id, "", router + ": " + d.reason);
    } else {
      all(ServiceState::failed, "its router " + why + "; " + d.reason + ", not restarted");
      emit("health.not_restarted", mates.front()->service->id, "", router + ": " + why + "; " + d.reason + ", not restarted");
    }
  }
  return handled;
}

void Engine::health_tick() {
  std::unique_lock lock(m->command_mutex, std::try_to_lock);
  if (!lock.owns_lock()) return;  // a command is running; look again next tick
  const auto now = Clock::now();
  const auto routers = m->check_routers(now);
  for (auto& [id, s] : m->slots) {
    if (routers.contains(s.instance_key)) continue;
    if (s.state == ServiceState::sleeping && !s.restart_due) {
      m->check_sleeping(id, s);
      continue;
    }
    if (s.state != ServiceState::running && s.state != ServiceState::unhealthy && !s.restart_due) continue;
    if (s.restart_due) {
      if (now < *s.restart_due) continue;
      s.restart_due.reset();
      m->emit("health.restart", id, "", "restarting " + id + " (" + s.reason + ")");
      auto r = m->do_restart(s);
      if (!r) {
        const auto d = s.restarts->on_exit(Clock::now(), core::ExitKind::crashed, false);
        if (d.action == core::RestartAction::restart) {
          s.restart_due = Clock::now() + d.delay;
        } else {
          m->set_state(s, ServiceState::failed, d.reason.empty() ? r.error().message : d.reason);
          m->emit("health.gave_up", id, "", id + ": " + s.reason);
        }
      } else {
        s.health_failures = 0;
        m->emit("health.restarted", id, "", r->message);
      }
      continue;
    }
    const bool process_dead = !m->instance_alive(s.instance_key);
    const auto obs = m->observe(s);
    if (!process_dead && s.instance_key != id && obs.state == ServiceState::sleeping) {
      // A router mate whose model the router unloaded (another mate's load at models_max, LRU,
      // the router's idle sleep): evicted, not crashed. Nothing to restart, no budget spent.
      s.health_failures = 0;
      s.restart_due.reset();
      {
        std::lock_guard l(m->state_mutex);
        s.evicted = obs.reason.starts_with("evicted");
      }
      m->set_state(s, ServiceState::sleeping, obs.reason);
      m->emit("health.evicted", id, "", id + ": " + obs.reason);
      continue;
    }
    const bool healthy = obs.state == ServiceState::running;
    if (healthy) {
      s.health_failures = 0;
      if (s.state == ServiceState::unhealthy && ++s.health_successes >= m->settings.health_recovery_threshold) {
        m->set_state(s, ServiceState::running, "");
        m->emit("health.recovered", id, "", id + " is healthy again");
      }
      continue;
    }
    s.health_successes = 0;
    ++s.health_failures;
    if (!process_dead && s.health_failures < m->settings.health_failure_threshold) continue;
    // Already reported and decided (restart policy "no" keeps an unhealthy server as it is):
    // look again only for a recovery or the process's exit.
    if (!process_dead && s.state == ServiceState::unhealthy) continue;
    const std::string why = process_dead ? "process exited" : "health check failed " +
                                                                  std::to_string(s.health_failures) + " times (" +
                                                                  std::string(core::to_string(obs.state)) + ")";
    m->set_state(s, ServiceState::unhealthy, why);
    m->emit("health.unhealthy", id, "", id + " is unhealthy: " + why);
    const auto d = s.restarts->on_exit(now, process_dead ? core::ExitKind::crashed : core::ExitKind::crashed, s.was_ready);
    if (d.action == core::RestartAction::restart) {
      s.restart_due = now + d.delay;
      m->emit("health.restart_scheduled", id, "", d.reason);
    } else if (d.action == core::RestartAction::give_up) {
      m->set_state(s, ServiceState::failed, d.reason);
      m->emit("health.gave_up", id, "", id + ": " + d.reason);
    } else if (process_dead) {
      // Not restarted (restart policy): the service is down for good, not "unhealthy" forever.
      m->set_state(s, ServiceState::failed, "process exited; " + d.reason + ", not restarted");
      m->emit("health.not_restarted", id, "", id + ": process exited; " + d.reason + ", not restarted");
    }
  }
}

}  // namespace gpumod::engine
