#include "gpumod/util/subprocess.hpp"

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace gpumod::util {
namespace {

using namespace std::chrono_literals;

// Zombie children of this process whose command name is `comm` (from /proc/<pid>/stat).
int zombie_children_named(const std::string& comm) {
  int count = 0;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto open = text.find('(');
    auto close = text.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::istringstream rest(text.substr(close + 2));
    char state = 0;
    int ppid = 0;
    rest >> state >> ppid;
    if (state == 'Z' && ppid == ::getpid() && text.substr(open + 1, close - open - 1) == comm) ++count;
  }
  ::closedir(d);
  return count;
}

TEST(RunCaptureTest, CapturesStdout) {
  auto r = run_capture({"echo", "hello", "world"});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, "hello world\n");
  EXPECT_EQ(r->err, "");
}

TEST(RunCaptureTest, ReportsExitCodeAndStderr) {
  auto r = run_capture({"sh", "-c", "echo oops >&2; echo out; exit 3"});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "oops\n");
}

TEST(RunCaptureTest, KilledBySignalIs128PlusSignal) {
  auto r = run_capture({"sh", "-c", "kill -TERM $$"});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->exit_code, 128 + SIGTERM);
}

TEST(RunCaptureTest, MissingProgramIsNotFound) {
  auto r = run_capture({"gpumod-no-such-program-xyz"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::not_found);
  EXPECT_NE(r.error().message.find("gpumod-no-such-program-xyz"), std::string::npos);

  auto abs = run_capture({"/nonexistent/dir/prog"});
  ASSERT_FALSE(abs.has_value());
  EXPECT_EQ(abs.error().code, ErrorCode::not_found);
}

TEST(RunCaptureTest, EmptyArgvIsInvalid) {
  auto r = run_capture({});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::invalid_argument);
}

TEST(RunCaptureTest, DeadlineKillsTheWholeGroup) {
  // The shell starts a background sleep (a group member) and prints its pid, then waits.
  CaptureOptions opts;
  opts.deadline = 300ms;
  int child_pid = 0;
  // Write the grandchild pid to a file since the output is discarded with the error.
  char tmpl[] = "/tmp/gpumod-subproc-XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::string file = tmpl;
  auto r = run_capture({"sh", "-c", "sleep 30 & echo $! > " + file + "; wait"}, opts);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::timeout);
  FILE* f = std::fopen(file.c_str(), "r");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fscanf(f, "%d", &child_pid), 1);
  std::fclose(f);
  ::unlink(file.c_str());
  ASSERT_GT(child_pid, 0);
  // The background sleep got SIGKILL; it is reparented to init (or a subreaper) and reaped there.
  // It may linger as a zombie briefly; check its state is not running.
  std::string stat_path = "/proc/" + std::to_string(child_pid) + "/stat";
  for (int i = 0; i < 200; ++i) {
    FILE* s = std::fopen(stat_path.c_str(), "r");
    if (s == nullptr) break;
    char buf[512] = {};
    std::size_t n = std::fread(buf, 1, sizeof buf - 1, s);
    std::fclose(s);
    std::string st(buf, n);
    auto close_paren = st.rfind(')');
    if (close_paren != std::string::npos && close_paren + 2 < st.size() && (st[close_paren + 2] == 'Z' || st[close_paren + 2] == 'X')) break;
    std::this_thread::sleep_for(5ms);
    ASSERT_LT(i, 199) << "grandchild " << child_pid << " survived the deadline";
  }
}

TEST(RunCaptureTest, OutputIsCapped) {
  CaptureOptions opts;
  opts.max_output_bytes = 1000;
  auto r = run_capture({"head", "-c", "100000", "/dev/zero"}, opts);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out.size(), 1000u);
}

TEST(RunCaptureTest, EnvOverridesReachTheChild) {
  CaptureOptions opts;
  opts.env_overrides["GPUMOD_TEST_VAR"] = "forty-two";
  auto r = run_capture({"sh", "-c", "printf %s \"$GPUMOD_TEST_VAR\""}, opts);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->out, "forty-two");
}

TEST(RunCaptureTest, NoZombieLeftAndThreadSafe) {
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([t, &ok] {
      for (int i = 0; i < 5; ++i) {
        auto r = run_capture({"echo", std::to_string(t * 100 + i)});
        if (r && r->out == std::to_string(t * 100 + i) + "\n") ++ok[static_cast<std::size_t>(t)];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int v : ok) EXPECT_EQ(v, 5);
  // Every child was reaped: no zombie "echo" child of this process is left.
  EXPECT_EQ(zombie_children_named("echo"), 0);
}

TEST(FindProgramTest, FindsOnPathAndRejectsMissing) {
  std::string sh = find_program("sh");
  ASSERT_FALSE(sh.empty());
  EXPECT_EQ(sh.front(), '/');
  EXPECT_EQ(find_program("gpumod-no-such-program-xyz"), "");
  EXPECT_EQ(find_program(""), "");
  EXPECT_EQ(find_program(sh), sh);
  EXPECT_EQ(find_program("/etc/passwd"), "");  // not executable
  EXPECT_EQ(find_program("/tmp"), "");         // a directory
}

}  // namespace
}  // namespace gpumod::util
