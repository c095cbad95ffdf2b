// Internal to the engine: the state shared by engine.cpp (service operations, status, recovery),
// mode_switch.cpp and health.cpp. Not part of the public API.
// Thread-safety: see Engine; m_state_mutex guards slots and instances, the command lock
// serializes mutating commands.
#pragma once

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <shared_mutex>

#include "gpumod/core/restart_policy.hpp"
#include "gpumod/core/router_mates.hpp"
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
  // Router-mates (router_mates.cpp): its model was unloaded by the router or by another mate's
  // load (not by a sleep of its own); the level it was last put to sleep at.
  bool evicted = false;
  int sleep_level = 0;
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
  // What the holder of the command lock does ("switch to b"), for clients queued behind it.
  std::string activity;
  struct Busy {  // the command lock, taken for `what`
    Busy(Impl& impl, std::string what) : m(impl), lock(impl.command_mutex) {
      std::lock_guard l(m.state_mutex);
      m.activity = std::move(what);
    }
    ~Busy() {
      std::lock_guard l(m.state_mutex);
      m.activity.clear();
    }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;
    Impl& m;
    std::lock_guard<std::mutex> lock;
  };
  // status() holds it shared while it walks the slots; a live reload (reload.cpp) swaps the
  // configuration and the slots holding it exclusively (under the command lock too).
  std::shared_mutex config_mutex;
  // What Engine::config() hands out: an immutable copy of `config`, replaced (never changed) by a
  // live reload, so a reader keeps a consistent configuration for as long as it holds it.
  mutable std::mutex published_mutex;
  std::shared_ptr<const core::Config> published;
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
  // `code`, when given, gets the kind of the first problem: not_found (a missing program, file
  // or folder), corrupt (not a GGUF file), config_invalid (no command line), else failed.
  std::vector<std::string> preflight(const Slot& s, bool new_process, util::ErrorCode* code = nullptr);
  // "<id>: port N is already in use by pid P ..." when a process gpumod does not manage listens
  // on the service's port; "" otherwise (preflight.cpp).
  std::string port_problem(const Slot& s);
  // One health look at a sleeping service (health.cpp).
  void check_sleeping(const std::string& id, Slot& s);
  // Both return the state database's answer: a record of a process that was not written must
  // fail the command (#19 F3), see unrecorded().
  util::Status set_state(Slot& s, core::ServiceState state, std::string reason);
  util::Status persist(const Slot& s);
  // A process of `s` runs but its record could not be written: stops it again (no server may run
  // untracked) and returns the error the command fails with (io, exit 9).
  util::Error unrecorded(Slot& s, const util::Error& write_error);
  // The folder of the servers' pid files (markers.hpp), beside the state database.
  std::filesystem::path pid_dir() const;
  // Recovery of servers found by their markers but not (or no longer) in the database, and of
  // servers whose service left the configuration (recovery.cpp).
  // Returns how many servers it adopted.
  int recover_marked(const std::set<std::string>& adopted_keys);
  // With no current mode recorded (a lost database), the one mode whose services are exactly
  // those running becomes current again.
  void rebuild_current_mode();
  // A runtime record of a service no longer configured: its server, when it still runs and no
  // configured service shares it, is stopped and reported (never forgotten); the record goes.
  void forget_unconfigured(const infra::state::ServiceRuntime& record);
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

  // --- router_mates.cpp ---
  // Set by `service wake/start` without --evict: a load that would unload a mate of the current
  // mode is refused (conflict) instead.
  bool refuse_mode_evictions = false;
  // recover() is finishing a switch a killed daemon left (status says so).
  std::atomic<bool> resuming_switch{false};
  bool is_mate(const Slot& s) const { return s.instance_key != s.service->id; }
  // The services of the current mode (with dependencies); empty when there is none.
  std::set<std::string> current_mode_services();
  // Before loading the model of mate `s` into its router (observed as `obs`): unloads the mate
  // the router would evict at models_max, awaited, so admission sees its memory freed.
  util::Status make_room_in_router(Slot& s, const drivers::Observation& obs);
  // A router observation as gpumod calls it: a model the router reports unloaded is stopped,
  // asleep or evicted according to what gpumod recorded (see core::classify_unloaded).
  void adjust_mate_observation(const Slot& s, drivers::Observation& obs);
  // The router process of mate `s` up and answering, no model loaded for it (undo of a stop of
  // a mate that was asleep).
  util::Status ensure_router_process(Slot& s);
  // The memory of mate `s`'s model now: its share of the router process, learned at its load.
  std::int64_t mate_resident_mib(const Slot& s, const core::GpuSnapshot& snap);
  // Undo of one done step of a failed switch: back to the state before it (F1).
  util::Result<OpResult> undo_step(const core::PlanStep& step);
  // The health monitor's watch over one router process (health.cpp): a dead or hung router is
  // ONE restart of the instance, charged once to its own restart budget, however many mates it
  // serves. Used by the health thread under the command lock.
  struct RouterWatch {
    std::unique_ptr<core::RestartTracker> restarts;
    std::optional<Clock::time_point> restart_due;
    int health_failures = 0;
    bool process_dead = false;  // what is repaired: a dead process (else a hung one)
    std::string why;
    core::RouterRestartPlan plan;  // decided when the failure was seen
  };
  std::map<std::string, RouterWatch> router_watch;  // by instance key
  RouterWatch& watch_of(const std::string& key, const Slot& lead);
  // The mates of router instance `key`, by service id.
  std::vector<std::string> mates_of(const std::string& key);
  // What comes back after a restart of router `key`: its mates as recorded now; `mode_only`:
  // only the mates the current mode wants are loaded again (else every one that ran).
  core::RouterRestartPlan router_restart_plan(const std::string& key, bool mode_only);
  // Starts router `key` again (stopping it first when it still runs, hung) and brings its mates
  // back as `plan` says: `load` loaded, `asleep` asleep (router up, model unloaded), `stop`
  // stopped. Every mate of `load` is tried even when one fails (each one taken down is restored
  // where it can be); the error names those that could not be.
  util::Result<OpResult> restart_router(const std::string& key, const core::RouterRestartPlan& plan, const std::string& why);
  // One health look at the router processes (health.cpp); the keys it dealt with (their mates
  // are not looked at one by one this tick).
  std::set<std::string> check_routers(Clock::time_point now);

  // --- mode_switch.cpp ---
  util::Result<SwitchResult> run_switch(const std::string& mode_id, const SwitchOptions& options);
};

std::int64_t now_ms();
// The process a service runs in: its id, or "router:<group>" for router services sharing one.
std::string instance_key_for(const core::Service& s);

}  // namespace gpumod::engine
