#include "gpumod/util/lock_file.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;
using gpumod::util::ErrorCode;
using gpumod::util::LockFile;

namespace {

class LockFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("gpumod-lock-" + std::to_string(::getpid()) + "-" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir);
    path = dir / "daemon.lock";
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
  fs::path path;
};

TEST_F(LockFileTest, ASecondTakerIsRefusedWithTheHoldersPid) {
  auto first = LockFile::try_acquire(path);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(LockFile::held(path));
  auto second = LockFile::try_acquire(path);  // another open file description, same process
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::conflict);
  EXPECT_NE(second.error().message.find("pid " + std::to_string(::getpid())), std::string::npos)
      << second.error().message;
}

TEST_F(LockFileTest, ReleasedWhenTheHolderGoesAway) {
  {
    auto first = LockFile::try_acquire(path);
    ASSERT_TRUE(first);
  }
  EXPECT_FALSE(LockFile::held(path));
  auto again = LockFile::try_acquire(path);
  EXPECT_TRUE(again) << again.error().message;
}

TEST_F(LockFileTest, AMovedLockStaysHeld) {
  auto first = LockFile::try_acquire(path);
  ASSERT_TRUE(first);
  LockFile moved(std::move(*first));
  EXPECT_TRUE(moved.owned());
  EXPECT_FALSE(first->owned());
  EXPECT_TRUE(LockFile::held(path));
  EXPECT_FALSE(LockFile::try_acquire(path));
}

TEST_F(LockFileTest, AskingDoesNotTakeTheLock) {
  EXPECT_FALSE(LockFile::held(path));  // no file yet
  std::ofstream(path) << "12\n";
  EXPECT_FALSE(LockFile::held(path));
  auto taken = LockFile::try_acquire(path);
  ASSERT_TRUE(taken) << taken.error().message;
}

TEST_F(LockFileTest, AnUnopenablePathIsAnIoError) {
  auto r = LockFile::try_acquire(dir / "missing" / "daemon.lock");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::io);
  EXPECT_NE(r.error().message.find("missing"), std::string::npos);
}

TEST_F(LockFileTest, AForkedChildCannotTakeItEither) {
  auto first = LockFile::try_acquire(path);
  ASSERT_TRUE(first);
  const pid_t child = ::fork();
  if (child == 0) {
    // The child shares the open file description, so the lock is still its parent's: a new
    // open in the child is refused, as in any other process.
    _exit(LockFile::try_acquire(path) ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
