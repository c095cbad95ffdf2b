// StateStore opened read-only (OpenOptions::read_only), for read-only commands on a state
// directory they cannot write, and list_latest_events (the tail of the event log).
#include <gtest/gtest.h>

#include <filesystem>

#include "gpumod/infra/state/state_store.hpp"
#include "support/temp_dir.hpp"

namespace gpumod::infra::state {
namespace {

namespace fs = std::filesystem;

Event event(const std::string& message, std::int64_t ts_ms) {
  Event e;
  e.kind = "test";
  e.message = message;
  e.ts_ms = ts_ms;
  return e;
}

TEST(StateStoreReadOnly, ReadsWhatIsStoredAndWritesNothing) {
  test_support::TempDir dir;
  const fs::path db = dir.path() / "state" / "gpumod.db";
  {
    auto store = StateStore::open(db);
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE(store->set_current_mode("code", "test"));
    ASSERT_TRUE(store->append_event(event("one", 1000)));
  }
  OpenOptions ro;
  ro.read_only = true;
  auto store = StateStore::open(db, ro);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ(store->get_current_mode().value(), "code");
  EXPECT_EQ(store->list_events(0).value().size(), 1u);
  auto w = store->append_event(event("two", 2000));
  ASSERT_FALSE(w);
  EXPECT_EQ(store->list_events(0).value().size(), 1u);

  // A missing file is not created.
  auto missing = StateStore::open(dir.path() / "other" / "gpumod.db", ro);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, util::ErrorCode::not_found);
  EXPECT_FALSE(fs::exists(dir.path() / "other"));
}

TEST(StateStoreEvents, LatestEventsAreTheTailOldestFirst) {
  test_support::TempDir dir;
  auto store = StateStore::open(dir.path() / "gpumod.db");
  ASSERT_TRUE(store) << store.error().message;
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(store->append_event(event("e" + std::to_string(i), i * 1000)));
  auto tail = store->list_latest_events(0, 0, 3);
  ASSERT_TRUE(tail);
  ASSERT_EQ(tail->size(), 3u);
  EXPECT_EQ((*tail)[0].message, "e8");
  EXPECT_EQ((*tail)[2].message, "e10");
  tail = store->list_latest_events(8, 0, 100);  // after id 8
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[0].message, "e9");
  tail = store->list_latest_events(0, 6000, 100);  // since ts 6000
  ASSERT_EQ(tail->size(), 5u);
  EXPECT_EQ((*tail)[0].message, "e6");
  // The head, as before, for following.
  EXPECT_EQ(store->list_events(0, 3).value().front().message, "e1");
}

}  // namespace
}  // namespace gpumod::infra::state
