#include "gpumod/infra/systemd/manager.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace gpumod::infra::systemd {
namespace {

using namespace std::chrono_literals;
using util::ErrorCode;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gpumod-sdmgr-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) m_path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!m_path.empty()) std::filesystem::remove_all(m_path, ec);
  }
  const std::filesystem::path& path() const { return m_path; }

 private:
  std::filesystem::path m_path;
};

TEST(SystemdShow, ParsesAllFields) {
  auto s = parse_show_output(
      "LoadState=loaded\nActiveState=activating\nSubState=auto-restart\nNRestarts=3\n"
      "MainPID=0\nExecMainStatus=1\nExecMainCode=1\n");
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->load_state, "loaded");
  EXPECT_EQ(s->active_state, "activating");
  EXPECT_EQ(s->sub_state, "auto-restart");
  EXPECT_EQ(s->n_restarts, 3);
  EXPECT_EQ(s->main_pid, 0);
  EXPECT_EQ(s->exec_main_status, 1);
  EXPECT_EQ(s->exec_main_code, 1);
}

TEST(SystemdShow, AcceptsAnyOrderUnknownKeysNotSetAndCrlf) {
  auto s = parse_show_output(
      "MainPID=4242\r\nId=gpumod-x.service\r\nActiveState=active\r\nNRestarts=[not set]\r\n"
      "SubState=running\r\nExecMainStatus=\r\n");
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->active_state, "active");
  EXPECT_EQ(s->sub_state, "running");
  EXPECT_EQ(s->main_pid, 4242);
  EXPECT_EQ(s->n_restarts, 0);
  EXPECT_EQ(s->exec_main_status, 0);
}

TEST(SystemdShow, NotFoundUnit) {
  auto s = parse_show_output(
      "LoadState=not-found\nActiveState=inactive\nSubState=dead\nNRestarts=0\nMainPID=0\n"
      "ExecMainStatus=0\nExecMainCode=0\n");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->load_state, "not-found");
  EXPECT_EQ(s->active_state, "inactive");
}

TEST(SystemdShow, RejectsGarbage) {
  for (const char* bad : {"", "SubState=running\n", "ActiveState=active\nMainPID=abc\n",
                          "ActiveState=active\nno equals sign\n", "ActiveState=\n"}) {
    auto s = parse_show_output(bad);
    ASSERT_FALSE(s.has_value()) << bad;
    EXPECT_EQ(s.error().code, ErrorCode::corrupt);
  }
}

TEST(SystemdEnvFix, FillsMissingVariablesFromRunUser) {
  TempDir tmp;
  const auto runtime = tmp.path() / "1000";
  std::filesystem::create_directories(runtime);
  auto none = user_bus_env_fix(nullptr, nullptr, tmp.path(), 1000);
  EXPECT_EQ(none.at("XDG_RUNTIME_DIR"), runtime.string());
  EXPECT_FALSE(none.contains("DBUS_SESSION_BUS_ADDRESS"));  // no bus socket yet

  std::ofstream(runtime / "bus") << "";
  auto both = user_bus_env_fix("", nullptr, tmp.path(), 1000);
  EXPECT_EQ(both.at("XDG_RUNTIME_DIR"), runtime.string());
  EXPECT_EQ(both.at("DBUS_SESSION_BUS_ADDRESS"), "unix:path=" + (runtime / "bus").string());

  // Present variables are kept; the bus is looked for under the given runtime dir.
  auto keep = user_bus_env_fix(runtime.c_str(), nullptr, "/nonexistent", 1000);
  EXPECT_FALSE(keep.contains("XDG_RUNTIME_DIR"));
  EXPECT_EQ(keep.at("DBUS_SESSION_BUS_ADDRESS"), "unix:path=" + (runtime / "bus").string());
  EXPECT_TRUE(user_bus_env_fix(runtime.c_str(), "unix:path=/x", tmp.path(), 1000).empty());

  // No /run/user/<uid>: nothing to fix.
  EXPECT_TRUE(user_bus_env_fix(nullptr, nullptr, tmp.path(), 4242).empty());
}

