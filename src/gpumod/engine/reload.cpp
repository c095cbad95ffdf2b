// Live configuration reload: apply only the difference between the running configuration and
// one loaded anew (see Engine::reload_config).
#include <algorithm>

#include "gpumod/core/config_diff.hpp"
#include "gpumod/engine/engine.hpp"
#include "gpumod/engine/engine_impl.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::engine {

namespace {

std::string list(const char* what, const std::vector<std::string>& ids) {
  return ids.empty() ? "" : std::string(what) + " " + util::join(ids, ", ");
}

}  // namespace

util::Result<ReloadReport> Engine::reload_config(util::Result<core::Config> loaded) {
  std::lock_guard command(m->command_mutex);
  ReloadReport rep;
  if (!loaded) {
    rep.rejected = true;
    rep.message = "configuration not applied (the last valid one keeps running): " + loaded.error().message;
    {
      std::lock_guard lock(m->state_mutex);
      m->config_problem = loaded.error().message;
    }
    m->emit({"config.rejected", "", "", rep.message, "reload", "rejected", "", {}});
    return rep;
  }
  core::Config next = std::move(*loaded);
  const auto diff = core::diff_config(m->config, next);
  {
    std::lock_guard lock(m->state_mutex);
    m->config_problem.clear();
  }
  if (diff.empty()) {
    rep.message = "configuration reloaded: nothing changed";
    m->emit({"config.reloaded", "", "", rep.message, "reload", "unchanged", "", {}});
    return rep;
  }
  rep.changed = true;
  rep.added = diff.services_added;
  rep.removed = diff.services_removed;
  for (const auto* l : {&diff.modes_added, &diff.modes_removed, &diff.modes_changed}) {
    rep.modes.insert(rep.modes.end(), l->begin(), l->end());
  }
  std::ranges::sort(rep.modes);
  for (const auto& s : diff.settings_changed) {
    if (s == "health_interval_ms" || s == "gpu.simulate") rep.needs_restart.push_back(s);
  }

  // True when `after` must run as another process than `before` (a restart applies it).
  const auto launch_changed = [&](const core::Service& before, const core::Service& after) {
    if (before.driver != after.driver || before.supervisor != after.supervisor || before.port != after.port ||
        before.command != after.command || before.env != after.env || before.model_path != after.model_path ||
        instance_key_for(before) != instance_key_for(after)) {
      return true;
    }
    const auto& d = m->driver(before);
    auto a = d.launch_spec(before, m->settings.launch);
    auto b = d.launch_spec(after, m->settings.launch);
    if (a.has_value() != b.has_value()) return true;
    if (!a) return a.error().message != b.error().message;
    return a->argv != b->argv || a->env != b->env;
  };
  // Which changed services run and must be restarted to apply their new launch.
  std::vector<std::string> restart;
  for (const auto& id : diff.services_changed) {
    Slot& s = m->slot(id);
    const auto* after = next.find_service(id);
    if (m->instance_alive(s.instance_key) && launch_changed(*s.service, *after)) {
      restart.push_back(id);
    } else {
      rep.updated.push_back(id);
    }
  }
  // Stop removed services and those to restart, with the definitions they were started with.
  for (const auto& id : diff.services_removed) {
    Slot& s = m->slot(id);
    if (!m->instance_alive(s.instance_key)) continue;
    if (auto r = m->do_stop(s); r) rep.stopped.push_back(id);
    else rep.problems.push_back("stopping removed " + id + ": " + r.error().message);
  }
  std::vector<std::string> to_start;
  for (const auto& id : restart) {
    if (auto r = m->do_stop(m->slot(id)); r) to_start.push_back(id);
    else rep.problems.push_back("stopping " + id + " to restart it: " + r.error().message);
  }

  // Swap the configuration and the slots that point into it.
  {
    std::unique_lock swap(m->config_mutex);
    std::map<std::string, Slot> slots;
    m->config = std::move(next);
    {
      auto published = std::make_shared<const core::Config>(m->config);
      std::lock_guard lock(m->published_mutex);
      m->published = std::move(published);
    }
    for (const auto& svc : m->config.services) {
      auto it = m->slots.find(svc.id);
      const bool changed = std::ranges::find(diff.services_changed, svc.id) != diff.services_changed.end();
      if (it == m->slots.end()) {
        slots.emplace(svc.id, m->make_slot(svc));
        continue;
      }
      Slot slot = std::move(it->second);
      if (changed) {
        Slot fresh = m->make_slot(svc);  // the new restart policy, docker spawner, instance key
        fresh.state = slot.state;
        fresh.reason = slot.reason;
        fresh.was_ready = slot.was_ready;
        if (fresh.instance_key == slot.instance_key) {
          fresh.learned_mib = slot.learned_mib;
          fresh.learned_sleep_mib = slot.learned_sleep_mib;
        }
        slot = std::move(fresh);
      }
      slot.service = &svc;
      slots.emplace(svc.id, std::move(slot));
    }
    for (const auto& id : diff.services_removed) {
      if (!m->config.find_service(id)) m->docker_spawners.erase(id);
    }
    {
      std::lock_guard lock(m->state_mutex);
      m->slots = std::move(slots);
    }
    m->settings.margin_mib = m->config.settings.vram_margin_mib;
  }
  if (auto synced = m->store.sync_config(m->config); !synced) {
    rep.problems.push_back("recording the configuration: " + synced.error().message);
  }

  for (const auto& id : to_start) {
    if (auto r = m->do_start(m->slot(id)); r) rep.restarted.push_back(id);
    else rep.problems.push_back("restarting " + id + ": " + r.error().message);
  }

  std::vector<std::string> parts;
  for (const auto& p : {list("added", rep.added), list("removed", rep.removed), list("stopped", rep.stopped),
                        list("restarted", rep.restarted), list("updated", rep.updated),
                        list("modes", rep.modes), list("settings", diff.settings_changed)}) {
    if (!p.empty()) parts.push_back(p);
  }
  rep.message = "configuration reloaded: " + util::join(parts, "; ");
  if (!rep.needs_restart.empty()) {
    rep.message += " (" + util::join(rep.needs_restart, ", ") + " apply when the daemon restarts)";
  }
  if (!rep.problems.empty()) rep.message += "; problems: " + util::join(rep.problems, "; ");
  m->emit({"config.reloaded", "", "", rep.message, "reload", "applied", "", {}});
  return rep;
}

}  // namespace gpumod::engine
