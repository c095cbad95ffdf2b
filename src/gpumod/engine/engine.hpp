// Engine: the one place that changes what runs on the GPU. It observes services (process, HTTP,
// GPU), starts, stops, sleeps and wakes them through their drivers with admission control from
// measured memory, switches modes by plan + journal + rollback, learns each service's real
// footprint, and watches health. It never prints: progress goes to an Observer, outcomes are
// returned as values.
//
// Thread-safety: every public method may be called from any thread. Mutating commands are
// serialized by one command lock (the daemon is the single writer, W13); a switch requested while
// a switch to the same target runs joins it and gets the same result. status() does not take the
// command lock. The Observer is called from the thread running the command.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gpumod/core/config.hpp"
#include "gpumod/core/gpu.hpp"
#include "gpumod/core/mode_plan.hpp"
#include "gpumod/core/service.hpp"
#include "gpumod/drivers/driver.hpp"
#include "gpumod/engine/bench.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::state {
class StateStore;
}
namespace gpumod::infra::gpu {
class GpuProbe;
}
namespace gpumod::infra::process {
class ProcessSpawner;
}

namespace gpumod::engine {

struct EngineEvent {
  std::string kind;        // "service.started", "switch.step", "health.unhealthy", ...
  std::string service_id;
  std::string mode_id;
  std::string message;
  // Facts for counters (metrics), empty when they do not apply: a switch step's action and
  // outcome (done, failed, undone), a switch's outcome (done, failed, rolled_back, refused), why an
  // admission or a switch was refused (insufficient_vram, does_not_fit, preflight, port_in_use),
  // and how long the step, start, wake or switch took.
  std::string action;
  std::string outcome;
  std::string reason;
  std::optional<std::int64_t> elapsed_ms;
};

class Observer {
 public:
  virtual ~Observer() = default;
  virtual void on_event(const EngineEvent& event) = 0;
};

struct EngineSettings {
  std::filesystem::path log_dir;                   // <log_dir>/<service>.log
  drivers::LaunchOptions launch;                   // resolved server binaries
  // The bundled gpumod-mock-server stands in for llama-server / vLLM (the demo): it is told each
  // model's memory from the presets, since it has no model files.
  bool llama_is_mock = false;
  bool vllm_is_mock = false;
  std::int64_t margin_mib = 512;                   // admission margin
  std::chrono::milliseconds release_timeout{30000};  // wait for memory to be released
  std::chrono::milliseconds gpu_deadline{2000};
  std::chrono::milliseconds control_timeout{60000};  // sleep / wake / load / unload
  std::uint64_t log_max_bytes = 16u * 1024u * 1024u;
  int log_keep = 3;
  // Health monitor.
  std::chrono::milliseconds health_interval{5000};
  int health_failure_threshold = 3;
  int health_recovery_threshold = 2;
  // The spawner for services with `supervisor: systemd` (not owned; outlives the engine). Null:
  // starting such a service fails as unavailable, saying systemd_unavailable.
  infra::process::ProcessSpawner* systemd_spawner = nullptr;
  std::string systemd_unavailable = "no systemd user session";
  // The Docker Engine API for `driver: docker` services (called for a client per use; must be
  // callable concurrently). Empty: the real one, HTTP over docker_socket.
  std::function<std::unique_ptr<infra::http::HttpClient>()> docker_api;
  // The Docker Engine API socket (the daemon sets it from DOCKER_HOST); empty: /var/run/docker.sock.
  std::filesystem::path docker_socket;
};

struct ServiceView {
  std::string id;
  core::DriverKind driver = core::DriverKind::llamacpp;
  std::optional<int> port;
  core::ServiceState state = core::ServiceState::stopped;
  std::string reason;
  int pid = 0;
  std::int64_t configured_mib = 0;
  std::optional<std::int64_t> measured_mib;      // what its processes hold now
  std::optional<std::int64_t> learned_mib;       // learned footprint when running
  std::optional<std::int64_t> learned_sleep_mib; // learned footprint asleep
  std::vector<drivers::ModelStatus> models;      // router models
};

struct StatusView {
  core::GpuSnapshot gpu;
  std::optional<std::string> current_mode;
  std::vector<ServiceView> services;
  std::int64_t external_mib = 0;  // GPU memory of processes gpumod does not manage
  // How the services differ from the current mode ("chat-b woken", "chat-a evicted"); empty
  // when they match it.
  std::vector<std::string> mode_modified;
  // A switch under way: "switching a -> b, step 2/3", or "resuming switch to b after a restart".
  std::string switch_in_progress;
  std::vector<std::int64_t> external_mib_by_device;  // the same per device, as gpu.devices
  std::string config_problem;     // the files on disk are broken: why (the last valid config runs)
};

// What a live configuration reload did (Engine::reload_config).
struct ReloadReport {
  bool rejected = false;  // the files were invalid: nothing changed, the old configuration runs
  bool changed = false;
  std::vector<std::string> added, removed, updated, restarted, stopped;  // service ids
  std::vector<std::string> modes;            // modes added, removed or changed
  std::vector<std::string> needs_restart;    // settings that apply at the next daemon start
  std::vector<std::string> problems;         // a stop or restart that failed
  std::string message;                       // one line for people (also the event's message)
};

struct OpResult {
  std::string service_id;
  std::string action;       // start, stop, restart, sleep, wake
  bool changed = false;     // false: the goal already held
  core::ServiceState state = core::ServiceState::stopped;
  std::string message;
  std::int64_t elapsed_ms = 0;
};

struct SwitchOptions {
  bool dry_run = false;
  bool no_rollback = false;
};

struct StepOutcome {
  core::PlanStep step;
  std::string outcome;   // done, failed, skipped, undone
  std::string message;
  std::int64_t elapsed_ms = 0;
};

struct SwitchResult {
  bool success = false;
  bool dry_run = false;
  bool joined = false;           // this request joined a switch already running
  std::optional<std::string> from_mode;
  std::string to_mode;
  core::Plan plan;
  std::vector<StepOutcome> steps;
  std::vector<StepOutcome> rollback;
  bool rolled_back = false;
  std::string message;
  std::int64_t elapsed_ms = 0;
  // The outcome by kind (W11): never merged.
  std::vector<std::string> started, woken, restarted, slept, stopped, kept, dependencies;
  // "<service>: <problem>" for each service the switch would start or wake that cannot come up
  // (missing program or model file, ...); a non-empty list refuses the switch before any change.
  std::vector<std::string> preflight;
  // Why it failed, when !success and not a dry run: insufficient_vram (does not fit),
  // not_found/corrupt/config_invalid (preflight), else failed. The CLI's exit code.
  util::ErrorCode failure = util::ErrorCode::failed;
  // How long each step is expected to take (parallel to plan.steps) and the whole switch, from
  // durations measured before (gpumod bench); nullopt where never measured.
  std::vector<std::optional<std::int64_t>> expected_step_ms;
  std::optional<std::int64_t> expected_total_ms;
};

class Engine {
 public:
  Engine(core::Config config, infra::state::StateStore& store, infra::gpu::GpuProbe& gpu,
         infra::process::ProcessSpawner& spawner, EngineSettings settings,
         Observer* observer = nullptr);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Re-adopts services recorded in the database whose process (pid + start time) still runs,
  // then finishes a switch a killed daemon left unfinished. Call once at daemon start.
  util::Status recover();  // adopt() then resume_interrupted_switch()
  // The two halves of recover(): adopt() is quick (records, markers, one look at each server);
  // the daemon runs it before it listens, so status never shows an adopted server as stopped.
  // resume_interrupted_switch() may take as long as a switch; the daemon runs it while it answers.
  util::Status adopt();
  util::Status resume_interrupted_switch();