// A fake systemctl / journalctl: records its arguments and answers like the real ones.
class FakeSystemctl : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(m_tmp.path().empty());
    m_log = m_tmp.path() / "log";
    write_script("systemctl",
                 "#!/bin/sh\n"
                 "printf '%s\\n' \"$*\" >> '" + m_log.string() + "'\n"
                 "case \"$*\" in\n"
                 "  *'show -p'*) printf 'LoadState=loaded\\nActiveState=activating\\n"
                 "SubState=auto-restart\\nNRestarts=3\\nMainPID=0\\nExecMainStatus=1\\n"
                 "ExecMainCode=1\\n' ;;\n"
                 "  *gpumod-missing.service*) echo 'Failed to start gpumod-missing.service: Unit "
                 "gpumod-missing.service not found.' >&2; exit 5 ;;\n"
                 "  *gpumod-broken.service*) echo 'Job failed: permission denied' >&2; exit 1 ;;\n"
                 "  *gpumod-slow.service*) sleep 10 ;;\n"
                 "esac\n");
    write_script("journalctl",
                 "#!/bin/sh\n"
                 "printf '%s\\n' \"$*\" >> '" + m_log.string() + "'\n"
                 "printf 'loading model\\nlistening on 127.0.0.1:7070\\n\\n'\n");
    m_manager = make_systemctl_manager((m_tmp.path() / "systemctl").string(),
                                       (m_tmp.path() / "journalctl").string());
  }

  void write_script(const std::string& name, const std::string& text) {
    const auto p = m_tmp.path() / name;
    std::ofstream(p) << text;
    ::chmod(p.c_str(), 0755);
  }

  std::string log() const {
    std::ifstream in(m_log);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  TempDir m_tmp;
  std::filesystem::path m_log;
  std::unique_ptr<SystemdManager> m_manager;
};

TEST_F(FakeSystemctl, JobsUseUserScopeNoBlockAndEndOfOptions) {
  EXPECT_EQ(m_manager->backend(), "systemctl");
  ASSERT_TRUE(m_manager->start("gpumod-a.service", 5s).has_value());
  ASSERT_TRUE(m_manager->stop("gpumod-a.service", 5s).has_value());
  ASSERT_TRUE(m_manager->restart("gpumod-a.service", 5s).has_value());
  ASSERT_TRUE(m_manager->daemon_reload(5s).has_value());
  EXPECT_EQ(log(),
            "--user --no-block start -- gpumod-a.service\n"
            "--user --no-block stop -- gpumod-a.service\n"
            "--user --no-block restart -- gpumod-a.service\n"
            "--user daemon-reload\n");
}

TEST_F(FakeSystemctl, StatusIsParsed) {
  auto s = m_manager->unit_status("gpumod-a.service", 5s);
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->sub_state, "auto-restart");
  EXPECT_EQ(s->n_restarts, 3);
  EXPECT_NE(log().find("show -p LoadState,ActiveState,SubState,NRestarts,MainPID,ExecMainStatus,"
                       "ExecMainCode -- gpumod-a.service"),
            std::string::npos)
      << log();
}

TEST_F(FakeSystemctl, FailuresCarryStderrAndCodes) {
  auto missing = m_manager->start("gpumod-missing.service", 5s);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::not_found);
  EXPECT_NE(missing.error().message.find("exit status 5"), std::string::npos);

  auto broken = m_manager->start("gpumod-broken.service", 5s);
  ASSERT_FALSE(broken.has_value());
  EXPECT_EQ(broken.error().code, ErrorCode::failed);
  EXPECT_NE(broken.error().message.find("permission denied"), std::string::npos)
      << broken.error().message;
}

TEST_F(FakeSystemctl, DeadlineKillsAHangingSystemctl) {
  auto slow = m_manager->stop("gpumod-slow.service", 200ms);
  ASSERT_FALSE(slow.has_value());
  EXPECT_EQ(slow.error().code, ErrorCode::timeout) << slow.error().message;
}

TEST_F(FakeSystemctl, BadUnitNamesNeverReachSystemctl) {
  auto r = m_manager->start("--now.service", 5s);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::invalid_argument);
  auto s = m_manager->unit_status("x y.service", 5s);
  ASSERT_FALSE(s.has_value());
  auto j = m_manager->journal_tail("a;b.service", 5, 5s);
  ASSERT_FALSE(j.has_value());
  EXPECT_EQ(log(), "");
}

TEST_F(FakeSystemctl, JournalTailClampsAndDropsTrailingBlankLines) {
  auto lines = m_manager->journal_tail("gpumod-a.service", 100000, 5s);
  ASSERT_TRUE(lines.has_value()) << lines.error().message;
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[1], "listening on 127.0.0.1:7070");
  EXPECT_EQ(log(), "--user -u gpumod-a.service -n 1000 --no-pager -o cat\n");
}

TEST(SystemdOpen, ReturnsAManagerOrUnavailableWithoutHanging) {
  auto m = open_systemd_manager(3s);
  if (!m) {
    EXPECT_EQ(m.error().code, ErrorCode::unavailable) << m.error().message;
    EXPECT_NE(m.error().message.find("systemd"), std::string::npos) << m.error().message;
    GTEST_SKIP() << "no systemd user manager here: " << m.error().message;
  }
  // A real user session: read-only calls must work.
  auto s = (*m)->unit_status("gpumod-surely-not-installed.service", 5s);
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->load_state, "not-found");
  EXPECT_EQ(s->active_state, "inactive");
}

}  // namespace
}  // namespace gpumod::infra::systemd
