// Recovery of what the state database does not tell (issue 19): servers found by their markers
// (markers.hpp) with no record, and servers of services that left the configuration.
#include <set>

#include "gpumod/engine/engine.hpp"
#include "gpumod/engine/engine_impl.hpp"
#include "gpumod/infra/process/markers.hpp"

namespace gpumod::engine {

namespace {
constexpr std::chrono::milliseconds k_orphan_grace{10000};
}  // namespace

void Engine::Impl::forget_unconfigured(const infra::state::ServiceRuntime& rt) {
  const infra::process::ProcessIdentity id{rt.pid, rt.pid_start_time};
  const std::string key = rt.supervisor_ref.empty() ? rt.service_id : rt.supervisor_ref;
  bool shared = false;
  for (const auto& [sid, s] : slots) shared = shared || s.instance_key == key;
  if (!shared && infra::process::is_same_process_alive(id)) {
    const auto stopped = spawner.stop(id, k_orphan_grace);
    infra::process::remove_pid_file(pid_dir(), key);
    emit(stopped ? "service.orphan_stopped" : "service.orphan_kept", rt.service_id, "",
         stopped ? rt.service_id + " (pid " + std::to_string(rt.pid) +
                       ") was started by gpumod, but its preset is gone: stopped, its memory and port released"
                 : rt.service_id + " (pid " + std::to_string(rt.pid) + ") was started by gpumod, but its preset is "
                       "gone, and stopping it failed: " + stopped.error().message);
    if (!stopped) return;  // the record stays: the next daemon tries again
  }
  (void)store.delete_runtime(rt.service_id);
}

int Engine::Impl::recover_marked(const std::set<std::string>& adopted_keys) {
  int adopted = 0;
  for (const auto& found : infra::process::find_marked_processes(store.path(), pid_dir())) {
    if (adopted_keys.contains(found.instance_key)) continue;
    std::vector<Slot*> owners;
    for (auto& [sid, s] : slots) {
      if (s.instance_key == found.instance_key) owners.push_back(&s);
    }
    const std::string pid = std::to_string(found.identity.pid);
    if (owners.empty()) {  // its service left the configuration
      const auto stopped = spawner.stop(found.identity, k_orphan_grace);
      if (stopped) infra::process::remove_pid_file(pid_dir(), found.instance_key);
      emit(stopped ? "service.orphan_stopped" : "service.orphan_kept", found.instance_key, "",
           stopped ? found.instance_key + " (pid " + pid + ") was started by gpumod (found by its marker), but "
                         "its preset is gone: stopped, its memory and port released"
                   : found.instance_key + " (pid " + pid + ") was started by gpumod, but its preset is gone, "
                         "and stopping it failed: " + stopped.error().message);
      continue;
    }
    {
      std::lock_guard lock(state_mutex);
      instances[found.instance_key] = Instance{found.identity, log_file(found.instance_key), 0};
    }
    ++adopted;
    for (Slot* s : owners) {
      const auto obs = observe(*s);
      if (obs.state == core::ServiceState::running) s->was_ready = true;
      const auto state = obs.state == core::ServiceState::unhealthy ? core::ServiceState::running : obs.state;
      (void)set_state(*s, state, "adopted by its marker (the state database had no record of it)");
      emit("service.adopted", s->service->id, "",
           s->service->id + " re-adopted (pid " + pid + "), found by its marker: the state database had no record of it");
    }
  }
  return adopted;
}

void Engine::Impl::rebuild_current_mode() {
  auto current = store.get_current_mode();
  if (!current || *current) return;
  std::set<std::string> running;
  for (const auto& [id, s] : slots) {
    if (s.state == core::ServiceState::running) running.insert(id);
  }
  if (running.empty()) return;
  std::vector<std::string> matches;
  for (const auto& mode : config.modes) {
    auto order = core::start_order(config, mode.services);
    if (!order) continue;
    std::set<std::string> wanted;
    for (const auto& [id, dependency_only] : *order) wanted.insert(id);
    if (wanted == running) matches.push_back(mode.id);
  }
  if (matches.size() != 1) return;
  if (store.set_current_mode(matches.front(), "rebuilt from the running servers")) {
    emit("mode.rebuilt", "", matches.front(), "current mode " + matches.front() + " rebuilt from the running servers");
  }
}

}  // namespace gpumod::engine
