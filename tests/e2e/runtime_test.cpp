// Runtime e2e tests (issue 4): the real gpumod binary and its daemon drive gpumod-mock-server
// (vLLM and llama-server stand-ins) on loopback: start, ready, sleep, wake, stop, logs, status,
// and the failures: crash on start / during load, hang and timeout, garbage JSON, a port already
// taken, control endpoints answering 500. Each case checks the state reached, the message and the
// exit code. Daemon restarts and the health monitor are in runtime_daemon_test.cpp.
#include "e2e/runtime_fixture.hpp"
#include "gpumod/infra/state/state_store.hpp"

namespace gpumod::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class RuntimeTest : public RuntimeFixture {};

TEST_F(RuntimeTest, StartReadyStatusLogsStopReleasesMemory) {
  const int port = add_preset({.id = "emb", .vram_mib = 3000, .env = {{"GPUMOD_MOCK_LOAD_DELAY_MS", "20"}}});

  auto r = gpumod({"service", "start", "emb"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("emb started and ready in"));

  auto s = service("emb");
  EXPECT_EQ(s["state"], "running");
  EXPECT_EQ(s["port"], port);
  EXPECT_EQ(s["configured_mib"], 3000);
  EXPECT_EQ(s["measured_mib"], 3000);
  EXPECT_EQ(s["learned_mib"], 3000);
  int pid = s["pid"].get<int>();
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(pid_alive(pid));
  EXPECT_EQ(gpu_used(status()), 3000);
  EXPECT_EQ(ledger_used_mib(), 3000);

  // The text form of service status.
  r = gpumod({"service", "status", "emb"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("emb: running"));
  EXPECT_THAT(r.out, HasSubstr("pid " + std::to_string(pid) + ", configured 3,000 MiB, measured 3,000 MiB"));
  json op;

  // restart: a new process, the same memory.
  r = gpumod({"service", "restart", "emb", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  op = json::parse(r.out);
  EXPECT_EQ(op["action"], "restart");
  EXPECT_EQ(op["state"], "running");
  EXPECT_TRUE(wait_dead(pid, 2s));
  s = service("emb");
  EXPECT_NE(s["pid"], pid);
  pid = s["pid"].get<int>();
  EXPECT_EQ(ledger_used_mib(), 3000);

  // Starting a running service is not an error and changes nothing.
  r = gpumod({"service", "start", "emb", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  op = json::parse(r.out);
  EXPECT_FALSE(op["changed"].get<bool>());
  EXPECT_EQ(op["state"], "running");
  EXPECT_EQ(op["message"], "emb is already running");
  EXPECT_EQ(service("emb")["pid"], pid);

  // The server's own log lines.
  r = gpumod({"service", "logs", "emb", "-n", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Uvicorn running on http://127.0.0.1:" + std::to_string(port)));
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
  r = gpumod({"service", "logs", "emb", "-n", "200"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Model loading took"));

  r = gpumod({"service", "stop", "emb"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("emb stopped; memory released"));
  EXPECT_TRUE(wait_dead(pid, 2s));
  s = service("emb");
  EXPECT_EQ(s["state"], "stopped");
  EXPECT_EQ(s["pid"], 0);
  EXPECT_EQ(gpu_used(status()), 0);
  EXPECT_EQ(ledger_used_mib(), 0);

  // Regression: gpumod's idle keep-alive connection held the mock's shutdown up until its forced
  // exit (2 s per stop); now it shuts down gracefully.
  r = gpumod({"service", "logs", "emb", "-n", "5"});
  EXPECT_THAT(r.out, HasSubstr("Shutting down; finished server process"));
  EXPECT_THAT(r.out, Not(HasSubstr("forced exit")));

  r = gpumod({"service", "stop", "emb", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["message"], "emb is not running");

  const auto ev = events_text();
  EXPECT_THAT(ev, HasSubstr("service.started"));
  EXPECT_THAT(ev, HasSubstr("service.stopped"));
}

TEST_F(RuntimeTest, SleepLevel2DropsToResidueAndWakeRestores) {
  add_preset({.id = "emb2",
              .vram_mib = 5000,
              .sleep_mode = "l2",
              .env = {{"GPUMOD_MOCK_SLEEP_RESIDUE_MIB", "300"}, {"GPUMOD_MOCK_SLEEP_DELAY_MS", "10"},
                      {"GPUMOD_MOCK_WAKE_DELAY_MS", "10"}}});
  auto r = gpumod({"service", "start", "emb2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(gpu_used(status()), 5000);

  r = gpumod({"service", "sleep", "emb2", "--level", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("emb2 asleep (level 2); freed 4,700 MiB"));
  auto st = status();
  EXPECT_EQ(gpu_used(st), 300);
  EXPECT_EQ(ledger_used_mib(), 300);
  auto s = service("emb2");
  EXPECT_EQ(s["state"], "sleeping");
  EXPECT_EQ(s["measured_mib"], 300);
  EXPECT_EQ(s["learned_sleep_mib"], 300);
  r = gpumod({"service", "logs", "emb2", "-n", "20"});
  EXPECT_THAT(r.out, HasSubstr("Sleep mode (level 2)"));

  // Sleeping again is a no-op.
  r = gpumod({"service", "sleep", "emb2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["message"], "emb2 is already asleep");

  r = gpumod({"service", "wake", "emb2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("emb2 awake and ready in"));
  s = service("emb2");
  EXPECT_EQ(s["state"], "running");
  EXPECT_EQ(s["measured_mib"], 5000);
  EXPECT_EQ(gpu_used(status()), 5000);

  r = gpumod({"service", "wake", "emb2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["message"], "emb2 is already awake");

  const auto ev = events_text();
  EXPECT_THAT(ev, HasSubstr("service.slept"));
  EXPECT_THAT(ev, HasSubstr("service.woken"));
}

TEST_F(RuntimeTest, SleepAndWakeOfAStoppedServiceAreRefused) {
  add_preset({.id = "emb"});
  auto r = gpumod({"service", "sleep", "emb"});
  EXPECT_TRUE(is_cli_error(r, "emb is stopped; only a running service can sleep")) << r.err;
  EXPECT_EQ(r.exit_code, 8);
  r = gpumod({"service", "wake", "emb"});
  EXPECT_TRUE(is_cli_error(r, "emb is not running; start it instead")) << r.err;
  EXPECT_EQ(r.exit_code, 8);
  EXPECT_EQ(service("emb")["state"], "stopped");
}

TEST_F(RuntimeTest, UnknownServiceIsNotFound) {
  add_preset({.id = "emb"});
  auto r = gpumod({"service", "start", "emx"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_TRUE(is_cli_error(r, "no service 'emx'")) << r.err;
  EXPECT_THAT(r.err, HasSubstr("did you mean 'emb'"));
}

TEST_F(RuntimeTest, CrashOnStartFailsWithTheLogTail) {
  add_preset({.id = "crashy", .env = {{"GPUMOD_MOCK_FAULT", "crash-on-start"}}});
  auto r = gpumod({"service", "start", "crashy"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(is_cli_error(r, "crashy did not become ready")) << r.err;
  const auto s = service("crashy");
  EXPECT_EQ(s["state"], "failed");
  EXPECT_EQ(s["pid"], 0);
  EXPECT_EQ(gpu_used(status()), 0);
  EXPECT_THAT(events_text(), HasSubstr("service.failed"));
}

TEST_F(RuntimeTest, CrashDuringLoadFails) {
  add_preset({.id = "crashy",
              .env = {{"GPUMOD_MOCK_FAULT", "crash-during-load"}, {"GPUMOD_MOCK_LOAD_DELAY_MS", "20"}}});
  auto r = gpumod({"service", "start", "crashy"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(is_cli_error(r, "crashy did not become ready")) << r.err;
  EXPECT_EQ(service("crashy")["state"], "failed");
  EXPECT_EQ(ledger_used_mib(), 0);
}

TEST_F(RuntimeTest, HangOnLoadTimesOutAndTheProcessIsStopped) {
  add_preset({.id = "hangs", .startup_timeout_s = 1, .env = {{"GPUMOD_MOCK_FAULT", "hang-on-load"}}});
  auto r = gpumod({"service", "start", "hangs"});
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_TRUE(is_cli_error(r, "hangs did not become ready")) << r.err;
  const auto s = service("hangs");
  EXPECT_EQ(s["state"], "failed");
  EXPECT_EQ(s["pid"], 0);
  EXPECT_EQ(ledger_used_mib(), 0);
}

TEST_F(RuntimeTest, UnhealthyServerTimesOut) {
  // llama-server single-model mode whose /health answers 503 forever.
  const auto model = runner.home() / "single.gguf";
  std::ofstream(model).put('\0');
  add_preset({.id = "sick",
              .driver = "llamacpp",
              .sleep_mode = "none",
              .startup_timeout_s = 1,
              .env = {{"GPUMOD_MOCK_FAULT", "unhealthy"}},
              .model_path = model.string()});
  auto r = gpumod({"service", "start", "sick"});
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_TRUE(is_cli_error(r, "sick did not become ready")) << r.err;
  EXPECT_THAT(r.err, HasSubstr("503"));
  EXPECT_EQ(service("sick")["state"], "failed");
}

TEST_F(RuntimeTest, MalformedJsonIsNotReady) {
  add_preset({.id = "garbage", .startup_timeout_s = 1, .env = {{"GPUMOD_MOCK_FAULT", "malformed-json"}}});
  auto r = gpumod({"service", "start", "garbage"});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_TRUE(is_cli_error(r, "garbage did not become ready")) << r.err;
  EXPECT_EQ(service("garbage")["state"], "failed");
  EXPECT_EQ(ledger_used_mib(), 0);
}

TEST_F(RuntimeTest, PortAlreadyTakenIsRefusedBeforeStarting) {
  test_support::PortHolder holder;
  add_preset({.id = "clash", .port = holder.port()});
  auto r = gpumod({"service", "start", "clash"});
  EXPECT_EQ(r.exit_code, 8) << r.err;
  EXPECT_TRUE(is_cli_error(r, "cannot start clash: port " + std::to_string(holder.port()) +
                                  " on 127.0.0.1 is already in use by a process gpumod did not start"))
      << r.err;
  const auto s = service("clash");
  EXPECT_EQ(s["state"], "stopped");
  EXPECT_EQ(s["pid"], 0);
  EXPECT_THAT(s["reason"].get<std::string>(), HasSubstr("already in use"));
}

// Regression: a foreign vLLM on the port answered the readiness probes, so gpumod reported the
// service "started and ready" while its own server had died on the bind error.
TEST_F(RuntimeTest, AForeignServerOnThePortIsNotMistakenForTheService) {
  const int port = test_support::free_loopback_port();
  test_support::ChildProcess foreign({GPUMOD_MOCK_SERVER_BIN, "serve", "other", "--port", std::to_string(port)},
                                     {.env = {{"GPUMOD_SIM_GPU_DIR", runner.ledger_dir().string()}}});
  ASSERT_TRUE(test_support::wait_for_port(port, 5s)) << foreign.output();
  add_preset({.id = "emb", .port = port, .env = {{"GPUMOD_MOCK_LOAD_DELAY_MS", "50"}}});
  auto r = gpumod({"service", "start", "emb"});
  EXPECT_EQ(r.exit_code, 8) << r.out << r.err;
  EXPECT_TRUE(is_cli_error(r, "is already in use by a process gpumod did not start")) << r.err;
  EXPECT_EQ(service("emb")["state"], "stopped");
  EXPECT_TRUE(foreign.running());
}

TEST_F(RuntimeTest, RefuseBindFaultFails) {
  fs::create_directories(runner.home() / "models");
  // The mock router given a models_dir is preflight-checked like llama-server: a real model file.
  std::ofstream(runner.home() / "models" / "m.gguf") << "GGUF" << std::string(60, '\0');
  add_preset({.id = "clash", .driver = "llamacpp", .sleep_mode = "router",
              .env = {{"GPUMOD_MOCK_FAULT", "refuse-bind"}},
              .unit_vars = {{"models_dir", (runner.home() / "models").string()}, {"default_model", "m"}}});
  auto r = gpumod({"service", "start", "clash"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(is_cli_error(r, "clash did not become ready")) << r.err;
  EXPECT_THAT(r.err, HasSubstr("couldn't bind HTTP server socket"));
  EXPECT_EQ(service("clash")["state"], "failed");
}

TEST_F(RuntimeTest, Http500OnSleepLeavesTheServiceRunning) {
  add_preset({.id = "e500", .env = {{"GPUMOD_MOCK_FAULT", "http-500"}}});
  auto r = gpumod({"service", "start", "e500"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = gpumod({"service", "sleep", "e500"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(is_cli_error(r, "sleeping e500: ")) << r.err;
  EXPECT_THAT(r.err, HasSubstr("POST /sleep answered 500"));
  const auto s = service("e500");
  EXPECT_EQ(s["state"], "running");
  EXPECT_EQ(s["measured_mib"], 2000);
}

TEST_F(RuntimeTest, LlamaRouterStartSleepWakeStop) {
  const auto models = runner.home() / "models";
  fs::create_directories(models);
  std::ofstream(models / "chat-model.gguf") << "GGUF" << std::string(60, '\0');
  add_preset({.id = "chat", .driver = "llamacpp", .vram_mib = 4000, .sleep_mode = "router",
              .env = {{"GPUMOD_MOCK_VRAM_MIB", "4000"}, {"GPUMOD_MOCK_LOAD_DELAY_MS", "10"}},
              .unit_vars = {{"models_dir", models.string()}, {"default_model", "chat-model"},
                            {"no_models_autoload", "true"}}});
  auto r = gpumod({"service", "start", "chat"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("chat started and ready"));
  auto s = service("chat");
  EXPECT_EQ(s["state"], "running");
  EXPECT_EQ(s["measured_mib"], 4000);
  ASSERT_EQ(s["models"].size(), 1u);
  EXPECT_EQ(s["models"][0]["status"], "loaded");
  const int pid = s["pid"].get<int>();
  {
    // The buffer sizes the server printed for the load are recorded as a measurement of the model.
    auto store = infra::state::StateStore::open(runner.home() / "state" / "gpumod.db");
    ASSERT_TRUE(store.has_value()) << store.error().message;
    auto ms = store->list_measurements("chat-model");
    ASSERT_TRUE(ms.has_value());
    ASSERT_EQ(ms->size(), 1u);
    EXPECT_EQ((*ms)[0].device, "CUDA0");
    EXPECT_EQ((*ms)[0].model_mib + (*ms)[0].kv_mib + (*ms)[0].compute_mib, 4000);
    EXPECT_EQ((*ms)[0].process_mib, 4000);
  }

  r = gpumod({"service", "sleep", "chat"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("chat asleep"));
  s = service("chat");
  EXPECT_EQ(s["state"], "sleeping");
  EXPECT_EQ(s["pid"], pid) << "the router keeps running; only the model is unloaded";
  EXPECT_EQ(ledger_used_mib(), 0);

  r = gpumod({"service", "wake", "chat"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(service("chat")["state"], "running");
  EXPECT_EQ(ledger_used_mib(), 4000);

  r = gpumod({"service", "stop", "chat"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("chat stopped; memory released"));
  EXPECT_TRUE(wait_dead(pid, 2s));
  EXPECT_EQ(service("chat")["state"], "stopped");
  EXPECT_EQ(ledger_used_mib(), 0);
}

// W24: preflight. A missing or broken model file is reported before anything is started (a
// real llama-server would exit, or in router mode "load" the missing model forever).
TEST_F(RuntimeTest, PreflightRefusesAStartWhoseModelFileIsMissingOrNotGguf) {
  const auto model = runner.home() / "models" / "single.gguf";
  fs::create_directories(model.parent_path());
  add_preset({.id = "single", .driver = "llamacpp", .vram_mib = 1000, .sleep_mode = "none",
              .env = {{"GPUMOD_MOCK_VRAM_MIB", "1000"}}, .model_path = model.string(),
              .bin = mock_named("llama-server")});
  auto r = gpumod({"service", "start", "single"});
  EXPECT_EQ(r.exit_code, 4) << "a missing model file is not found (README exit codes)";
  EXPECT_THAT(r.err, HasSubstr("cannot start single: preflight: single: model file " + model.string() +
                               " does not exist"));
  auto s = service("single");
  EXPECT_EQ(s["state"], "stopped");
  EXPECT_EQ(s["pid"], 0);
  EXPECT_EQ(ledger_used_mib(), 0);

  std::ofstream(model) << "not a model";
  r = gpumod({"service", "start", "single"});
  EXPECT_EQ(r.exit_code, 10) << "a model file that is not GGUF is corrupt data";
  EXPECT_THAT(r.err, HasSubstr("single: model file " + model.string() + " is not a GGUF file"));

  std::ofstream(model, std::ios::trunc) << "GGUF" << std::string(60, '\0');
  r = gpumod({"service", "start", "single"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(service("single")["state"], "running");
}

TEST_F(RuntimeTest, PreflightRefusesToLoadARouterModelThatIsNotInItsModelsDir) {
  const auto models = runner.home() / "models";
  fs::create_directories(models);
  std::ofstream(models / "chat-model.gguf") << "GGUF" << std::string(60, '\0');
  const std::string bin = mock_named("llama-server");
  const std::map<std::string, std::string> env{{"GPUMOD_MOCK_VRAM_MIB", "2000"}, {"GPUMOD_MOCK_LOAD_DELAY_MS", "10"}};
  const int port = add_preset({.id = "chat", .driver = "llamacpp", .vram_mib = 2000, .sleep_mode = "router", .env = env,
                               .unit_vars = {{"models_dir", models.string()}, {"default_model", "chat-model"},
                                             {"no_models_autoload", "true"}},
                               .bin = bin});
  add_preset({.id = "other", .driver = "llamacpp", .port = port, .vram_mib = 2000, .sleep_mode = "router", .env = env,
              .unit_vars = {{"models_dir", models.string()}, {"default_model", "other-model"},
                            {"no_models_autoload", "true"}},
              .bin = bin});
  ASSERT_EQ(gpumod({"service", "start", "chat"}).exit_code, 0);
  const int router = service("chat")["pid"].get<int>();
  auto r = gpumod({"service", "start", "other"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("other: model other-model: neither " + (models / "other-model.gguf").string() +
                               " nor the folder " + (models / "other-model").string() + " exists"));
  EXPECT_EQ(service("chat")["state"], "running");
  EXPECT_EQ(service("chat")["pid"], router);
  // A split model lives in a folder of its own: that is enough for the router.
  fs::create_directories(models / "other-model");
  std::ofstream(models / "other-model" / "other-model-00001-of-00002.gguf") << "GGUF";
  r = gpumod({"service", "start", "other", "--json"});
  EXPECT_THAT(r.err, Not(HasSubstr("preflight")));
}

// A switch whose incoming service cannot start is refused before the current mode is touched.
TEST_F(RuntimeTest, PreflightRefusesASwitchBeforeAnythingChanges) {
  const auto model = runner.home() / "models" / "missing.gguf";
  add_preset({.id = "emb", .vram_mib = 1500});
  add_preset({.id = "single", .driver = "llamacpp", .vram_mib = 1000, .sleep_mode = "none",
              .env = {{"GPUMOD_MOCK_VRAM_MIB", "1000"}}, .model_path = model.string(),
              .bin = mock_named("llama-server")});
  add_mode("a", {"emb"});
  add_mode("b", {"single"});
  ASSERT_EQ(gpumod({"mode", "switch", "a"}).exit_code, 0);
  const int emb_pid = service("emb")["pid"].get<int>();

  auto r = gpumod({"mode", "switch", "b", "--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Preflight problems (the switch would be refused):\n  single: model file " +
                               model.string() + " does not exist"));

  r = gpumod({"mode", "switch", "b", "--json"});
  EXPECT_EQ(r.exit_code, 4) << "preflight: a missing model file is not found, in a switch as in a start";
  const auto j = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out << r.err;
  EXPECT_FALSE(j["success"].get<bool>());
  EXPECT_EQ(j["error_code"], "not_found");
  ASSERT_EQ(j["preflight"].size(), 1u);
  EXPECT_THAT(j["preflight"][0].get<std::string>(), HasSubstr("single: model file " + model.string()));
  EXPECT_THAT(j["message"].get<std::string>(), HasSubstr("nothing was changed"));
  EXPECT_TRUE(j["stopped"].empty());
  EXPECT_TRUE(j["slept"].empty());
  for (const auto& st : j["steps"]) EXPECT_EQ(st["outcome"], "skipped");
  // Mode a is untouched: the same process, still serving, still the current mode.
  auto s = service("emb");
  EXPECT_EQ(s["state"], "running");
  EXPECT_EQ(s["pid"], emb_pid);
  EXPECT_EQ(status()["current_mode"], "a");
  EXPECT_THAT(events_text(), HasSubstr("switch.refused"));
}

TEST_F(RuntimeTest, LlamaRouterAnsweringGarbageJsonFails) {
  const auto models = runner.home() / "models";
  fs::create_directories(models);
  std::ofstream(models / "m.gguf") << "GGUF" << std::string(60, '\0');
  add_preset({.id = "chat", .driver = "llamacpp", .sleep_mode = "router",
              .env = {{"GPUMOD_MOCK_FAULT", "malformed-json"}},
              .unit_vars = {{"models_dir", models.string()}, {"default_model", "m"}}});
  auto r = gpumod({"service", "start", "chat"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(is_cli_error(r, "chat did not become ready")) << r.err;
  EXPECT_THAT(r.err, HasSubstr("malformed JSON"));
  const auto s = service("chat");
  EXPECT_EQ(s["state"], "failed");
  EXPECT_EQ(s["pid"], 0);
}

TEST_F(RuntimeTest, HealthIntervalOutOfRangeIsAConfigError) {
  add_preset({.id = "emb"});
  write_settings("health_interval_ms: 5\n");
  auto r = gpumod({"service", "list"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_TRUE(is_cli_error(r, "health_interval_ms: 5 is out of range (100 to 600000)")) << r.err;
}

}  // namespace
}  // namespace gpumod::testing
