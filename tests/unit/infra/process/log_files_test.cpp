#include "gpumod/infra/process/log_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "support/temp_dir.hpp"

namespace gpumod::infra::process {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using test_support::TempDir;

std::string read_all(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void append(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::app);
  out << text;
}

TEST(RotateIfNeededTest, KeepsKeepFilesNewestFirst) {
  TempDir dir;
  auto log = dir.path() / "svc.log";
  EXPECT_TRUE(rotate_if_needed(log, 10, 2).has_value());  // missing: nothing to do
  { std::ofstream(log) << "small"; }
  ASSERT_TRUE(rotate_if_needed(log, 10, 2).has_value());
  EXPECT_EQ(read_all(log), "small");
  EXPECT_FALSE(fs::exists(dir.path() / "svc.log.1"));

  for (std::string gen : {"first-generation\n", "second-generation\n", "third-generation\n"}) {
    { std::ofstream(log, std::ios::app) << gen; }
    ASSERT_TRUE(rotate_if_needed(log, 10, 2).has_value());
    EXPECT_EQ(fs::file_size(log), 0u);
  }
  EXPECT_EQ(read_all(dir.path() / "svc.log.1"), "third-generation\n");
  EXPECT_EQ(read_all(dir.path() / "svc.log.2"), "second-generation\n");
  EXPECT_FALSE(fs::exists(dir.path() / "svc.log.3"));
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "svc.log.1").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(RotateIfNeededTest, KeepZeroOnlyTruncates) {
  TempDir dir;
  auto log = dir.path() / "svc.log";
  { std::ofstream(log) << "0123456789abcdef"; }
  ASSERT_TRUE(rotate_if_needed(log, 4, 0).has_value());
  EXPECT_EQ(fs::file_size(log), 0u);
  EXPECT_FALSE(fs::exists(dir.path() / "svc.log.1"));
}

TEST(RotateIfNeededTest, AppendingWriterContinuesAtTheStart) {
  TempDir dir;
  auto log = dir.path() / "svc.log";
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  std::string before = "a long line written before the rotation\n";
  ASSERT_EQ(::write(fd, before.data(), before.size()), static_cast<ssize_t>(before.size()));
  ASSERT_TRUE(rotate_if_needed(log, 8, 1).has_value());
  std::string after = "after\n";
  ASSERT_EQ(::write(fd, after.data(), after.size()), static_cast<ssize_t>(after.size()));
  ::close(fd);
  EXPECT_EQ(read_all(log), "after\n");  // no hole of NULs before it
  EXPECT_EQ(read_all(dir.path() / "svc.log.1"), before);
}

TEST(TailLinesTest, LastLinesOfABigFile) {
  TempDir dir;
  auto log = dir.path() / "big.log";
  {
    std::ofstream out(log);
    for (int i = 0; i < 200000; ++i) out << "line " << i << '\n';
  }
  auto tail = tail_lines(log, 3);
  ASSERT_TRUE(tail.has_value()) << tail.error().message;
  EXPECT_EQ(*tail, (std::vector<std::string>{"line 199997", "line 199998", "line 199999"}));
  auto many = tail_lines(log, 20000);  // spans several 64 KiB blocks
  ASSERT_TRUE(many.has_value());
  ASSERT_EQ(many->size(), 20000u);
  EXPECT_EQ(many->front(), "line 180000");
  EXPECT_EQ(many->back(), "line 199999");
}

TEST(TailLinesTest, SmallFilesAndEdges) {
  TempDir dir;
  auto log = dir.path() / "s.log";
  { std::ofstream(log) << "a\nb\nno-newline"; }
  EXPECT_EQ(*tail_lines(log, 2), (std::vector<std::string>{"b", "no-newline"}));
  EXPECT_EQ(*tail_lines(log, 10), (std::vector<std::string>{"a", "b", "no-newline"}));
  EXPECT_TRUE(tail_lines(log, 0)->empty());
  { std::ofstream(log) << ""; }
  EXPECT_TRUE(tail_lines(log, 5)->empty());
  { std::ofstream(log) << "x\n\ny\n"; }
  EXPECT_EQ(*tail_lines(log, 3), (std::vector<std::string>{"x", "", "y"}));
  EXPECT_EQ(tail_lines(dir.path() / "missing", 3).error().code, util::ErrorCode::not_found);
}

TEST(LogFollowerTest, SeesAppendedLinesAndSurvivesCopyTruncate) {
  TempDir dir;
  auto log = dir.path() / "f.log";
  { std::ofstream(log) << "old line\n"; }
  LogFollower follower(log);
  auto none = follower.next(20ms);
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());  // starts at the end

  append(log, "one\ntwo\npart");
  auto lines = follower.next(2s);
  ASSERT_TRUE(lines.has_value()) << lines.error().message;
  EXPECT_EQ(*lines, (std::vector<std::string>{"one", "two"}));
  append(log, "ial\n");
  EXPECT_EQ(*follower.next(2s), (std::vector<std::string>{"partial"}));

  // Grow past the old offset? No: rotate to zero, then a short line.
  ASSERT_TRUE(rotate_if_needed(log, 1, 1).has_value());
  append(log, "new\n");
  EXPECT_EQ(*follower.next(2s), (std::vector<std::string>{"new"}));
}

TEST(LogFollowerTest, FollowsAFileCreatedLaterAndRenameRotation) {
  TempDir dir;
  auto log = dir.path() / "later.log";
  LogFollower follower(log);
  EXPECT_TRUE(follower.next(10ms)->empty());
  append(log, "hello\n");
  EXPECT_EQ(*follower.next(2s), (std::vector<std::string>{"hello"}));
  fs::rename(log, dir.path() / "later.log.1");
  append(log, "fresh\n");
  EXPECT_EQ(*follower.next(2s), (std::vector<std::string>{"fresh"}));
}

TEST(LogFollowerTest, StopWakesABlockedNext) {
  TempDir dir;
  auto log = dir.path() / "s.log";
  { std::ofstream(log) << ""; }
  LogFollower follower(log);
  std::thread stopper([&] {
    std::this_thread::sleep_for(50ms);
    follower.stop();
  });
  auto lines = follower.next(std::chrono::minutes(5));
  stopper.join();
  ASSERT_TRUE(lines.has_value());
  EXPECT_TRUE(lines->empty());
  EXPECT_TRUE(follower.stopped());
}

}  // namespace
}  // namespace gpumod::infra::process
