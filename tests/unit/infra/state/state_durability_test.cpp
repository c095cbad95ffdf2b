// The state store's durability (issue 19, F3): a lost (0-byte) or damaged database is refused
// as corrupt at open, never silently re-initialised; a new database is never visible half-made;
// writes that fail (a full disk, through the fault-injecting VFS) fail the call, nothing else.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>

#include "gpumod/infra/state/damaged.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "support/temp_dir.hpp"

namespace gpumod::infra::state {
namespace {

namespace fs = std::filesystem;

class StateDurabilityTest : public ::testing::Test {
 protected:
  fs::path db() const { return m_dir.path() / "gpumod.db"; }
  test_support::TempDir m_dir;
};

ServiceRuntime record(const std::string& id, int pid) {
  ServiceRuntime rt;
  rt.service_id = id;
  rt.state = core::ServiceState::running;
  rt.pid = pid;
  rt.pid_start_time = 42;
  return rt;
}

TEST_F(StateDurabilityTest, AZeroByteDatabaseIsCorruptNotReinitialised) {
  { std::ofstream(db()).flush(); }
  ASSERT_EQ(fs::file_size(db()), 0u);
  auto store = StateStore::open(db());
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, util::ErrorCode::corrupt);
  EXPECT_NE(store.error().message.find("empty (0 bytes)"), std::string::npos) << store.error().message;
  EXPECT_EQ(fs::file_size(db()), 0u);  // untouched: not re-initialised
}

TEST_F(StateDurabilityTest, ANewDatabaseIsCompleteOnDiskAndReopens) {
  {
    auto store = StateStore::open(db());
    ASSERT_TRUE(store.has_value()) << store.error().message;
    ASSERT_TRUE(store->upsert_runtime(record("a", 100)).has_value());
  }
  EXPECT_GT(fs::file_size(db()), 0u);
  for (const auto& e : fs::directory_iterator(m_dir.path())) {
    EXPECT_EQ(e.path().filename().string().find(".creating-"), std::string::npos) << e.path();
  }
  auto again = StateStore::open(db());
  ASSERT_TRUE(again.has_value()) << again.error().message;
  auto rt = again->get_runtime("a");
  ASSERT_TRUE(rt.has_value() && rt->has_value());
  EXPECT_EQ((*rt)->pid, 100);
}

TEST_F(StateDurabilityTest, DamagedPagesAreFoundAtOpenAndTheFileCanBeSetAside) {
  {
    auto store = StateStore::open(db());
    ASSERT_TRUE(store.has_value());
    for (int i = 0; i < 300; ++i) {
      Event e;
      e.kind = "test";
      e.message = std::string(200, static_cast<char>('a' + i % 26));
      ASSERT_TRUE(store->append_event(e).has_value());
    }
  }
  const auto size = fs::file_size(db());
  ASSERT_GT(size, 8u * 4096u);
  {
    // Garbage over every page but the first (the header stays valid).
    std::fstream f(db(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);
    const std::string junk(size - 4096, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto store = StateStore::open(db());
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, util::ErrorCode::corrupt) << store.error().message;
  EXPECT_NE(store.error().message.find(db().string()), std::string::npos) << store.error().message;

  auto aside = set_aside_damaged(db());
  ASSERT_TRUE(aside.has_value()) << aside.error().message;
  EXPECT_FALSE(fs::exists(db()));
  EXPECT_EQ(fs::file_size(*aside), size);  // kept, byte for byte in size
  EXPECT_NE(aside->filename().string().find("gpumod.db.damaged-"), std::string::npos);
  auto fresh = StateStore::open(db());
  EXPECT_TRUE(fresh.has_value()) << fresh.error().message;
}

TEST_F(StateDurabilityTest, InjectedWriteFaultsFailTheWriteAndLeaveTheRecordsAsTheyWere) {
  ::setenv("GPUMOD_STATE_FAULT_INJECTION", "1", 1);
  auto store = StateStore::open(db());
  ::unsetenv("GPUMOD_STATE_FAULT_INJECTION");
  ASSERT_TRUE(store.has_value()) << store.error().message;
  ASSERT_TRUE(store->upsert_runtime(record("a", 100)).has_value());

  const fs::path control = db().string() + ".faults";
  for (const char* fault : {"full", "eio"}) {
    std::ofstream(control, std::ios::trunc) << fault << "\n";
    auto w = store->upsert_runtime(record("a", 200));
    ASSERT_FALSE(w.has_value()) << fault;
    EXPECT_EQ(w.error().code, util::ErrorCode::io) << fault << ": " << w.error().message;
    auto rt = store->get_runtime("a");  // reads still work; the old record is intact
    ASSERT_TRUE(rt.has_value() && rt->has_value()) << fault;
    EXPECT_EQ((*rt)->pid, 100) << fault;
  }
  fs::remove(control);
  ASSERT_TRUE(store->upsert_runtime(record("a", 300)).has_value());
  auto rt = store->get_runtime("a");
  ASSERT_TRUE(rt.has_value() && rt->has_value());
  EXPECT_EQ((*rt)->pid, 300);
}

}  // namespace
}  // namespace gpumod::infra::state
