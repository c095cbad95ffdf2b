// StateStore: gpumod's state database (one SQLite file, WAL mode). It holds what gpumod must
// remember between runs: the services and modes of the last synced configuration, settings
// (the config fingerprint), the current mode and its history, per-service runtime records,
// the model registry with its load measurements, an append-only event log, and the journal
// of mode switches (so an interrupted switch can be found and rolled back).
//
// Schema changes are versioned migrations recorded in `schema_migrations`; a database written by
// a newer gpumod is refused. Every write of more than one row runs in one IMMEDIATE transaction,
// so a failure leaves nothing half-changed and concurrent writers (other threads or processes)
// wait on the busy timeout instead of failing.
//
// Thread-safety: a StateStore owns one connection, guarded by an internal mutex: every method may
// be called from several threads at once. Several StateStores (or processes) may open the same
// file. Move-only; a moved-from store answers every call with an `internal` error.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumod/core/config.hpp"
#include "gpumod/core/service.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::state {

// Looks up an environment variable; nullopt when unset.
using GetEnv = std::function<std::optional<std::string>(std::string_view name)>;

// $GPUMOD_DB_PATH, else $XDG_STATE_HOME/gpumod/gpumod.db, else $HOME/.local/state/gpumod/gpumod.db
// (empty values count as unset; with no HOME either, ./gpumod.db).
std::filesystem::path default_db_path(const GetEnv& getenv);
std::filesystem::path default_db_path();  // reads the process environment

// Milliseconds since the Unix epoch.
using ClockMs = std::function<std::int64_t()>;

struct OpenOptions {
  ClockMs now_ms;                                 // empty: std::chrono::system_clock
  std::chrono::milliseconds busy_timeout{5000};   // how long a write waits for another writer
  // Read-only commands on a state directory they cannot write: the file must exist and have the
  // current schema; nothing is created, migrated or written (writes fail with io). Opened
  // immutable when its directory is not writable (SQLite then needs no -shm file).
  bool read_only = false;
};

// ---- Config sync ----

struct SyncCounts {
  int inserted = 0;
  int updated = 0;
  int unchanged = 0;
  int deleted = 0;
  bool operator==(const SyncCounts&) const = default;
};

struct SyncReport {
  SyncCounts services;
  SyncCounts modes;
};

// A service row as stored by sync_config.
struct StoredService {
  std::string id;
  std::string name;
  core::DriverKind driver = core::DriverKind::llamacpp;
  std::optional<int> port;
  std::int64_t vram_mib = 0;
  std::string source_file;
  std::string definition_json;  // the full core::Service as JSON (see service_to_json)
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
};

// A mode row as stored by sync_config.
struct StoredMode {
  std::string id;
  std::string name;
  std::string description;
  std::string source_file;
  std::vector<std::string> service_ids;  // in start order (mode_services.position)
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
};

// The JSON text stored in services.definition: every field of the service, keys sorted, so two
// equal services give the same text.
std::string service_to_json(const core::Service& service);

// ---- Current mode ----

struct ModeHistoryEntry {
  std::int64_t id = 0;
  std::optional<std::string> mode_id;  // nullopt: the current mode was cleared
  std::int64_t set_at_ms = 0;
  std::string reason;
};

// ---- Runtime records ----

struct ServiceRuntime {
  std::string service_id;
  core::ServiceState state = core::ServiceState::unknown;
  std::string reason;
  int pid = 0;
  std::uint64_t pid_start_time = 0;  // /proc/<pid>/stat field 22, to tell a reused pid apart
  std::optional<int> port;
  std::int64_t started_at_ms = 0;
  std::optional<std::int64_t> learned_vram_mib;
  std::optional<std::int64_t> learned_sleep_vram_mib;
  std::string supervisor_ref;        // e.g. a systemd unit name or a container id
  std::int64_t updated_at_ms = 0;    // set by the store on every upsert
};

// Parses the text of core::to_string(ServiceState); nullopt when unknown text.
std::optional<core::ServiceState> parse_service_state(std::string_view text);

