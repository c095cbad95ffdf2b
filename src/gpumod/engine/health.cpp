// Health monitoring (the predecessor built a monitor and never started it: W23). The daemon calls
// health_tick() every interval; a service that fails its checks `health_failure_threshold` times
// in a row (or whose process died) turns unhealthy and is restarted under its restart policy,
// with backoff and a budget; every transition goes to the event log.
#include <mutex>

#include "gpumod/engine/engine.hpp"
#include "gpumod/engine/engine_impl.hpp"

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

void Engine::health_tick() {
  std::unique_lock lock(m->command_mutex, std::try_to_lock);
  if (!lock.owns_lock()) return;  // a command is running; look again next tick
  const auto now = Clock::now();
  for (auto& [id, s] : m->slots) {
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
