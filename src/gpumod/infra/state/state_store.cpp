#include "gpumod/infra/state/state_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gpumod/infra/state/fault_vfs.hpp"
#include "gpumod/util/ids.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::infra::state {

namespace fs = std::filesystem;
using util::ErrorCode;

// ---------------------------------------------------------------------------------------------
// Paths

std::filesystem::path default_db_path(const GetEnv& getenv) {
  auto get = [&](std::string_view name) -> std::optional<std::string> {
    auto v = getenv ? getenv(name) : std::nullopt;
    if (v && v->empty()) return std::nullopt;
    return v;
  };
  if (auto p = get("GPUMOD_DB_PATH")) return fs::path(*p);
  if (auto p = get("XDG_STATE_HOME")) return fs::path(*p) / "gpumod" / "gpumod.db";
  if (auto p = get("HOME")) return fs::path(*p) / ".local" / "state" / "gpumod" / "gpumod.db";
  return fs::path("gpumod.db");
}

std::filesystem::path default_db_path() {
  return default_db_path([](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  });
}

// ---------------------------------------------------------------------------------------------
// Enums as text

std::optional<core::ServiceState> parse_service_state(std::string_view text) {
  using core::ServiceState;
  for (auto s : {ServiceState::stopped, ServiceState::starting, ServiceState::running,
                 ServiceState::loading, ServiceState::sleeping, ServiceState::unhealthy,
                 ServiceState::failed, ServiceState::unknown}) {
    if (core::to_string(s) == text) return s;
  }
  return std::nullopt;
}

std::string_view to_string(SwitchState state) {
  switch (state) {
    case SwitchState::planned: return "planned";
    case SwitchState::running: return "running";
    case SwitchState::done: return "done";
    case SwitchState::failed: return "failed";
    case SwitchState::rolled_back: return "rolled_back";
  }
  return "failed";
}

std::string_view to_string(StepStatus status) {
  switch (status) {
    case StepStatus::pending: return "pending";
    case StepStatus::running: return "running";
    case StepStatus::done: return "done";
    case StepStatus::failed: return "failed";
    case StepStatus::skipped: return "skipped";
    case StepStatus::undone: return "undone";
  }
  return "failed";
}

std::optional<SwitchState> parse_switch_state(std::string_view text) {
  for (auto s : {SwitchState::planned, SwitchState::running, SwitchState::done,
                 SwitchState::failed, SwitchState::rolled_back}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

std::optional<StepStatus> parse_step_status(std::string_view text) {
  for (auto s : {StepStatus::pending, StepStatus::running, StepStatus::done, StepStatus::failed,
                 StepStatus::skipped, StepStatus::undone}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Service as JSON

std::string service_to_json(const core::Service& s) {
  nlohmann::json j = nlohmann::json::object();
  j["id"] = s.id;
  j["name"] = s.name;
  j["driver"] = std::string(core::to_string(s.driver));
  j["port"] = s.port ? nlohmann::json(*s.port) : nlohmann::json(nullptr);
  j["vram_mib"] = s.vram_mib;
  j["context_size"] = s.context_size ? nlohmann::json(*s.context_size) : nlohmann::json(nullptr);
  j["kv_cache_per_1k_mib"] =
      s.kv_cache_per_1k_mib ? nlohmann::json(*s.kv_cache_per_1k_mib) : nlohmann::json(nullptr);
  j["model_id"] = s.model_id;
  j["model_path"] = s.model_path;
  j["health_endpoint"] = s.health_endpoint;
  j["startup_timeout_s"] = s.startup_timeout.count();
  j["supports_sleep"] = s.supports_sleep;
  j["sleep_mode"] = std::string(core::to_string(s.sleep_mode));
  j["unit_template"] = s.unit_template;
  j["unit_vars"] = s.unit_vars;
  j["depends_on"] = s.depends_on;
  j["supervisor"] = std::string(core::to_string(s.supervisor));
  j["stop_timeout_s"] = s.stop_timeout.count();
  j["restart"] = std::string(core::to_string(s.restart));
  j["max_restarts"] = s.max_restarts;
  j["restart_window_s"] = s.restart_window.count();
  j["command"] = s.command;
  j["env"] = s.env;
  j["gpu"] = s.gpu;
  j["defined_at"] = {{"file", s.defined_at.file},
                     {"line", s.defined_at.line},
                     {"column", s.defined_at.column}};
  // Invalid UTF-8 from a config file must not throw out of here: replace it.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

std::string mode_to_json(const core::Mode& m) {
  nlohmann::json j = nlohmann::json::object();
  j["id"] = m.id;
  j["name"] = m.name;
  j["description"] = m.description;
  j["services"] = m.services;
  j["defined_at"] = {{"file", m.defined_at.file},
                     {"line", m.defined_at.line},
                     {"column", m.defined_at.column}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// ---------------------------------------------------------------------------------------------
// SQLite helpers

ErrorCode code_for(int rc) {
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
    case SQLITE_FORMAT:
    case SQLITE_MISMATCH:
      return ErrorCode::corrupt;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CONSTRAINT:
      return ErrorCode::conflict;
    default:
      return ErrorCode::io;
  }
}

// Binds by 1-based index; keeps the first bind failure to report at step().
class Stmt {
 public:
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt(Stmt&& o) noexcept
      : m_db(o.m_db), m_stmt(std::exchange(o.m_stmt, nullptr)), m_what(std::move(o.m_what)),
        m_prefix(o.m_prefix), m_bind_rc(o.m_bind_rc) {}
  ~Stmt() {
    if (m_stmt != nullptr) sqlite3_finalize(m_stmt);
  }

  static util::Result<Stmt> prepare(sqlite3* db, const std::string* prefix, std::string_view sql,
                                    std::string_view what) {
    Stmt s;
    s.m_db = db;
    s.m_prefix = prefix;
    s.m_what = std::string(what);
    int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &s.m_stmt, nullptr);
    if (rc != SQLITE_OK) return std::unexpected(s.error(rc));
    return s;
  }

  Stmt& bind(int i, std::string_view v) {
    // An empty view may have a null data(), which SQLite would bind as NULL: bind "" instead.
    const char* data = v.data() != nullptr ? v.data() : "";
    note(sqlite3_bind_text(m_stmt, i, data, static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, std::int64_t v) {
    note(sqlite3_bind_int64(m_stmt, i, v));
    return *this;
  }
  Stmt& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
  Stmt& bind(int i, bool v) { return bind(i, static_cast<std::int64_t>(v ? 1 : 0)); }
  Stmt& bind(int i, double v) {
    note(sqlite3_bind_double(m_stmt, i, v));
    return *this;
  }
  template <class T>
  Stmt& bind(int i, const std::optional<T>& v) {
    if (v) return bind(i, *v);
    note(sqlite3_bind_null(m_stmt, i));
    return *this;
  }

  // true: a row is ready; false: done.
  util::Result<bool> step() {
    if (m_bind_rc != SQLITE_OK) return std::unexpected(error(m_bind_rc));
    int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return std::unexpected(error(rc));
  }
  // Runs a statement that returns no rows (or ignores them).
  util::Status run() {
    for (;;) {
      auto r = step();
      if (!r) return std::unexpected(r.error());
      if (!*r) return {};
    }
  }

  bool is_null(int c) const { return sqlite3_column_type(m_stmt, c) == SQLITE_NULL; }
  std::string text(int c) const {
    const auto* p = sqlite3_column_text(m_stmt, c);
    if (p == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(p),
                       static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, c)));
  }
  std::int64_t i64(int c) const { return sqlite3_column_int64(m_stmt, c); }
  double dbl(int c) const { return sqlite3_column_double(m_stmt, c); }
  std::optional<std::int64_t> opt_i64(int c) const {
    if (is_null(c)) return std::nullopt;
    return i64(c);
  }
  std::optional<int> opt_int(int c) const {
    if (is_null(c)) return std::nullopt;
    return static_cast<int>(i64(c));
  }
  std::optional<double> opt_dbl(int c) const {
    if (is_null(c)) return std::nullopt;
    return dbl(c);
  }
  std::optional<std::string> opt_text(int c) const {
    if (is_null(c)) return std::nullopt;
    return text(c);
  }

 private:
  void note(int rc) {
    if (rc != SQLITE_OK && m_bind_rc == SQLITE_OK) m_bind_rc = rc;
  }
  util::Error error(int rc) const {
    const char* msg = sqlite3_errmsg(m_db);
    return util::Error{code_for(rc), fmt::format("{}{}: {} ({})", m_prefix ? *m_prefix : "", m_what,
                                                 msg ? msg : "", sqlite3_errstr(rc))};
  }

  sqlite3* m_db = nullptr;
  sqlite3_stmt* m_stmt = nullptr;
  std::string m_what;
  const std::string* m_prefix = nullptr;
  int m_bind_rc = SQLITE_OK;
};

std::int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The schema, one migration per entry; entry i creates version i + 1. Never edit an entry that
// has shipped: append a new one.
constexpr std::array<std::string_view, 3> k_migrations = {
    R"sql(
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at_ms INTEGER NOT NULL
);
CREATE TABLE services (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  driver TEXT NOT NULL,
  port INTEGER,
  vram_mib INTEGER NOT NULL,
  source_file TEXT NOT NULL,
  definition TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
);
CREATE TABLE modes (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  source_file TEXT NOT NULL,
  definition TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
);
CREATE TABLE mode_services (
  mode_id TEXT NOT NULL REFERENCES modes(id) ON DELETE CASCADE,
  service_id TEXT NOT NULL REFERENCES services(id),
  position INTEGER NOT NULL,
  PRIMARY KEY (mode_id, position),
  UNIQUE (mode_id, service_id)
);
CREATE INDEX mode_services_by_service ON mode_services(service_id);
CREATE TABLE mode_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  mode_id TEXT,
  set_at_ms INTEGER NOT NULL,
  reason TEXT NOT NULL
);
CREATE TABLE service_runtime (
  service_id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  reason TEXT NOT NULL,
  pid INTEGER NOT NULL,
  pid_start_time INTEGER NOT NULL,
  port INTEGER,
  started_at_ms INTEGER NOT NULL,
  learned_vram_mib INTEGER,
  learned_sleep_vram_mib INTEGER,
  supervisor_ref TEXT NOT NULL,
  updated_at_ms INTEGER NOT NULL
);
CREATE TABLE models (
  id TEXT PRIMARY KEY,
  source TEXT NOT NULL CHECK (source IN ('gguf', 'local', 'huggingface')),
  location TEXT NOT NULL,
  architecture TEXT NOT NULL,
  quant TEXT NOT NULL,
  file_bytes INTEGER NOT NULL,
  parameters_b REAL,
  base_vram_mib INTEGER,
  kv_per_1k_mib REAL,
  metadata_json TEXT NOT NULL,
  notes TEXT NOT NULL,
  registered_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
);
CREATE TABLE model_measurements (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  model_id TEXT NOT NULL,
  settings_key TEXT NOT NULL,
  model_mib INTEGER NOT NULL,
  kv_mib INTEGER NOT NULL,
  compute_mib INTEGER NOT NULL,
  device TEXT NOT NULL,
  measured_at_ms INTEGER NOT NULL,
  process_mib INTEGER
);
CREATE INDEX model_measurements_by_model ON model_measurements(model_id, settings_key);
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts_ms INTEGER NOT NULL,
  kind TEXT NOT NULL,
  service_id TEXT NOT NULL,
  mode_id TEXT NOT NULL,
  message TEXT NOT NULL,
  data_json TEXT NOT NULL
);
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TABLE switches (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  from_mode TEXT NOT NULL,
  to_mode TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('planned', 'running', 'done', 'failed', 'rolled_back')),
  started_at_ms INTEGER NOT NULL,
  finished_at_ms INTEGER NOT NULL DEFAULT 0,
  message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX switches_by_state ON switches(state);
CREATE TABLE switch_steps (
  switch_id INTEGER NOT NULL REFERENCES switches(id) ON DELETE CASCADE,
  step_index INTEGER NOT NULL,
  action TEXT NOT NULL,
  service_id TEXT NOT NULL,
  status TEXT NOT NULL
    CHECK (status IN ('pending', 'running', 'done', 'failed', 'skipped', 'undone')),
  started_at_ms INTEGER NOT NULL DEFAULT 0,
  finished_at_ms INTEGER NOT NULL DEFAULT 0,
  message TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (switch_id, step_index)
);
)sql",
    // 2: measured performance (gpumod bench) and measured step durations (load, wake, ...).
    R"sql(
CREATE TABLE bench_runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL CHECK (kind IN ('serve', 'switch')),
  subject TEXT NOT NULL,
  model TEXT NOT NULL,
  settings TEXT NOT NULL,
  gpu_uuid TEXT NOT NULL,
  measured_at_ms INTEGER NOT NULL,
  prompt_tps REAL,
  gen_tps REAL,
  ttft_ms REAL,
  result_json TEXT NOT NULL
);
CREATE INDEX bench_runs_by_subject ON bench_runs(subject, measured_at_ms);
CREATE TABLE step_timings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  bench_run_id INTEGER REFERENCES bench_runs(id) ON DELETE CASCADE,
  service_id TEXT NOT NULL,
  action TEXT NOT NULL,
  elapsed_ms INTEGER NOT NULL CHECK (elapsed_ms >= 0),
  gpu_uuid TEXT NOT NULL,
  measured_at_ms INTEGER NOT NULL
);
CREATE INDEX step_timings_by_service ON step_timings(service_id, action, measured_at_ms);
)sql",
    // 3: requests served by the OpenAI-compatible endpoint (a ring: old rows are deleted).
    R"sql(
