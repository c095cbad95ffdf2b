#include "gpumod/infra/state/state_store.hpp"

#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace gpumod::infra::state {
namespace {

namespace fs = std::filesystem;

// A raw connection for checking what the store wrote (and for tampering with the file).
class RawDb {
 public:
  explicit RawDb(const fs::path& path) {
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &m_db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_busy_timeout(m_db, 5000);
  }
  ~RawDb() { sqlite3_close_v2(m_db); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  // First column of the first row, as text ("" when no row).
  std::string scalar(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(m_db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return out;
  }
  int exec(const std::string& sql) { return sqlite3_exec(m_db, sql.c_str(), nullptr, nullptr, nullptr); }

 private:
  sqlite3* m_db = nullptr;
};

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "gpumod-state-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    m_dir = tmpl;
    m_path = m_dir / "nested" / "state" / "gpumod.db";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(m_dir, ec);
  }

  OpenOptions options() {
    OpenOptions o;
    auto clock = m_clock;
    o.now_ms = [clock] { return clock->load(); };
    return o;
  }
  StateStore open_store() {
    auto s = StateStore::open(m_path, options());
    EXPECT_TRUE(s.has_value()) << s.error().message;
    return std::move(*s);
  }
  void set_now(std::int64_t ms) { m_clock->store(ms); }