// ---- Model registry ----

struct ModelRecord {
  std::string id;
  std::string source;    // gguf | local | huggingface
  std::string location;  // a path or a repo id
  std::string architecture;
  std::string quant;
  std::int64_t file_bytes = 0;
  std::optional<double> parameters_b;
  std::optional<std::int64_t> base_vram_mib;
  std::optional<double> kv_per_1k_mib;
  std::string metadata_json;
  std::string notes;
  std::int64_t registered_at_ms = 0;  // set by the store on the first registration, then kept
  std::int64_t updated_at_ms = 0;     // set by the store on every upsert
};

// One measured load of a model (ground truth for the VRAM estimator).
struct ModelMeasurement {
  std::int64_t id = 0;        // assigned by the store
  std::string model_id;
  std::string settings_key;   // what the load depended on (context size, quant of KV, ...)
  std::int64_t model_mib = 0;
  std::int64_t kv_mib = 0;
  std::int64_t compute_mib = 0;
  std::string device;
  std::int64_t measured_at_ms = 0;  // 0: the store's clock
  std::optional<std::int64_t> process_mib;  // what the GPU reported for the whole process
};

// ---- Event log ----

struct Event {
  std::int64_t id = 0;     // assigned by append_event
  std::int64_t ts_ms = 0;  // 0: the store's clock
  std::string kind;
  std::string service_id;
  std::string mode_id;
  std::string message;
  std::string data_json;
};

// ---- Bench results (gpumod bench) and measured step durations ----

// How long one step of a service took: "start", "stop", "sleep", "wake", "load", "unload".
struct StepTiming {
  std::string service_id;
  std::string action;
  std::int64_t elapsed_ms = 0;
  std::string gpu_uuid;             // the GPU it ran on ("" when unknown)
  std::int64_t measured_at_ms = 0;  // 0: the store's clock
};

// A duration as the store expects it next (StateStore::expected_step): the median of the latest
// measurements, and when the newest of them was measured (Unix ms, the store's clock).
struct ExpectedStep {
  std::int64_t elapsed_ms = 0;
  std::int64_t newest_at_ms = 0;
};

// One `gpumod bench` run: its subject (a service id, or "A->B" for a switch between modes), the
// model and settings it ran with, the GPU, the medians that `status` shows, and the whole result.
struct BenchRun {
  std::int64_t id = 0;          // assigned by the store
  std::string kind;             // serve | switch
  std::string subject;
  std::string model;
  std::string settings;         // e.g. "prompt=512 gen=128 runs=5 concurrency=1"
  std::string gpu_uuid;
  std::int64_t measured_at_ms = 0;  // 0: the store's clock
  std::optional<double> prompt_tps;  // medians over the runs (serve)
  std::optional<double> gen_tps;
  std::optional<double> ttft_ms;
  std::string result_json;      // the full report, as the engine wrote it
};

// ---- Requests served by the OpenAI-compatible endpoint (a bounded ring) ----

struct RequestRecord {
  std::int64_t id = 0;      // assigned by the store
  std::int64_t ts_ms = 0;   // when it arrived (0: the store's clock)
  std::string method;
  std::string path;
  std::string model;        // as the client named it
  std::string service_id;   // "" when it was not routed
  int status = 0;           // HTTP status answered
  std::int64_t queue_ms = 0;     // waiting for a load or a change
  std::int64_t ttfb_ms = -1;     // to the first byte of the answer (-1: none)
  std::int64_t duration_ms = 0;
  std::optional<std::int64_t> prompt_tokens;      // from the answer's usage
  std::optional<std::int64_t> completion_tokens;
  std::string action;       // what was done for it: serve, wake, start, switch_mode:<id>, evict
  std::string error;        // the error message answered, if any
};

// ---- Switch journal ----

enum class SwitchState { planned, running, done, failed, rolled_back };
enum class StepStatus { pending, running, done, failed, skipped, undone };
std::string_view to_string(SwitchState state);
std::string_view to_string(StepStatus status);
std::optional<SwitchState> parse_switch_state(std::string_view text);
std::optional<StepStatus> parse_step_status(std::string_view text);