CREATE TABLE requests (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts_ms INTEGER NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  model TEXT NOT NULL,
  service_id TEXT NOT NULL,
  status INTEGER NOT NULL,
  queue_ms INTEGER NOT NULL,
  ttfb_ms INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  prompt_tokens INTEGER,
  completion_tokens INTEGER,
  action TEXT NOT NULL,
  error TEXT NOT NULL
);
)sql",
};

constexpr std::string_view k_current_mode_key = "current_mode";

}  // namespace

// ---------------------------------------------------------------------------------------------
// Impl

struct StateStore::Impl {
  fs::path path;
  std::string prefix;  // "state database <path>: "
  sqlite3* db = nullptr;
  ClockMs now_ms;
  mutable std::mutex mutex;

  ~Impl() {
    if (db != nullptr) sqlite3_close_v2(db);
  }

  std::int64_t now() const { return now_ms ? now_ms() : system_now_ms(); }

  util::Result<Stmt> prepare(std::string_view sql, std::string_view what) const {
    return Stmt::prepare(db, &prefix, sql, what);
  }

  util::Error error(int rc, std::string_view what) const {
    const char* msg = sqlite3_errmsg(db);
    return util::Error{code_for(rc), fmt::format("{}{}: {} ({})", prefix, what, msg ? msg : "",
                                                 sqlite3_errstr(rc))};
  }

  // Runs constant SQL (pragmas, BEGIN/COMMIT, migration scripts); never SQL built from inputs.
  util::Status exec(const char* sql, std::string_view what) const {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    if (rc == SQLITE_OK) return {};
    std::string msg = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    return std::unexpected(util::Error{
        code_for(rc), fmt::format("{}{}: {} ({})", prefix, what, msg, sqlite3_errstr(rc))});
  }

  // Runs f() inside BEGIN IMMEDIATE ... COMMIT; rolls back when f fails or the commit fails.
  template <class F>
  auto write_txn(std::string_view what, F&& f) const -> decltype(f()) {
    if (auto b = exec("BEGIN IMMEDIATE", fmt::format("{}: beginning a transaction", what)); !b) {
      return std::unexpected(b.error());
    }
    auto r = f();
    if (!r) {
      (void)exec("ROLLBACK", "rolling back");
      return r;
    }
    if (auto c = exec("COMMIT", fmt::format("{}: committing", what)); !c) {
      if (sqlite3_get_autocommit(db) == 0) (void)exec("ROLLBACK", "rolling back");
      return std::unexpected(c.error());
    }
    return r;
  }

  // Keeps the newest StateStore::step_timings_kept durations of a step (service, action, GPU):
  // only the latest are ever read (expected_step), and every switch adds some.
  util::Status trim_step_timings(const StepTiming& t) const {
    auto s = prepare(
        "DELETE FROM step_timings WHERE service_id = ?1 AND action = ?2 AND gpu_uuid = ?3 AND id NOT IN "
        "(SELECT id FROM step_timings WHERE service_id = ?1 AND action = ?2 AND gpu_uuid = ?3 "
        "ORDER BY measured_at_ms DESC, id DESC LIMIT ?4)",
        fmt::format("trimming the measured durations of {} {}", t.action, t.service_id));
    if (!s) return std::unexpected(s.error());
    s->bind(1, t.service_id).bind(2, t.action).bind(3, t.gpu_uuid)
        .bind(4, static_cast<std::int64_t>(StateStore::step_timings_kept));
    return s->run();
  }