  fs::path m_dir;
  fs::path m_path;
  std::shared_ptr<std::atomic<std::int64_t>> m_clock =
      std::make_shared<std::atomic<std::int64_t>>(1000);
};

core::Service make_service(const std::string& id, std::int64_t vram_mib) {
  core::Service s;
  s.id = id;
  s.name = "Service " + id;
  s.driver = core::DriverKind::llamacpp;
  s.port = 7000;
  s.vram_mib = vram_mib;
  s.model_path = "/models/" + id + ".gguf";
  s.unit_vars = {{"ctx", "8192"}};
  s.defined_at = {"presets/" + id + ".yaml", 1, 1};
  return s;
}

core::Mode make_mode(const std::string& id, std::vector<std::string> services) {
  core::Mode m;
  m.id = id;
  m.name = "Mode " + id;
  m.services = std::move(services);
  m.defined_at = {"modes/" + id + ".yaml", 1, 1};
  return m;
}

std::map<std::string, StoredService> services_by_id(StateStore& store) {
  auto list = store.list_services();
  EXPECT_TRUE(list.has_value());
  std::map<std::string, StoredService> out;
  for (auto& s : *list) out[s.id] = s;
  return out;
}

TEST(StateDefaultPath, FollowsEnvironmentPrecedence) {
  std::map<std::string, std::string> env;
  auto getenv = [&](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  env["HOME"] = "/home/u";
  EXPECT_EQ(default_db_path(getenv), fs::path("/home/u/.local/state/gpumod/gpumod.db"));
  env["XDG_STATE_HOME"] = "/xdg/state";
  EXPECT_EQ(default_db_path(getenv), fs::path("/xdg/state/gpumod/gpumod.db"));
  env["GPUMOD_DB_PATH"] = "/custom/my.db";
  EXPECT_EQ(default_db_path(getenv), fs::path("/custom/my.db"));
  env["GPUMOD_DB_PATH"] = "";  // empty counts as unset
  EXPECT_EQ(default_db_path(getenv), fs::path("/xdg/state/gpumod/gpumod.db"));
}

TEST_F(StateStoreTest, OpenCreatesSchemaInWalModeWithPrivateFiles) {
  {
    auto store = open_store();
    auto version = store.schema_version();
    ASSERT_TRUE(version.has_value());
    EXPECT_EQ(*version, StateStore::latest_schema_version());
    EXPECT_GE(*version, 1);
  }
  ASSERT_TRUE(fs::exists(m_path));
  struct stat st {};
  ASSERT_EQ(::stat(m_path.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(m_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);

  RawDb raw(m_path);
  EXPECT_EQ(raw.scalar("PRAGMA journal_mode"), "wal");
  for (const char* table : {"services", "modes", "mode_services", "settings", "mode_history",
                            "service_runtime", "models", "model_measurements", "events",
                            "switches", "switch_steps", "schema_migrations"}) {
    EXPECT_EQ(raw.scalar(std::string("SELECT name FROM sqlite_master WHERE type='table' AND name='") +
                         table + "'"),
              table);
  }
}

TEST_F(StateStoreTest, ReopenIsIdempotentAndKeepsData) {
  {
    auto store = open_store();
    ASSERT_TRUE(store.set_setting("config_fingerprint", "abc123").has_value());
  }
  {
    auto store = open_store();
    auto v = store.get_setting("config_fingerprint");
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->value_or(""), "abc123");
  }
  RawDb raw(m_path);
  EXPECT_EQ(raw.scalar("SELECT COUNT(*) FROM schema_migrations"),
            std::to_string(StateStore::latest_schema_version()));
}

TEST_F(StateStoreTest, RefusesDatabaseFromNewerVersion) {
  { auto store = open_store(); }
  {
    RawDb raw(m_path);
    ASSERT_EQ(raw.exec("INSERT INTO schema_migrations(version, applied_at_ms) VALUES (" +
                       std::to_string(StateStore::latest_schema_version() + 1) + ", 1)"),
              SQLITE_OK);
  }
  auto store = StateStore::open(m_path, options());
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, util::ErrorCode::conflict);
  EXPECT_NE(store.error().message.find("newer"), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find(m_path.string()), std::string::npos);
}

TEST_F(StateStoreTest, NotADatabaseFileIsCorrupt) {
  fs::create_directories(m_path.parent_path());
  {
    std::ofstream f(m_path);
    for (int i = 0; i < 200; ++i) f << "this is a text file, not a database\n";
  }
  auto store = StateStore::open(m_path, options());
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, util::ErrorCode::corrupt);
  EXPECT_NE(store.error().message.find(m_path.string()), std::string::npos)
      << store.error().message;
  EXPECT_NE(store.error().message.find("not a SQLite database"), std::string::npos);

  // A short junk file too.
  {
    std::ofstream f(m_path, std::ios::trunc);
    f << "hello\n";
  }
  auto small = StateStore::open(m_path, options());
  ASSERT_FALSE(small.has_value());
  EXPECT_EQ(small.error().code, util::ErrorCode::corrupt) << small.error().message;
}

TEST_F(StateStoreTest, SyncInsertsUpdatesKeepsAndDeletes) {
  auto store = open_store();
  core::Config config;
  config.services = {make_service("a", 1000), make_service("b", 2000), make_service("c", 3000)};
  config.modes = {make_mode("m1", {"a", "b"}), make_mode("m2", {"c"})};

  set_now(1000);
  auto first = store.sync_config(config);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->services, (SyncCounts{3, 0, 0, 0}));
  EXPECT_EQ(first->modes, (SyncCounts{2, 0, 0, 0}));

  // A runtime record of c, which the config will drop: it must survive the sync.
  ServiceRuntime rt;
  rt.service_id = "c";
  rt.state = core::ServiceState::running;
  ASSERT_TRUE(store.upsert_runtime(rt).has_value());

  // A sync with nothing to change commits no write: another connection sees no new data.
  RawDb watcher(m_path);
  const std::string version_before = watcher.scalar("PRAGMA data_version");
  set_now(2000);
  auto again = store.sync_config(config);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(watcher.scalar("PRAGMA data_version"), version_before);
  EXPECT_EQ(again->services, (SyncCounts{0, 0, 3, 0}));
  EXPECT_EQ(again->modes, (SyncCounts{0, 0, 2, 0}));
  for (const auto& [id, row] : services_by_id(store)) EXPECT_EQ(row.updated_at_ms, 1000) << id;

  // b changes, c goes, d arrives; m1 stays, m2 changes, m3 is new.
  set_now(3000);
  config.services = {make_service("a", 1000), make_service("b", 2500), make_service("d", 4000)};
  config.services[1].env["CUDA_VISIBLE_DEVICES"] = "0";
  config.modes = {make_mode("m1", {"a", "b"}), make_mode("m2", {"d"}), make_mode("m3", {"b", "a"})};
  auto third = store.sync_config(config);
  ASSERT_TRUE(third.has_value()) << third.error().message;
  EXPECT_EQ(third->services, (SyncCounts{1, 1, 1, 1}));
  EXPECT_EQ(third->modes, (SyncCounts{1, 1, 1, 0}));
  EXPECT_NE(watcher.scalar("PRAGMA data_version"), version_before);

