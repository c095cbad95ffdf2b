// Runtime e2e tests (issue 4), the daemon's side: `daemon stop` leaves services running and the
// next daemon re-adopts them (pid + start time), a foreign process on a recorded pid is not
// adopted, `daemon stop --with-services` stops them, a daemon killed with SIGKILL is replaced by
// the next command and loses nothing, and the health monitor restarts a service whose process
// died, as its restart policy says, visible in `gpumod events`.
#include <httplib.h>
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
  EXPECT_EQ(r.out, "daemon stopped; stopped a, b\n");
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
// applied by the daemon itself (it watches the files): the command that changes something waits
// for that instead of restarting the daemon, and the running services are kept.
TEST_F(RuntimeDaemonTest, AnEditedConfigurationIsAppliedByTheRunningDaemonAndKeepsItsServices) {
  add_preset({.id = "emb", .vram_mib = 1500});
  ASSERT_EQ(gpumod({"service", "start", "emb"}).exit_code, 0);
  const int pid = service("emb")["pid"].get<int>();
  const int daemon = daemon_pid();
  ASSERT_GT(daemon, 0);

  add_preset({.id = "chat", .vram_mib = 2500});
  auto r = gpumod({"service", "start", "chat"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("restarting the daemon")));
  EXPECT_EQ(daemon_pid(), daemon);
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
  // Read-only commands still answer from the daemon, whose status says the files were not applied;
  // nothing was stopped.
  EXPECT_TRUE(test_support::wait_until([&] { return status().contains("config_problem"); }, 30s, 50ms));
  EXPECT_THAT(status()["config_problem"].get<std::string>(), HasSubstr("bad.yaml"));
  EXPECT_EQ(daemon_pid(), daemon);
  EXPECT_EQ(ledger_used_mib(), 1500);

  // Fixed: applied (by the same daemon), and the next command works.
  fs::remove(root() / "presets" / "bad.yaml");
  add_preset({.id = "chat", .vram_mib = 2500});
  r = gpumod({"service", "stop", "emb"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(daemon_pid(), daemon);
  EXPECT_EQ(service("chat")["state"], "stopped");
  EXPECT_EQ(ledger_used_mib(), 0);
}

// Regression (CI, 2 cores): four commands autostarting the daemon at the same moment each
// started one, and the daemons that lost the socket race ran on beside the winner, writing the
// same database (one found the others' switch "unfinished"). A lock now admits one daemon; the
// others exit and their clients talk to the winner.
TEST_F(RuntimeDaemonTest, CommandsStartingTheDaemonAtOnceShareOneDaemon) {
  add_preset({.id = "emb", .vram_mib = 1000});
  std::vector<RunResult> results(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = gpumod({"service", "status", "emb", "--json"}); });
  }
  for (auto& t : threads) t.join();
  const int winner = daemon_pid();
  ASSERT_GT(winner, 0);
  int started = 0;
  for (const auto& r : results) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(json::parse(r.out, nullptr, false).is_discarded()) << r.out;
    const auto at = r.err.find("started the daemon in the background (pid ");
    if (at == std::string::npos) continue;
    ++started;
    const int pid = std::stoi(r.err.substr(at + 42));
    if (pid != winner) {
      EXPECT_TRUE(wait_dead(pid, 5s)) << "a second daemon runs: pid " << pid;
    }
  }
  EXPECT_GE(started, 1);
  EXPECT_EQ(daemon_pid(), winner);

  // The lock, not the socket check, is what admits one daemon: with the winner's socket file
  // gone (as when a second daemon's check ran before the first bound its socket), a second
  // `daemon run` is still refused, and says who holds the lock.
  fs::remove(runner.home() / "runtime" / "gpumod" / "daemon.sock");
  const auto second = gpumod({"daemon", "run"}, 10000);
  EXPECT_NE(second.exit_code, 0);
  EXPECT_THAT(second.err, HasSubstr("a gpumod daemon already runs"));
  EXPECT_THAT(second.err, HasSubstr("pid " + std::to_string(winner)));
  EXPECT_TRUE(pid_alive(winner));
  ASSERT_EQ(::kill(winner, SIGTERM), 0);  // its socket is gone, so the runner cannot stop it
  EXPECT_TRUE(wait_dead(winner, 10s));
}