  util::Result<int> schema_version() const {
    auto s = prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                     "reading the schema version");
    if (!s) return std::unexpected(s.error());
    auto r = s->step();
    if (!r) return std::unexpected(r.error());
    return *r ? static_cast<int>(s->i64(0)) : 0;
  }

  util::Status check_not_newer(int version) const {
    int known = static_cast<int>(k_migrations.size());
    if (version > known) {
      return util::fail(ErrorCode::conflict,
                        fmt::format("{}schema version {} is newer than this gpumod knows ({}); "
                                    "upgrade gpumod or point GPUMOD_DB_PATH at another file",
                                    prefix, version, known));
    }
    return {};
  }

  util::Status migrate() const {
    auto created = write_txn("creating schema_migrations", [&]() -> util::Status {
      return exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          " version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL)",
          "creating schema_migrations");
    });
    if (!created) return created;
    for (std::size_t i = 0; i < k_migrations.size(); ++i) {
      const int version = static_cast<int>(i) + 1;
      auto what = fmt::format("applying schema migration {}", version);
      auto applied = write_txn(what, [&]() -> util::Status {
        auto current = schema_version();
        if (!current) return std::unexpected(current.error());
        if (auto newer = check_not_newer(*current); !newer) return newer;
        if (*current >= version) return {};  // already there (perhaps another process did it)
        std::string script(k_migrations[i]);
        if (auto e = exec(script.c_str(), what); !e) return e;
        auto ins = prepare("INSERT INTO schema_migrations(version, applied_at_ms) VALUES (?1, ?2)",
                           what);
        if (!ins) return std::unexpected(ins.error());
        ins->bind(1, version).bind(2, now());
        return ins->run();
      });
      if (!applied) return applied;
    }
    auto final_version = schema_version();
    if (!final_version) return std::unexpected(final_version.error());
    return check_not_newer(*final_version);
  }

  // ---- settings ----
  util::Result<std::optional<std::string>> get_setting(std::string_view key) const {
    auto s = prepare("SELECT value FROM settings WHERE key = ?1",
                     fmt::format("reading setting '{}'", key));
    if (!s) return std::unexpected(s.error());
    s->bind(1, key);
    auto r = s->step();
    if (!r) return std::unexpected(r.error());
    if (!*r) return std::optional<std::string>{};
    return std::optional<std::string>(s->text(0));
  }

  util::Status put_setting(std::string_view key, std::string_view value) const {
    auto s = prepare(
        "INSERT INTO settings(key, value, updated_at_ms) VALUES (?1, ?2, ?3) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms "
        "WHERE value IS NOT excluded.value",
        fmt::format("writing setting '{}'", key));
    if (!s) return std::unexpected(s.error());
    s->bind(1, key).bind(2, value).bind(3, now());
    return s->run();
  }

  util::Status record_mode(std::optional<std::string_view> mode_id, std::string_view reason) const {
    return write_txn("setting the current mode", [&]() -> util::Status {
      if (mode_id) {
        if (auto p = put_setting(k_current_mode_key, *mode_id); !p) return p;
      } else {
        auto d = prepare("DELETE FROM settings WHERE key = ?1", "clearing the current mode");
        if (!d) return std::unexpected(d.error());
        d->bind(1, k_current_mode_key);
        if (auto r = d->run(); !r) return r;
      }
      auto h = prepare("INSERT INTO mode_history(mode_id, set_at_ms, reason) VALUES (?1, ?2, ?3)",
                       "appending to the mode history");
      if (!h) return std::unexpected(h.error());
      h->bind(1, mode_id ? std::optional<std::string>(std::string(*mode_id)) : std::nullopt)
          .bind(2, now())
          .bind(3, reason);
      return h->run();
    });
  }

  // ---- sync ----
  util::Result<SyncCounts> sync_services(const core::Config& config, std::int64_t now_ms,
                                         std::set<std::string>& configured) const {
    struct Row {
      std::string name, driver, source_file, definition;
      std::optional<int> port;
      std::int64_t vram_mib = 0;
    };
    std::map<std::string, Row> existing;
    {
      auto s = prepare("SELECT id, name, driver, port, vram_mib, source_file, definition FROM services",
                       "sync: reading services");
      if (!s) return std::unexpected(s.error());
      for (;;) {
        auto r = s->step();
        if (!r) return std::unexpected(r.error());
        if (!*r) break;
        existing[s->text(0)] =
            Row{s->text(1), s->text(2), s->text(5), s->text(6), s->opt_int(3), s->i64(4)};
      }
    }
    SyncCounts counts;
    for (const auto& svc : config.services) {
      if (!configured.insert(svc.id).second) {
        return util::fail(ErrorCode::conflict,
                          fmt::format("{}sync: service id '{}' appears twice in the configuration",
                                      prefix, svc.id));
      }
      Row want{svc.name, std::string(core::to_string(svc.driver)), svc.defined_at.file,
               service_to_json(svc), svc.port, svc.vram_mib};
      auto it = existing.find(svc.id);
      if (it != existing.end()) {
        const Row& have = it->second;
        if (have.name == want.name && have.driver == want.driver && have.port == want.port &&
            have.vram_mib == want.vram_mib && have.source_file == want.source_file &&
            have.definition == want.definition) {
          ++counts.unchanged;
          continue;
        }
        auto u = prepare(
            "UPDATE services SET name = ?2, driver = ?3, port = ?4, vram_mib = ?5, "
            "source_file = ?6, definition = ?7, updated_at_ms = ?8 WHERE id = ?1",
            fmt::format("sync: updating service '{}'", svc.id));
        if (!u) return std::unexpected(u.error());
        u->bind(1, svc.id).bind(2, want.name).bind(3, want.driver).bind(4, want.port)
            .bind(5, want.vram_mib).bind(6, want.source_file).bind(7, want.definition)
            .bind(8, now_ms);
        if (auto r = u->run(); !r) return std::unexpected(r.error());
        ++counts.updated;
      } else {
        auto ins = prepare(
            "INSERT INTO services(id, name, driver, port, vram_mib, source_file, definition, "
            "created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            fmt::format("sync: inserting service '{}'", svc.id));
        if (!ins) return std::unexpected(ins.error());
        ins->bind(1, svc.id).bind(2, want.name).bind(3, want.driver).bind(4, want.port)
            .bind(5, want.vram_mib).bind(6, want.source_file).bind(7, want.definition)
            .bind(8, now_ms);
        if (auto r = ins->run(); !r) return std::unexpected(r.error());
        ++counts.inserted;
      }
    }
    return counts;
  }

  util::Result<SyncCounts> sync_modes(const core::Config& config, std::int64_t now_ms,
                                      const std::set<std::string>& services) const {
    struct Row {
      std::string name, description, source_file, definition;
    };
    std::map<std::string, Row> existing;
    {
      auto s = prepare("SELECT id, name, description, source_file, definition FROM modes",
                       "sync: reading modes");
      if (!s) return std::unexpected(s.error());
      for (;;) {
        auto r = s->step();
        if (!r) return std::unexpected(r.error());
        if (!*r) break;
        existing[s->text(0)] = Row{s->text(1), s->text(2), s->text(3), s->text(4)};
      }
    }
    SyncCounts counts;
    std::set<std::string> configured;
    for (const auto& mode : config.modes) {
      if (!configured.insert(mode.id).second) {
        return util::fail(ErrorCode::conflict,
                          fmt::format("{}sync: mode id '{}' appears twice in the configuration",
                                      prefix, mode.id));
      }
      for (const auto& sid : mode.services) {
        if (!services.contains(sid)) {
          return util::fail(ErrorCode::config_invalid,
                            fmt::format("{}sync: mode '{}' lists service '{}', which is not "
                                        "configured",
                                        prefix, mode.id, sid));
        }
      }
      Row want{mode.name, mode.description, mode.defined_at.file, mode_to_json(mode)};
      auto it = existing.find(mode.id);
      bool is_new = it == existing.end();
      if (!is_new) {
        const Row& have = it->second;
        if (have.name == want.name && have.description == want.description &&
            have.source_file == want.source_file && have.definition == want.definition) {
          ++counts.unchanged;
          continue;
        }
        auto u = prepare(
            "UPDATE modes SET name = ?2, description = ?3, source_file = ?4, definition = ?5, "
            "updated_at_ms = ?6 WHERE id = ?1",
            fmt::format("sync: updating mode '{}'", mode.id));
        if (!u) return std::unexpected(u.error());
        u->bind(1, mode.id).bind(2, want.name).bind(3, want.description).bind(4, want.source_file)
            .bind(5, want.definition).bind(6, now_ms);
        if (auto r = u->run(); !r) return std::unexpected(r.error());
        auto d = prepare("DELETE FROM mode_services WHERE mode_id = ?1",
                         fmt::format("sync: updating the services of mode '{}'", mode.id));
        if (!d) return std::unexpected(d.error());
        d->bind(1, mode.id);
        if (auto r = d->run(); !r) return std::unexpected(r.error());
        ++counts.updated;
      } else {
        auto ins = prepare(
            "INSERT INTO modes(id, name, description, source_file, definition, created_at_ms, "
            "updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            fmt::format("sync: inserting mode '{}'", mode.id));
        if (!ins) return std::unexpected(ins.error());
        ins->bind(1, mode.id).bind(2, want.name).bind(3, want.description)
            .bind(4, want.source_file).bind(5, want.definition).bind(6, now_ms);
        if (auto r = ins->run(); !r) return std::unexpected(r.error());
        ++counts.inserted;
      }
      for (std::size_t pos = 0; pos < mode.services.size(); ++pos) {
        auto ms = prepare(
            "INSERT INTO mode_services(mode_id, service_id, position) VALUES (?1, ?2, ?3)",
            fmt::format("sync: adding service '{}' to mode '{}'", mode.services[pos], mode.id));
        if (!ms) return std::unexpected(ms.error());
        ms->bind(1, mode.id).bind(2, mode.services[pos]).bind(3, static_cast<std::int64_t>(pos));
        if (auto r = ms->run(); !r) return std::unexpected(r.error());
      }
    }
    for (const auto& [id, row] : existing) {
      if (configured.contains(id)) continue;
      auto d = prepare("DELETE FROM modes WHERE id = ?1",
                       fmt::format("sync: deleting mode '{}'", id));
      if (!d) return std::unexpected(d.error());
      d->bind(1, id);
      if (auto r = d->run(); !r) return std::unexpected(r.error());
      ++counts.deleted;
    }
    return counts;
  }

  util::Result<int> delete_unconfigured_services(const std::set<std::string>& configured) const {
    std::vector<std::string> stale;
    {
      auto s = prepare("SELECT id FROM services", "sync: reading services");
      if (!s) return std::unexpected(s.error());
      for (;;) {
        auto r = s->step();
        if (!r) return std::unexpected(r.error());
        if (!*r) break;
        auto id = s->text(0);
        if (!configured.contains(id)) stale.push_back(std::move(id));
      }
    }
    for (const auto& id : stale) {
      auto d = prepare("DELETE FROM services WHERE id = ?1",
                       fmt::format("sync: deleting service '{}'", id));
      if (!d) return std::unexpected(d.error());
      d->bind(1, id);
      if (auto r = d->run(); !r) return std::unexpected(r.error());
    }
    return static_cast<int>(stale.size());
  }

  // ---- switches ----
  util::Result<std::optional<SwitchRecord>> load_switch(std::string_view where_sql,
                                                         std::optional<std::int64_t> id) const {
    std::string sql =
        "SELECT id, from_mode, to_mode, state, started_at_ms, finished_at_ms, message FROM switches ";
    sql += where_sql;  // a constant chosen by the caller, never input
    auto s = prepare(sql, "reading the switch journal");
    if (!s) return std::unexpected(s.error());
    if (id) s->bind(1, *id);
    auto r = s->step();
    if (!r) return std::unexpected(r.error());
    if (!*r) return std::optional<SwitchRecord>{};
    SwitchRecord rec;
    rec.id = s->i64(0);
    rec.from_mode = s->text(1);
    rec.to_mode = s->text(2);
    rec.state = parse_switch_state(s->text(3)).value_or(SwitchState::failed);
    rec.started_at_ms = s->i64(4);
    rec.finished_at_ms = s->i64(5);
    rec.message = s->text(6);
    auto st = prepare(
        "SELECT step_index, action, service_id, status, started_at_ms, finished_at_ms, message "
        "FROM switch_steps WHERE switch_id = ?1 ORDER BY step_index",
        fmt::format("reading the steps of switch {}", rec.id));
    if (!st) return std::unexpected(st.error());
    st->bind(1, rec.id);
    for (;;) {
      auto sr = st->step();
      if (!sr) return std::unexpected(sr.error());
      if (!*sr) break;
      SwitchStep step;
      step.step_index = static_cast<int>(st->i64(0));
      step.action = st->text(1);
      step.service_id = st->text(2);
      step.status = parse_step_status(st->text(3)).value_or(StepStatus::failed);
      step.started_at_ms = st->i64(4);
      step.finished_at_ms = st->i64(5);
      step.message = st->text(6);
      rec.steps.push_back(std::move(step));
    }
    return std::optional<SwitchRecord>(std::move(rec));
  }

  // The state of a switch, or not_found.
  util::Result<SwitchState> switch_state(std::int64_t switch_id) const {
    auto s = prepare("SELECT state FROM switches WHERE id = ?1",
                     fmt::format("reading switch {}", switch_id));
    if (!s) return std::unexpected(s.error());
    s->bind(1, switch_id);
    auto r = s->step();
    if (!r) return std::unexpected(r.error());
    if (!*r) {
      return util::fail(ErrorCode::not_found,
                        fmt::format("{}no switch {} in the journal", prefix, switch_id));
    }
    return parse_switch_state(s->text(0)).value_or(SwitchState::failed);
  }
};

namespace {

bool is_finished(SwitchState s) { return s != SwitchState::planned && s != SwitchState::running; }

util::Error moved_from() {
  return util::Error{ErrorCode::internal, "state database: use of a moved-from StateStore"};
}

ServiceRuntime read_runtime(const Stmt& s) {
  ServiceRuntime rt;
  rt.service_id = s.text(0);
  rt.state = parse_service_state(s.text(1)).value_or(core::ServiceState::unknown);
  rt.reason = s.text(2);
  rt.pid = static_cast<int>(s.i64(3));
  rt.pid_start_time = static_cast<std::uint64_t>(s.i64(4));
  rt.port = s.opt_int(5);
  rt.started_at_ms = s.i64(6);
  rt.learned_vram_mib = s.opt_i64(7);
  rt.learned_sleep_vram_mib = s.opt_i64(8);
  rt.supervisor_ref = s.text(9);
  rt.updated_at_ms = s.i64(10);
  return rt;
}

constexpr const char* k_runtime_columns =
    "SELECT service_id, state, reason, pid, pid_start_time, port, started_at_ms, learned_vram_mib, "
    "learned_sleep_vram_mib, supervisor_ref, updated_at_ms FROM service_runtime ";

ModelRecord read_model(const Stmt& s) {
  ModelRecord m;
  m.id = s.text(0);
  m.source = s.text(1);
  m.location = s.text(2);
  m.architecture = s.text(3);
  m.quant = s.text(4);
  m.file_bytes = s.i64(5);
  m.parameters_b = s.opt_dbl(6);
  m.base_vram_mib = s.opt_i64(7);
  m.kv_per_1k_mib = s.opt_dbl(8);
  m.metadata_json = s.text(9);
  m.notes = s.text(10);
  m.registered_at_ms = s.i64(11);
  m.updated_at_ms = s.i64(12);
  return m;
}

constexpr const char* k_model_columns =
    "SELECT id, source, location, architecture, quant, file_bytes, parameters_b, base_vram_mib, "
    "kv_per_1k_mib, metadata_json, notes, registered_at_ms, updated_at_ms FROM models ";

// Creates the missing directories of `dir`, each with mode 0700.
util::Status make_private_dirs(const fs::path& dir) {
  if (dir.empty()) return {};
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return {};
  if (auto s = make_private_dirs(dir.parent_path()); !s) return s;
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return util::fail(ErrorCode::io, fmt::format("creating directory {}: {}", dir.string(),
                                                 std::strerror(errno)));
  }
  if (!fs::is_directory(dir, ec)) {
    return util::fail(ErrorCode::io, fmt::format("{} exists and is not a directory", dir.string()));
  }
  return {};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// StateStore

StateStore::StateStore(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
StateStore::StateStore(StateStore&&) noexcept = default;
StateStore& StateStore::operator=(StateStore&&) noexcept = default;
StateStore::~StateStore() = default;

int StateStore::latest_schema_version() { return static_cast<int>(k_migrations.size()); }

const std::filesystem::path& StateStore::path() const {
  static const fs::path k_empty;
  return m_impl ? m_impl->path : k_empty;
}

#define GPUMOD_STATE_LOCK()                           \
  if (!m_impl) return std::unexpected(moved_from()); \
  std::lock_guard<std::mutex> lock_(m_impl->mutex);  \
  const Impl& im = *m_impl

util::Result<StateStore> StateStore::open_read_only(std::unique_ptr<Impl> impl, const OpenOptions& options) {
  const auto& db_path = impl->path;
  std::error_code ec;
  if (!fs::is_regular_file(db_path, ec)) {
    return util::fail(ErrorCode::not_found, fmt::format("{}does not exist (nothing stored yet)", impl->prefix));
  }
  const bool dir_writable = ::access(db_path.parent_path().c_str(), W_OK) == 0;
  // immutable=1: no locks and no -shm (the directory is read-only, so no writer can exist there).
  std::string uri = "file:";
  for (const char c : db_path.string()) {
    if (c == '?' || c == '#' || c == '%') uri += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    else uri += c;
  }
  uri += dir_writable ? "?mode=ro" : "?mode=ro&immutable=1";
  int rc = sqlite3_open_v2(uri.c_str(), &impl->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    if (impl->db == nullptr) return util::fail(ErrorCode::io, fmt::format("{}opening: out of memory", impl->prefix));
    return std::unexpected(impl->error(rc, "opening read-only"));
  }
  sqlite3_extended_result_codes(impl->db, 1);
  sqlite3_busy_timeout(impl->db, static_cast<int>(options.busy_timeout.count()));
  auto version = impl->schema_version();
  if (!version) return std::unexpected(version.error());
  if (*version != static_cast<int>(k_migrations.size())) {
    return util::fail(ErrorCode::conflict,
                      fmt::format("{}has schema version {}, this gpumod needs {}; opened read-only it cannot be migrated",
                                  impl->prefix, *version, k_migrations.size()));
  }
  return StateStore(std::move(impl));
}

util::Result<StateStore> StateStore::open(const std::filesystem::path& db_path,
                                          const OpenOptions& options) {
  if (db_path.empty()) {
    return util::fail(ErrorCode::invalid_argument, "state database: the path is empty");
  }
  if (options.read_only) return open_file(db_path, options, false);  // never creates one
  // A new database is built under a temporary name and linked into place complete (#19 F3): a
  // database file of 0 bytes then never exists legitimately, so one found is a lost database,
  // never silently re-initialised.
  std::error_code exists_ec;
  if (!fs::exists(db_path, exists_ec) && !exists_ec) {
    if (auto d = make_private_dirs(db_path.parent_path()); !d) {
      return std::unexpected(util::with_context(d.error(), fmt::format("state database {}: creating its directory", db_path.string())));
    }
    const fs::path fresh = db_path.string() + ".creating-" + std::to_string(::getpid());
    {
      auto created = open_file(fresh, options, true);
      if (!created) {
        std::error_code ec;
        fs::remove(fresh, ec);
        return std::unexpected(created.error());
      }
    }  // closed: its WAL is checkpointed into the file
    if (::link(fresh.c_str(), db_path.c_str()) != 0 && errno != EEXIST) {
      const int err = errno;
      ::unlink(fresh.c_str());
      return util::fail(ErrorCode::io, fmt::format("state database {}: creating the file: {}", db_path.string(), std::strerror(err)));
    }
    ::unlink(fresh.c_str());
  }
  return open_file(db_path, options, false);
}

util::Result<StateStore> StateStore::open_file(const std::filesystem::path& db_path,
                                               const OpenOptions& options, bool fresh) {
  auto impl = std::make_unique<Impl>();
  impl->path = db_path;
  impl->prefix = fmt::format("state database {}: ", db_path.string());
  impl->now_ms = options.now_ms;
  if (options.read_only) return open_read_only(std::move(impl), options);

  if (auto d = make_private_dirs(db_path.parent_path()); !d) {
    return std::unexpected(util::with_context(d.error(), impl->prefix + "creating its directory"));
  }
  // Create the file ourselves so that it (and SQLite's -wal/-shm, which copy its mode) is 0600.
  int fd = ::open(db_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
  } else if (errno != EEXIST) {
    return util::fail(ErrorCode::io,
                      fmt::format("{}creating the file: {}", impl->prefix, std::strerror(errno)));
  }

  if (!fresh) {
    struct stat main_st {};
    struct stat wal_st {};
    const bool wal = ::stat((db_path.string() + "-wal").c_str(), &wal_st) == 0 && wal_st.st_size > 0;
    if (::stat(db_path.c_str(), &main_st) == 0 && main_st.st_size == 0 && !wal) {
      return util::fail(ErrorCode::corrupt, fmt::format("{}the file is empty (0 bytes): its records are lost "
                                                        "(a database gpumod created is never empty)", impl->prefix));
    }
  }
  int rc = sqlite3_open_v2(db_path.c_str(), &impl->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           fault_vfs_name());
  if (rc != SQLITE_OK) {
    if (impl->db == nullptr) {
      return util::fail(ErrorCode::io, fmt::format("{}opening: out of memory", impl->prefix));
    }
    return std::unexpected(impl->error(rc, "opening"));
  }
  sqlite3_extended_result_codes(impl->db, 1);
  sqlite3_busy_timeout(impl->db, static_cast<int>(options.busy_timeout.count()));

  // The first statement that reads the file: a file that is not SQLite fails here.
  {
    auto s = impl->prepare("PRAGMA journal_mode = WAL", "setting WAL mode");
    if (!s) {
      auto e = s.error();
      if (e.code == ErrorCode::corrupt) {
        e.message = fmt::format("{}not a SQLite database, or a damaged one ({})", impl->prefix,
                                e.message);
      }
      return std::unexpected(e);
    }
    auto r = s->step();
    if (!r) {
      auto e = r.error();
      if (e.code == ErrorCode::corrupt) {
        e.message = fmt::format("{}not a SQLite database, or a damaged one ({})", impl->prefix,
                                e.message);
      }
      return std::unexpected(e);
    }
    std::string mode = *r ? util::to_lower(s->text(0)) : std::string();
    if (mode != "wal") {
      return util::fail(ErrorCode::io,
                        fmt::format("{}could not switch to WAL mode (journal mode is '{}')",
                                    impl->prefix, mode));
    }
  }
  // Damaged pages are found now, not by the first command that reads them (#19 F3).
  if (!fresh) {
    auto s = impl->prepare("PRAGMA quick_check(5)", "checking its integrity");
    if (!s) return std::unexpected(s.error());
    std::string problems;
    while (true) {
      auto r = s->step();
      if (!r) {
        auto e = r.error();
        if (e.code == ErrorCode::corrupt) e.message = fmt::format("{}damaged ({})", impl->prefix, e.message);
        return std::unexpected(e);
      }
      if (!*r) break;
      const std::string line = s->text(0);
      if (line != "ok") problems += (problems.empty() ? "" : "; ") + line;
    }
    if (!problems.empty()) {
      return util::fail(ErrorCode::corrupt, fmt::format("{}damaged (quick_check: {})", impl->prefix, problems));
    }
  }
  if (auto e = impl->exec("PRAGMA foreign_keys = ON", "enabling foreign keys"); !e) {
    return std::unexpected(e.error());
  }
  if (auto e = impl->exec("PRAGMA synchronous = NORMAL", "setting synchronous"); !e) {
    return std::unexpected(e.error());
  }
  if (auto m = impl->migrate(); !m) return std::unexpected(m.error());
  return StateStore(std::move(impl));
}

util::Result<int> StateStore::schema_version() const {
  GPUMOD_STATE_LOCK();
  return im.schema_version();
}

// ---- sync ----

util::Result<SyncReport> StateStore::sync_config(const core::Config& config) {
  GPUMOD_STATE_LOCK();
  const std::int64_t now = im.now();
  return im.write_txn("syncing the configuration", [&]() -> util::Result<SyncReport> {
    SyncReport report;
    std::set<std::string> configured;
    auto services = im.sync_services(config, now, configured);
    if (!services) return std::unexpected(services.error());
    report.services = *services;
    auto modes = im.sync_modes(config, now, configured);
    if (!modes) return std::unexpected(modes.error());
    report.modes = *modes;
    auto deleted = im.delete_unconfigured_services(configured);
    if (!deleted) return std::unexpected(deleted.error());
    report.services.deleted = *deleted;
    return report;
  });
}

util::Result<std::vector<StoredService>> StateStore::list_services() const {
  GPUMOD_STATE_LOCK();
  auto s = im.prepare(
      "SELECT id, name, driver, port, vram_mib, source_file, definition, created_at_ms, "
      "updated_at_ms FROM services ORDER BY id",
      "listing services");
  if (!s) return std::unexpected(s.error());
  std::vector<StoredService> out;
  for (;;) {
    auto r = s->step();
    if (!r) return std::unexpected(r.error());
    if (!*r) break;
    StoredService row;
    row.id = s->text(0);
    row.name = s->text(1);
    row.driver = core::parse_driver_kind(s->text(2)).value_or(core::DriverKind::llamacpp);
    row.port = s->opt_int(3);
    row.vram_mib = s->i64(4);
    row.source_file = s->text(5);
    row.definition_json = s->text(6);
    row.created_at_ms = s->i64(7);
    row.updated_at_ms = s->i64(8);
    out.push_back(std::move(row));
  }
  return out;
}

util::Result<std::vector<StoredMode>> StateStore::list_modes() const {
  GPUMOD_STATE_LOCK();
  auto s = im.prepare(
      "SELECT id, name, description, source_file, created_at_ms, updated_at_ms FROM modes "
      "ORDER BY id",
      "listing modes");
  if (!s) return std::unexpected(s.error());
  std::vector<StoredMode> out;
  for (;;) {
    auto r = s->step();
    if (!r) return std::unexpected(r.error());
    if (!*r) break;
    StoredMode m;
    m.id = s->text(0);
    m.name = s->text(1);
    m.description = s->text(2);
    m.source_file = s->text(3);
    m.created_at_ms = s->i64(4);
    m.updated_at_ms = s->i64(5);
    out.push_back(std::move(m));
  }
  for (auto& m : out) {
    auto ms = im.prepare(
        "SELECT service_id FROM mode_services WHERE mode_id = ?1 ORDER BY position",
        fmt::format("listing the services of mode '{}'", m.id));
    if (!ms) return std::unexpected(ms.error());
    ms->bind(1, m.id);
    for (;;) {
      auto r = ms->step();
      if (!r) return std::unexpected(r.error());
      if (!*r) break;
      m.service_ids.push_back(ms->text(0));
    }
  }
  return out;
}

// ---- settings and current mode ----

util::Result<std::optional<std::string>> StateStore::get_setting(std::string_view key) const {
  GPUMOD_STATE_LOCK();
  return im.get_setting(key);
}

util::Status StateStore::set_setting(std::string_view key, std::string_view value) {
  if (key.empty()) return util::fail(ErrorCode::invalid_argument, "state database: empty setting key");
  if (key == k_current_mode_key) {
    return util::fail(ErrorCode::invalid_argument,
                      "state database: the setting 'current_mode' is written by set_current_mode");
  }
  GPUMOD_STATE_LOCK();
  return im.put_setting(key, value);
}

util::Result<bool> StateStore::delete_setting(std::string_view key) {
  if (key == k_current_mode_key) {
    return util::fail(ErrorCode::invalid_argument,
                      "state database: the setting 'current_mode' is cleared by clear_current_mode");
  }
  GPUMOD_STATE_LOCK();
  auto d = im.prepare("DELETE FROM settings WHERE key = ?1",
                      fmt::format("deleting setting '{}'", key));
  if (!d) return std::unexpected(d.error());
  d->bind(1, key);
  if (auto r = d->run(); !r) return std::unexpected(r.error());
  return sqlite3_changes(im.db) > 0;
}

util::Result<std::optional<std::string>> StateStore::get_current_mode() const {
  GPUMOD_STATE_LOCK();
  return im.get_setting(k_current_mode_key);
}

util::Status StateStore::set_current_mode(std::string_view mode_id, std::string_view reason) {
  if (auto v = util::validate_id(mode_id, "mode id"); !v) return v;
  GPUMOD_STATE_LOCK();
  return im.record_mode(mode_id, reason);
}

util::Status StateStore::clear_current_mode(std::string_view reason) {
  GPUMOD_STATE_LOCK();
  return im.record_mode(std::nullopt, reason);
}

util::Result<std::vector<ModeHistoryEntry>> StateStore::mode_history(int limit) const {
  GPUMOD_STATE_LOCK();
  auto s = im.prepare(
      "SELECT id, mode_id, set_at_ms, reason FROM mode_history ORDER BY id DESC LIMIT ?1",
      "reading the mode history");
  if (!s) return std::unexpected(s.error());
  s->bind(1, std::max(limit, 0));
  std::vector<ModeHistoryEntry> out;
  for (;;) {
    auto r = s->step();
    if (!r) return std::unexpected(r.error());
    if (!*r) break;
    out.push_back(ModeHistoryEntry{s->i64(0), s->opt_text(1), s->i64(2), s->text(3)});
  }
  return out;
}

// ---- runtime ----

util::Status StateStore::upsert_runtime(const ServiceRuntime& rt) {
  if (auto v = util::validate_id(rt.service_id, "service id"); !v) return v;
  GPUMOD_STATE_LOCK();
  auto s = im.prepare(
      "INSERT INTO service_runtime(service_id, state, reason, pid, pid_start_time, port, "
      "started_at_ms, learned_vram_mib, learned_sleep_vram_mib, supervisor_ref, updated_at_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
      "ON CONFLICT(service_id) DO UPDATE SET state = excluded.state, reason = excluded.reason, "
      "pid = excluded.pid, pid_start_time = excluded.pid_start_time, port = excluded.port, "
      "started_at_ms = excluded.started_at_ms, learned_vram_mib = excluded.learned_vram_mib, "
      "learned_sleep_vram_mib = excluded.learned_sleep_vram_mib, "
      "supervisor_ref = excluded.supervisor_ref, updated_at_ms = excluded.updated_at_ms",
      fmt::format("writing the runtime record of '{}'", rt.service_id));
  if (!s) return std::unexpected(s.error());
  s->bind(1, rt.service_id)
      .bind(2, core::to_string(rt.state))
      .bind(3, rt.reason)
      .bind(4, rt.pid)
      .bind(5, static_cast<std::int64_t>(rt.pid_start_time))
      .bind(6, rt.port)
      .bind(7, rt.started_at_ms)
      .bind(8, rt.learned_vram_mib)
      .bind(9, rt.learned_sleep_vram_mib)
      .bind(10, rt.supervisor_ref)
      .bind(11, im.now());
  return s->run();
}

util::Result<std::optional<ServiceRuntime>> StateStore::get_runtime(
    std::string_view service_id) const {
  GPUMOD_STATE_LOCK();
  auto s = im.prepare(std::string(k_runtime_columns) + "WHERE service_id = ?1",
                      fmt::format("reading the runtime record of '{}'", service_id));
  if (!s) return std::unexpected(s.error());
  s->bind(1, service_id);
  auto r = s->step();
  if (!r) return std::unexpected(r.error());
  if (!*r) return std::optional<ServiceRuntime>{};
  return std::optional<ServiceRuntime>(read_runtime(*s));
}

util::Result<std::vector<ServiceRuntime>> StateStore::list_runtime() const {
  GPUMOD_STATE_LOCK();
  auto s = im.prepare(std::string(k_runtime_columns) + "ORDER BY service_id",
                      "listing runtime records");
  if (!s) return std::unexpected(s.error());
  std::vector<ServiceRuntime> out;
  for (;;) {
    auto r = s->step();
    if (!r) return std::unexpected(r.error());
    if (!*r) break;
    out.push_back(read_runtime(*s));
  }
  return out;
}

util::Result<bool> StateStore::delete_runtime(std::string_view service_id) {
  GPUMOD_STATE_LOCK();
  auto d = im.prepare("DELETE FROM service_runtime WHERE service_id = ?1",
                      fmt::format("deleting the runtime record of '{}'", service_id));
  if (!d) return std::unexpected(d.error());
  d->bind(1, service_id);
  if (auto r = d->run(); !r) return std::unexpected(r.error());
  return sqlite3_changes(im.db) > 0;
}

// ---- models ----

util::Result<ModelRecord> StateStore::upsert_model(const ModelRecord& m) {
  if (auto v = util::validate_id(m.id, "model id"); !v) return std::unexpected(v.error());
  if (m.source != "gguf" && m.source != "local" && m.source != "huggingface") {
    return util::fail(ErrorCode::invalid_argument,
                      fmt::format("model '{}': source '{}' is not one of gguf, local, huggingface",
                                  m.id, m.source));
  }
  GPUMOD_STATE_LOCK();
  const std::int64_t now = im.now();
  return im.write_txn(fmt::format("registering model '{}'", m.id),
                      [&]() -> util::Result<ModelRecord> {
    auto s = im.prepare(
        "INSERT INTO models(id, source, location, architecture, quant, file_bytes, parameters_b, "
        "base_vram_mib, kv_per_1k_mib, metadata_json, notes, registered_at_ms, updated_at_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12) "
        "ON CONFLICT(id) DO UPDATE SET source = excluded.source, location = excluded.location, "
        "architecture = excluded.architecture, quant = excluded.quant, "
        "file_bytes = excluded.file_bytes, parameters_b = excluded.parameters_b, "
        "base_vram_mib = excluded.base_vram_mib, kv_per_1k_mib = excluded.kv_per_1k_mib, "
        "metadata_json = excluded.metadata_json, notes = excluded.notes, "
        "updated_at_ms = excluded.updated_at_ms",
        fmt::format("registering model '{}'", m.id));
    if (!s) return std::unexpected(s.error());
    s->bind(1, m.id)
        .bind(2, m.source)
        .bind(3, m.location)
        .bind(4, m.architecture)
        .bind(5, m.quant)
        .bind(6, m.file_bytes)
        .bind(7, m.parameters_b)
        .bind(8, m.base_vram_mib)
        .bind(9, m.kv_per_1k_mib)
        .bind(10, m.metadata_json)
        .bind(11, m.notes)
        .bind(12, now);
    if (auto r = s->run(); !r) return std::unexpected(r.error());
    auto g = im.prepare(std::string(k_model_columns) + "WHERE id = ?1",
                        fmt::format("reading model '{}'", m.id));
    if (!g) return std::unexpected(g.error());
    g->bind(1, m.id);
    auto r = g->step();
    if (!r) return std::unexpected(r.error());
    if (!*r) {
      return util::fail(ErrorCode::internal,
                        fmt::format("{}model '{}' vanished after its write", im.prefix, m.id));
    }
    return read_model(*g);
  });
}

util::Result<std::optional<ModelRecord>> StateStore::get_model(std::string_view id) const {
  GPUMOD_STATE_LOCK();
  auto g = im.prepare(std::string(k_model_columns) + "WHERE id = ?1",
                      fmt::format("reading model '{}'", id));
  if (!g) return std::unexpected(g.error());
  g->bind(1, id);
  auto r = g->step();
  if (!r) return std::unexpected(r.error());
  if (!*r) return std::optional<ModelRecord>{};
  return std::optional<ModelRecord>(read_model(*g));
}

util::Result<std::vector<ModelRecord>> StateStore::list_models() const {
  GPUMOD_STATE_LOCK();
  auto g = im.prepare(std::string(k_model_columns) + "ORDER BY id", "listing models");
  if (!g) return std::unexpected(g.error());
  std::vector<ModelRecord> out;
  for (;;) {
    auto r = g->step();
    if (!r) return std::unexpected(r.error());
    if (!*r) break;
    out.push_back(read_model(*g));
  }
  return out;
}

util::Result<bool> StateStore::remove_model(std::string_view id) {
  GPUMOD_STATE_LOCK();
  auto d = im.prepare("DELETE FROM models WHERE id = ?1", fmt::format("removing model '{}'", id));
  if (!d) return std::unexpected(d.error());
  d->bind(1, id);
  if (auto r = d->run(); !r) return std::unexpected(r.error());
  return sqlite3_changes(im.db) > 0;
}

util::Result<std::int64_t> StateStore::add_measurement(const ModelMeasurement& m) {
  if (m.model_id.empty()) {
    return util::fail(ErrorCode::invalid_argument, "state database: measurement without a model id");
  }
  GPUMOD_STATE_LOCK();
  auto s = im.prepare(
      "INSERT INTO model_measurements(model_id, settings_key, model_mib, kv_mib, compute_mib, "
      "device, measured_at_ms, process_mib) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
      fmt::format("recording a measurement of model '{}'", m.model_id));
  if (!s) return std::unexpected(s.error());
  s->bind(1, m.model_id)
      .bind(2, m.settings_key)
      .bind(3, m.model_mib)
      .bind(4, m.kv_mib)
      .bind(5, m.compute_mib)
      .bind(6, m.device)
      .bind(7, m.measured_at_ms != 0 ? m.measured_at_ms : im.now())
      .bind(8, m.process_mib);
  if (auto r = s->run(); !r) return std::unexpected(r.error());
  return sqlite3_last_insert_rowid(im.db);
}

util::Result<std::vector<ModelMeasurement>> StateStore::list_measurements(
    std::string_view model_id, std::string_view settings_key) const {
  GPUMOD_STATE_LOCK();
  auto s = im.prepare(
      "SELECT id, model_id, settings_key, model_mib, kv_mib, compute_mib, device, measured_at_ms, "
      "process_mib FROM model_measurements WHERE model_id = ?1 AND (?2 = '' OR settings_key = ?2) "
      "ORDER BY measured_at_ms, id",
      fmt::format("listing measurements of model '{}'", model_id));
  if (!s) return std::unexpected(s.error());
  s->bind(1, model_id).bind(2, settings_key);
  std::vector<ModelMeasurement> out;
  for (;;) {
    auto r = s->step();
    if (!r) return std::unexpected(r.error());
    if (!*r) break;
    ModelMeasurement m;
    m.id = s->i64(0);
    m.model_id = s->text(1);
    m.settings_key = s->text(2);
    m.model_mib = s->i64(3);
    m.kv_mib = s->i64(4);
    m.compute_mib = s->i64(5);
    m.device = s->text(6);
    m.measured_at_ms = s->i64(7);
    m.process_mib = s->opt_i64(8);
    out.push_back(std::move(m));
  }
  return out;
}

// ---- events ----

util::Result<std::int64_t> StateStore::append_event(const Event& e) {
  if (e.kind.empty()) {
    return util::fail(ErrorCode::invalid_argument, "state database: event without a kind");
  }
  GPUMOD_STATE_LOCK();
  auto s = im.prepare(
      "INSERT INTO events(ts_ms, kind, service_id, mode_id, message, data_json) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
      fmt::format("appending a '{}' event", e.kind));
  if (!s) return std::unexpected(s.error());
  s->bind(1, e.ts_ms != 0 ? e.ts_ms : im.now())
      .bind(2, e.kind)
      .bind(3, e.service_id)
      .bind(4, e.mode_id)
      .bind(5, e.message)
      .bind(6, e.data_json);
  if (auto r = s->run(); !r) return std::unexpected(r.error());
  return sqlite3_last_insert_rowid(im.db);
}

// The rows of a statement selecting id, ts_ms, kind, service_id, mode_id, message, data_json.
static util::Result<std::vector<Event>> read_events(Stmt& s) {
  std::vector<Event> out;
  for (;;) {
    auto r = s.step();
    if (!r) return std::unexpected(r.error());
    if (!*r) break;
    out.push_back(Event{s.i64(0), s.i64(1), s.text(2), s.text(3), s.text(4), s.text(5), s.text(6)});
  }
  return out;
}

util::Result<std::vector<Event>> StateStore::list_events(std::int64_t after_id, int limit) const {
  GPUMOD_STATE_LOCK();
  auto s = im.prepare(
      "SELECT id, ts_ms, kind, service_id, mode_id, message, data_json FROM events "
      "WHERE id > ?1 ORDER BY id LIMIT ?2",
      "listing events");
  if (!s) return std::unexpected(s.error());
  s->bind(1, after_id).bind(2, std::max(limit, 0));
  return read_events(*s);
}

util::Result<std::vector<Event>> StateStore::list_latest_events(std::int64_t after_id, std::int64_t since_ts_ms,
                                                                int limit) const {
  GPUMOD_STATE_LOCK();
  auto s = im.prepare(
      "SELECT id, ts_ms, kind, service_id, mode_id, message, data_json FROM "
      "(SELECT * FROM events WHERE id > ?1 AND ts_ms >= ?2 ORDER BY id DESC LIMIT ?3) ORDER BY id",
      "listing the latest events");
  if (!s) return std::unexpected(s.error());
  s->bind(1, after_id).bind(2, since_ts_ms).bind(3, std::max(limit, 0));
  return read_events(*s);
}

util::Result<std::int64_t> StateStore::latest_event_id() const {
  GPUMOD_STATE_LOCK();
  auto s = im.prepare("SELECT COALESCE(MAX(id), 0) FROM events", "reading the latest event id");
  if (!s) return std::unexpected(s.error());
  auto r = s->step();
  if (!r) return std::unexpected(r.error());
  return *r ? s->i64(0) : 0;
}

// ---- switch journal ----

util::Result<std::int64_t> StateStore::begin_switch(std::string_view from_mode,
                                                    std::string_view to_mode,
                                                    const std::vector<PlannedStep>& steps) {
  if (auto v = util::validate_id(to_mode, "target mode id"); !v) return std::unexpected(v.error());
  GPUMOD_STATE_LOCK();
  const std::int64_t now = im.now();
  return im.write_txn(fmt::format("recording a switch to '{}'", to_mode),
                      [&]() -> util::Result<std::int64_t> {
    auto open = im.load_switch(
        "WHERE state IN ('planned', 'running') ORDER BY id DESC LIMIT 1", std::nullopt);
    if (!open) return std::unexpected(open.error());
    if (*open) {
      const auto& o = **open;
      return util::fail(ErrorCode::conflict,
                        fmt::format("{}switch {} ('{}' -> '{}') is unfinished; finish or roll it "
                                    "back first",
                                    im.prefix, o.id, o.from_mode, o.to_mode));
    }
    auto s = im.prepare(
        "INSERT INTO switches(from_mode, to_mode, state, started_at_ms) VALUES (?1, ?2, ?3, ?4)",
        "recording a switch");
    if (!s) return std::unexpected(s.error());
    s->bind(1, from_mode).bind(2, to_mode).bind(3, to_string(SwitchState::running)).bind(4, now);
    if (auto r = s->run(); !r) return std::unexpected(r.error());
    const std::int64_t id = sqlite3_last_insert_rowid(im.db);
    for (std::size_t i = 0; i < steps.size(); ++i) {
      auto st = im.prepare(
          "INSERT INTO switch_steps(switch_id, step_index, action, service_id, status) "
          "VALUES (?1, ?2, ?3, ?4, ?5)",
          fmt::format("recording step {} of switch {}", i, id));
      if (!st) return std::unexpected(st.error());
      st->bind(1, id)
          .bind(2, static_cast<std::int64_t>(i))
          .bind(3, steps[i].action)
          .bind(4, steps[i].service_id)
          .bind(5, to_string(StepStatus::pending));
      if (auto r = st->run(); !r) return std::unexpected(r.error());
    }
    return id;
  });
}

util::Status StateStore::update_step(std::int64_t switch_id, int step_index, StepStatus status,
                                     std::string_view message) {
  GPUMOD_STATE_LOCK();
  const std::int64_t now = im.now();
  return im.write_txn(fmt::format("updating step {} of switch {}", step_index, switch_id),
                      [&]() -> util::Status {
    auto state = im.switch_state(switch_id);
    if (!state) return std::unexpected(state.error());
    if (is_finished(*state)) {
      return util::fail(ErrorCode::conflict,
                        fmt::format("{}switch {} is already {}", im.prefix, switch_id,
                                    to_string(*state)));
    }
    const bool running = status == StepStatus::running;
    const bool terminal = status != StepStatus::pending && !running;
    auto s = im.prepare(
        "UPDATE switch_steps SET status = ?3, message = ?4, "
        "started_at_ms = CASE WHEN ?5 AND started_at_ms = 0 THEN ?7 ELSE started_at_ms END, "
        "finished_at_ms = CASE WHEN ?6 THEN ?7 ELSE 0 END "
        "WHERE switch_id = ?1 AND step_index = ?2",
        fmt::format("updating step {} of switch {}", step_index, switch_id));
    if (!s) return std::unexpected(s.error());
    s->bind(1, switch_id)
        .bind(2, step_index)
        .bind(3, to_string(status))
        .bind(4, message)
        .bind(5, running || terminal)
        .bind(6, terminal)
        .bind(7, now);
    if (auto r = s->run(); !r) return r;
    if (sqlite3_changes(im.db) == 0) {
      return util::fail(ErrorCode::not_found, fmt::format("{}switch {} has no step {}", im.prefix,
                                                          switch_id, step_index));
    }
    return {};
  });
}

util::Status StateStore::set_switch_state(std::int64_t switch_id, SwitchState state,
                                          std::string_view message) {
  if (is_finished(state)) {
    return util::fail(ErrorCode::invalid_argument,
                      fmt::format("state database: set_switch_state({}) ends the switch; use "
                                  "finish_switch",
                                  to_string(state)));
  }
  GPUMOD_STATE_LOCK();
  return im.write_txn(fmt::format("updating switch {}", switch_id), [&]() -> util::Status {
    auto current = im.switch_state(switch_id);
    if (!current) return std::unexpected(current.error());
    if (is_finished(*current)) {
      return util::fail(ErrorCode::conflict, fmt::format("{}switch {} is already {}", im.prefix,
                                                         switch_id, to_string(*current)));
    }
    auto s = im.prepare("UPDATE switches SET state = ?2, message = ?3 WHERE id = ?1",
                        fmt::format("updating switch {}", switch_id));
    if (!s) return std::unexpected(s.error());
    s->bind(1, switch_id).bind(2, to_string(state)).bind(3, message);
    return s->run();
  });
}

util::Status StateStore::finish_switch(std::int64_t switch_id, SwitchState state,
                                       std::string_view message) {
  if (!is_finished(state)) {
    return util::fail(ErrorCode::invalid_argument,
                      fmt::format("state database: a switch cannot finish as '{}'; use done, "
                                  "failed or rolled_back",
                                  to_string(state)));
  }
  GPUMOD_STATE_LOCK();
  const std::int64_t now = im.now();
  return im.write_txn(fmt::format("finishing switch {}", switch_id), [&]() -> util::Status {
    auto current = im.switch_state(switch_id);
    if (!current) return std::unexpected(current.error());
    if (is_finished(*current)) {
      return util::fail(ErrorCode::conflict, fmt::format("{}switch {} is already {}", im.prefix,
                                                         switch_id, to_string(*current)));
    }
    auto s = im.prepare(
        "UPDATE switches SET state = ?2, message = ?3, finished_at_ms = ?4 WHERE id = ?1",
        fmt::format("finishing switch {}", switch_id));
    if (!s) return std::unexpected(s.error());
    s->bind(1, switch_id).bind(2, to_string(state)).bind(3, message).bind(4, now);
    return s->run();
  });
}

util::Result<std::optional<SwitchRecord>> StateStore::get_switch(std::int64_t switch_id) const {
  GPUMOD_STATE_LOCK();
  return im.load_switch("WHERE id = ?1", switch_id);
}

util::Result<std::optional<SwitchRecord>> StateStore::unfinished_switch() const {
  GPUMOD_STATE_LOCK();
  return im.load_switch("WHERE state IN ('planned', 'running') ORDER BY id DESC LIMIT 1",
                        std::nullopt);
}

// ---- bench results and step timings ----

namespace {
util::Status check_timing(const StepTiming& t) {
  if (t.service_id.empty() || t.action.empty()) {
    return util::fail(ErrorCode::invalid_argument, "state database: a step timing needs a service and an action");
  }
  if (t.elapsed_ms < 0) {
    return util::fail(ErrorCode::invalid_argument,
                      fmt::format("state database: negative duration {} ms for {} {}", t.elapsed_ms, t.action, t.service_id));
  }
  return {};
}
}  // namespace

util::Result<std::int64_t> StateStore::add_bench_run(const BenchRun& run, const std::vector<StepTiming>& timings) {
  if (run.kind != "serve" && run.kind != "switch") {
    return util::fail(ErrorCode::invalid_argument, "state database: bench run kind must be serve or switch, got '" + run.kind + "'");
  }
  if (run.subject.empty()) return util::fail(ErrorCode::invalid_argument, "state database: bench run without a subject");
  for (const auto& t : timings) {
    if (auto c = check_timing(t); !c) return std::unexpected(c.error());
  }
  GPUMOD_STATE_LOCK();
  return im.write_txn(fmt::format("recording a bench run of '{}'", run.subject), [&]() -> util::Result<std::int64_t> {
    const std::int64_t at = run.measured_at_ms != 0 ? run.measured_at_ms : im.now();
    auto s = im.prepare(
        "INSERT INTO bench_runs(kind, subject, model, settings, gpu_uuid, measured_at_ms, prompt_tps, gen_tps, "
        "ttft_ms, result_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        "recording a bench run");
    if (!s) return std::unexpected(s.error());
    s->bind(1, run.kind).bind(2, run.subject).bind(3, run.model).bind(4, run.settings).bind(5, run.gpu_uuid)
        .bind(6, at).bind(7, run.prompt_tps).bind(8, run.gen_tps).bind(9, run.ttft_ms).bind(10, run.result_json);
    if (auto r = s->run(); !r) return std::unexpected(r.error());
    const std::int64_t id = sqlite3_last_insert_rowid(im.db);
    for (const auto& t : timings) {
      auto ins = im.prepare(
          "INSERT INTO step_timings(bench_run_id, service_id, action, elapsed_ms, gpu_uuid, measured_at_ms) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
          "recording a step timing");
      if (!ins) return std::unexpected(ins.error());
      ins->bind(1, id).bind(2, t.service_id).bind(3, t.action).bind(4, t.elapsed_ms).bind(5, t.gpu_uuid)
          .bind(6, t.measured_at_ms != 0 ? t.measured_at_ms : at);
      if (auto r = ins->run(); !r) return std::unexpected(r.error());
      if (auto r = im.trim_step_timings(t); !r) return std::unexpected(r.error());
    }
    return id;
  });
}

util::Result<std::vector<BenchRun>> StateStore::list_bench_runs(std::string_view subject, int limit) const {
  GPUMOD_STATE_LOCK();
  auto s = im.prepare(
      "SELECT id, kind, subject, model, settings, gpu_uuid, measured_at_ms, prompt_tps, gen_tps, ttft_ms, "
      "result_json FROM bench_runs WHERE (?1 = '' OR subject = ?1) ORDER BY measured_at_ms DESC, id DESC LIMIT ?2",
      "listing bench runs");
  if (!s) return std::unexpected(s.error());
  s->bind(1, subject).bind(2, std::max(limit, 0));
  std::vector<BenchRun> out;
  for (;;) {
    auto r = s->step();
    if (!r) return std::unexpected(r.error());
    if (!*r) break;
    BenchRun b;
    b.id = s->i64(0);
    b.kind = s->text(1);
    b.subject = s->text(2);
    b.model = s->text(3);
    b.settings = s->text(4);
    b.gpu_uuid = s->text(5);
    b.measured_at_ms = s->i64(6);
    b.prompt_tps = s->opt_dbl(7);
    b.gen_tps = s->opt_dbl(8);
    b.ttft_ms = s->opt_dbl(9);
    b.result_json = s->text(10);
    out.push_back(std::move(b));
  }
  return out;
}

util::Result<std::int64_t> StateStore::add_step_timing(const StepTiming& t) {
  if (auto c = check_timing(t); !c) return std::unexpected(c.error());
  GPUMOD_STATE_LOCK();
  return im.write_txn(fmt::format("recording how long {} of '{}' took", t.action, t.service_id),
                      [&]() -> util::Result<std::int64_t> {
    auto s = im.prepare(
        "INSERT INTO step_timings(bench_run_id, service_id, action, elapsed_ms, gpu_uuid, measured_at_ms) "
        "VALUES (NULL, ?1, ?2, ?3, ?4, ?5)",
        fmt::format("recording how long {} of '{}' took", t.action, t.service_id));
    if (!s) return std::unexpected(s.error());
    s->bind(1, t.service_id).bind(2, t.action).bind(3, t.elapsed_ms).bind(4, t.gpu_uuid)
        .bind(5, t.measured_at_ms != 0 ? t.measured_at_ms : im.now());
    if (auto r = s->run(); !r) return std::unexpected(r.error());
    const std::int64_t id = sqlite3_last_insert_rowid(im.db);
    if (auto r = im.trim_step_timings(t); !r) return std::unexpected(r.error());
    return id;
  });
}

util::Result<std::optional<std::int64_t>> StateStore::expected_step_ms(std::string_view service_id,
                                                                       std::string_view action,
                                                                       std::string_view gpu_uuid,
                                                                       int window) const {
  auto e = expected_step(service_id, action, gpu_uuid, window);
  if (!e) return std::unexpected(e.error());
  if (!*e) return std::optional<std::int64_t>{};
  return std::optional<std::int64_t>((*e)->elapsed_ms);
}

util::Result<std::optional<ExpectedStep>> StateStore::expected_step(std::string_view service_id,
                                                                     std::string_view action,
                                                                     std::string_view gpu_uuid, int window) const {
  GPUMOD_STATE_LOCK();
  auto s = im.prepare(
      "SELECT elapsed_ms, measured_at_ms FROM step_timings WHERE service_id = ?1 AND action = ?2 "
      "AND (?3 = '' OR gpu_uuid = ?3) ORDER BY measured_at_ms DESC, id DESC LIMIT ?4",
      fmt::format("reading measured durations of {} {}", action, service_id));
  if (!s) return std::unexpected(s.error());
  s->bind(1, service_id).bind(2, action).bind(3, gpu_uuid).bind(4, std::max(window, 1));
  std::vector<std::int64_t> values;
  std::int64_t newest_at_ms = 0;
  for (;;) {
    auto r = s->step();
    if (!r) return std::unexpected(r.error());
    if (!*r) break;
    values.push_back(s->i64(0));
    newest_at_ms = std::max(newest_at_ms, s->i64(1));
  }
  if (values.empty()) return std::optional<ExpectedStep>{};
  std::ranges::sort(values);
  const std::size_t n = values.size();
  return std::optional<ExpectedStep>(
      ExpectedStep{n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2, newest_at_ms});
}

// ---- requests (the endpoint's ring) ----

util::Status StateStore::record_requests(const std::vector<RequestRecord>& requests, int keep_rows) {
  if (requests.empty()) return {};
  GPUMOD_STATE_LOCK();
  return im.write_txn("recording requests", [&]() -> util::Status {
    for (const auto& r : requests) {
      auto s = im.prepare(
          "INSERT INTO requests(ts_ms, method, path, model, service_id, status, queue_ms, ttfb_ms, "
          "duration_ms, prompt_tokens, completion_tokens, action, error) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
          "recording a request");
      if (!s) return std::unexpected(s.error());
      s->bind(1, r.ts_ms != 0 ? r.ts_ms : im.now())
          .bind(2, r.method).bind(3, r.path).bind(4, r.model).bind(5, r.service_id)
          .bind(6, r.status).bind(7, r.queue_ms).bind(8, r.ttfb_ms).bind(9, r.duration_ms)
          .bind(10, r.prompt_tokens).bind(11, r.completion_tokens).bind(12, r.action).bind(13, r.error);
      if (auto st = s->run(); !st) return std::unexpected(st.error());
    }
    auto trim = im.prepare("DELETE FROM requests WHERE id <= (SELECT MAX(id) FROM requests) - ?1",
                           "trimming the request ring");
    if (!trim) return std::unexpected(trim.error());
    trim->bind(1, static_cast<std::int64_t>(std::max(keep_rows, 1)));
    if (auto st = trim->run(); !st) return std::unexpected(st.error());
    return {};
  });
}

util::Result<std::vector<RequestRecord>> StateStore::list_requests(int limit, std::string_view model,
                                                                   std::string_view service_id) const {
  GPUMOD_STATE_LOCK();
  auto s = im.prepare(
      "SELECT id, ts_ms, method, path, model, service_id, status, queue_ms, ttfb_ms, duration_ms, "
      "prompt_tokens, completion_tokens, action, error FROM "
      "(SELECT * FROM requests WHERE (?2 = '' OR model = ?2) AND (?3 = '' OR service_id = ?3) "
      "ORDER BY id DESC LIMIT ?1) ORDER BY id",
      "listing requests");
  if (!s) return std::unexpected(s.error());
  s->bind(1, std::max(limit, 0)).bind(2, model).bind(3, service_id);
  std::vector<RequestRecord> out;
  for (;;) {
    auto r = s->step();
    if (!r) return std::unexpected(r.error());
    if (!*r) break;
    RequestRecord q;
    q.id = s->i64(0);
    q.ts_ms = s->i64(1);
    q.method = s->text(2);
    q.path = s->text(3);
    q.model = s->text(4);
    q.service_id = s->text(5);
    q.status = static_cast<int>(s->i64(6));
    q.queue_ms = s->i64(7);
    q.ttfb_ms = s->i64(8);
    q.duration_ms = s->i64(9);
    q.prompt_tokens = s->opt_i64(10);
    q.completion_tokens = s->opt_i64(11);
    q.action = s->text(12);
    q.error = s->text(13);
    out.push_back(std::move(q));
  }
  return out;
}

#undef GPUMOD_STATE_LOCK

}  // namespace gpumod::infra::state
