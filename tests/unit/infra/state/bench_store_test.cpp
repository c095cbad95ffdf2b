// Bench results and step durations in the state database (migration 2): stored whole or not at
// all, listed newest first, and the median of the latest durations as the expected cost.
#include <gtest/gtest.h>

#include <sqlite3.h>

#include "gpumod/infra/state/state_store.hpp"
#include "support/temp_dir.hpp"

namespace gpumod::infra::state {
namespace {

class BenchStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = StateStore::open(dir.path() / "gpumod.db", OpenOptions{[this] { return ++clock_ms; }});
    ASSERT_TRUE(s) << s.error().message;
    store.emplace(std::move(*s));
  }
  BenchRun run(const std::string& subject, double gen_tps) {
    BenchRun r;
    r.kind = "serve";
    r.subject = subject;
    r.model = "m";
    r.settings = "prompt=512 gen=128 runs=3 concurrency=1";
    r.gpu_uuid = "GPU-1";
    r.gen_tps = gen_tps;
    r.result_json = "{}";
    return r;
  }
  // Rows of step_timings matching `where` (read through a second connection).
  std::int64_t timing_rows(const std::string& where) const {
    sqlite3* db = nullptr;
    std::int64_t n = -1;
    if (sqlite3_open_v2((dir.path() / "gpumod.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_stmt* st = nullptr;
      const std::string sql = "SELECT COUNT(*) FROM step_timings WHERE " + where;
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
      }
      sqlite3_finalize(st);
    }
    sqlite3_close_v2(db);
    return n;
  }
  test_support::TempDir dir;
  std::int64_t clock_ms = 1000;
  std::optional<StateStore> store;
};

TEST_F(BenchStoreTest, SchemaHasTheBenchMigration) {
  auto v = store->schema_version();
  ASSERT_TRUE(v);
  EXPECT_GE(*v, 2);
}

TEST_F(BenchStoreTest, RunsListNewestFirstAndFilterBySubject) {
  ASSERT_TRUE(store->add_bench_run(run("a", 10.0), {}));
  ASSERT_TRUE(store->add_bench_run(run("b", 20.0), {}));
  ASSERT_TRUE(store->add_bench_run(run("a", 30.0), {}));
  auto all = store->list_bench_runs();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].gen_tps, 30.0);
  EXPECT_EQ((*all)[2].gen_tps, 10.0);
  auto a = store->list_bench_runs("a", 1);
  ASSERT_TRUE(a);
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ(a->front().subject, "a");
  EXPECT_EQ(a->front().gen_tps, 30.0);
  EXPECT_FALSE(a->front().ttft_ms.has_value());
}

TEST_F(BenchStoreTest, ExpectedDurationIsTheMedianOfTheLatestOnThatGpu) {
  std::vector<StepTiming> t;
  for (std::int64_t ms : {100, 900, 300, 500, 700, 10000}) t.push_back({"svc", "start", ms, "GPU-1", 0});
  t.push_back({"svc", "start", 1, "GPU-2", 0});
  t.push_back({"svc", "wake", 40, "GPU-1", 0});
  ASSERT_TRUE(store->add_bench_run(run("svc", 1.0), t));
  // The latest 5 on GPU-1: 900, 300, 500, 700, 10000 (100 is older) -> 700.
  auto e = store->expected_step_ms("svc", "start", "GPU-1");
  ASSERT_TRUE(e);
  EXPECT_EQ(*e, 700);
  auto other = store->expected_step_ms("svc", "start", "GPU-2");
  ASSERT_TRUE(other);
  EXPECT_EQ(*other, 1);
  auto wake = store->expected_step_ms("svc", "wake");
  ASSERT_TRUE(wake);
  EXPECT_EQ(*wake, 40);
  auto none = store->expected_step_ms("svc", "sleep");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  // A later measurement outside a bench counts too.
  ASSERT_TRUE(store->add_step_timing({"svc", "wake", 60, "GPU-1", 0}));
  EXPECT_EQ(**store->expected_step_ms("svc", "wake", "GPU-1"), 50);
}

TEST_F(BenchStoreTest, BadInputStoresNothing) {
  auto bad_kind = run("svc", 1.0);
  bad_kind.kind = "other";
  EXPECT_EQ(store->add_bench_run(bad_kind, {}).error().code, util::ErrorCode::invalid_argument);
  auto r = store->add_bench_run(run("svc", 1.0), {{"svc", "start", 10, "", 0}, {"svc", "wake", -5, "", 0}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("negative"), std::string::npos) << r.error().message;
  EXPECT_TRUE(store->list_bench_runs()->empty());
  EXPECT_FALSE(store->expected_step_ms("svc", "start")->has_value()) << "the valid timing of the refused run is not kept";
  EXPECT_FALSE(store->add_step_timing({"", "start", 1, "", 0}));
}

TEST_F(BenchStoreTest, StepTimingsKeepTheNewestOfEachStep) {
  const int kept = StateStore::step_timings_kept;
  // More than kept starts of svc on GPU-1 (elapsed = their order), outside and inside bench runs.
  for (int i = 0; i < kept + 10; ++i) ASSERT_TRUE(store->add_step_timing({"svc", "start", i, "GPU-1", 0}));
  ASSERT_TRUE(store->add_bench_run(run("svc", 1.0), {{"svc", "start", kept + 10, "GPU-1", 0}}));
  ASSERT_TRUE(store->add_step_timing({"svc", "start", 7, "GPU-2", 0}));
  ASSERT_TRUE(store->add_step_timing({"svc", "wake", 9, "GPU-1", 0}));
  ASSERT_TRUE(store->add_step_timing({"other", "start", 3, "GPU-1", 0}));
  EXPECT_EQ(timing_rows("service_id = 'svc' AND action = 'start' AND gpu_uuid = 'GPU-1'"), kept);
  EXPECT_EQ(timing_rows("elapsed_ms < 11 AND service_id = 'svc' AND gpu_uuid = 'GPU-1' AND action = 'start'"), 0)
      << "the oldest went";
  // Other steps keep theirs.
  EXPECT_EQ(timing_rows("gpu_uuid = 'GPU-2'"), 1);
  EXPECT_EQ(timing_rows("action = 'wake'"), 1);
  EXPECT_EQ(timing_rows("service_id = 'other'"), 1);
  // The expectation reads the newest, as before.
  EXPECT_EQ(**store->expected_step_ms("svc", "start", "GPU-1"), kept + 8);
  auto e = store->expected_step("svc", "start", "GPU-1");
  ASSERT_TRUE(e && *e);
  EXPECT_EQ((*e)->elapsed_ms, kept + 8);
  EXPECT_EQ((*e)->newest_at_ms, clock_ms - 3) << "when the newest of them was measured (the bench run)";
}

}  // namespace
}  // namespace gpumod::infra::state