// A sleeping service is watched too: its process dying is seen by the health monitor, and it is
// marked failed, not restarted (a restart would wake it and take the memory its mode gave away).
TEST_F(RuntimeDaemonTest, ASleepingServiceWhoseProcessDiesIsMarkedFailedNotRestarted) {
  write_settings("health_interval_ms: 100\n");
  add_preset({.id = "emb", .vram_mib = 1500});
  ASSERT_EQ(gpumod({"service", "start", "emb"}).exit_code, 0);
  ASSERT_EQ(gpumod({"service", "sleep", "emb"}).exit_code, 0);
  ASSERT_EQ(service("emb")["state"], "sleeping");
  const int pid = service("emb")["pid"].get<int>();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(wait_state("emb", "failed", 5s)) << service("emb").dump();
  const auto s = service("emb");
  EXPECT_THAT(s["reason"].get<std::string>(), HasSubstr("process exited while asleep"));
  // Status observes the dead process at once; the health monitor's record and event follow.
  std::string ev;
  EXPECT_TRUE(test_support::wait_until([&] {
    ev = events_text();
    return ev.find("emb is unhealthy: process exited while asleep") != std::string::npos;
  }, 5s)) << ev;
  EXPECT_THAT(ev, Not(HasSubstr("health.restart ")));
  EXPECT_EQ(ledger_used_mib(), 0);
  // Starting it again is the operator's call, and works.
  auto r = gpumod({"service", "start", "emb"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(service("emb")["state"], "running");
}

// A sleeping service woken by someone else (a request to its own wake endpoint) is seen as
// running again by the health monitor.
TEST_F(RuntimeDaemonTest, ASleepingServiceWokenOutsideGpumodIsSeenRunning) {
  write_settings("health_interval_ms: 100\n");
  const int port = add_preset({.id = "emb", .vram_mib = 1500});
  ASSERT_EQ(gpumod({"service", "start", "emb"}).exit_code, 0);
  ASSERT_EQ(gpumod({"service", "sleep", "emb"}).exit_code, 0);
  httplib::Client c("127.0.0.1", port);
  auto res = c.Post("/wake_up");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  // Status shows what the server says at once; the monitor records it at its next look.
  EXPECT_EQ(service("emb")["state"], "running");
  EXPECT_TRUE(test_support::wait_until(
      [&] { return events_text().find("emb is awake (woken outside gpumod)") != std::string::npos; }, 5s, 50ms))
      << events_text();
  // Recorded once, not at every look.
  std::this_thread::sleep_for(300ms);
  const auto ev = events_text();
  EXPECT_EQ(ev.find("woken outside"), ev.rfind("woken outside")) << ev;
}

// A daemon started from an older gpumod (the file was rebuilt or upgraded since) runs old code:
// a read-only command says so, the next command that changes something restarts the daemon from
// the new file, and the services keep running.
TEST_F(RuntimeDaemonTest, ARebuiltGpumodRestartsTheDaemonAndKeepsItsServices) {
  add_preset({.id = "emb", .vram_mib = 1200});
  ASSERT_EQ(gpumod({"service", "start", "emb"}).exit_code, 0);
  const int first_daemon = daemon_pid();
  const int pid = service("emb")["pid"].get<int>();

  const auto copy = runner.home() / "bin" / "gpumod";
  fs::create_directories(copy.parent_path());
  fs::copy_file(GPUMOD_BIN, copy);
  runner.set_binary(copy);

  auto r = gpumod({"status", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("note: the gpumod program was rebuilt or upgraded since the daemon started"));
  EXPECT_EQ(daemon_pid(), first_daemon) << "a read-only command does not restart it";

  r = gpumod({"service", "start", "emb"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("the gpumod program was rebuilt or upgraded since the daemon started; "
                               "restarting the daemon to apply it (services keep running)"));
  const int second_daemon = daemon_pid();
  EXPECT_NE(second_daemon, first_daemon);
  EXPECT_FALSE(pid_alive(first_daemon));
  EXPECT_EQ(fs::read_symlink("/proc/" + std::to_string(second_daemon) + "/exe"), fs::canonical(copy));
  EXPECT_EQ(service("emb")["pid"], pid) << "re-adopted, not restarted";
  r = gpumod({"status", "--json"});
  EXPECT_THAT(r.err, Not(HasSubstr("note:")));
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
