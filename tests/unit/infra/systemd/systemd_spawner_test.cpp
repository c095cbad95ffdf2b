#include "gpumod/infra/systemd/systemd_spawner.hpp"

#include <signal.h>
#include <stdlib.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "gpumod/core/config.hpp"
#include "gpumod/engine/engine.hpp"
#include "gpumod/infra/gpu/simulated_probe.hpp"
#include "gpumod/infra/process/identity.hpp"
#include "gpumod/infra/process/spawner.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/infra/systemd/unit.hpp"
#include "gpumod/util/subprocess.hpp"

namespace gpumod::infra::systemd {
namespace {

using namespace std::chrono_literals;
using util::ErrorCode;
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "gpumod-sdspawn-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) m_path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!m_path.empty()) fs::remove_all(m_path, ec);
  }
  const fs::path& path() const { return m_path; }

 private:
  fs::path m_path;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A systemd user manager in memory. A started unit runs a real `sleep` (a child of the test,
// started through LinuxProcessSpawner) whose pid is the unit's MainPID.
class FakeManager final : public SystemdManager {
 public:
  explicit FakeManager(fs::path unit_dir) : m_unit_dir(std::move(unit_dir)) {}
  ~FakeManager() override {
    for (auto& [name, u] : m_units) {
      if (u.process) (void)m_processes.stop(*u.process, 1s);
    }
  }

  // Behaviour knobs.
  bool fail_reload = false;
  bool fail_on_start = false;     // the unit fails at once (exit code 3)
  bool hang_activating = false;   // the unit never gets active
  bool ignore_stop = false;       // stop() is accepted but ends nothing
  int stale_polls = 0;            // unit_status reports the pre-start state this many times
  std::vector<std::string> journal = {"Started gpumod unit.", "Main process exited, code=exited, status=3/NOTIMPLEMENTED"};

  util::Status daemon_reload(std::chrono::milliseconds) override {
    record("daemon-reload");
    if (fail_reload) return util::fail(ErrorCode::failed, "daemon-reload: Access denied");
    std::lock_guard lock(m_mutex);
    for (const auto& entry : fs::directory_iterator(m_unit_dir)) {
      const auto name = entry.path().filename().string();
      if (name.ends_with(".service") && !name.starts_with(".")) m_units[name].loaded = true;
    }
    return {};
  }
  util::Status start(const std::string& unit, std::chrono::milliseconds) override {
    record("start " + unit);
    return do_start(unit);
  }
  util::Status restart(const std::string& unit, std::chrono::milliseconds) override {
    record("restart " + unit);
    do_stop(unit);
    return do_start(unit);
  }
  util::Status stop(const std::string& unit, std::chrono::milliseconds) override {
    record("stop " + unit);
    if (!ignore_stop) do_stop(unit);
    return {};
  }
  util::Result<UnitStatus> unit_status(const std::string& unit, std::chrono::milliseconds) override {
    std::lock_guard lock(m_mutex);
    auto& u = m_units[unit];
    if (u.process && !m_processes.alive(*u.process)) {  // systemd saw the main process end
      const auto exit = m_processes.wait_exit(*u.process, 1s);
      u.process.reset();
      u.failed = true;
      u.exec_code = exit && exit->known && exit->exited ? 1 : 2;
      u.exec_status = exit && exit->known ? (exit->exited ? exit->exit_code : exit->signal) : 9;
    }
    if (u.stale_left > 0) {
      --u.stale_left;
      return u.stale;
    }
    return u.status();
  }
  util::Result<std::vector<std::string>> journal_tail(const std::string& unit, int,
                                                      std::chrono::milliseconds) override {
    record("journal " + unit);
    return journal;
  }
  std::string_view backend() const override { return "fake"; }

  std::vector<std::string> calls() {
    std::lock_guard lock(m_mutex);
    return m_calls;
  }
  int count(const std::string& call) {
    const auto c = calls();
    return static_cast<int>(std::count(c.begin(), c.end(), call));
  }
  // Makes the unit look like it failed in an earlier run.
  void set_failed_before(const std::string& unit) {
    std::lock_guard lock(m_mutex);
    m_units[unit].failed = true;
    m_units[unit].exec_code = 1;
    m_units[unit].exec_status = 1;
  }

 private:
  struct Unit {
    bool loaded = false;
    bool failed = false;
    bool activating = false;
    std::optional<process::ProcessIdentity> process;
    int exec_code = 0;
    int exec_status = 0;
    UnitStatus stale;
    int stale_left = 0;

    UnitStatus status() const {
      UnitStatus st;
      st.load_state = loaded ? "loaded" : "not-found";
      if (process) {
        st.active_state = "active";
        st.sub_state = "running";
        st.main_pid = process->pid;
      } else if (activating) {
        st.active_state = "activating";
        st.sub_state = "start";
      } else {
        st.active_state = failed ? "failed" : "inactive";
        st.sub_state = failed ? "failed" : "dead";
      }
      st.exec_main_code = exec_code;
      st.exec_main_status = exec_status;
      return st;
    }
  };

  void record(std::string call) {
    std::lock_guard lock(m_mutex);
    m_calls.push_back(std::move(call));
  }
  util::Status do_start(const std::string& unit) {
    std::lock_guard lock(m_mutex);
    auto& u = m_units[unit];
    if (!u.loaded) return util::fail(ErrorCode::not_found, "Unit " + unit + " not found.");
    if (u.process) return {};
    u.stale = u.status();
    u.stale_left = stale_polls;
    if (fail_on_start) {
      u.failed = true;
      u.exec_code = 1;
      u.exec_status = 3;
      return {};
    }
    if (hang_activating) {
      u.activating = true;
      return {};
    }
    process::SpawnSpec spec;
    spec.argv = {"sleep", "30"};
    auto id = m_processes.spawn(spec);
    if (!id) return std::unexpected(id.error());
    u.process = *id;
    u.failed = false;
    return {};
  }
  void do_stop(const std::string& unit) {
    std::lock_guard lock(m_mutex);
    auto& u = m_units[unit];
    u.activating = false;
    if (!u.process) return;
    auto exit = m_processes.stop(*u.process, 2s);
    u.process.reset();
    u.exec_code = exit && exit->known && exit->exited ? 1 : 2;
    u.exec_status = exit && exit->known ? (exit->exited ? exit->exit_code : exit->signal) : 15;
  }

  fs::path m_unit_dir;
  std::mutex m_mutex;
  std::map<std::string, Unit> m_units;
  std::vector<std::string> m_calls;
  process::LinuxProcessSpawner m_processes;
};

class SystemdSpawnerTest : public ::testing::Test {
 protected:
  SystemdSpawnerTest() : manager(tmp.path() / "units") {
    fs::create_directories(tmp.path() / "units");
    settings.unit_dir = tmp.path() / "units";
    settings.stop_timeout = 7s;
    settings.call_deadline = 2s;
    settings.start_timeout = 3s;
    settings.settle_time = 200ms;
    settings.poll_interval = 5ms;
    settings.stop_margin = 2s;
  }

  process::SpawnSpec spec(const std::string& name = "svc-a") const {
    process::SpawnSpec s;
    s.argv = {"sleep", "30"};
    s.env = {{"FOO", "bar baz"}};
    s.log_file = tmp.path() / "logs" / (name + ".log");
    return s;
  }

  TempDir tmp;
  FakeManager manager;
  SystemdSpawnerSettings settings;
};

TEST_F(SystemdSpawnerTest, SpawnRendersInstallsStartsAndReturnsTheMainPid) {
  SystemdSpawner spawner(manager, settings);
  auto id = spawner.spawn(spec());
  ASSERT_TRUE(id.has_value()) << id.error().message;
  EXPECT_TRUE(spawner.alive(*id));
  auto unit_file = settings.unit_dir / "gpumod-svc-a.service";
  ASSERT_TRUE(fs::exists(unit_file));
  const std::string text = read_file(unit_file);
  const std::string sleep_bin = util::find_program("sleep");
  ASSERT_FALSE(sleep_bin.empty());
  EXPECT_NE(text.find("ExecStart=\"" + fs::absolute(sleep_bin).lexically_normal().string() + "\" \"30\""),
            std::string::npos)
      << text;
  const std::string log = (tmp.path() / "logs" / "svc-a.log").string();
  EXPECT_NE(text.find("StandardOutput=append:" + log + "\n"), std::string::npos) << text;
  EXPECT_NE(text.find("StandardError=append:" + log + "\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Environment=\"FOO=bar baz\""), std::string::npos) << text;
  EXPECT_NE(text.find("Restart=no\n"), std::string::npos) << text;
  EXPECT_NE(text.find("KillMode=control-group\n"), std::string::npos) << text;
  EXPECT_NE(text.find("TimeoutStopSec=7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("WorkingDirectory=/"), std::string::npos) << text;
  EXPECT_TRUE(fs::exists(log));  // created (0600) before systemd appends to it
  EXPECT_EQ(fs::status(log).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(manager.calls(), (std::vector<std::string>{"daemon-reload", "start gpumod-svc-a.service"}));
  EXPECT_EQ(spawner.unit_of(*id), "gpumod-svc-a.service");

  auto exit = spawner.stop(*id, 2s);
  ASSERT_TRUE(exit.has_value()) << exit.error().message;
  EXPECT_EQ(manager.count("stop gpumod-svc-a.service"), 1);
  EXPECT_FALSE(spawner.alive(*id));
  EXPECT_FALSE(process::is_same_process_present(*id));
  // The exit status comes from the unit (ExecMainCode=killed, ExecMainStatus=SIGTERM).
  EXPECT_TRUE(exit->known);
  EXPECT_FALSE(exit->exited);
  EXPECT_EQ(exit->signal, SIGTERM);
}

TEST_F(SystemdSpawnerTest, DaemonReloadOnlyWhenTheUnitChanged) {
  SystemdSpawner spawner(manager, settings);
  auto first = spawner.spawn(spec());
  ASSERT_TRUE(first.has_value()) << first.error().message;
  ASSERT_TRUE(spawner.stop(*first, 2s).has_value());
  auto second = spawner.spawn(spec());  // same text: no reload
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_NE(second->pid, first->pid);
  EXPECT_EQ(manager.count("daemon-reload"), 1);
  ASSERT_TRUE(spawner.stop(*second, 2s).has_value());

  auto changed = spec();
  changed.env["FOO"] = "other";
  auto third = spawner.spawn(changed);
  ASSERT_TRUE(third.has_value()) << third.error().message;
  EXPECT_EQ(manager.count("daemon-reload"), 2);
  EXPECT_NE(read_file(settings.unit_dir / "gpumod-svc-a.service").find("FOO=other"), std::string::npos);
  ASSERT_TRUE(spawner.stop(*third, 2s).has_value());
}

TEST_F(SystemdSpawnerTest, ChangedUnitOfARunningServiceIsRestartedNotAdopted) {
  SystemdSpawner spawner(manager, settings);
  auto first = spawner.spawn(spec());
  ASSERT_TRUE(first.has_value()) << first.error().message;
  auto unchanged = spawner.spawn(spec());  // running and unchanged: adopted
  ASSERT_TRUE(unchanged.has_value()) << unchanged.error().message;
  EXPECT_EQ(*unchanged, *first);
  auto changed = spec();
  changed.argv = {"sleep", "31"};
  auto second = spawner.spawn(changed);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(manager.count("restart gpumod-svc-a.service"), 1);
  EXPECT_NE(second->pid, first->pid);
  EXPECT_FALSE(spawner.alive(*first));
  ASSERT_TRUE(spawner.stop(*second, 2s).has_value());
}

TEST_F(SystemdSpawnerTest, FailedUnitGivesAnErrorWithTheJournalTail) {
  manager.fail_on_start = true;
  SystemdSpawner spawner(manager, settings);
  auto s = spec();
  {
    fs::create_directories(s.log_file.parent_path());
    std::ofstream(s.log_file) << "error: model file missing\n";
  }
  auto id = spawner.spawn(s);
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.error().code, ErrorCode::failed);
  EXPECT_NE(id.error().message.find("gpumod-svc-a.service"), std::string::npos) << id.error().message;
  EXPECT_NE(id.error().message.find("exit code 3"), std::string::npos) << id.error().message;
  EXPECT_NE(id.error().message.find("status=3/NOTIMPLEMENTED"), std::string::npos) << id.error().message;
  EXPECT_NE(id.error().message.find("error: model file missing"), std::string::npos) << id.error().message;
}

TEST_F(SystemdSpawnerTest, StaleFailedStateFromAnEarlierRunIsNotTakenAsTheOutcome) {
  SystemdSpawner spawner(manager, settings);
  manager.stale_polls = 3;  // systemd has not run the start job yet for three polls
  manager.set_failed_before("gpumod-svc-a.service");
  auto id = spawner.spawn(spec());
  ASSERT_TRUE(id.has_value()) << id.error().message;
  EXPECT_TRUE(spawner.alive(*id));
  ASSERT_TRUE(spawner.stop(*id, 2s).has_value());
}

TEST_F(SystemdSpawnerTest, DaemonReloadFailureStopsTheStart) {
  manager.fail_reload = true;
  SystemdSpawner spawner(manager, settings);
  auto id = spawner.spawn(spec());
  ASSERT_FALSE(id.has_value());
  EXPECT_NE(id.error().message.find("daemon-reload"), std::string::npos) << id.error().message;
  EXPECT_EQ(manager.count("start gpumod-svc-a.service"), 0);
}

TEST_F(SystemdSpawnerTest, UnitThatNeverGetsActiveTimesOutAndIsStopped) {
  manager.hang_activating = true;
  settings.start_timeout = 150ms;
  SystemdSpawner spawner(manager, settings);
  auto id = spawner.spawn(spec());
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.error().code, ErrorCode::timeout);
  EXPECT_NE(id.error().message.find("activating"), std::string::npos) << id.error().message;
  EXPECT_EQ(manager.count("stop gpumod-svc-a.service"), 1);
}

TEST_F(SystemdSpawnerTest, MissingProgramIsNotFoundBeforeAnythingIsInstalled) {
  SystemdSpawner spawner(manager, settings);
  auto s = spec();
  s.argv = {"gpumod-no-such-program-xyz"};
  auto id = spawner.spawn(s);
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.error().code, ErrorCode::not_found);
  EXPECT_TRUE(manager.calls().empty());
  EXPECT_FALSE(fs::exists(settings.unit_dir / "gpumod-svc-a.service"));
}

TEST_F(SystemdSpawnerTest, RecycledPidIsNotAliveAndStopTouchesNoUnit) {
  process::LinuxProcessSpawner own;
  process::SpawnSpec s;
  s.argv = {"sleep", "30"};
  auto real = own.spawn(s);
  ASSERT_TRUE(real.has_value()) << real.error().message;
  SystemdSpawner spawner(manager, settings);
  process::ProcessIdentity recycled{real->pid, real->start_time_ticks + 1};
  EXPECT_FALSE(spawner.alive(recycled));
  EXPECT_TRUE(spawner.alive(*real));
  auto exit = spawner.stop(recycled, 100ms);
  ASSERT_TRUE(exit.has_value()) << exit.error().message;
  EXPECT_FALSE(exit->known);
  EXPECT_TRUE(manager.calls().empty());
  EXPECT_TRUE(own.alive(*real));  // the process that now has the pid is left alone
  ASSERT_TRUE(own.stop(*real, 1s).has_value());
}

TEST_F(SystemdSpawnerTest, StopRefusesAProcessOutsideAnyGpumodUnit) {
  process::LinuxProcessSpawner own;
  process::SpawnSpec s;
  s.argv = {"sleep", "30"};
  auto real = own.spawn(s);
  ASSERT_TRUE(real.has_value()) << real.error().message;
  SystemdSpawner spawner(manager, settings);
  auto exit = spawner.stop(*real, 100ms);
  ASSERT_FALSE(exit.has_value());
  EXPECT_EQ(exit.error().code, ErrorCode::failed);
  EXPECT_TRUE(own.alive(*real));
  EXPECT_TRUE(manager.calls().empty());
  ASSERT_TRUE(own.stop(*real, 1s).has_value());
}

TEST_F(SystemdSpawnerTest, HungUnitStopFallsBackToKillingTheProcess) {
  settings.stop_margin = 50ms;
  SystemdSpawner spawner(manager, settings);
  auto id = spawner.spawn(spec());
  ASSERT_TRUE(id.has_value()) << id.error().message;
  manager.ignore_stop = true;
  // The fake's process sits in the test's own cgroup, not in a gpumod unit's: only it is killed.
  auto exit = spawner.stop(*id, 50ms);
  ASSERT_TRUE(exit.has_value()) << exit.error().message;
  EXPECT_EQ(manager.count("stop gpumod-svc-a.service"), 1);
  EXPECT_FALSE(spawner.alive(*id));
}

TEST_F(SystemdSpawnerTest, WaitExitSeesTheEnd) {
  SystemdSpawner spawner(manager, settings);
  auto id = spawner.spawn(spec());
  ASSERT_TRUE(id.has_value()) << id.error().message;
  EXPECT_FALSE(spawner.wait_exit(*id, 20ms).has_value());
  ::kill(id->pid, SIGKILL);  // the fake's child, started for this test
  auto exit = spawner.wait_exit(*id, 5s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_FALSE(spawner.alive(*id));
  EXPECT_TRUE(exit->known);  // from the unit's ExecMainCode/ExecMainStatus
  EXPECT_EQ(exit->signal, SIGKILL);
}

TEST(SystemdSpawnerNames, UnitNameFromTheLogFileElseTheProgram) {
  process::SpawnSpec s;
  s.argv = {"/usr/bin/llama-server"};
  EXPECT_EQ(SystemdSpawner::unit_name_for(s), "gpumod-llama-server.service");
  s.log_file = "/var/log/gpumod/router_8080__models dir.log";
  EXPECT_EQ(SystemdSpawner::unit_name_for(s), "gpumod-router_8080__models_dir.service");
  s.log_file = "/x/chat@7b.log";
  EXPECT_EQ(SystemdSpawner::unit_name_for(s), "gpumod-chat_7b.service");
  s.log_file = "/x/" + std::string(300, 'a') + ".log";
  const auto long_name = SystemdSpawner::unit_name_for(s);
  EXPECT_EQ(long_name.size(), 255u);
  EXPECT_TRUE(validate_unit_name(long_name).has_value());
}

TEST(SystemdSpawnerNames, UnitFromCgroup) {
  EXPECT_EQ(gpumod_unit_from_cgroup(
                "0::/user.slice/user-1000.slice/user@1000.service/app.slice/gpumod-chat.service\n"),
            "gpumod-chat.service");
  EXPECT_EQ(gpumod_unit_from_cgroup("12:pids:/x\n1:name=systemd:/user.slice/user@1000.service/"
                                    "gpumod-vllm-a.service\n"),
            "gpumod-vllm-a.service");
  EXPECT_EQ(gpumod_unit_from_cgroup("0::/user.slice/user-1000.slice/session-3.scope\n"), std::nullopt);
  EXPECT_EQ(gpumod_unit_from_cgroup("0::/system.slice/gpumod-.service\n"), std::nullopt);
  EXPECT_EQ(gpumod_unit_from_cgroup(""), std::nullopt);
}

TEST_F(SystemdSpawnerTest, RenderedUnitPassesSystemdAnalyzeVerify) {
  const std::string analyze = util::find_program("systemd-analyze");
  if (analyze.empty()) GTEST_SKIP() << "systemd-analyze is not installed";
  SystemdSpawner spawner(manager, settings);
  auto s = spec();
  s.argv = {"sleep", "30", "a b", "100%", "$HOME", ";", "quote\"d"};
  s.env["WEIRD"] = "x $y %z \"q\"";
  auto id = spawner.spawn(s);
  ASSERT_TRUE(id.has_value()) << id.error().message;
  const auto unit_file = settings.unit_dir / "gpumod-svc-a.service";
  util::CaptureOptions opts;
  opts.deadline = 20s;
  auto r = util::run_capture({analyze, "verify", "--man=no", unit_file.string()}, opts);
  ASSERT_TRUE(spawner.stop(*id, 2s).has_value());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  if (r->exit_code != 0 && r->err.find("Failed to initialize manager") != std::string::npos) {
    GTEST_SKIP() << "systemd-analyze cannot run here: " << r->err;
  }
  EXPECT_EQ(r->exit_code, 0) << r->err;
  // verify reports parse problems as warnings ("..., ignoring") with status 0.
  EXPECT_EQ(r->err.find("ignoring"), std::string::npos) << r->err << "\n" << read_file(unit_file);
  EXPECT_EQ(r->err.find(unit_file.filename().string()), std::string::npos) << r->err;
}

// ---------------------------------------------------------------------------------------------
// Engine: a service with `supervisor: systemd` goes through the systemd spawner.

class RecordingSpawner final : public process::ProcessSpawner {
 public:
  util::Result<process::ProcessIdentity> spawn(const process::SpawnSpec& spec) override {
    std::lock_guard lock(m_mutex);
    spawned.push_back(spec.argv.empty() ? "" : spec.argv.front());
    return process::ProcessIdentity{999999, 1};
  }
  bool alive(const process::ProcessIdentity&) override {
    ++alive_calls;
    return false;  // the server "exits" at once, so the engine's readiness wait ends
  }
  util::Result<process::ExitInfo> stop(const process::ProcessIdentity&, std::chrono::milliseconds) override {
    ++stops;
    return process::ExitInfo{};
  }
  std::optional<process::ExitInfo> wait_exit(const process::ProcessIdentity&, std::chrono::milliseconds) override {
    return process::ExitInfo{};
  }
  std::vector<std::string> spawned;
  std::atomic<int> alive_calls{0};
  std::atomic<int> stops{0};

 private:
  std::mutex m_mutex;
};

core::Service http_service(std::string id, core::SupervisorKind supervisor) {
  core::Service s;
  s.id = id;
  s.name = id;
  s.driver = core::DriverKind::http;
  s.port = 1;  // nothing answers: readiness fails as soon as the process is seen gone
  s.command = {"/bin/true-" + id};
  s.supervisor = supervisor;
  s.startup_timeout = 2s;
  s.restart = core::RestartPolicy::never;
  return s;
}

struct EngineFixture {
  TempDir tmp;
  std::optional<state::StateStore> store;
  std::unique_ptr<gpu::GpuProbe> probe;
  core::Config config;

  EngineFixture() {
    auto st = state::StateStore::open(tmp.path() / "state.db");
    if (st) store.emplace(std::move(*st));
    probe = gpu::make_simulated_probe(core::SimulatedGpu{"Sim", 24000, false}, tmp.path() / "ledger");
    config.root = tmp.path();
    config.services = {http_service("a-proc", core::SupervisorKind::process),
                       http_service("b-sysd", core::SupervisorKind::systemd)};
  }
  engine::EngineSettings settings() const {
    engine::EngineSettings s;
    s.log_dir = tmp.path() / "logs";
    s.health_interval = 3600s;
    return s;
  }
};

TEST(EngineSupervisor, SystemdServicesUseTheSystemdSpawner) {
  EngineFixture f;
  ASSERT_TRUE(f.store.has_value());
  RecordingSpawner process_spawner, systemd_spawner;
  auto settings = f.settings();
  settings.systemd_spawner = &systemd_spawner;
  engine::Engine engine(f.config, *f.store, *f.probe, process_spawner, settings);

  (void)engine.start_service("b-sysd");  // fails readiness (the fake process is gone)
  EXPECT_EQ(systemd_spawner.spawned, (std::vector<std::string>{"/bin/true-b-sysd"}));
  EXPECT_GT(systemd_spawner.alive_calls.load(), 0);
  EXPECT_TRUE(process_spawner.spawned.empty());
  EXPECT_EQ(process_spawner.alive_calls.load(), 0);

  (void)engine.start_service("a-proc");
  EXPECT_EQ(process_spawner.spawned, (std::vector<std::string>{"/bin/true-a-proc"}));
  EXPECT_EQ(systemd_spawner.spawned.size(), 1u);
}

TEST(EngineSupervisor, SystemdServiceFailsClearlyWithoutSystemd) {
  EngineFixture f;
  ASSERT_TRUE(f.store.has_value());
  RecordingSpawner process_spawner;
  auto settings = f.settings();
  settings.systemd_unavailable = "no systemd user session (test)";
  engine::Engine engine(f.config, *f.store, *f.probe, process_spawner, settings);
  auto r = engine.start_service("b-sysd");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::unavailable);
  EXPECT_NE(r.error().message.find("systemd"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("no systemd user session (test)"), std::string::npos) << r.error().message;
  EXPECT_TRUE(process_spawner.spawned.empty());
}

}  // namespace
}  // namespace gpumod::infra::systemd