  auto rows = services_by_id(store);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows["a"].updated_at_ms, 1000);  // untouched
  EXPECT_EQ(rows["b"].updated_at_ms, 3000);
  EXPECT_EQ(rows["b"].created_at_ms, 1000);
  EXPECT_EQ(rows["b"].vram_mib, 2500);
  EXPECT_EQ(rows["d"].created_at_ms, 3000);
  EXPECT_EQ(rows.count("c"), 0u);
  auto def = nlohmann::json::parse(rows["b"].definition_json);
  EXPECT_EQ(def["env"]["CUDA_VISIBLE_DEVICES"], "0");
  EXPECT_EQ(def["vram_mib"], 2500);
  EXPECT_EQ(def["unit_vars"]["ctx"], "8192");
  EXPECT_EQ(rows["b"].source_file, "presets/b.yaml");
  EXPECT_EQ(rows["b"].port, 7000);

  auto modes = store.list_modes();
  ASSERT_TRUE(modes.has_value());
  ASSERT_EQ(modes->size(), 3u);
  EXPECT_EQ((*modes)[0].id, "m1");
  EXPECT_EQ((*modes)[0].updated_at_ms, 1000);
  EXPECT_EQ((*modes)[1].service_ids, (std::vector<std::string>{"d"}));
  EXPECT_EQ((*modes)[1].updated_at_ms, 3000);
  EXPECT_EQ((*modes)[2].service_ids, (std::vector<std::string>{"b", "a"}));

  auto kept = store.get_runtime("c");
  ASSERT_TRUE(kept.has_value());
  EXPECT_TRUE(kept->has_value());

  // Dropping a mode deletes it and its service list.
  config.modes.pop_back();
  auto fourth = store.sync_config(config);
  ASSERT_TRUE(fourth.has_value());
  EXPECT_EQ(fourth->modes, (SyncCounts{0, 0, 2, 1}));
  RawDb raw(m_path);
  EXPECT_EQ(raw.scalar("SELECT COUNT(*) FROM mode_services WHERE mode_id = 'm3'"), "0");
}

TEST_F(StateStoreTest, FailedSyncRollsBackEverything) {
  auto store = open_store();
  core::Config base;
  base.services = {make_service("a", 1000), make_service("b", 2000)};
  base.modes = {make_mode("m1", {"a"})};
  ASSERT_TRUE(store.sync_config(base).has_value());
  auto before = store.list_services();
  auto modes_before = store.list_modes();
  ASSERT_TRUE(before.has_value() && modes_before.has_value());

  set_now(5000);
  // Changes a, drops b, adds c, then repeats c: the duplicate fails after the other writes.
  core::Config dup;
  dup.services = {make_service("a", 1111), make_service("c", 3000), make_service("c", 3000)};
  dup.modes = {make_mode("m2", {"a"})};
  auto failed = store.sync_config(dup);
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code, util::ErrorCode::conflict);
  EXPECT_NE(failed.error().message.find("'c'"), std::string::npos) << failed.error().message;

  // A mode naming an unconfigured service fails after the services were written.
  core::Config bad_mode;
  bad_mode.services = {make_service("a", 1111), make_service("z", 10)};
  bad_mode.modes = {make_mode("m1", {"a", "ghost"})};
  auto failed2 = store.sync_config(bad_mode);
  ASSERT_FALSE(failed2.has_value());
  EXPECT_EQ(failed2.error().code, util::ErrorCode::config_invalid);
  EXPECT_NE(failed2.error().message.find("ghost"), std::string::npos);

  auto after = store.list_services();
  auto modes_after = store.list_modes();
  ASSERT_TRUE(after.has_value() && modes_after.has_value());
  ASSERT_EQ(after->size(), before->size());
  for (std::size_t i = 0; i < after->size(); ++i) {
    EXPECT_EQ((*after)[i].id, (*before)[i].id);
    EXPECT_EQ((*after)[i].vram_mib, (*before)[i].vram_mib);
    EXPECT_EQ((*after)[i].definition_json, (*before)[i].definition_json);
    EXPECT_EQ((*after)[i].updated_at_ms, (*before)[i].updated_at_ms);
  }
  ASSERT_EQ(modes_after->size(), 1u);
  EXPECT_EQ((*modes_after)[0].id, "m1");
  EXPECT_EQ((*modes_after)[0].service_ids, (std::vector<std::string>{"a"}));

  // The store still works after the failures (no transaction left open).
  auto ok = store.sync_config(base);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->services, (SyncCounts{0, 0, 2, 0}));
}

