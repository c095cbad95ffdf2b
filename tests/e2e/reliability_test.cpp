// Reliability e2e tests (issue 19): durable state or no change (a full disk through the state
// store's fault-injecting VFS, a lost or damaged database), servers found by their markers, a
// daemon that answers while busy or recovering, a CLI that survives a dying daemon, exactly one
// restart after a config edit, recovery that repairs (a frozen server, a deleted preset), and the
// minor items (port conflict in preflight, a /sleep answering 500, a truthful `daemon stop`, a
// deleted socket file).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include "e2e/runtime_fixture.hpp"
#include "gpumod/infra/process/markers.hpp"

namespace gpumod::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ReliabilityTest : public RuntimeFixture {
 protected:
  void SetUp() override {
    RuntimeFixture::SetUp();
    runner.env()["GPUMOD_STATE_FAULT_INJECTION"] = "1";
  }
  fs::path db() const { return runner.state_dir() / "gpumod.db"; }
  // From now on every write of the state database fails as `kind` says (full, eio); "" ends it.
  void inject(const std::string& kind) {
    const fs::path control = db().string() + ".faults";
    if (kind.empty()) {
      fs::remove(control);
    } else {
      std::ofstream(control, std::ios::trunc) << kind << "\n";
    }
  }
  // The servers gpumod started for this test's database that run now, by instance key.
  std::map<std::string, int> marked() {
    std::map<std::string, int> out;
    for (const auto& m : infra::process::find_marked_processes(db(), infra::process::pid_dir_for(db()))) {
      out[m.instance_key] = m.identity.pid;
    }
    return out;
  }
  void kill_daemon() {
    const int daemon = daemon_pid();
    ASSERT_GT(daemon, 0);
    ASSERT_EQ(::kill(daemon, SIGKILL), 0);
    ASSERT_TRUE(wait_dead(daemon, 5s));
  }
  std::string log_of(const std::string& id) {
    std::ifstream in(runner.state_dir() / "gpumod" / "logs" / (id + ".log"));
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
};

// F3: on a full disk a restart recorded nothing and exited 0; the new server was an orphan of the
// next daemon. Now the command fails (exit 9, saying why) and no server runs untracked.
TEST_F(ReliabilityTest, AFullDiskFailsTheCommandWithExit9AndLeavesNoUntrackedServer) {
  add_preset({.id = "a", .vram_mib = 2000});
  ASSERT_EQ(gpumod({"service", "start", "a"}).exit_code, 0);
  const int first = service("a")["pid"].get<int>();
  EXPECT_EQ(marked(), (std::map<std::string, int>{{"a", first}}));

  inject("full");
  auto r = gpumod({"service", "restart", "a"});
  EXPECT_EQ(r.exit_code, 9) << r.err;
  EXPECT_THAT(r.err, HasSubstr("state database"));
  EXPECT_TRUE(wait_dead(first, 5s));
  EXPECT_TRUE(marked().empty()) << "a server runs that the database does not record";
  EXPECT_EQ(ledger_used_mib(), 0);

  r = gpumod({"service", "start", "a"});  // refused before anything starts
  EXPECT_EQ(r.exit_code, 9) << r.err;
  EXPECT_THAT(r.err, HasSubstr("cannot start a: the state database cannot record it"));
  EXPECT_TRUE(marked().empty());

  inject("");
  r = gpumod({"service", "start", "a"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const int pid = service("a")["pid"].get<int>();
  // Whatever runs is what the database says after a daemon restart.
  kill_daemon();
  EXPECT_EQ(service("a")["pid"], pid);
  EXPECT_EQ(marked(), (std::map<std::string, int>{{"a", pid}}));
}

// F3: a daemon whose database was lost still finds, lists and stops every server it started.
TEST_F(ReliabilityTest, ALostDatabaseIsRebuiltFromTheServersThatRun) {
  add_preset({.id = "a", .vram_mib = 1000});
  add_preset({.id = "b", .vram_mib = 1500});
  ASSERT_EQ(gpumod({"service", "start", "a"}).exit_code, 0);
  ASSERT_EQ(gpumod({"service", "start", "b"}).exit_code, 0);
  const int pa = service("a")["pid"].get<int>();
  kill_daemon();
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db().string() + suffix);

  auto s = service("a");
  EXPECT_EQ(s["state"], "running");
  EXPECT_EQ(s["pid"], pa);
  EXPECT_EQ(service("b")["state"], "running");
  EXPECT_THAT(events_text(), HasSubstr("found by its marker"));
  EXPECT_EQ(status()["external_mib"], 0);

  auto r = gpumod({"daemon", "stop", "--with-services"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "daemon stopped; stopped a, b\n");
  EXPECT_TRUE(wait_dead(pa, 5s));
  EXPECT_EQ(ledger_used_mib(), 0);
}

// F3: damaged pages are found at open; the command names the corruption (exit 10), the file is
// kept aside and the state is rebuilt from what runs.
TEST_F(ReliabilityTest, ADamagedDatabaseIsNamedKeptAsideAndRebuilt) {
  add_preset({.id = "a", .vram_mib = 1000});
  add_preset({.id = "b", .vram_mib = 1000});
  ASSERT_EQ(gpumod({"service", "start", "a"}).exit_code, 0);
  const int pa = service("a")["pid"].get<int>();
  ASSERT_EQ(gpumod({"daemon", "stop"}).exit_code, 0);
  const auto size = fs::file_size(db());
  ASSERT_GT(size, 4096u * 4);
  {
    std::fstream f(db(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);
    const std::string junk(size - 4096, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto r = gpumod({"service", "start", "b"});
  EXPECT_EQ(r.exit_code, 10) << r.err;
  EXPECT_THAT(r.err, HasSubstr("damaged"));
  EXPECT_THAT(r.err, HasSubstr("kept as " + db().string() + ".damaged-"));
  bool kept = false;
  for (const auto& e : fs::directory_iterator(db().parent_path())) {
    kept = kept || (e.path().filename().string().starts_with("gpumod.db.damaged-") && fs::file_size(e.path()) == size);
  }
  EXPECT_TRUE(kept);
  EXPECT_EQ(service("a")["pid"], pa);  // rebuilt from what runs
  r = gpumod({"service", "start", "b"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(ReliabilityTest, AZeroByteDatabaseIsNotSilentlyReinitialised) {
  add_preset({.id = "a", .vram_mib = 1000});
  ASSERT_EQ(gpumod({"service", "start", "a"}).exit_code, 0);
  const int pa = service("a")["pid"].get<int>();
  ASSERT_EQ(gpumod({"daemon", "stop"}).exit_code, 0);
  fs::resize_file(db(), 0);
  fs::remove(db().string() + "-wal");
  auto r = gpumod({"status"});  // no daemon: answered from the database
  EXPECT_EQ(r.exit_code, 10) << r.err;
  EXPECT_THAT(r.err, HasSubstr("empty (0 bytes)"));
  EXPECT_EQ(fs::file_size(db()), 0u);
  r = gpumod({"service", "start", "a"});  // the daemon keeps it aside and rebuilds
  EXPECT_EQ(r.exit_code, 10) << r.err;
  EXPECT_THAT(r.err, HasSubstr("empty (0 bytes)"));
  EXPECT_EQ(service("a")["pid"], pa);
  EXPECT_EQ(gpumod({"service", "start", "a"}).exit_code, 0);
}

// F8: a running service whose preset was deleted was forgotten (memory and port kept, shown only
// as external memory, surviving `daemon stop --with-services`). It is stopped and reported.
TEST_F(ReliabilityTest, AServerWhosePresetWasDeletedIsStoppedAndReported) {
  add_preset({.id = "a", .vram_mib = 2500});
  add_preset({.id = "b", .vram_mib = 1000});
  ASSERT_EQ(gpumod({"service", "start", "a"}).exit_code, 0);
  const int pa = service("a")["pid"].get<int>();
  fs::remove(root() / "presets" / "a.yaml");
  // The daemon applies the edit itself (live configuration) or, where it cannot watch, the next
  // command restarts it; either way the server of the removed preset is stopped and said so.
  auto r = gpumod({"service", "start", "b"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(wait_dead(pa, 5s));
  const auto said = events_text();
  EXPECT_TRUE(said.find("was started by gpumod, but its preset is gone: stopped") != std::string::npos ||
              said.find("removed a; stopped a") != std::string::npos)
      << said;
  EXPECT_EQ(status()["external_mib"], 0);
  EXPECT_EQ(ledger_used_mib(), 1000);
}

// F4: a server found frozen when the daemon starts was never repaired or reported; a frozen
// server also cost the whole stop timeout (SIGTERM waits while it is stopped).
TEST_F(ReliabilityTest, AFrozenServerFoundAtDaemonStartIsRestartedByTheHealthPolicy) {
  write_settings("health_interval_ms: 100\n");
  add_preset({.id = "a", .vram_mib = 1000});
  ASSERT_EQ(gpumod({"service", "start", "a"}).exit_code, 0);
  const int pa = service("a")["pid"].get<int>();
  kill_daemon();
  ASSERT_EQ(::kill(pa, SIGSTOP), 0);
  ASSERT_EQ(gpumod({"daemon", "start"}).exit_code, 0);
  EXPECT_TRUE(test_support::wait_until([&] { return events_text().find("health.restarted") != std::string::npos; }, 60s))
      << events_text();
  EXPECT_TRUE(wait_dead(pa, 5s));
  // Stopped by SIGTERM, continued so that it could act on it (not killed after the grace).
  EXPECT_THAT(log_of("a"), HasSubstr("received SIGTERM"));
  EXPECT_EQ(service("a")["state"], "running");
}

TEST_F(ReliabilityTest, AFrozenServerActsOnSigtermWhenStopped) {
  add_preset({.id = "a", .vram_mib = 1000});
  ASSERT_EQ(gpumod({"service", "start", "a"}).exit_code, 0);
  const int pa = service("a")["pid"].get<int>();
  ASSERT_EQ(::kill(pa, SIGSTOP), 0);
  auto r = gpumod({"service", "stop", "a"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(pid_alive(pa));
  EXPECT_THAT(log_of("a"), HasSubstr("received SIGTERM"));
}

// F5: eight slow commands held all eight HTTP workers; `status` timed out and `daemon status`
// said no daemon ran. Now reads always get a worker, and the queued commands say what they wait for.
TEST_F(ReliabilityTest, StatusAnswersWhileManySlowCommandsAreQueued) {
  constexpr int k_services = 10;
  for (int i = 0; i < k_services; ++i) {
    add_preset({.id = "s" + std::to_string(i), .vram_mib = 100, .env = {{"GPUMOD_MOCK_LOAD_DELAY_MS", "700"}}});
  }
  ASSERT_EQ(gpumod({"daemon", "start"}).exit_code, 0);
  std::vector<RunResult> results(k_services);
  std::vector<std::thread> threads;
  for (int i = 0; i < k_services; ++i) {
    threads.emplace_back([&, i] { results[i] = gpumod({"service", "start", "s" + std::to_string(i)}, 120000); });
  }
  // While they queue (one runs at a time), the daemon answers reads at once.
  bool seen_busy = false;
  for (int round = 0; round < 5; ++round) {
    auto d = gpumod({"daemon", "status"});
    EXPECT_EQ(d.exit_code, 0) << d.out << d.err;
    auto st = gpumod({"status", "--json"}, 10000);
    ASSERT_EQ(st.exit_code, 0) << st.err;
    auto j = json::parse(st.out, nullptr, false);
    seen_busy = seen_busy || j.value("busy", "").starts_with("start s");
  }
  for (auto& t : threads) t.join();
  int queued = 0;
  for (const auto& r : results) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.err.find("gpumod: queued behind start s") != std::string::npos) ++queued;
  }
  EXPECT_TRUE(seen_busy);
  EXPECT_GE(queued, 1);
  EXPECT_EQ(ledger_used_mib(), 100 * k_services);
}

// F7: recovery ran before the daemon listened; a long resumed switch made the first command time
// out and `status` claim no daemon ran. Now the daemon listens first and says it is recovering.
TEST_F(ReliabilityTest, TheDaemonAnswersWhileItResumesAnInterruptedSwitch) {
  add_preset({.id = "slow", .vram_mib = 1000, .startup_timeout_s = 30, .env = {{"GPUMOD_MOCK_LOAD_DELAY_MS", "4000"}}});
  add_mode("m", {"slow"});
  ASSERT_EQ(gpumod({"daemon", "start"}).exit_code, 0);
  RunResult sw;
  std::thread t([&] { sw = gpumod({"mode", "switch", "m"}, 60000); });
  ASSERT_TRUE(test_support::wait_until([&] { return events_text().find("switch.started") != std::string::npos; }, 20s));
  kill_daemon();
  t.join();
  EXPECT_EQ(sw.exit_code, 5) << sw.err;  // its daemon died mid-request
  EXPECT_THAT(sw.err, HasSubstr("closed the connection without answering"));

  auto r = gpumod({"daemon", "start"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto st = gpumod({"status", "--json"});
  ASSERT_EQ(st.exit_code, 0) << st.err;
  auto j = json::parse(st.out);
  EXPECT_TRUE(j["recovering"].get<bool>()) << st.out;
  EXPECT_THAT(j.value("recovery", ""), HasSubstr("resuming the switch to m"));
  r = gpumod({"service", "start", "slow"}, 60000);  // a change waits for the recovery
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("the daemon is recovering"));
  EXPECT_EQ(json::parse(gpumod({"status", "--json"}).out)["current_mode"], "m");
}

// F9: after a config edit, concurrent mutating commands each tried to restart the daemon, and some
// failed (exit 5). Exactly one restarts it; the others wait and use the new daemon.
TEST_F(ReliabilityTest, AfterAConfigEditExactlyOneClientRestartsTheDaemon) {
  constexpr int k_clients = 8;
  for (int i = 0; i < k_clients; ++i) add_preset({.id = "s" + std::to_string(i), .vram_mib = 100});
  ASSERT_EQ(gpumod({"daemon", "start"}).exit_code, 0);
  const int before = daemon_pid();
  add_preset({.id = "extra", .vram_mib = 100});
  std::vector<RunResult> results(k_clients);
  std::vector<std::thread> threads;
  for (int i = 0; i < k_clients; ++i) {
    threads.emplace_back([&, i] { results[i] = gpumod({"service", "start", "s" + std::to_string(i)}, 60000); });
  }
  for (auto& t : threads) t.join();
  int restarts = 0;
  for (const auto& r : results) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.err.find("restarting the daemon to apply it") != std::string::npos) ++restarts;
  }
  // A daemon that follows its configuration applies the edit itself (no client restarts it);
  // one that does not is restarted by exactly one client (the restart lock), never by several.
  EXPECT_LE(restarts, 1);
  if (restarts == 0) {
    EXPECT_EQ(daemon_pid(), before);
  } else {
    EXPECT_NE(daemon_pid(), before);
  }
  EXPECT_EQ(ledger_used_mib(), 100 * k_clients);
}

// F6: right after a SIGKILL the socket refuses while the dead daemon's lock is still held; the
// daemon the CLI started exited "already runs" and the CLI failed (exit 5).
TEST_F(ReliabilityTest, ACommandRightAfterADaemonKillSucceeds) {
  add_preset({.id = "a", .vram_mib = 1000});
  ASSERT_EQ(gpumod({"service", "start", "a"}).exit_code, 0);
  for (int i = 0; i < 5; ++i) {
    const int daemon = daemon_pid();
    ASSERT_GT(daemon, 0);
    ASSERT_EQ(::kill(daemon, SIGKILL), 0);  // no wait: the next command meets the dying daemon
    auto r = gpumod({"service", "start", "a"});
    EXPECT_EQ(r.exit_code, 0) << "round " << i << ": " << r.err;
  }
}

// Minor: a deleted socket file left a daemon nobody could reach. It makes the socket again.
TEST_F(ReliabilityTest, ADeletedSocketFileIsMadeAgain) {
  add_preset({.id = "a", .vram_mib = 1000});
  ASSERT_EQ(gpumod({"service", "start", "a"}).exit_code, 0);
  const int daemon = daemon_pid();
  const fs::path socket = runner.home() / "runtime" / "gpumod" / "daemon.sock";
  ASSERT_TRUE(fs::remove(socket));
  ASSERT_TRUE(test_support::wait_until([&] { return fs::exists(socket); }, 10s));
  EXPECT_EQ(daemon_pid(), daemon);
  auto r = gpumod({"service", "stop", "a"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("started the daemon")));
}

// Minor: a port taken by a stranger was found only when its step ran, after the outgoing
// services were slept or stopped. Preflight finds it; nothing is touched.
TEST_F(ReliabilityTest, APortTakenByAStrangerRefusesTheSwitchInPreflight) {
  add_preset({.id = "a", .vram_mib = 1000});
  const int port_b = add_preset({.id = "b", .vram_mib = 1000});
  add_mode("ma", {"a"});
  add_mode("mb", {"b"});
  ASSERT_EQ(gpumod({"mode", "switch", "ma"}).exit_code, 0);
  const int pa = service("a")["pid"].get<int>();
  const int stranger = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port_b));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(stranger, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(stranger, 4), 0);
  auto r = gpumod({"mode", "switch", "mb", "--json"});
  ::close(stranger);
  EXPECT_EQ(r.exit_code, 8) << r.err;  // conflict with the current state (docs/cli-contract.md)
  auto j = json::parse(r.out);
  ASSERT_EQ(j["preflight"].size(), 1u) << r.out;
  EXPECT_THAT(j["preflight"][0].get<std::string>(), HasSubstr("port " + std::to_string(port_b) + " is already in use"));
  EXPECT_EQ(service("a")["pid"], pa);  // never stopped
  EXPECT_EQ(service("a")["state"], "running");
}

// Minor: a /sleep answering 500 blocked every switch away from its mode; it is stopped instead.
TEST_F(ReliabilityTest, ASleepThatFailsFallsBackToStopAndSaysSo) {
  add_preset({.id = "a", .vram_mib = 1000, .env = {{"GPUMOD_MOCK_FAULT", "http-500"}}});
  add_preset({.id = "b", .vram_mib = 1000});
  add_mode("ma", {"a"});
  add_mode("mb", {"b"});
  ASSERT_EQ(gpumod({"mode", "switch", "ma"}).exit_code, 0);
  const int pa = service("a")["pid"].get<int>();
  auto r = gpumod({"mode", "switch", "mb", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto j = json::parse(r.out);
  EXPECT_EQ(j["stopped"], json::array({"a"})) << r.out;
  EXPECT_THAT(r.out, HasSubstr("stopped instead"));
  EXPECT_TRUE(wait_dead(pa, 5s));
  EXPECT_EQ(service("b")["state"], "running");
}

// Minor: after a daemon kill, `daemon stop --with-services` said "(its services were stopped)"
// and stopped nothing. It finds the servers by their markers and says what it stopped.
TEST_F(ReliabilityTest, DaemonStopWithServicesAfterAKillStopsTheServersAndSaysSo) {
  add_preset({.id = "a", .vram_mib = 1000});
  ASSERT_EQ(gpumod({"service", "start", "a"}).exit_code, 0);
  const int pa = service("a")["pid"].get<int>();
  kill_daemon();
  auto r = gpumod({"daemon", "stop", "--with-services"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "no gpumod daemon runs; stopped the servers it had started: a (pid " + std::to_string(pa) + ")\n");
  EXPECT_TRUE(wait_dead(pa, 5s));
  EXPECT_EQ(ledger_used_mib(), 0);
  r = gpumod({"daemon", "stop", "--with-services"});
  EXPECT_EQ(r.out, "no gpumod daemon runs; no server it started runs\n");
}

}  // namespace
}  // namespace gpumod::testing