struct PlannedStep {
  std::string action;      // e.g. "stop", "sleep", "start", "wake"
  std::string service_id;
};

struct SwitchStep {
  int step_index = 0;
  std::string action;
  std::string service_id;
  StepStatus status = StepStatus::pending;
  std::int64_t started_at_ms = 0;   // 0: not started
  std::int64_t finished_at_ms = 0;  // 0: not finished
  std::string message;
};

struct SwitchRecord {
  std::int64_t id = 0;
  std::string from_mode;  // "" when no mode was current
  std::string to_mode;
  SwitchState state = SwitchState::planned;
  std::int64_t started_at_ms = 0;
  std::int64_t finished_at_ms = 0;
  std::string message;
  std::vector<SwitchStep> steps;  // by step_index
};

class StateStore {
 public:
  // Creates missing parent directories (0700) and the file (0600), opens it, sets WAL mode,
  // foreign keys, the busy timeout and synchronous=NORMAL, and applies pending migrations.
  // A missing file is created under a temporary name and linked into place complete, so a file
  // of 0 bytes is never one gpumod made: it is refused as corrupt (its records are lost), as is a
  // file `PRAGMA quick_check` finds damaged.
  // Errors: corrupt (not a SQLite database, damaged, or empty), conflict (written by a newer
  // gpumod), io.
  static util::Result<StateStore> open(const std::filesystem::path& db_path,
                                       const OpenOptions& options = {});

  StateStore(StateStore&&) noexcept;
  StateStore& operator=(StateStore&&) noexcept;
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;
  ~StateStore();

  const std::filesystem::path& path() const;
  // The schema version of the open database (the highest applied migration).
  util::Result<int> schema_version() const;
  // The highest schema version this build knows.
  static int latest_schema_version();

  // Makes services, modes and mode_services equal to the config, in one transaction: inserts
  // new rows, updates changed ones (unchanged rows are not written), deletes rows that are no
  // longer configured. Runtime records, events, models and history are not touched.
  util::Result<SyncReport> sync_config(const core::Config& config);
  util::Result<std::vector<StoredService>> list_services() const;
  util::Result<std::vector<StoredMode>> list_modes() const;

  // Settings (key/value text). The key "current_mode" is reserved for set_current_mode.
  util::Result<std::optional<std::string>> get_setting(std::string_view key) const;
  util::Status set_setting(std::string_view key, std::string_view value);
  util::Result<bool> delete_setting(std::string_view key);

  util::Result<std::optional<std::string>> get_current_mode() const;
  // Sets the current mode and appends to the history, in one transaction.
  util::Status set_current_mode(std::string_view mode_id, std::string_view reason);
  util::Status clear_current_mode(std::string_view reason);
  // Newest first.
  util::Result<std::vector<ModeHistoryEntry>> mode_history(int limit = 50) const;

  // Runtime records, one per service id (runtime rows outlive a service removed from config).
  util::Status upsert_runtime(const ServiceRuntime& runtime);
  util::Result<std::optional<ServiceRuntime>> get_runtime(std::string_view service_id) const;
  util::Result<std::vector<ServiceRuntime>> list_runtime() const;  // by service id
  util::Result<bool> delete_runtime(std::string_view service_id);

  // Registers or refreshes a model; a re-registration keeps registered_at. Returns the stored row.
  util::Result<ModelRecord> upsert_model(const ModelRecord& model);
  util::Result<std::optional<ModelRecord>> get_model(std::string_view id) const;
  util::Result<std::vector<ModelRecord>> list_models() const;  // by id
  // Idempotent; true when the model existed. Its measurements are kept (learned data).
  util::Result<bool> remove_model(std::string_view id);

  util::Result<std::int64_t> add_measurement(const ModelMeasurement& measurement);
  // Oldest first; an empty settings_key lists every measurement of the model.
  util::Result<std::vector<ModelMeasurement>> list_measurements(
      std::string_view model_id, std::string_view settings_key = {}) const;

