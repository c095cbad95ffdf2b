#include "gpumod/infra/process/proc_tree.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "gpumod/infra/process/log_files.hpp"
#include "gpumod/infra/process/spawner.hpp"
#include "support/temp_dir.hpp"

namespace gpumod::infra::process {
namespace {

using namespace std::chrono_literals;

TEST(ProcTreeTest, DescendantsOfAShellWithChildren) {
  test_support::TempDir dir;
  auto log = dir.path() / "tree.log";
  LinuxProcessSpawner spawner;
  auto id = spawner.spawn({.argv = {"sh", "-c", "sleep 30 & sleep 31 & echo ready; wait"}, .log_file = log});
  ASSERT_TRUE(id.has_value()) << id.error().message;
  LogFollower follower(log, true);
  bool ready = false;
  for (int i = 0; i < 10 && !ready; ++i) {
    auto lines = follower.next(500ms);
    ASSERT_TRUE(lines.has_value());
    ready = std::find(lines->begin(), lines->end(), "ready") != lines->end();
  }
  ASSERT_TRUE(ready);

  auto kids = descendants(id->pid);
  ASSERT_EQ(kids.size(), 2u);
  std::vector<std::string> cmdlines;
  for (int k : kids) {
    // A forked child shows the shell's command line until it has exec'd sleep.
    auto c = read_cmdline(k);
    for (int i = 0; i < 200 && c && c->rfind("sleep", 0) != 0; ++i) {
      std::this_thread::sleep_for(5ms);
      c = read_cmdline(k);
    }
    ASSERT_TRUE(c.has_value());
    cmdlines.push_back(*c);
    EXPECT_TRUE(is_in_tree(id->pid, k));
    EXPECT_EQ(parent_pid(k), id->pid);
  }
  std::sort(cmdlines.begin(), cmdlines.end());
  EXPECT_EQ(cmdlines, (std::vector<std::string>{"sleep 30", "sleep 31"}));
  auto sh = read_cmdline(id->pid);
  ASSERT_TRUE(sh.has_value());
  EXPECT_EQ(sh->rfind("sh -c sleep 30 &", 0), 0u) << *sh;
  // The test process itself is an ancestor of the shell, not in its tree.
  EXPECT_TRUE(is_in_tree(::getpid(), id->pid));
  EXPECT_FALSE(is_in_tree(id->pid, ::getpid()));
  EXPECT_TRUE(descendants(0x7ffffff0).empty());

  ASSERT_TRUE(spawner.stop(*id, 5s).has_value());
}

TEST(ProcTreeTest, CmdlineOfMissingProcessIsNotFound) {
  EXPECT_EQ(read_cmdline(0x7ffffff0).error().code, util::ErrorCode::not_found);
  EXPECT_EQ(read_cmdline(0).error().code, util::ErrorCode::invalid_argument);
}

TEST(ProcTreeTest, ListeningPidForPort) {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  int port = ntohs(addr.sin_port);

  // A bound socket that does not listen is not a listener.
  int bound = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(bound, 0);
  sockaddr_in addr2{};
  addr2.sin_family = AF_INET;
  addr2.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(bound, reinterpret_cast<sockaddr*>(&addr2), sizeof addr2), 0);
  len = sizeof addr2;
  ASSERT_EQ(::getsockname(bound, reinterpret_cast<sockaddr*>(&addr2), &len), 0);
  int bound_port = ntohs(addr2.sin_port);

  EXPECT_EQ(listening_pid_for_port(port), ::getpid());
  EXPECT_EQ(listening_pids_for_port(port), std::vector<int>{::getpid()});
  EXPECT_EQ(listening_pid_for_port(bound_port), std::nullopt);
  EXPECT_EQ(listening_pid_for_port(0), std::nullopt);

  // The socket inode is found from the port alone, and in this process's fds only.
  const auto inodes = listen_socket_inodes(port);
  ASSERT_EQ(inodes.size(), 1U);
  EXPECT_TRUE(holds_socket(::getpid(), inodes));
  EXPECT_FALSE(holds_socket(::getpid(), {}));
  EXPECT_FALSE(holds_socket(0x7ffffff0, inodes));
  EXPECT_TRUE(listen_socket_inodes(bound_port).empty());
  EXPECT_TRUE(listen_socket_inodes(70000).empty());

  ::close(listener);
  ::close(bound);
  EXPECT_EQ(listening_pid_for_port(port), std::nullopt);
  EXPECT_TRUE(listen_socket_inodes(port).empty());
}

TEST(ProcTreeTest, ListeningOnIpv6IsSeen) {
  int listener = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) GTEST_SKIP() << "no IPv6 sockets here";
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(listener);
    GTEST_SKIP() << "no IPv6 loopback here";
  }
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin6_port);
  const auto inodes = listen_socket_inodes(port);
  EXPECT_EQ(inodes.size(), 1U);
  EXPECT_TRUE(holds_socket(::getpid(), inodes));
  EXPECT_EQ(listening_pids_for_port(port), std::vector<int>{::getpid()});
  ::close(listener);
}

}  // namespace
}  // namespace gpumod::infra::process
