// Router-mates done right (issue #11) and a rollback/admission that respects them (#19 F1, F2):
// one llama-server router (gpumod-mock-server, models_max 1 and 2) serving chat-a, chat-b and
// chat-c beside a vLLM embedding service, end to end with the real binary.
#include "e2e/switch_fixture.hpp"
#include "gpumod/infra/http/client.hpp"
#include "gpumod/infra/state/state_store.hpp"

namespace gpumod::testing {
namespace {

using test_support::ChildProcess;
using test_support::wait_until;

SwitchPresetSpec mate(const std::string& id, const std::string& model, int port, std::int64_t vram, int models_max,
                      std::map<std::string, std::string> env = {}) {
  return {.id = id,
          .vram_mib = vram,
          .driver = "llamacpp",
          .sleep_mode = "router",
          .env = std::move(env),
          .unit_vars = {{"models_dir", "/nonexistent/gpumod-e2e-models"},
                        {"models_max", std::to_string(models_max)},
                        {"no_models_autoload", "true"},
                        {"default_model", model}},
          .port = port};
}

std::string model_status(const json& service, const std::string& model) {
  for (const auto& m : service["models"]) {
    if (m["id"] == model) return m["status"].get<std::string>();
  }
  return "absent";
}

// The configuration of the issue: mates chat-a, chat-b, chat-c of one router (port `port`),
// emb (vLLM); modes a = [chat-a (+ chat-c at models_max 2), emb], b = [chat-b, emb],
// emb-only = [emb]. Mode a fills the router.
class RouterMates : public SwitchE2E, public ::testing::WithParamInterface<int> {
 protected:
  int models_max() const { return GetParam(); }
  std::vector<std::string> mode_a_mates() const {
    return models_max() == 1 ? std::vector<std::string>{"chat-a"} : std::vector<std::string>{"chat-a", "chat-c"};
  }

  void write(std::int64_t mate_mib = 4000, std::int64_t total_mib = 24000, const std::string& extra_settings = "",
             std::vector<SwitchPresetSpec> more = {}, std::vector<std::pair<std::string, std::vector<std::string>>> more_modes = {}) {
    router_port = test_support::free_loopback_port();
    std::vector<SwitchPresetSpec> presets{mate("chat-a", "model-a", router_port, mate_mib, models_max()),
                                          mate("chat-b", "model-b", router_port, mate_mib, models_max()),
                                          mate("chat-c", "model-c", router_port, mate_mib, models_max()),
                                          {.id = "emb", .vram_mib = 2000}};
    for (auto& p : more) presets.push_back(std::move(p));
    auto a = mode_a_mates();
    a.push_back("emb");
    std::vector<std::pair<std::string, std::vector<std::string>>> modes{
        {"a", a}, {"b", {"chat-b", "emb"}}, {"emb-only", {"emb"}}};
    for (auto& m : more_modes) modes.push_back(std::move(m));
    write_config(presets, modes, total_mib);
    if (!extra_settings.empty()) std::ofstream(config_dir() / "gpumod.yaml", std::ios::app) << extra_settings;
  }

  int router_pid() { return services()["chat-a"]["pid"].get<int>(); }

  // Asks the router itself to load a model, as another client (or its autoload) would.
  void load_on_router(const std::string& model) const {
    auto http = infra::http::make_tcp_client("127.0.0.1", router_port);
    auto r = http->post_json("/models/load", json{{"model", model}}.dump(), std::chrono::milliseconds(5000));
    ASSERT_TRUE(r.has_value()) << r.error().message;
    ASSERT_EQ(r->status, 200) << r->body;
  }

  // For each id the result lists as slept/stopped/woken/started, status agrees.
  void expect_result_matches_status(const json& result) {
    const auto s = services();
    for (const auto& id : strings(result["slept"])) EXPECT_EQ(s.at(id)["state"], "sleeping") << id << "\n" << result.dump(2);
    for (const auto& id : strings(result["stopped"])) EXPECT_EQ(s.at(id)["state"], "stopped") << id << "\n" << result.dump(2);
    for (const auto& id : strings(result["woken"])) EXPECT_EQ(s.at(id)["state"], "running") << id;
    for (const auto& id : strings(result["started"])) EXPECT_EQ(s.at(id)["state"], "running") << id;
  }