  // Records a bench run and the step durations it measured, in one transaction.
  util::Result<std::int64_t> add_bench_run(const BenchRun& run, const std::vector<StepTiming>& timings);
  // Newest first; an empty subject lists every run.
  util::Result<std::vector<BenchRun>> list_bench_runs(std::string_view subject = {}, int limit = 50) const;
  // A step duration measured outside a bench run (a real switch or service command).
  // Durations are bounded: a step (service, action, GPU) keeps its newest step_timings_kept,
  // older ones are deleted in the same transaction (here and in add_bench_run).
  util::Result<std::int64_t> add_step_timing(const StepTiming& timing);
  static constexpr int step_timings_kept = 50;
  // The expected duration of `action` ("start", "wake", ...) for a service: the median of its
  // last `window` measurements (on that GPU when gpu_uuid is not empty); nullopt when never
  // measured. This is the cost on-demand choices and eviction order should use.
  util::Result<std::optional<std::int64_t>> expected_step_ms(std::string_view service_id,
                                                             std::string_view action,
                                                             std::string_view gpu_uuid = {},
                                                             int window = 5) const;
  // The same with when the newest of those measurements was made (for choosing between it and a
  // measurement the daemon made itself).
  util::Result<std::optional<ExpectedStep>> expected_step(std::string_view service_id, std::string_view action,
                                                          std::string_view gpu_uuid = {}, int window = 5) const;

  // Append-only event log.
  util::Result<std::int64_t> append_event(const Event& event);
  // Events with id > after_id, oldest first, at most `limit`.
  util::Result<std::vector<Event>> list_events(std::int64_t after_id, int limit = 100) const;
  // The newest `limit` events with id > after_id and ts_ms >= since_ts_ms, oldest first
  // (`gpumod events`: the tail of the log, not its head).
  util::Result<std::vector<Event>> list_latest_events(std::int64_t after_id, std::int64_t since_ts_ms, int limit) const;
  util::Result<std::int64_t> latest_event_id() const;  // 0 when empty

  // Starts a switch (state running, all steps pending) in one transaction. Refused (conflict)
  // while another switch is unfinished: it must be finished or rolled back first.
  util::Result<std::int64_t> begin_switch(std::string_view from_mode, std::string_view to_mode,
                                          const std::vector<PlannedStep>& steps);
  // Sets a step's status (running sets started_at; done/failed/skipped/undone set finished_at).
  util::Status update_step(std::int64_t switch_id, int step_index, StepStatus status,
                           std::string_view message = {});
  // Sets the state of an unfinished switch without finishing it (planned or running).
  util::Status set_switch_state(std::int64_t switch_id, SwitchState state,
                                std::string_view message = {});
  // Ends a switch: state must be done, failed or rolled_back.
  util::Status finish_switch(std::int64_t switch_id, SwitchState state,
                             std::string_view message = {});
  util::Result<std::optional<SwitchRecord>> get_switch(std::int64_t switch_id) const;
  // The newest switch still planned or running (a crash left it), with its steps.
  util::Result<std::optional<SwitchRecord>> unfinished_switch() const;

  // Appends requests in one transaction and keeps only the newest `keep_rows` (a ring).
  util::Status record_requests(const std::vector<RequestRecord>& requests, int keep_rows);
  // The newest `limit` requests, oldest first; only those naming `model` (as the client named
  // it) and routed to `service_id` where those are not empty.
  util::Result<std::vector<RequestRecord>> list_requests(int limit, std::string_view model = {},
                                                         std::string_view service_id = {}) const;

 private:
  struct Impl;
  explicit StateStore(std::unique_ptr<Impl> impl);
  static util::Result<StateStore> open_read_only(std::unique_ptr<Impl> impl, const OpenOptions& options);
  // Opens an existing file (checked: not empty, quick_check), or a fresh one being created.
  static util::Result<StateStore> open_file(const std::filesystem::path& db_path,
                                            const OpenOptions& options, bool fresh);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace gpumod::infra::state