  util::Result<StatusView> status();
  // evict: a router-mate load may unload a mate of the current mode (else refused: conflict).
  util::Result<OpResult> start_service(const std::string& id, bool evict = false);
  util::Result<OpResult> stop_service(const std::string& id);
  util::Result<OpResult> restart_service(const std::string& id);
  util::Result<OpResult> sleep_service(const std::string& id, std::optional<int> level);
  util::Result<OpResult> wake_service(const std::string& id, bool evict = false);
  util::Result<SwitchResult> switch_mode(const std::string& mode_id, const SwitchOptions& options);
  // Applies a configuration loaded anew (the daemon's file watcher, SIGHUP), only the difference:
  // a removed service is stopped; a changed one that runs is restarted only when its launch
  // (argv, environment, port, process) changed, else updated in place; modes are replaced.
  // An error (a broken edit) changes nothing: the old configuration keeps running and the problem
  // is reported (a config.rejected event, StatusView::config_problem). Takes the command lock.
  util::Result<ReloadReport> reload_config(util::Result<core::Config> loaded);
  // Stops every service gpumod runs (daemon stop --with-services); returns the ids stopped.
  util::Result<std::vector<std::string>> stop_all();
  // What the command running now does ("switch to b"); "" when none runs. Never waits.
  std::string busy_with() const;
  // gpumod bench (bench.cpp, bench_switch.cpp): measures a service, or real switches between
  // two modes, and stores the result; nothing is stored when any part fails.
  util::Result<BenchOutcome> bench(const BenchRequest& request);
  util::Result<BenchOutcome> bench_switch(const SwitchBenchRequest& request);
  // One round of health checks (the daemon's monitor thread calls this every interval).
  void health_tick();

  std::filesystem::path log_path(const std::string& service_id) const;
  // The configuration in force: an immutable snapshot that a live reload replaces (never
  // changes), so a holder reads one consistent configuration. Hold the pointer while using
  // anything found in it (`auto cfg = engine.config(); cfg->find_service(id)`).
  std::shared_ptr<const core::Config> config() const;
  const EngineSettings& settings() const;
  // The state store it records to (measured durations, bench history); itself thread-safe.
  const infra::state::StateStore& store() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m;
};

}  // namespace gpumod::engine