  int router_port = 0;
};

// Path 1: with mode a filling the router, `service wake chat-b` would evict a mate of mode a: it is
// refused (exit 8, naming the mate and the mode), nothing changes. With --evict it is done; status
// then says the mode is modified, in text and JSON.
TEST_P(RouterMates, Path1WakeThatWouldEvictAModeMateIsRefusedUnlessEvict) {
  write();
  ASSERT_EQ(switch_to("a").first, 0);
  const int pid = router_pid();
  auto r = gpumod({"service", "wake", "chat-b"});
  EXPECT_EQ(r.exit_code, 8) << r.out << r.err;
  EXPECT_NE(r.err.find("would evict chat-"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("mode a"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--evict"), std::string::npos) << r.err;
  auto st = status();
  auto s = services(st);
  for (const auto& id : mode_a_mates()) EXPECT_EQ(s[id]["state"], "running") << id;
  EXPECT_EQ(s["chat-b"]["state"], "stopped");
  EXPECT_TRUE(st["mode_modified"].empty()) << st["mode_modified"].dump();

  r = gpumod({"service", "wake", "chat-b", "--evict"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  st = status();
  s = services(st);
  EXPECT_EQ(s["chat-b"]["state"], "running");
  EXPECT_EQ(s["chat-b"]["pid"], pid) << "the same router";
  std::string evicted;
  for (const auto& id : mode_a_mates()) {
    if (s[id]["state"] == "sleeping") evicted = id;
  }
  ASSERT_FALSE(evicted.empty()) << st.dump(2);
  EXPECT_TRUE(s[evicted]["reason"].get<std::string>().starts_with("evicted")) << s[evicted].dump();
  EXPECT_EQ(st["current_mode"], "a");
  EXPECT_EQ(strings(st["mode_modified"]), (std::vector<std::string>{"chat-b woken", evicted + " evicted"}));
  const auto text = gpumod({"status"});
  EXPECT_NE(text.out.find("Mode: a, modified: chat-b woken, " + evicted + " evicted"), std::string::npos) << text.out;
  EXPECT_EQ(st["gpu"]["devices"][0]["used_mib"], 2000 + 4000 * models_max()) << "the router holds models_max models";
}

// Path 1 with large models: the wake evicts first, then admits, so the evicted mate's memory
// counts as free (it was refused for lack of memory, the router's own model counted as held).
TEST_P(RouterMates, Path1EvictionFreesMemoryBeforeAdmission) {
  write(models_max() == 1 ? 14000 : 7000);
  ASSERT_EQ(switch_to("a").first, 0);
  auto r = gpumod({"service", "wake", "chat-b", "--evict"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(services()["chat-b"]["state"], "running");
}

// Path 1: a mate the router unloaded itself (here: another client loads chat-b's model, and the
// router evicts at models_max) is evicted, not crashed: the health monitor reports it so and
// schedules no restart.
TEST_P(RouterMates, Path1RouterEvictionIsNotACrash) {
  write(4000, 24000, "health_interval_ms: 100\n");
  ASSERT_EQ(gpumod({"daemon", "start"}).exit_code, 0);
  ASSERT_EQ(switch_to("a").first, 0);
  load_on_router("model-b");
  // The monitor's verdict on the unloaded mate is one event: evicted, or (before) unhealthy.
  std::string kind;
  ASSERT_TRUE(wait_until([&] {
    for (const auto& e : events()) {
      const auto k = e["kind"].get<std::string>();
      if (k == "health.evicted" || k == "health.unhealthy" || k == "health.restart_scheduled") {
        kind = k;
        return true;
      }
    }
    return false;
  }, 20s, 100ms));
  EXPECT_EQ(kind, "health.evicted");
  for (const auto& e : events()) EXPECT_FALSE(e["kind"].get<std::string>().starts_with("health.restart")) << e.dump();
  const auto st = status();
  const auto s = services(st);
  int asleep = 0;
  for (const auto& id : mode_a_mates()) asleep += s.at(id)["state"] == "sleeping";
  EXPECT_EQ(asleep, 1) << st.dump(2);
  EXPECT_EQ(s.at("chat-b")["state"], "running") << "loaded by someone else: it serves";
  ASSERT_EQ(st["mode_modified"].size(), 2u) << st["mode_modified"].dump();
  EXPECT_EQ(st["mode_modified"][0], "chat-b woken");
}

// Path 2: b, a, emb-only. Leaving a sleeps chat-a and stops chat-b (asleep from b): the router
// stays for chat-a, which ends asleep, not "failed (process exited while asleep)"; the result's
// lists agree with status. And in the other order (a, b, emb-only) the stopped mate is "stopped".
TEST_P(RouterMates, Path2StoppingOneMateKeepsTheRouterOfAnAsleepMate) {
  write();
  ASSERT_EQ(switch_to("b").first, 0);
  ASSERT_EQ(switch_to("a").first, 0);
  const int pid = router_pid();
  auto [rc, j] = switch_to("emb-only");
  ASSERT_EQ(rc, 0) << j.dump(2);
  EXPECT_EQ(strings(j["stopped"]), std::vector<std::string>{"chat-b"}) << j.dump(2);
  expect_result_matches_status(j);
  auto s = services();
  EXPECT_EQ(s["chat-a"]["state"], "sleeping") << s["chat-a"].dump();
  EXPECT_EQ(s["chat-a"]["pid"], pid) << "the router still runs";
  EXPECT_TRUE(pid_alive(pid));
  for (const auto& step : j["steps"]) {
    if (step["service"] == "chat-a") {
      EXPECT_EQ(step["sleep_level"], 0) << "a router sleep has no level";
    }
  }
  const auto text = gpumod({"mode", "switch", "a"});
  ASSERT_EQ(text.exit_code, 0) << text.out << text.err;
  s = services();
  EXPECT_EQ(s["chat-a"]["state"], "running");
  EXPECT_EQ(s["chat-a"]["pid"], pid);
}

TEST_P(RouterMates, Path2OtherOrderResultAndStatusAgree) {
  write();
  ASSERT_EQ(switch_to("a").first, 0);
  ASSERT_EQ(switch_to("b").first, 0);
  const auto text = gpumod({"mode", "switch", "emb-only", "--dry-run"});
  EXPECT_NE(text.out.find("unload (router)"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("sleep (level"), std::string::npos) << text.out;
  auto [rc, j] = switch_to("emb-only");
  ASSERT_EQ(rc, 0) << j.dump(2);
  expect_result_matches_status(j);
  const auto s = services();
  EXPECT_EQ(s.at("chat-b")["state"], "sleeping");
  for (const auto& id : mode_a_mates()) EXPECT_EQ(s.at(id)["state"], "stopped") << id << s.at(id).dump();
}

// Path 3: chat-b's model is not offered by the router (a changed default_model, daemon
// restarted). The switch to b must never kill the router that holds mode a's mates: it is refused
// or rolled back with mode a intact, and --dry-run shows the problem.
TEST_P(RouterMates, Path3BrokenMateNeverKillsTheRouterOfTheCurrentMode) {
  write();
  ASSERT_EQ(switch_to("a").first, 0);
  const int pid = router_pid();
  ASSERT_EQ(gpumod({"daemon", "stop"}).exit_code, 0);
  {
    const auto path = config_dir() / "presets" / "chat-b.yaml";
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    in.close();
    std::ofstream(path, std::ios::trunc) << replace_all(text.str(), "model-b", "model-ghost");
  }
  auto [drc, dry] = switch_to("b", {"--dry-run"});
  EXPECT_FALSE(dry["preflight"].empty()) << dry.dump(2);
  auto [rc, j] = switch_to("b");
  EXPECT_NE(rc, 0) << j.dump(2);
  EXPECT_TRUE(pid_alive(pid)) << "the router of mode a was killed\n" << j.dump(2);
  const auto st = status();
  EXPECT_EQ(st["current_mode"], "a");
  const auto s = services(st);
  for (const auto& id : mode_a_mates()) {
    EXPECT_EQ(s.at(id)["state"], "running") << id << "\n" << j.dump(2);
    EXPECT_EQ(s.at(id)["pid"], pid);
  }
  EXPECT_EQ(s.at("emb")["state"], "running");
}

// Related: a router's sleep has no level.
TEST_P(RouterMates, SleepLevelIsRefusedForARouterMate) {
  write();
  ASSERT_EQ(switch_to("a").first, 0);
  const auto r = gpumod({"service", "sleep", "chat-a", "--level", "2"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("no levels"), std::string::npos) << r.err;
  EXPECT_EQ(services()["chat-a"]["state"], "running");
  EXPECT_EQ(gpumod({"service", "sleep", "chat-a"}).exit_code, 0);
  EXPECT_EQ(services()["chat-a"]["state"], "sleeping");
}

// #19 F1: a failed switch's undo restores the state before. b holds chat-b; chat-a is asleep from
// a. The switch to `bad` stops chat-a (asleep, of no mode being left) and fails; the undo of that
// stop must leave chat-a asleep, not load it (which, at models_max, evicted chat-b of mode b).
TEST_P(RouterMates, F1RollbackLeavesAnAsleepMateAsleep) {
  write(4000, 24000, "",
        {{.id = "bad", .vram_mib = 3000, .env = {{"GPUMOD_MOCK_FAULT", "crash-during-load"}}}},
        {{"bad", {"bad"}}});
  ASSERT_EQ(switch_to("a").first, 0);
  ASSERT_EQ(switch_to("b").first, 0);
  auto s = services();
  for (const auto& id : mode_a_mates()) ASSERT_EQ(s[id]["state"], "sleeping") << id;
  auto [rc, j] = switch_to("bad");
  EXPECT_NE(rc, 0) << j.dump(2);
  EXPECT_TRUE(j["rolled_back"].get<bool>()) << j.dump(2);
  const auto st = status();
  EXPECT_EQ(st["current_mode"], "b");
  s = services(st);
  EXPECT_EQ(s["chat-b"]["state"], "running") << j.dump(2);
  EXPECT_EQ(model_status(s["chat-b"], "model-b"), "loaded");
  for (const auto& id : mode_a_mates()) EXPECT_EQ(s[id]["state"], "sleeping") << id << "\n" << j.dump(2);
  EXPECT_EQ(model_status(s["chat-a"], "model-a"), "unloaded");
  EXPECT_TRUE(st["mode_modified"].empty()) << st["mode_modified"].dump();
  EXPECT_EQ(st["gpu"]["devices"][0]["used_mib"], 2000 + 4000);
}

// #19 F2: a router whose process is not up: starting a mate loads its model at once, so its memory
// is admitted like any other start. A stranger holds 15,000 of 24,000 MiB: a 10,000 MiB mate is
// refused (exit 7) and nothing is started.
TEST_P(RouterMates, F2StartOfAMateWithItsRouterDownIsAdmitted) {
  write(10000);
  const int port = test_support::free_loopback_port();
  ChildProcess hog({GPUMOD_MOCK_SERVER_BIN, "--mock-flavor", "http", "--host", "127.0.0.1", "--port",
                    std::to_string(port), "--mock-vram-mib", "15000", "--mock-ledger-dir", runner.ledger_dir().string()});
  ASSERT_GT(hog.pid(), 0) << hog.error();
  ASSERT_TRUE(test_support::wait_for_port(port, 10s)) << hog.output();
  const auto r = gpumod({"service", "start", "chat-a"});
  EXPECT_EQ(r.exit_code, 7) << r.out << r.err;
  const auto st = status();
  EXPECT_EQ(services(st)["chat-a"]["state"], "stopped");
  EXPECT_LE(st["gpu"]["devices"][0]["used_mib"].get<std::int64_t>(), 24000) << st.dump(2);
  EXPECT_EQ(st["gpu"]["devices"][0]["used_mib"], 15000);
}

// What the router's log says since `from` (its byte offset): the router processes started and the
// loads of each model (the mock router logs both, as llama-server does).
struct RouterLog {
  int routers_started = 0;
  std::map<std::string, int> loads;  // model id -> loads
};

class RouterMatesHealth : public RouterMates {
 protected:
  void write_restartable(const std::string& extra) {
    router_port = test_support::free_loopback_port();
    std::vector<SwitchPresetSpec> presets;
    for (const auto& [id, model] : {std::pair{"chat-a", "model-a"}, {"chat-b", "model-b"}, {"chat-c", "model-c"}}) {
      auto p = mate(id, model, router_port, 4000, models_max());
      p.restart = "on-failure";
      presets.push_back(std::move(p));
    }
    presets.push_back({.id = "emb", .vram_mib = 2000});
    auto a = mode_a_mates();
    a.push_back("emb");
    write_config(presets, {{"a", a}, {"b", {"chat-b", "emb"}}}, 24000);
    std::ofstream(config_dir() / "gpumod.yaml", std::ios::app) << extra;
  }
  std::filesystem::path router_log() const {
    for (const auto& e : std::filesystem::recursive_directory_iterator(runner.home())) {
      const auto name = e.path().filename().string();
      if (e.is_regular_file() && name.starts_with("router_") && name.ends_with(".log")) return e.path();
    }
    return {};
  }
  std::size_t log_size() const {
    const auto p = router_log();
    return p.empty() ? 0 : std::filesystem::file_size(p);
  }
  RouterLog read_log(std::size_t from) const {
    std::ifstream in(router_log());
    in.seekg(static_cast<std::streamoff>(from));
    RouterLog out;
    for (std::string line; std::getline(in, line);) {
      if (line.find("srv llama_server: router mode") != std::string::npos) ++out.routers_started;
      const auto at = line.find("srv load_model: loading model '");
      if (at == std::string::npos) continue;
      const auto start = at + std::string_view("srv load_model: loading model '").size();
      ++out.loads[line.substr(start, line.find('\'', start) - start)];
    }
    return out;
  }
  std::vector<json> events_of(const std::string& kind) const {
    std::vector<json> out;
    for (const auto& e : events()) {
      if (e["kind"] == kind) out.push_back(e);
    }
    return out;
  }
  // Waits for the health monitor's "health.restarted" (or its giving up) after a router failure.
  void await_router_restart() {
    ASSERT_TRUE(wait_until([&] { return !events_of("health.restarted").empty() || !events_of("health.gave_up").empty(); },
                           30s, 100ms))
        << gpumod({"events", "--limit", "60"}).out;
    ASSERT_TRUE(events_of("health.gave_up").empty()) << gpumod({"events", "--limit", "60"}).out;
  }
};

// A dead router (killed by pid) is ONE restart of the instance: one restart event naming the
// router and its mates, one charge to its budget ("restart 1 of 3"), one router process started;
// it loads again only the mates the current mode wants (chat-a, and chat-c at models_max 2);
// chat-b, asleep from mode b, stays asleep and is not loaded. Status agrees afterwards.
TEST_P(RouterMatesHealth, DeadRouterIsRestartedOnceAndReloadsOnlyTheModesMates) {
  write_restartable("health_interval_ms: 100\n");
  ASSERT_EQ(gpumod({"daemon", "start"}).exit_code, 0);
  ASSERT_EQ(switch_to("b").first, 0);
  ASSERT_EQ(switch_to("a").first, 0);
  ASSERT_EQ(services()["chat-b"]["state"], "sleeping");
  const int pid = router_pid();
  const auto from = log_size();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);  // the router this test's gpumod started
  await_router_restart();
  const auto restarts = events_of("health.restart");
  ASSERT_EQ(restarts.size(), 1u) << gpumod({"events", "--limit", "60"}).out;
  const auto msg = restarts[0]["message"].get<std::string>();
  EXPECT_NE(msg.find("the router on port " + std::to_string(router_port) + " (chat-a, chat-b, chat-c)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("kept asleep chat-b"), std::string::npos) << msg;
  const auto scheduled = events_of("health.restart_scheduled");
  ASSERT_EQ(scheduled.size(), 1u);
  EXPECT_NE(scheduled[0]["message"].get<std::string>().find("restart 1 of 3"), std::string::npos) << scheduled[0].dump();
  const auto log = read_log(from);
  EXPECT_EQ(log.routers_started, 1);
  std::map<std::string, int> expected;
  for (const auto& id : mode_a_mates()) expected["model-" + id.substr(5)] = 1;
  EXPECT_EQ(log.loads, expected) << "only the mode's mates are loaded again, once each";
  const auto st = status();
  const auto s = services(st);
  const int fresh = router_pid();
  EXPECT_NE(fresh, pid);
  for (const auto& id : mode_a_mates()) {
    EXPECT_EQ(s.at(id)["state"], "running") << s.at(id).dump();
    EXPECT_EQ(s.at(id)["pid"], fresh);
    EXPECT_EQ(model_status(s.at(id), "model-" + id.substr(5)), "loaded");
  }
  EXPECT_EQ(s.at("chat-b")["state"], "sleeping") << s.at("chat-b").dump();
  EXPECT_EQ(model_status(s.at("chat-a"), "model-b"), "unloaded");
  EXPECT_EQ(st["current_mode"], "a");
  EXPECT_TRUE(st["mode_modified"].empty()) << st["mode_modified"].dump();
}

// After `service wake chat-b --evict` (mode a modified: chat-b woken, a mate of a evicted), a dead
// router loads again only the mode's mates that were not evicted: the evicted mate stays asleep
// (evicted), chat-b (outside the mode) is not loaded again.
TEST_P(RouterMatesHealth, DeadRouterDoesNotReloadAnEvictedMateNorOneOutsideTheMode) {
  write_restartable("health_interval_ms: 100\n");
  ASSERT_EQ(gpumod({"daemon", "start"}).exit_code, 0);
  ASSERT_EQ(switch_to("a").first, 0);
  ASSERT_EQ(gpumod({"service", "wake", "chat-b", "--evict"}).exit_code, 0);
  auto s = services();
  std::string evicted;
  std::vector<std::string> kept;
  for (const auto& id : mode_a_mates()) {
    if (s.at(id)["state"] == "sleeping") evicted = id;
    else kept.push_back(id);
  }
  ASSERT_FALSE(evicted.empty());
  const int pid = router_pid();
  const auto from = log_size();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);  // the router this test's gpumod started
  await_router_restart();
  EXPECT_EQ(events_of("health.restart").size(), 1u);
  const auto log = read_log(from);
  EXPECT_EQ(log.routers_started, 1);
  std::map<std::string, int> expected;
  for (const auto& id : kept) expected["model-" + id.substr(5)] = 1;
  EXPECT_EQ(log.loads, expected) << "neither the evicted " << evicted << " nor chat-b is loaded again";
  const auto st = status();
  s = services(st);
  EXPECT_EQ(s.at(evicted)["state"], "sleeping") << s.at(evicted).dump();
  EXPECT_TRUE(s.at(evicted)["reason"].get<std::string>().starts_with("evicted")) << s.at(evicted).dump();
  EXPECT_EQ(s.at("chat-b")["state"], "stopped") << s.at("chat-b").dump();
  for (const auto& id : kept) EXPECT_EQ(s.at(id)["state"], "running") << id;
  for (const auto& e : events()) {
    if (e["kind"].get<std::string>().starts_with("health.restart")) {
      EXPECT_NE(e["service"], evicted) << e.dump();
    }
  }
}

// A hung router (SIGSTOP: alive, answers nothing) is repaired by ONE restart of the instance with
// every mate it serves in the plan: each one it took down comes back as it was (the mode's mates
// loaded, chat-b asleep and not loaded).
TEST_P(RouterMatesHealth, HungRouterIsRestartedWithAllItsMates) {
  write_restartable("health_interval_ms: 200\n");
  ASSERT_EQ(gpumod({"daemon", "start"}).exit_code, 0);
  ASSERT_EQ(switch_to("b").first, 0);
  ASSERT_EQ(switch_to("a").first, 0);
  const int pid = router_pid();
  const auto from = log_size();
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);  // the router this test's gpumod started
  await_router_restart();
  EXPECT_EQ(events_of("health.restart").size(), 1u) << gpumod({"events", "--limit", "60"}).out;
  const auto log = read_log(from);
  EXPECT_EQ(log.routers_started, 1);
  std::map<std::string, int> expected;
  for (const auto& id : mode_a_mates()) expected["model-" + id.substr(5)] = 1;
  EXPECT_EQ(log.loads, expected);
  const auto s = services();
  EXPECT_FALSE(pid_alive(pid)) << "the hung router was stopped";
  for (const auto& id : mode_a_mates()) EXPECT_EQ(s.at(id)["state"], "running") << s.at(id).dump();
  EXPECT_EQ(s.at("chat-b")["state"], "sleeping") << s.at("chat-b").dump();
}

// Repairing one mate by hand (`service restart chat-a`) while its router hangs restarts the router
// with all its mates in the plan: chat-c (models_max 2) is loaded again, chat-b stays asleep.
TEST_P(RouterMatesHealth, RestartOfAMateWithAHungRouterRestoresEveryMate) {
  write_restartable("health_interval_ms: 600000\n");
  ASSERT_EQ(gpumod({"daemon", "start"}).exit_code, 0);
  ASSERT_EQ(switch_to("b").first, 0);
  ASSERT_EQ(switch_to("a").first, 0);
  const int pid = router_pid();
  const auto from = log_size();
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);  // the router this test's gpumod started
  const auto r = gpumod({"service", "restart", "chat-a"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("restarted"), std::string::npos) << r.out;
  const auto log = read_log(from);
  EXPECT_EQ(log.routers_started, 1);
  std::map<std::string, int> expected;
  for (const auto& id : mode_a_mates()) expected["model-" + id.substr(5)] = 1;
  EXPECT_EQ(log.loads, expected);
  const auto s = services();
  EXPECT_FALSE(pid_alive(pid));
  for (const auto& id : mode_a_mates()) EXPECT_EQ(s.at(id)["state"], "running") << s.at(id).dump();
  EXPECT_EQ(s.at("chat-b")["state"], "sleeping") << s.at("chat-b").dump();
}

INSTANTIATE_TEST_SUITE_P(ModelsMax, RouterMatesHealth, ::testing::Values(1, 2),
                         [](const auto& p) { return "models_max_" + std::to_string(p.param); });

INSTANTIATE_TEST_SUITE_P(ModelsMax, RouterMates, ::testing::Values(1, 2),
                         [](const auto& p) { return "models_max_" + std::to_string(p.param); });

// #19 F1 for vLLM: a service asleep at level 2 whose stop a failed switch undoes is started and put
// back to sleep at level 2, not left running.
TEST_F(SwitchE2E, F1RollbackPutsAnAsleepVllmBackToSleepAtItsLevel) {
  write_config({{.id = "v1", .vram_mib = 6000, .sleep_mode = "l2"},
                {.id = "v2", .vram_mib = 3000},
                {.id = "bad", .vram_mib = 3000, .env = {{"GPUMOD_MOCK_FAULT", "crash-during-load"}}}},
               {{"x", {"v1"}}, {"y", {"v2"}}, {"bad", {"bad"}}});
  ASSERT_EQ(switch_to("x").first, 0);
  ASSERT_EQ(switch_to("y").first, 0);
  ASSERT_EQ(services()["v1"]["state"], "sleeping");
  auto [rc, j] = switch_to("bad");
  EXPECT_NE(rc, 0) << j.dump(2);
  EXPECT_TRUE(j["rolled_back"].get<bool>()) << j.dump(2);
  const auto st = status();
  const auto s = services(st);
  EXPECT_EQ(st["current_mode"], "y");
  EXPECT_EQ(s.at("v2")["state"], "running");
  EXPECT_EQ(s.at("v1")["state"], "sleeping") << s.at("v1").dump() << "\n" << j.dump(2);
  // Asleep at level 2 again: its server logged two level-2 sleeps and no other.
  const auto logs = gpumod({"service", "logs", "v1", "-n", "500"}).out;
  std::size_t level2 = 0;
  for (auto at = logs.find("Sleep mode (level 2)"); at != std::string::npos; at = logs.find("Sleep mode (level 2)", at + 1)) ++level2;
  EXPECT_EQ(level2, 2u) << logs;
  EXPECT_EQ(logs.find("Sleep mode (level 1)"), std::string::npos) << logs;
  EXPECT_EQ(st["gpu"]["devices"][0]["used_mib"], 3000 + 500) << "v2 and v1's residue";
}

// #19 F2 inside a switch: memory a stranger takes after the plan was made is re-checked just before
// the router is started (and its model loaded): the switch fails instead of over-committing.
TEST_F(SwitchE2E, F2MemoryTakenAfterPlanningIsRecheckedBeforeARouterStart) {
  const int router = test_support::free_loopback_port();
  write_config({{.id = "slow", .vram_mib = 10000, .sleep_mode = "l1", .env = {{"GPUMOD_MOCK_SLEEP_DELAY_MS", "2000"}}},
                mate("chat-a", "model-a", router, 10000, 1)},
               {{"s", {"slow"}}, {"c", {"chat-a"}}}, 24000);
  ASSERT_EQ(switch_to("s").first, 0);
  const auto before = events().size();
  std::pair<int, json> result;
  std::thread t([&] { result = switch_to("c"); });
  // The plan is made (10,000 MiB free + 9,500 freed by the sleep); then a stranger takes 15,000.
  const bool planned = wait_until([&] {
    const auto ev = events();
    for (std::size_t i = before; i < ev.size(); ++i) {
      if (ev[i]["kind"] == "switch.started") return true;
    }
    return false;
  }, 10s, 20ms);
  const int port = test_support::free_loopback_port();
  ChildProcess hog({GPUMOD_MOCK_SERVER_BIN, "--mock-flavor", "http", "--host", "127.0.0.1", "--port",
                    std::to_string(port), "--mock-vram-mib", "15000", "--mock-ledger-dir", runner.ledger_dir().string()});
  const bool hog_up = test_support::wait_for_port(port, 10s);
  t.join();
  ASSERT_TRUE(planned);
  ASSERT_TRUE(hog_up) << hog.output();
  EXPECT_NE(result.first, 0) << result.second.dump(2);
  const auto st = status();
  EXPECT_NE(services(st)["chat-a"]["state"], "running") << result.second.dump(2);
  EXPECT_LE(st["gpu"]["devices"][0]["used_mib"].get<std::int64_t>(), 24000) << st.dump(2);
}

// Related: preflight decides from the configuration (models_dir and its files), not from the
// server binary's name: the mock router given a models_dir is checked like llama-server.
TEST_F(SwitchE2E, PreflightChecksAMockRouterWithAModelsDirLikeTheRealOne) {
  const auto dir = runner.home() / "models";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "model-a.gguf") << "GGUF" << std::string(60, '\0');
  const int router = test_support::free_loopback_port();
  auto a = mate("chat-a", "model-a", router, 3000, 1);
  auto b = mate("chat-b", "model-b", router, 3000, 1);  // no model-b.gguf
  a.unit_vars["models_dir"] = b.unit_vars["models_dir"] = dir.string();
  write_config({a, b}, {{"a", {"chat-a"}}, {"b", {"chat-b"}}});
  // Nothing runs: the files decide.
  auto [rc, j] = switch_to("b", {"--dry-run"});
  ASSERT_EQ(j["preflight"].size(), 1u) << j.dump(2);
  EXPECT_NE(j["preflight"][0].get<std::string>().find("model model-b: neither"), std::string::npos) << j.dump(2);
  std::tie(rc, j) = switch_to("a");
  ASSERT_EQ(rc, 0) << j.dump(2);
  // The router runs: what it offers decides.
  std::tie(rc, j) = switch_to("b");
  ASSERT_EQ(j["preflight"].size(), 1u) << j.dump(2);
  EXPECT_NE(rc, 0);
  EXPECT_EQ(services()["chat-a"]["state"], "running") << "refused before any change";
}

// Related: a load's measurement is stored under the settings the server ran with (here a context
// of 8,192, from its argv and its log), not under the default 4,096.
TEST_F(SwitchE2E, MeasurementsAreStoredUnderTheSettingsTheServerRanWith) {
  const int router = test_support::free_loopback_port();
  auto a = mate("chat-a", "model-a", router, 3000, 1);
  a.unit_vars["ctx_size"] = "8192";
  write_config({a}, {{"a", {"chat-a"}}});
  const auto r = gpumod({"service", "start", "chat-a"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto store = infra::state::StateStore::open(runner.home() / "state" / "gpumod.db");
  ASSERT_TRUE(store) << store.error().message;
  auto ms = store->list_measurements("model-a");
  ASSERT_TRUE(ms) << ms.error().message;
  ASSERT_FALSE(ms->empty());
  for (const auto& m : *ms) EXPECT_NE(m.settings_key.find("ctx=8192;"), std::string::npos) << m.settings_key;
}

// Related: `daemon stop --with-services` stops everything, so no mode is current any more.
TEST_F(SwitchE2E, DaemonStopWithServicesClearsTheCurrentMode) {
  write_config({{.id = "v", .vram_mib = 1000}}, {{"m", {"v"}}});
  ASSERT_EQ(switch_to("m").first, 0);
  ASSERT_EQ(status()["current_mode"], "m");
  const auto r = gpumod({"daemon", "stop", "--with-services"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto st = status();
  EXPECT_TRUE(st["current_mode"].is_null()) << st.dump(2);
  EXPECT_EQ(services(st)["v"]["state"], "stopped");
}

// Related: status shows a switch under way (JSON and text), and no longer once it is done.
TEST_F(SwitchE2E, StatusShowsASwitchInProgress) {
  write_config({{.id = "slow", .vram_mib = 1000, .env = {{"GPUMOD_MOCK_LOAD_DELAY_MS", "1500"}}}}, {{"m", {"slow"}}});
  ASSERT_EQ(gpumod({"daemon", "start"}).exit_code, 0);
  std::pair<int, json> result;
  std::thread t([&] { result = switch_to("m"); });
  std::string seen;
  const bool saw = wait_until([&] {
    const auto st = status();
    if (st.contains("switch_in_progress") && st["switch_in_progress"].is_string()) seen = st["switch_in_progress"].get<std::string>();
    return !seen.empty();
  }, 10s, 30ms);
  const auto text = gpumod({"status"});
  t.join();
  ASSERT_TRUE(saw);
  EXPECT_EQ(seen, "switching (none) -> m, step 1/1");
  EXPECT_NE(text.out.find("Switch in progress: switching (none) -> m"), std::string::npos) << text.out;
  ASSERT_EQ(result.first, 0) << result.second.dump(2);
  EXPECT_TRUE(status()["switch_in_progress"].is_null());
}

// Related: a server gpumod started that vanished (kill -9) is "failed (process gone)", not
// "stopped", and nothing of it counts as another process's memory.
TEST_F(SwitchE2E, AVanishedProcessIsFailedNotStopped) {
  write_config({{.id = "v", .vram_mib = 1000}}, {{"m", {"v"}}});
  std::ofstream(config_dir() / "gpumod.yaml", std::ios::app) << "health_interval_ms: 600000\n";
  ASSERT_EQ(switch_to("m").first, 0);
  const int pid = services()["v"]["pid"].get<int>();
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);  // the server this test's gpumod started
  ASSERT_TRUE(wait_until([&] { return services()["v"]["state"] != "running"; }, 10s, 50ms));
  const auto st = status();
  const auto v = services(st)["v"];
  EXPECT_EQ(v["state"], "failed") << v.dump();
  EXPECT_NE(v["reason"].get<std::string>().find("process gone"), std::string::npos) << v.dump();
  EXPECT_EQ(st["external_mib"], 0);
  EXPECT_EQ(st["mode_modified"], json::array({"v failed"}));
}

}  // namespace
}  // namespace gpumod::testing
