// Runtime e2e tests (issue 4), the daemon's side: `daemon stop` leaves services running and the
// next daemon re-adopts them (pid + start time), a foreign process on a recorded pid is not
// adopted, `daemon stop --with-services` stops them, a daemon killed with SIGKILL is replaced by
// the next command and loses nothing, and the health monitor restarts a service whose process
// died, as its restart policy says, visible in `gpumod events`.
#include <sqlite3.h>

#include "e2e/runtime_fixture.hpp"

namespace gpumod::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class RuntimeDaemonTest : public RuntimeFixture {
 protected:
  // Runs one SQL statement on the state database (the daemon must not be running).
  void sql(const std::string& statement) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((runner.state_dir() / "gpumod.db").c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }
};

TEST_F(RuntimeDaemonTest, DaemonStopLeavesServicesRunningAndTheNextDaemonReadoptsThem) {
  add_preset({.id = "emb", .vram_mib = 2500});
  auto r = gpumod({"service", "start", "emb"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("gpumod: started the daemon in the background"));
  const int first_daemon = daemon_pid();
  ASSERT_GT(first_daemon, 0);
  const int pid = service("emb")["pid"].get<int>();

  // Regression: the daemon's shutdown waited out httplib's 5 s keep-alive timeout on the CLI's
  // idle connection; 4 s is far above a normal stop (tens of ms) and below that bug.
  r = gpumod({"daemon", "stop"}, 4000);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "daemon stopped (services left running)\n");
  EXPECT_FALSE(pid_alive(first_daemon));
  EXPECT_TRUE(pid_alive(pid));
  EXPECT_EQ(ledger_used_mib(), 2500);
  r = gpumod({"daemon", "status"});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.out, HasSubstr("no gpumod daemon runs"));

  // The next command starts a new daemon, which adopts the running server.
  auto s = service("emb");
  const int second_daemon = daemon_pid();
  EXPECT_GT(second_daemon, 0);
  EXPECT_NE(second_daemon, first_daemon);
  EXPECT_EQ(s["state"], "running");
  EXPECT_EQ(s["pid"], pid);
  EXPECT_EQ(s["measured_mib"], 2500);
  EXPECT_EQ(s["learned_mib"], 2500);
  EXPECT_THAT(events_text(), HasSubstr("emb re-adopted (pid " + std::to_string(pid) + ")"));

  // The adopted server is fully managed: stopping it ends the process and frees its memory.
  r = gpumod({"service", "stop", "emb"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("emb stopped; memory released"));
  EXPECT_TRUE(wait_dead(pid, 2s));
  EXPECT_EQ(ledger_used_mib(), 0);
  EXPECT_EQ(service("emb")["state"], "stopped");
}

