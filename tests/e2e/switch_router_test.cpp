// Mode switches with llama.cpp router services (W8, W9, W14) and a daemon killed mid-switch
// (journal + recovery), end to end with the real binary and gpumod-mock-server.
#include "e2e/switch_fixture.hpp"

namespace gpumod::testing {
namespace {

using test_support::wait_until;

SwitchPresetSpec router_preset(const std::string& id, const std::string& model, int port, std::int64_t vram,
                         std::map<std::string, std::string> env = {}) {
  return {.id = id,
          .vram_mib = vram,
          .driver = "llamacpp",
          .sleep_mode = "router",
          .env = std::move(env),
          .unit_vars = {{"models_dir", "/nonexistent/gpumod-e2e-models"},
                        {"models_max", "1"},
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

// W14: two router services on one port are two models of ONE llama-server: switching swaps the
// model inside the same process (same pid), never a second process on the port.
TEST_F(SwitchE2E, W14RouterServicesSwapModelsInOneProcess) {
  const int port = test_support::free_loopback_port();
  write_config({router_preset("r-alpha", "alpha", port, 6000), router_preset("r-beta", "beta", port, 8000)},
               {{"a", {"r-alpha"}}, {"b", {"r-beta"}}}, 24000);
  auto [rc, j] = switch_to("a");
  ASSERT_EQ(rc, 0) << j.dump(2);
  auto s = services();
  const int pid = s["r-alpha"]["pid"].get<int>();
  ASSERT_GT(pid, 0);
  EXPECT_EQ(model_status(s["r-alpha"], "alpha"), "loaded");

  std::tie(rc, j) = switch_to("b");
  ASSERT_EQ(rc, 0) << j.dump(2);
  EXPECT_EQ(strings(j["slept"]), std::vector<std::string>{"r-alpha"}) << "its model is unloaded";
  // r-beta was never started: its model, unloaded in the running router, is "stopped" for gpumod
  // (#11: status and results tell a stopped mate from an asleep one); its start is a load into
  // the same router.
  EXPECT_EQ(strings(j["started"]), std::vector<std::string>{"r-beta"}) << j.dump(2);
  EXPECT_TRUE(j["woken"].empty());
  const auto st = status();
  s = services(st);
  EXPECT_EQ(s["r-beta"]["pid"], pid) << "the same router process";
  EXPECT_EQ(s["r-alpha"]["pid"], pid);
  EXPECT_EQ(s["r-beta"]["state"], "running");
  EXPECT_EQ(model_status(s["r-beta"], "beta"), "loaded");
  EXPECT_EQ(model_status(s["r-beta"], "alpha"), "unloaded");
  EXPECT_EQ(st["gpu"]["devices"][0]["used_mib"], 8000) << "one model resident";
  ASSERT_EQ(st["gpu"]["devices"][0]["processes"].size(), 1u) << "one process on the GPU";
  EXPECT_EQ(st["gpu"]["devices"][0]["processes"][0]["pid"], pid);
  const auto logs = gpumod({"service", "logs", "r-beta", "-n", "500"});
  EXPECT_EQ(logs.out.find("couldn't bind"), std::string::npos) << logs.out;

  // And back again, still one process.
  std::tie(rc, j) = switch_to("a");
  ASSERT_EQ(rc, 0) << j.dump(2);
  s = services();
  EXPECT_EQ(s["r-alpha"]["pid"], pid);
  EXPECT_EQ(model_status(s["r-alpha"], "alpha"), "loaded");
}

// W8: a router model load is awaited: when the switch returns the model is loaded, not loading.
// W9: while it loads, status says "loading" (not "sleeping").
TEST_F(SwitchE2E, W8W9RouterLoadAwaitedAndLoadingIsDistinct) {
  const int port = test_support::free_loopback_port();
  write_config({router_preset("r-slow", "slow", port, 4000, {{"GPUMOD_MOCK_LOAD_DELAY_MS", "1000"}})},
               {{"m", {"r-slow"}}}, 24000);
  ASSERT_EQ(gpumod({"daemon", "start"}).exit_code, 0);
  std::pair<int, json> result;
  std::thread t([&] { result = switch_to("m"); });
  const bool saw_loading = wait_until([&] { return services()["r-slow"]["state"] == "loading"; }, 10s, 50ms);
  t.join();
  EXPECT_TRUE(saw_loading) << "the router's loading state is reported as such";
  ASSERT_EQ(result.first, 0) << result.second.dump(2);
  const auto s = services();
  EXPECT_EQ(s.at("r-slow")["state"], "running");
  EXPECT_EQ(model_status(s.at("r-slow"), "slow"), "loaded") << "the switch returned only once loaded";
  EXPECT_EQ(s.at("r-slow")["learned_mib"], 4000);
}

// W9: a model whose load fails is a failure of the switch with the router's reason, not
// "sleeping"; the switch exits 1 and nothing is left running.
TEST_F(SwitchE2E, W9FailedRouterLoadFailsTheSwitch) {
  const int port = test_support::free_loopback_port();
  write_config({router_preset("r-bad", "bad", port, 4000, {{"GPUMOD_MOCK_FAULT", "crash-during-load"}}),
                {.id = "plain", .vram_mib = 1000}},
               {{"ok", {"plain"}}, {"m", {"r-bad"}}}, 24000);
  ASSERT_EQ(switch_to("ok").first, 0);
  auto [rc, j] = switch_to("m");
  EXPECT_EQ(rc, 1) << j.dump(2);
  EXPECT_FALSE(j["success"].get<bool>());
  EXPECT_TRUE(j["rolled_back"].get<bool>()) << j.dump(2);
  const auto st = status();
  EXPECT_EQ(st["current_mode"], "ok");
  auto s = services(st);
  EXPECT_NE(s["r-bad"]["state"], "sleeping");
  EXPECT_NE(s["r-bad"]["state"], "running");
  EXPECT_EQ(s["plain"]["state"], "running") << "rolled back";
}

// A daemon SIGKILLed mid-switch: the switch is journalled; the restarted daemon finishes it at
// start (Engine::recover) and status shows a consistent mode.
TEST_F(SwitchE2E, DaemonKilledMidSwitchIsRecoveredAtRestart) {
  write_config({{.id = "svc-embed", .vram_mib = 2000},
                {.id = "svc-devstral", .vram_mib = 10000, .sleep_mode = "l1"},
                {.id = "svc-rag-llm", .vram_mib = 5000, .env = {{"GPUMOD_MOCK_LOAD_DELAY_MS", "1500"}}},
                {.id = "svc-reranker", .vram_mib = 3000}},
               {{"code", {"svc-embed", "svc-devstral"}}, {"rag", {"svc-embed", "svc-rag-llm", "svc-reranker"}}});
  ASSERT_EQ(switch_to("code").first, 0);
  const int daemon = daemon_pid();
  ASSERT_GT(daemon, 0);
  const int embed_pid = services()["svc-embed"]["pid"].get<int>();

  RunResult interrupted;
  std::thread t([&] { interrupted = gpumod({"mode", "switch", "rag"}); });
  // Wait until the slow start is under way, then kill the daemon (a process this test started).
  const bool starting = wait_until([&] { return services()["svc-rag-llm"]["state"] == "starting"; }, 10s, 50ms);
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  t.join();
  ASSERT_TRUE(starting);
  EXPECT_NE(interrupted.exit_code, 0) << "the client sees the daemon die";

  // A new daemon (started by any daemon command) answers while it resumes the switch (#19 F7:
  // status says "recovering"), and finishes it.
  ASSERT_TRUE(wait_until([&] { return !pid_alive(daemon); }, 5s));
  const auto started = gpumod({"daemon", "start"});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  json st;
  ASSERT_TRUE(wait_until([&] { st = status(); return !st.value("recovering", true); }, 30s, 50ms)) << st.dump();
  EXPECT_NE(daemon_pid(), daemon);
  EXPECT_EQ(st["current_mode"], "rag");
  auto s = services(st);
  EXPECT_EQ(s["svc-embed"]["state"], "running");
  EXPECT_EQ(s["svc-embed"]["pid"], embed_pid) << "re-adopted, not restarted";
  EXPECT_EQ(s["svc-rag-llm"]["state"], "running");
  EXPECT_EQ(s["svc-reranker"]["state"], "running");
  // The interrupted switch had slept devstral; the resumed one leaves it asleep, as the
  // uninterrupted switch would have (it is of the mode being left), rather than stopping it.
  const std::string devstral = s["svc-devstral"]["state"].get<std::string>();
  EXPECT_EQ(devstral, "sleeping");
  bool resumed = false;
  for (const auto& e : events()) resumed = resumed || e["kind"] == "switch.resumed";
  EXPECT_TRUE(resumed);
  // Nothing runs twice: the GPU holds exactly the rag mode (plus devstral's residue if asleep).
  EXPECT_EQ(st["gpu"]["devices"][0]["used_mib"], 2000 + 5000 + 3000 + (devstral == "sleeping" ? 500 : 0));
}

}  // namespace
}  // namespace gpumod::testing
