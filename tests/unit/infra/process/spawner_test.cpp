#include "gpumod/infra/process/spawner.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "gpumod/infra/process/log_files.hpp"
#include "gpumod/infra/process/proc_tree.hpp"
#include "support/temp_dir.hpp"

namespace gpumod::infra::process {
namespace {

using namespace std::chrono_literals;
using test_support::TempDir;

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Waits (event-driven) until the log holds a line equal to `marker`.
bool wait_for_line(const std::filesystem::path& log, const std::string& marker) {
  LogFollower follower(log, /*from_start=*/true);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto lines = follower.next(500ms);
    if (!lines) return false;
    if (std::find(lines->begin(), lines->end(), marker) != lines->end()) return true;
  }
  return false;
}

// Waits until a process we signalled is no longer alive (it is not our child, so no pidfd wait here).
bool eventually_dead(const ProcessIdentity& id) {
  for (int i = 0; i < 400; ++i) {
    if (!is_same_process_alive(id)) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

TEST(LinuxProcessSpawnerTest, SpawnsStopsWithSigterm) {
  TempDir dir;
  LinuxProcessSpawner spawner;
  SpawnSpec spec{.argv = {"sleep", "30"}, .log_file = dir.path() / "logs" / "sleep.log"};
  auto id = spawner.spawn(spec);
  ASSERT_TRUE(id.has_value()) << id.error().message;
  EXPECT_GT(id->pid, 0);
  auto start = process_start_time(id->pid);
  ASSERT_TRUE(start.has_value());
  EXPECT_EQ(id->start_time_ticks, *start);
  EXPECT_TRUE(spawner.alive(*id));
  EXPECT_TRUE(spawner.is_own_child(*id));
  // Own session and process group.
  EXPECT_EQ(::getpgid(id->pid), id->pid);
  EXPECT_EQ(::getsid(id->pid), id->pid);
  // The log file exists with 0600.
  struct stat st {};
  ASSERT_EQ(::stat(spec.log_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  EXPECT_FALSE(spawner.wait_exit(*id, 10ms).has_value());  // still running

  auto exit = spawner.stop(*id, 5s);
  ASSERT_TRUE(exit.has_value()) << exit.error().message;
  EXPECT_TRUE(exit->known);
  EXPECT_FALSE(exit->exited);
  EXPECT_EQ(exit->signal, SIGTERM);
  EXPECT_FALSE(spawner.alive(*id));
  // Stopping again is fine and reports the same exit.
  auto again = spawner.stop(*id, 1s);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->signal, SIGTERM);
}

TEST(LinuxProcessSpawnerTest, IgnoringSigtermGetsSigkillWithItsGroup) {
  TempDir dir;
  LinuxProcessSpawner spawner;
  auto log = dir.path() / "stubborn.log";
  // sh ignores TERM, and so do the sleeps it starts (ignored dispositions are inherited).
  SpawnSpec spec{.argv = {"sh", "-c", "trap '' TERM; sleep 30 & echo ready; while :; do sleep 1; done"},
                 .log_file = log};
  auto id = spawner.spawn(spec);
  ASSERT_TRUE(id.has_value()) << id.error().message;
  ASSERT_TRUE(wait_for_line(log, "ready"));
  auto kids = descendants(id->pid);
  ASSERT_FALSE(kids.empty());
  std::vector<ProcessIdentity> kid_ids;
  for (int k : kids) {
    if (auto kid = identify(k)) kid_ids.push_back(*kid);
  }

  auto exit = spawner.stop(*id, 200ms);
  ASSERT_TRUE(exit.has_value()) << exit.error().message;
  EXPECT_TRUE(exit->known);
  EXPECT_EQ(exit->signal, SIGKILL);
  EXPECT_FALSE(spawner.alive(*id));
  for (const auto& kid : kid_ids) EXPECT_TRUE(eventually_dead(kid)) << "group member " << kid.pid << " survived";
}

TEST(LinuxProcessSpawnerTest, WaitExitReturnsTheExitCodeOfAnOwnChild) {
  TempDir dir;
  LinuxProcessSpawner spawner;
  auto log = dir.path() / "exit.log";
  { std::ofstream(log) << "before\n"; }
  auto id = spawner.spawn({.argv = {"sh", "-c", "echo out; echo err >&2; exit 7"}, .log_file = log});
  ASSERT_TRUE(id.has_value()) << id.error().message;
  auto exit = spawner.wait_exit(*id, 5s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->known);
  EXPECT_TRUE(exit->exited);
  EXPECT_EQ(exit->exit_code, 7);
  EXPECT_EQ(exit->describe(), "exit code 7");
  EXPECT_FALSE(spawner.alive(*id));
  // Appended, both streams.
  EXPECT_EQ(read_all(log), "before\nout\nerr\n");
}

TEST(LinuxProcessSpawnerTest, AnotherSpawnerDoesNotStealTheStatus) {
  LinuxProcessSpawner owner, other;
  auto id = owner.spawn({.argv = {"sh", "-c", "exit 3"}});
  ASSERT_TRUE(id.has_value()) << id.error().message;
  EXPECT_FALSE(other.is_own_child(*id));
  auto seen = other.wait_exit(*id, 5s);  // adopted view: gone, status unknown
  ASSERT_TRUE(seen.has_value());
  EXPECT_FALSE(seen->known);
  auto exit = owner.wait_exit(*id, 5s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->known);
  EXPECT_EQ(exit->exit_code, 3);
}

TEST(LinuxProcessSpawnerTest, EnvironmentAndWorkingDirectory) {
  TempDir dir;
  LinuxProcessSpawner spawner;
  auto log = dir.path() / "env.log";
  auto id = spawner.spawn({.argv = {"sh", "-c", "echo \"[$GPUMOD_X][$HOME]\"; pwd"},
                           .env = {{"GPUMOD_X", "42"}},
                           .inherit_env = false,
                           .cwd = dir.path(),
                           .log_file = log});
  ASSERT_TRUE(id.has_value()) << id.error().message;
  ASSERT_TRUE(spawner.wait_exit(*id, 5s).has_value());
  auto canonical = std::filesystem::canonical(dir.path()).string();
  EXPECT_EQ(read_all(log), "[42][]\n" + canonical + "\n");
}

TEST(LinuxProcessSpawnerTest, ExecFailuresAreReported) {
  TempDir dir;
  LinuxProcessSpawner spawner;
  auto missing = spawner.spawn({.argv = {"gpumod-no-such-program-xyz"}});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, util::ErrorCode::not_found);

  // Executable bit but not a program: execve fails in the child and the parent hears why.
  auto bogus = dir.path() / "bogus";
  { std::ofstream(bogus) << "\x7f" "ELF-not-really"; }
  std::filesystem::permissions(bogus, std::filesystem::perms::owner_all);
  auto bad = spawner.spawn({.argv = {bogus.string()}});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, util::ErrorCode::failed);
  EXPECT_NE(bad.error().message.find("bogus"), std::string::npos);

  auto no_dir = spawner.spawn({.argv = {"true"}, .cwd = dir.path() / "missing"});
  ASSERT_FALSE(no_dir.has_value());
  EXPECT_EQ(no_dir.error().code, util::ErrorCode::not_found);
  EXPECT_NE(no_dir.error().message.find("missing"), std::string::npos);

  EXPECT_EQ(spawner.spawn({}).error().code, util::ErrorCode::invalid_argument);
}

// can_start says what spawn would refuse, without starting anything (a switch's preflight).
TEST(LinuxProcessSpawnerTest, CanStartChecksWithoutStarting) {
  TempDir dir;
  LinuxProcessSpawner spawner;
  EXPECT_TRUE(spawner.can_start({.argv = {"true"}}));
  auto missing = spawner.can_start({.argv = {"gpumod-no-such-program-xyz"}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, util::ErrorCode::not_found);
  EXPECT_NE(missing.error().message.find("gpumod-no-such-program-xyz"), std::string::npos);
  // The child's PATH decides, not the daemon's.
  auto other_path = spawner.can_start({.argv = {"true"}, .env = {{"PATH", dir.path().string()}}});
  EXPECT_FALSE(other_path);
  // A file without the executable bit is not a program.
  auto plain = dir.path() / "plain";
  { std::ofstream(plain) << "#!/bin/sh\n"; }
  std::filesystem::permissions(plain, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_FALSE(spawner.can_start({.argv = {plain.string()}}));
  auto no_dir = spawner.can_start({.argv = {"true"}, .cwd = dir.path() / "missing"});
  ASSERT_FALSE(no_dir);
  EXPECT_NE(no_dir.error().message.find("missing"), std::string::npos);
  EXPECT_EQ(spawner.can_start({}).error().code, util::ErrorCode::invalid_argument);
}

TEST(LinuxProcessSpawnerTest, WrongStartTimeIsNotAliveAndIsNotKilled) {
  LinuxProcessSpawner spawner;
  auto id = spawner.spawn({.argv = {"sleep", "30"}});
  ASSERT_TRUE(id.has_value()) << id.error().message;
  ProcessIdentity recycled{id->pid, id->start_time_ticks + 1};
  EXPECT_FALSE(spawner.alive(recycled));
  auto exit = spawner.stop(recycled, 100ms);  // "already gone": must not signal the real process
  ASSERT_TRUE(exit.has_value());
  EXPECT_FALSE(exit->known);
  auto gone = spawner.wait_exit(recycled, 10ms);
  ASSERT_TRUE(gone.has_value());
  EXPECT_TRUE(spawner.alive(*id));
  ASSERT_TRUE(spawner.stop(*id, 5s).has_value());
}

}  // namespace
}  // namespace gpumod::infra::process