TEST_F(StateStoreTest, SettingsGetSetDelete) {
  auto store = open_store();
  auto missing = store.get_setting("config_fingerprint");
  ASSERT_TRUE(missing.has_value());
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(store.set_setting("config_fingerprint", "one").has_value());
  ASSERT_TRUE(store.set_setting("config_fingerprint", "two").has_value());
  EXPECT_EQ(store.get_setting("config_fingerprint")->value_or(""), "two");
  // Quotes and SQL in values are plain data.
  ASSERT_TRUE(store.set_setting("weird'; DROP TABLE settings;--", "x'y").has_value());
  EXPECT_EQ(store.get_setting("weird'; DROP TABLE settings;--")->value_or(""), "x'y");
  EXPECT_TRUE(*store.delete_setting("config_fingerprint"));
  EXPECT_FALSE(*store.delete_setting("config_fingerprint"));
  EXPECT_FALSE(store.set_setting("current_mode", "m1").has_value());
}

TEST_F(StateStoreTest, CurrentModeAndHistory) {
  auto store = open_store();
  auto none = store.get_current_mode();
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());

  set_now(100);
  ASSERT_TRUE(store.set_current_mode("coding", "switch").has_value());
  set_now(200);
  ASSERT_TRUE(store.set_current_mode("chat", "user request").has_value());
  EXPECT_EQ(store.get_current_mode()->value_or(""), "chat");

  set_now(300);
  ASSERT_TRUE(store.clear_current_mode("all stopped").has_value());
  EXPECT_FALSE(store.get_current_mode()->has_value());

  auto history = store.mode_history();
  ASSERT_TRUE(history.has_value());
  ASSERT_EQ(history->size(), 3u);
  EXPECT_FALSE((*history)[0].mode_id.has_value());
  EXPECT_EQ((*history)[0].reason, "all stopped");
  EXPECT_EQ((*history)[1].mode_id.value_or(""), "chat");
  EXPECT_EQ((*history)[1].set_at_ms, 200);
  EXPECT_EQ((*history)[1].reason, "user request");
  EXPECT_EQ((*history)[2].mode_id.value_or(""), "coding");
  EXPECT_EQ(store.mode_history(1)->size(), 1u);

  auto bad = store.set_current_mode("not a valid id!", "x");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, util::ErrorCode::invalid_argument);
  EXPECT_EQ(store.mode_history()->size(), 3u);
}