TEST_F(RuntimeDaemonTest, DaemonStopWithServicesStopsThem) {
  add_preset({.id = "a", .vram_mib = 1000});
  add_preset({.id = "b", .vram_mib = 1500});
  ASSERT_EQ(gpumod({"service", "start", "a"}).exit_code, 0);
  ASSERT_EQ(gpumod({"service", "start", "b"}).exit_code, 0);
  const int pa = service("a")["pid"].get<int>();
  const int pb = service("b")["pid"].get<int>();
  EXPECT_EQ(ledger_used_mib(), 2500);
  const int daemon = daemon_pid();

  auto r = gpumod({"daemon", "stop", "--with-services"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "daemon stopped (its services were stopped)\n");
  EXPECT_FALSE(pid_alive(daemon));
  EXPECT_TRUE(wait_dead(pa, 2s));
  EXPECT_TRUE(wait_dead(pb, 2s));
  EXPECT_EQ(ledger_used_mib(), 0);

  // Without a daemon, status reads the database: both stopped.
  r = gpumod({"status", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& s : json::parse(r.out)["services"]) EXPECT_EQ(s["state"], "stopped") << s.dump();
  // A new daemon adopts nothing.
  EXPECT_EQ(service("a")["state"], "stopped");
  EXPECT_EQ(service("a")["pid"], 0);
  EXPECT_THAT(events_text(), Not(HasSubstr("re-adopted")));
}

TEST_F(RuntimeDaemonTest, AForeignProcessOnARecordedPidIsNotAdopted) {
  add_preset({.id = "emb"});
  ASSERT_EQ(gpumod({"service", "start", "emb"}).exit_code, 0);
  const int pid = service("emb")["pid"].get<int>();
  ASSERT_EQ(gpumod({"daemon", "stop"}).exit_code, 0);

  // The server dies while no daemon runs and its pid now names another process (as after pid
  // reuse): the record points at a live process with another start time.
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(wait_dead(pid, 2s));
  test_support::ChildProcess foreign({"/bin/sleep", "30"});
  ASSERT_GT(foreign.pid(), 0) << foreign.error();
  sql("UPDATE service_runtime SET pid = " + std::to_string(foreign.pid()) + " WHERE service_id = 'emb'");

  const auto s = service("emb");
  EXPECT_EQ(s["state"], "stopped");
  EXPECT_EQ(s["pid"], 0);
  EXPECT_EQ(s["reason"], "exited while the daemon was away");
  EXPECT_THAT(events_text(), Not(HasSubstr("re-adopted")));
  // gpumod does not touch it, not even on stop.
  auto r = gpumod({"service", "stop", "emb"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("emb is not running"));
  EXPECT_TRUE(foreign.running());
}

TEST_F(RuntimeDaemonTest, DaemonKilledWithSigkillIsReplacedAndNothingIsLost) {
  add_preset({.id = "emb", .vram_mib = 3000, .env = {{"GPUMOD_MOCK_SLEEP_RESIDUE_MIB", "200"}}});
  ASSERT_EQ(gpumod({"service", "start", "emb"}).exit_code, 0);
  ASSERT_EQ(gpumod({"service", "sleep", "emb"}).exit_code, 0);
  const int pid = service("emb")["pid"].get<int>();
  const int daemon = daemon_pid();
  ASSERT_GT(daemon, 0);

  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  ASSERT_TRUE(wait_dead(daemon, 2s));
  EXPECT_TRUE(pid_alive(pid));

  // The next command finds the stale socket, starts a new daemon, which adopts the server.
  auto r = gpumod({"service", "status", "emb", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("gpumod: started the daemon in the background"));
  auto s = json::parse(r.out);
  EXPECT_EQ(s["state"], "sleeping");
  EXPECT_EQ(s["pid"], pid);
  EXPECT_EQ(s["measured_mib"], 200);
  EXPECT_EQ(s["learned_mib"], 3000);
  EXPECT_EQ(s["learned_sleep_mib"], 200);
  EXPECT_NE(daemon_pid(), daemon);

  // The event log of the old daemon is kept, and the new one adds the adoption.
  const auto ev = events_text();
  EXPECT_THAT(ev, HasSubstr("service.started"));
  EXPECT_THAT(ev, HasSubstr("service.slept"));
  EXPECT_THAT(ev, HasSubstr("emb re-adopted (pid " + std::to_string(pid) + ")"));

  r = gpumod({"service", "wake", "emb"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(service("emb")["measured_mib"], 3000);
  EXPECT_EQ(ledger_used_mib(), 3000);
}

// The CLI does not parse the configuration per command; an edit made while the daemon runs is
// seen from the files' fingerprint and applied by restarting the daemon, which re-adopts services.
TEST_F(RuntimeDaemonTest, AnEditedConfigurationRestartsTheDaemonAndKeepsItsServices) {
  add_preset({.id = "emb", .vram_mib = 1500});
  ASSERT_EQ(gpumod({"service", "start", "emb"}).exit_code, 0);
  const int pid = service("emb")["pid"].get<int>();
  const int daemon = daemon_pid();
  ASSERT_GT(daemon, 0);

  add_preset({.id = "chat", .vram_mib = 2500});
  auto r = gpumod({"service", "start", "chat"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("the configuration changed since the daemon started; restarting the daemon"));
  EXPECT_NE(daemon_pid(), daemon);
  EXPECT_EQ(service("emb")["pid"], pid);
  EXPECT_EQ(service("emb")["state"], "running");
  EXPECT_EQ(service("chat")["state"], "running");
  EXPECT_EQ(ledger_used_mib(), 4000);

  // Unchanged files: no second restart.
  const int second = daemon_pid();
  r = gpumod({"service", "stop", "chat"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("restarting the daemon")));
  EXPECT_EQ(daemon_pid(), second);
}

TEST_F(RuntimeDaemonTest, ABrokenEditIsReportedAndTheRunningDaemonKeepsItsConfiguration) {
  add_preset({.id = "emb", .vram_mib = 1500});
  ASSERT_EQ(gpumod({"service", "start", "emb"}).exit_code, 0);
  const int daemon = daemon_pid();
  std::ofstream(root() / "presets" / "bad.yaml") << "id: bad\ndriver: [vllm\n";

  auto r = gpumod({"service", "stop", "emb"});
  EXPECT_EQ(r.exit_code, 3) << r.err;  // config_invalid, with the file named
  EXPECT_THAT(r.err, HasSubstr("bad.yaml"));
  // Read-only commands still answer from the daemon, with a note; nothing was stopped.
  r = gpumod({"status", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("the configuration changed since the daemon started"));
  EXPECT_EQ(daemon_pid(), daemon);
  EXPECT_EQ(ledger_used_mib(), 1500);

  // Fixed: the next command applies it.
  fs::remove(root() / "presets" / "bad.yaml");
  add_preset({.id = "chat", .vram_mib = 2500});
  r = gpumod({"service", "stop", "emb"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(daemon_pid(), daemon);
  EXPECT_EQ(ledger_used_mib(), 0);
}

TEST_F(RuntimeDaemonTest, HealthMonitorRestartsAServiceWhoseProcessWasKilled) {
  write_settings("health_interval_ms: 100\n");
  add_preset({.id = "emb", .vram_mib = 1200});
  ASSERT_EQ(gpumod({"service", "start", "emb"}).exit_code, 0);
  const int pid = service("emb")["pid"].get<int>();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);

  // Detected (process exited), restarted after the backoff (about 1 s), running on a new pid.
  ASSERT_TRUE(test_support::wait_until(
      [&] {
        const auto s = service("emb");
        // The monitor records "health.restarted" just after the service is running again.
        return s["state"] == "running" && s["pid"].get<int>() > 0 && s["pid"].get<int>() != pid &&
               events_text().find("health.restarted") != std::string::npos;
      },
      8s, 50ms));
  EXPECT_EQ(service("emb")["measured_mib"], 1200);
  EXPECT_EQ(ledger_used_mib(), 1200);
  const auto ev = events_text();
  EXPECT_THAT(ev, HasSubstr("health.unhealthy  emb is unhealthy: process exited"));
  EXPECT_THAT(ev, HasSubstr("health.restart_scheduled  crashed; restart 1 of 3 in"));
  EXPECT_THAT(ev, HasSubstr("health.restart  restarting emb"));
  EXPECT_THAT(ev, HasSubstr("health.restarted  emb started and ready"));
}

TEST_F(RuntimeDaemonTest, HealthMonitorGivesUpWhenTheRestartBudgetIsSpent) {
  write_settings("health_interval_ms: 100\n");
  add_preset({.id = "flaky", .max_restarts = 1, .env = {{"GPUMOD_MOCK_CRASH_AFTER_MS", "300"}}});
  ASSERT_EQ(gpumod({"service", "start", "flaky"}).exit_code, 0);
  ASSERT_TRUE(wait_state("flaky", "failed", 8s));
  const auto s = service("flaky");
  EXPECT_EQ(s["pid"], 0);
  EXPECT_THAT(s["reason"].get<std::string>(), HasSubstr("restart budget exhausted (1 restarts within 600 s)"));
  const auto ev = events_text();
  EXPECT_THAT(ev, HasSubstr("health.restarted"));
  EXPECT_THAT(ev, HasSubstr("health.gave_up  flaky: crashed; restart budget exhausted"));
  EXPECT_EQ(ledger_used_mib(), 0);

  // Regression: started again by hand, it gets a fresh budget (it was given up at once before).
  auto r = gpumod({"service", "start", "flaky"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(test_support::wait_until(
      [&] {
        const auto e = events_text();
        std::size_t n = 0;
        for (auto at = e.find("health.restarted"); at != std::string::npos; at = e.find("health.restarted", at + 1)) ++n;
        return n == 2;
      },
      8s, 50ms))
      << events_text();
  ASSERT_TRUE(wait_state("flaky", "failed", 8s));
}

// Regression: a restart scheduled by the health monitor fired after the service had been
// stopped by hand, bringing it back.
TEST_F(RuntimeDaemonTest, AServiceStoppedWhileARestartIsScheduledStaysStopped) {
  write_settings("health_interval_ms: 100\n");
  add_preset({.id = "emb"});
  ASSERT_EQ(gpumod({"service", "start", "emb"}).exit_code, 0);
  const int pid = service("emb")["pid"].get<int>();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(test_support::wait_until(
      [&] { return events_text().find("health.restart_scheduled") != std::string::npos; }, 3s, 20ms));
  auto r = gpumod({"service", "stop", "emb"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(service("emb")["state"], "stopped");
  std::this_thread::sleep_for(1500ms);  // past the scheduled restart (1 s +- 20 %)
  const auto s = service("emb");
  EXPECT_EQ(s["state"], "stopped");
  EXPECT_EQ(s["pid"], 0);
  EXPECT_THAT(events_text(), Not(HasSubstr("health.restart ")));
  EXPECT_EQ(ledger_used_mib(), 0);
}

TEST_F(RuntimeDaemonTest, RestartPolicyNoLeavesAKilledServiceStopped) {
  write_settings("health_interval_ms: 100\n");
  add_preset({.id = "once", .restart = "no"});
  ASSERT_EQ(gpumod({"service", "start", "once"}).exit_code, 0);
  const int pid = service("once")["pid"].get<int>();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(wait_state("once", "failed", 3s)) << service("once").dump();
  std::this_thread::sleep_for(500ms);  // several health ticks
  const auto s = service("once");
  EXPECT_EQ(s["state"], "failed");
  EXPECT_THAT(s["reason"].get<std::string>(), HasSubstr("restart policy no"));
  // Reported once, not on every tick.
  const auto ev = events_text();
  std::size_t n = 0;
  for (auto at = ev.find("health.unhealthy"); at != std::string::npos; at = ev.find("health.unhealthy", at + 1)) ++n;
  EXPECT_EQ(n, 1u) << ev;
  EXPECT_THAT(ev, Not(HasSubstr("health.restart ")));
}

}  // namespace
}  // namespace gpumod::testing

namespace gpumod::testing {
namespace {

// Regression: `daemon stop` refused to stop a daemon serving another configuration root than the
// one the CLI resolved (it needs none), so daemons started with --config leaked.
TEST_F(RuntimeDaemonTest, DaemonStopNeedsNoConfigurationAndStopsItsServices) {
  add_preset({.id = "emb", .vram_mib = 700});
  ASSERT_EQ(gpumod({"service", "start", "emb"}).exit_code, 0);
  const int pid = service("emb")["pid"].get<int>();
  ASSERT_GT(pid, 0);
  const auto r = runner.run({"daemon", "stop", "--with-services"});  // no --config
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(runner.run({"daemon", "status"}).exit_code, 5);
  EXPECT_TRUE(test_support::wait_until([&] { return ::kill(pid, 0) != 0; }, std::chrono::seconds(5)));
}

}  // namespace
}  // namespace gpumod::testing
