#include "gpumod/infra/process/log_activity.hpp"

#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "support/temp_dir.hpp"

namespace gpumod::infra::process {
namespace {

using namespace std::chrono_literals;
using test_support::TempDir;

void append(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::app);
  out << text;
}

TEST(LogActivityTest, WakesOnAWriteToTheNamedFile) {
  TempDir dir;
  LogActivity activity(dir.path());
  // A write from another thread ends a wait that would otherwise last a minute.
  std::thread writer([&] {
    // Until the waiter has registered, a write may be seen as older than the wait; keep writing.
    for (int i = 0; i < 600 && activity.writes("svc.log") == 0; ++i) {
      append(dir.path() / "svc.log", "listening\n");
      std::this_thread::sleep_for(10ms);
    }
  });
  const bool woke = activity.wait("svc.log", 60s);
  writer.join();
  EXPECT_TRUE(woke);
  EXPECT_GE(activity.writes("svc.log"), 1U);
}

TEST(LogActivityTest, WritesToOtherFilesDoNotWake) {
  TempDir dir;
  LogActivity activity(dir.path());
  ASSERT_FALSE(activity.wait("svc.log", 1ms));  // starts the watch
  append(dir.path() / "other.log", "noise\n");
  EXPECT_FALSE(activity.wait("svc.log", 50ms));
  EXPECT_EQ(activity.writes("svc.log"), 0U);
}

TEST(LogActivityTest, MissingDirectoryOnlySleeps) {
  TempDir dir;
  LogActivity activity(dir.path() / "not-there");
  EXPECT_FALSE(activity.wait("svc.log", 5ms));
  // Created later: watched from then on.
  std::filesystem::create_directories(dir.path() / "not-there");
  ASSERT_FALSE(activity.wait("svc.log", 1ms));
  append(dir.path() / "not-there" / "svc.log", "up\n");
  for (int i = 0; i < 600 && activity.writes("svc.log") == 0; ++i) (void)activity.wait("svc.log", 10ms);
  EXPECT_EQ(activity.writes("svc.log"), 1U);
}

}  // namespace
}  // namespace gpumod::infra::process