TEST_F(StateStoreTest, RuntimeUpsertGetListDelete) {
  auto store = open_store();
  ServiceRuntime rt;
  rt.service_id = "qwen";
  rt.state = core::ServiceState::starting;
  rt.reason = "spawned";
  rt.pid = 4242;
  rt.pid_start_time = (1ull << 40) + 7;
  rt.port = 7070;
  rt.started_at_ms = 123456;
  rt.supervisor_ref = "gpumod-qwen.service";
  set_now(500);
  ASSERT_TRUE(store.upsert_runtime(rt).has_value());

  auto got = store.get_runtime("qwen");
  ASSERT_TRUE(got.has_value() && got->has_value());
  EXPECT_EQ((*got)->state, core::ServiceState::starting);
  EXPECT_EQ((*got)->pid, 4242);
  EXPECT_EQ((*got)->pid_start_time, (1ull << 40) + 7);
  EXPECT_EQ((*got)->port, 7070);
  EXPECT_FALSE((*got)->learned_vram_mib.has_value());
  EXPECT_EQ((*got)->updated_at_ms, 500);

  rt.state = core::ServiceState::sleeping;
  rt.learned_vram_mib = 9000;
  rt.learned_sleep_vram_mib = 600;
  rt.port.reset();
  set_now(600);
  ASSERT_TRUE(store.upsert_runtime(rt).has_value());
  rt.service_id = "embed";
  ASSERT_TRUE(store.upsert_runtime(rt).has_value());

  auto list = store.list_runtime();
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].service_id, "embed");
  const auto& q = (*list)[1];
  EXPECT_EQ(q.service_id, "qwen");
  EXPECT_EQ(q.state, core::ServiceState::sleeping);
  EXPECT_EQ(q.learned_vram_mib, 9000);
  EXPECT_EQ(q.learned_sleep_vram_mib, 600);
  EXPECT_FALSE(q.port.has_value());
  EXPECT_EQ(q.updated_at_ms, 600);

  EXPECT_TRUE(*store.delete_runtime("qwen"));
  EXPECT_FALSE(*store.delete_runtime("qwen"));
  EXPECT_FALSE(store.get_runtime("qwen")->has_value());
}

TEST_F(StateStoreTest, ModelReRegisterRefreshesAndKeepsRegisteredAt) {
  auto store = open_store();
  ModelRecord m;
  m.id = "qwen3-8b";
  m.source = "gguf";
  m.location = "/models/qwen3-8b-q4.gguf";
  m.architecture = "qwen3";
  m.quant = "Q4_K_M";
  m.file_bytes = 5'000'000'000;
  m.parameters_b = 8.2;
  m.kv_per_1k_mib = 144.0;
  m.metadata_json = R"({"block_count":36})";
  set_now(1000);
  auto first = store.upsert_model(m);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->registered_at_ms, 1000);
  EXPECT_EQ(first->updated_at_ms, 1000);

  m.quant = "Q8_0";
  m.base_vram_mib = 9000;
  m.registered_at_ms = 99;  // ignored: the store keeps the first registration time
  set_now(5000);
  auto second = store.upsert_model(m);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(second->registered_at_ms, 1000);
  EXPECT_EQ(second->updated_at_ms, 5000);
  EXPECT_EQ(second->quant, "Q8_0");
  EXPECT_EQ(second->base_vram_mib, 9000);
  EXPECT_EQ(second->parameters_b, 8.2);
  EXPECT_EQ(second->metadata_json, R"({"block_count":36})");

  auto listed = store.list_models();
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->size(), 1u);

  ModelRecord bad = m;
  bad.source = "ftp";
  auto refused = store.upsert_model(bad);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, util::ErrorCode::invalid_argument);

  // Measurements outlive the registry entry (learned data).
  ASSERT_TRUE(store.add_measurement({0, "qwen3-8b", "ctx=8192", 4700, 1152, 300, "gpu0", 0, 6400})
                  .has_value());
  ASSERT_TRUE(store.add_measurement({0, "qwen3-8b", "ctx=32768", 4700, 4608, 300, "gpu0", 7000,
                                     std::nullopt})
                  .has_value());
  EXPECT_TRUE(*store.remove_model("qwen3-8b"));
  EXPECT_FALSE(*store.remove_model("qwen3-8b"));
  EXPECT_FALSE(store.get_model("qwen3-8b")->has_value());

  auto all = store.list_measurements("qwen3-8b");
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].measured_at_ms, 5000);  // 0 took the store's clock
  EXPECT_EQ((*all)[0].process_mib, 6400);
  EXPECT_FALSE((*all)[1].process_mib.has_value());
  auto one = store.list_measurements("qwen3-8b", "ctx=32768");
  ASSERT_TRUE(one.has_value());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].kv_mib, 4608);
}

