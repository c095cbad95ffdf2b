#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "gpumod/infra/systemd/detail.hpp"
#include "gpumod/util/subprocess.hpp"

extern char** environ;

namespace gpumod::infra::systemd {
namespace {

using namespace std::chrono_literals;


// A private D-Bus daemon without systemd on it: the sd-bus backend must connect, ask, and
// report "unavailable" (not hang, not crash).
TEST(SystemdSdBus, BusWithoutSystemdIsUnavailable) {
  const std::string daemon = util::find_program("dbus-daemon");
  if (daemon.empty()) GTEST_SKIP() << "dbus-daemon is not installed";
  std::string tmpl = (std::filesystem::temp_directory_path() / "gpumod-bus-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const std::filesystem::path dir = tmpl;
  const std::string address = "unix:path=" + (dir / "bus").string();
  std::vector<std::string> args{daemon, "--session", "--nofork", "--nopidfile",
                                "--address=" + address};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int spawned = ::posix_spawn(&pid, daemon.c_str(), &actions, nullptr, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  ASSERT_EQ(spawned, 0);
  for (int i = 0; i < 400 && !std::filesystem::exists(dir / "bus"); ++i) {
    std::this_thread::sleep_for(5ms);
  }

  auto m = detail::open_sdbus_manager({{"DBUS_SESSION_BUS_ADDRESS", address}}, "", 2s);

  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);

  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code, util::ErrorCode::unavailable) << m.error().message;
  if (std::getenv("DBUS_SESSION_BUS_ADDRESS") == nullptr) {
    // Built with sd-bus: it reached the bus and systemd was not there.
    EXPECT_TRUE(m.error().message.find("systemd does not answer") != std::string::npos ||
                m.error().message.find("without sd-bus") != std::string::npos)
        << m.error().message;
  }
}

TEST(SystemdSdBus, NoAddressIsUnavailable) {
  if (std::getenv("DBUS_SESSION_BUS_ADDRESS") != nullptr) GTEST_SKIP() << "a user bus is set";
  auto m = detail::open_sdbus_manager({}, "", 1s);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code, util::ErrorCode::unavailable);
}

}  // namespace
}  // namespace gpumod::infra::systemd
