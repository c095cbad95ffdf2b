// Internal to the engine: the state shared by engine.cpp (service operations, status, recovery),
// mode_switch.cpp and health.cpp. Not part of the public API.
// Thread-safety: see Engine; m_state_mutex guards slots and instances, the command lock
// serializes mutating commands.
#pragma once

#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <shared_mutex>

#include "gpumod/core/restart_policy.hpp"
#include "gpumod/engine/docker_spawner.hpp"
#include "gpumod/engine/engine.hpp"
#include "gpumod/infra/gpu/probe.hpp"
#include "gpumod/infra/gpu/select.hpp"
#include "gpumod/infra/gpu/simulated_probe.hpp"
#include "gpumod/infra/http/client.hpp"
#include "gpumod/infra/process/identity.hpp"
#include "gpumod/infra/process/log_activity.hpp"
#include "gpumod/infra/process/spawner.hpp"
#include "gpumod/infra/state/state_store.hpp"

namespace gpumod::engine {

using Clock = std::chrono::steady_clock;

// One OS process gpumod supervises: a service's server, or a llama-server router shared by the
// router services of one group.
struct Instance {
  infra::process::ProcessIdentity identity;
  std::filesystem::path log;
  std::int64_t started_at_ms = 0;
};

struct Slot {
  const core::Service* service = nullptr;
  std::string instance_key;  // the service id, or "router:<port>|<models_dir>"
  core::ServiceState state = core::ServiceState::stopped;
  std::string reason;
  std::optional<std::int64_t> learned_mib;
  std::optional<std::int64_t> learned_sleep_mib;
  std::unique_ptr<core::RestartTracker> restarts;
  bool was_ready = false;
  int health_failures = 0;
  int health_successes = 0;
  std::optional<Clock::time_point> restart_due;
};

struct Engine::Impl {
  Impl(core::Config config, infra::state::StateStore& store, infra::gpu::GpuProbe& gpu,
       infra::process::ProcessSpawner& spawner, EngineSettings settings, Observer* observer);

  core::Config config;
  infra::state::StateStore& store;
  infra::gpu::GpuProbe& gpu;
  infra::process::ProcessSpawner& spawner;
  EngineSettings settings;
  Observer* observer;

  std::map<core::DriverKind, std::unique_ptr<drivers::Driver>> drivers;
  // The spawner of each `driver: docker` service, by instance key (the service id).
  std::map<std::string, std::unique_ptr<DockerSpawner>> docker_spawners;
  drivers::DockerDriver::ClientFactory docker_api;
  DockerSpawnerSettings docker_settings;
  std::mutex http_mutex;
  std::map<int, std::unique_ptr<infra::http::HttpClient>> http_by_port;
  // Writes to the service logs: readiness pauses end when a server prints something.
  infra::process::LogActivity log_activity{settings.log_dir};

  std::mutex state_mutex;
  std::map<std::string, Instance> instances;
  std::map<std::string, Slot> slots;

  std::mutex command_mutex;
  // status() holds it shared while it walks the slots; a live reload (reload.cpp) swaps the
  // configuration and the slots holding it exclusively (under the command lock too).
  std::shared_mutex config_mutex;
  std::string config_problem;  // why the files on disk were not applied (state_mutex); "" when they were
  std::mutex switch_mutex;
  // Switches requested and not finished, by target: a request for the same target joins.
  std::map<std::string, std::shared_future<util::Result<SwitchResult>>> pending_switches;
  std::mt19937 rng{std::random_device{}()};

  // --- helpers (engine.cpp) ---
  Slot make_slot(const core::Service& svc);  // a fresh slot (and docker spawner) for a service
  Slot& slot(const std::string& id);
  util::Result<Slot*> find_slot(const std::string& id);
  const drivers::Driver& driver(const core::Service& s) const;
  infra::http::HttpClient& http(const core::Service& s);
  // `via`: ask the service through this client instead of its own (a MemoClient in status).
  drivers::DriverContext context(const Slot& s, infra::http::HttpClient* via = nullptr);
  // The spawner of an instance: the service's DockerSpawner for `driver: docker`, the systemd
  // one for `supervisor: systemd` services.
  infra::process::ProcessSpawner& spawner_for(const std::string& key);
  bool instance_alive(const std::string& key);
  std::optional<infra::process::ProcessIdentity> identity_of(const std::string& key);
  std::vector<std::string> log_tail(const std::string& key, std::size_t n);
  std::filesystem::path log_file(const std::string& key) const;

  util::Result<core::GpuSnapshot> snapshot();
  const core::GpuDevice* device(const core::GpuSnapshot& snap) const;
  std::int64_t memory_of(const core::GpuSnapshot& snap, const std::string& key);
  std::set<int> pids_of(const std::string& key);

  drivers::Observation observe(Slot& s, infra::http::HttpClient* via = nullptr);
  // What would keep a service from starting (new_process) or, for a router model, loading:
  // "<id>: <problem>" lines, empty when none (preflight.cpp, W24).
  std::vector<std::string> preflight(const Slot& s, bool new_process);
  // One health look at a sleeping service (health.cpp).
  void check_sleeping(const std::string& id, Slot& s);
  void set_state(Slot& s, core::ServiceState state, std::string reason);
  void persist(const Slot& s);
  void emit(const std::string& kind, const std::string& service, const std::string& mode,
            const std::string& message);
  void emit(EngineEvent event);  // with the counters' facts (see EngineEvent)

  util::Status admit(const Slot& s, std::int64_t need_mib);
  util::Status wait_released(const std::set<int>& pids, const std::string& what);
  util::Status spawn_instance(Slot& s);
  util::Status stop_instance(const std::string& key, std::chrono::milliseconds grace);
  void learn(Slot& s, bool asleep);
  void record_buffer_sizes(const Slot& s, std::int64_t process_mib);

  util::Result<OpResult> do_start(Slot& s);
  util::Result<OpResult> do_stop(Slot& s);
  util::Result<OpResult> do_sleep(Slot& s, int level);
  util::Result<OpResult> do_wake(Slot& s);
  util::Result<OpResult> do_restart(Slot& s);
  bool router_mates_active(const Slot& s);
  util::Status check_port_free(const Slot& s);
  util::Status check_port_owner(const Slot& s);

  // --- mode_switch.cpp ---
  util::Result<SwitchResult> run_switch(const std::string& mode_id, const SwitchOptions& options);
};

std::int64_t now_ms();
// The process a service runs in: its id, or "router:<group>" for router services sharing one.
std::string instance_key_for(const core::Service& s);

}  // namespace gpumod::engine