TEST_F(StateStoreTest, EventsAppendInOrderAndCannotBeRewritten) {
  auto store = open_store();
  EXPECT_EQ(*store.latest_event_id(), 0);
  set_now(10);
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    auto id = store.append_event(
        {0, 0, "service.state", "svc" + std::to_string(i), "m", "msg " + std::to_string(i), "{}"});
    ASSERT_TRUE(id.has_value());
    ids.push_back(*id);
  }
  for (std::size_t i = 1; i < ids.size(); ++i) EXPECT_GT(ids[i], ids[i - 1]);
  EXPECT_EQ(*store.latest_event_id(), ids.back());

  auto all = store.list_events(0);
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[0].message, "msg 0");
  EXPECT_EQ((*all)[0].ts_ms, 10);
  EXPECT_EQ((*all)[4].service_id, "svc4");

  auto page = store.list_events(ids[1], 2);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, ids[2]);
  EXPECT_EQ((*page)[1].id, ids[3]);

  EXPECT_FALSE(store.append_event({}).has_value());  // no kind

  RawDb raw(m_path);
  EXPECT_NE(raw.exec("UPDATE events SET message = 'x'"), SQLITE_OK);
  EXPECT_NE(raw.exec("DELETE FROM events"), SQLITE_OK);
  EXPECT_EQ(raw.scalar("SELECT COUNT(*) FROM events"), "5");
}

TEST_F(StateStoreTest, SwitchJournalRoundTrip) {
  std::int64_t id = 0;
  {
    auto store = open_store();
    EXPECT_FALSE(store.unfinished_switch()->has_value());
    set_now(100);
    auto begun = store.begin_switch("coding", "chat",
                                    {{"stop", "coder"}, {"sleep", "embed"}, {"start", "chat"}});
    ASSERT_TRUE(begun.has_value()) << begun.error().message;
    id = *begun;

    auto second = store.begin_switch("chat", "coding", {});
    ASSERT_FALSE(second.has_value());
    EXPECT_EQ(second.error().code, util::ErrorCode::conflict);

    set_now(150);
    auto step0 = store.update_step(id, 0, StepStatus::running);
    ASSERT_TRUE(step0.has_value()) << step0.error().message;
    set_now(180);
    ASSERT_TRUE(store.update_step(id, 0, StepStatus::done, "stopped").has_value());
    set_now(200);
    ASSERT_TRUE(store.update_step(id, 1, StepStatus::running).has_value());
    auto missing = store.update_step(id, 9, StepStatus::done);
    ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error().code, util::ErrorCode::not_found);
  }
  // A "crash": the store is gone; a new one finds the unfinished switch.
  auto store = open_store();
  auto open = store.unfinished_switch();
  ASSERT_TRUE(open.has_value() && open->has_value());
  const SwitchRecord& rec = **open;
  EXPECT_EQ(rec.id, id);
  EXPECT_EQ(rec.from_mode, "coding");
  EXPECT_EQ(rec.to_mode, "chat");
  EXPECT_EQ(rec.state, SwitchState::running);
  EXPECT_EQ(rec.started_at_ms, 100);
  ASSERT_EQ(rec.steps.size(), 3u);
  EXPECT_EQ(rec.steps[0].status, StepStatus::done);
  EXPECT_EQ(rec.steps[0].started_at_ms, 150);
  EXPECT_EQ(rec.steps[0].finished_at_ms, 180);
  EXPECT_EQ(rec.steps[0].message, "stopped");
  EXPECT_EQ(rec.steps[1].action, "sleep");
  EXPECT_EQ(rec.steps[1].service_id, "embed");
  EXPECT_EQ(rec.steps[1].status, StepStatus::running);
  EXPECT_EQ(rec.steps[1].finished_at_ms, 0);
  EXPECT_EQ(rec.steps[2].status, StepStatus::pending);

  // Roll back: undo the done step, skip the rest, end the switch.
  set_now(300);
  ASSERT_TRUE(store.update_step(id, 1, StepStatus::failed, "wake timeout").has_value());
  ASSERT_TRUE(store.update_step(id, 0, StepStatus::undone).has_value());
  ASSERT_TRUE(store.update_step(id, 2, StepStatus::skipped).has_value());
  EXPECT_FALSE(store.finish_switch(id, SwitchState::running).has_value());
  ASSERT_TRUE(store.finish_switch(id, SwitchState::rolled_back, "embed failed").has_value());
  EXPECT_FALSE(store.unfinished_switch()->has_value());

  auto again = store.finish_switch(id, SwitchState::done);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, util::ErrorCode::conflict);
  auto late = store.update_step(id, 2, StepStatus::done);
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().code, util::ErrorCode::conflict);
  EXPECT_EQ(store.finish_switch(id + 100, SwitchState::done).error().code,
            util::ErrorCode::not_found);

  auto done = store.get_switch(id);
  ASSERT_TRUE(done.has_value() && done->has_value());
  EXPECT_EQ((*done)->state, SwitchState::rolled_back);
  EXPECT_EQ((*done)->finished_at_ms, 300);
  EXPECT_EQ((*done)->message, "embed failed");
  EXPECT_EQ((*done)->steps[0].status, StepStatus::undone);

  // A new switch may begin now.
  auto next = store.begin_switch("", "chat", {{"start", "chat"}});
  ASSERT_TRUE(next.has_value());
  EXPECT_GT(*next, id);
}

