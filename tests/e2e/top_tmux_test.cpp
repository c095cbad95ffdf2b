// gpumod top in a real terminal (tmux, 80x24) against the mock servers: the view shows the mode
// and the services, a mode switch is made from the keyboard (m, down, Enter) and the view and the
// daemon agree on the new mode; events stored before it opened are shown; q quits.
#include <random>

#include "e2e/runtime_fixture.hpp"
#include "gpumod/util/subprocess.hpp"

namespace gpumod::testing {
namespace {

using ::testing::HasSubstr;

class TopTmux : public RuntimeFixture {
 protected:
  void SetUp() override {
    RuntimeFixture::SetUp();
    m_socket = "gpumod-top-test-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
  }
  void TearDown() override { (void)tmux({"kill-server"}); }

  util::CaptureResult tmux(std::vector<std::string> args) {
    std::vector<std::string> argv{"/usr/bin/tmux", "-L", m_socket, "-f", "/dev/null"};
    argv.insert(argv.end(), args.begin(), args.end());
    util::CaptureOptions o;
    o.deadline = 10s;
    o.env_overrides = runner.env();
    o.env_overrides["NO_COLOR"] = "1";
    o.env_overrides["TERM"] = "xterm-256color";
    auto r = util::run_capture(argv, o);
    return r ? *r : util::CaptureResult{-1, "", r.error().message};
  }
  std::string screen() { return tmux({"capture-pane", "-p", "-t", "top"}).out; }
  bool wait_screen(const std::string& text, std::chrono::milliseconds timeout = 30s) {
    return test_support::wait_until([&] { return screen().find(text) != std::string::npos; }, timeout, 100ms);
  }

 private:
  std::string m_socket;
};

TEST_F(TopTmux, SwitchesModeFromTheKeyboard) {
  if (::access("/usr/bin/tmux", X_OK) != 0) GTEST_SKIP() << "tmux is not installed (make deps installs it)";
  add_preset({.id = "chat", .vram_mib = 3000});
  add_preset({.id = "embed", .vram_mib = 1000});
  add_mode("alpha", {"chat"});
  add_mode("beta", {"embed"});
  ASSERT_EQ(gpumod({"mode", "switch", "alpha"}).exit_code, 0);

  const auto started = tmux({"new-session", "-d", "-s", "top", "-x", "80", "-y", "24", GPUMOD_BIN, "--config",
                             root().string(), "top"});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  ASSERT_TRUE(wait_screen("mode: alpha")) << screen();
  EXPECT_THAT(screen(), HasSubstr("> chat"));
  EXPECT_THAT(screen(), HasSubstr("running"));
  // The switch made before top opened is in its events (the backlog it reads at start).
  ASSERT_TRUE(wait_screen("now in mode alpha")) << screen();

  ASSERT_EQ(tmux({"send-keys", "-t", "top", "m"}).exit_code, 0);
  ASSERT_TRUE(wait_screen("Switch to mode")) << screen();
  EXPECT_THAT(screen(), HasSubstr("> alpha  (current)"));
  ASSERT_EQ(tmux({"send-keys", "-t", "top", "Down"}).exit_code, 0);
  ASSERT_TRUE(wait_screen("> beta")) << screen();
  ASSERT_EQ(tmux({"send-keys", "-t", "top", "Enter"}).exit_code, 0);
  // The view follows the switch through the event stream and ends in the new mode.
  ASSERT_TRUE(wait_screen("mode: beta")) << screen();
  ASSERT_TRUE(wait_screen("switch.done")) << screen();
  EXPECT_EQ(status()["current_mode"], "beta");
  EXPECT_EQ(service("embed")["state"], "running");

  ASSERT_EQ(tmux({"send-keys", "-t", "top", "q"}).exit_code, 0);
  EXPECT_TRUE(test_support::wait_until([&] { return tmux({"has-session", "-t", "top"}).exit_code != 0; }, 10s));
}

}  // namespace
}  // namespace gpumod::testing