TEST_F(StateStoreTest, ConcurrentWritersFromTwoThreadsAndTwoConnections) {
  auto shared = open_store();
  auto second = open_store();  // another connection to the same file, like another process
  core::Config config;
  config.services = {make_service("a", 1000)};
  config.modes = {make_mode("m", {"a"})};

  constexpr int k_per_thread = 150;
  std::atomic<int> failures{0};
  auto work = [&](StateStore& store, const std::string& who) {
    for (int i = 0; i < k_per_thread; ++i) {
      if (!store.append_event({0, 0, "test", who, "", std::to_string(i), ""})) ++failures;
      ServiceRuntime rt;
      rt.service_id = who;
      rt.pid = i;
      if (!store.upsert_runtime(rt)) ++failures;
      if (i % 10 == 0 && !store.sync_config(config)) ++failures;
      if (i % 10 == 5 && !store.set_current_mode("m", who)) ++failures;
    }
  };
  std::thread t1(work, std::ref(shared), "t1");
  std::thread t2(work, std::ref(shared), "t2");
  std::thread t3(work, std::ref(second), "t3");
  t1.join();
  t2.join();
  t3.join();
  EXPECT_EQ(failures.load(), 0);
  auto events = shared.list_events(0, 10000);
  ASSERT_TRUE(events.has_value());
  EXPECT_EQ(events->size(), static_cast<std::size_t>(3 * k_per_thread));
  auto runtime = second.list_runtime();
  ASSERT_TRUE(runtime.has_value());
  ASSERT_EQ(runtime->size(), 3u);
  for (const auto& r : *runtime) EXPECT_EQ(r.pid, k_per_thread - 1);
}

TEST_F(StateStoreTest, MovedFromStoreReportsInternalError) {
  auto store = open_store();
  StateStore moved = std::move(store);
  EXPECT_TRUE(moved.get_current_mode().has_value());
  auto r = store.get_current_mode();  // NOLINT(bugprone-use-after-move): tested on purpose
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, util::ErrorCode::internal);
}

TEST(StateServiceJson, HasEveryFieldAndIsStable) {
  auto s = make_service("x", 1234);
  s.depends_on = {"y"};
  s.command = {"/bin/app", "--flag"};
  s.context_size = 8192;
  auto text = service_to_json(s);
  EXPECT_EQ(text, service_to_json(s));
  auto j = nlohmann::json::parse(text);
  for (const char* key :
       {"id", "name", "driver", "port", "vram_mib", "context_size", "kv_cache_per_1k_mib",
        "model_id", "model_path", "health_endpoint", "startup_timeout_s", "supports_sleep",
        "sleep_mode", "unit_template", "unit_vars", "depends_on", "supervisor", "stop_timeout_s",
        "restart", "max_restarts", "restart_window_s", "command", "env", "gpu", "defined_at"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["driver"], "llamacpp");
  EXPECT_EQ(j["context_size"], 8192);
  EXPECT_TRUE(j["kv_cache_per_1k_mib"].is_null());
  EXPECT_EQ(j["command"][1], "--flag");
}

}  // namespace
}  // namespace gpumod::infra::state
