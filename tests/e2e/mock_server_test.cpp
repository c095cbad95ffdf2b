// End-to-end tests of gpumod-mock-server: the built binary on a free loopback port, with a
// temporary models directory and a temporary simulated-GPU ledger.
#include <httplib.h>
#include <signal.h>

#include <fstream>
#include <gtest/gtest.h>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "gpumod/infra/gpu/sim_ledger.hpp"
#include "support/child_process.hpp"
#include "support/free_port.hpp"

namespace gpumod {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using test_support::ChildOptions;
using test_support::ChildProcess;
using test_support::wait_until;
namespace fs = std::filesystem;

class MockServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "gpumod-mock-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    m_dir = tmpl;
    fs::create_directories(models_dir());
    fs::create_directories(ledger_dir());
  }
  void TearDown() override {
    m_child.reset();
    std::error_code ec;
    fs::remove_all(m_dir, ec);
  }

  fs::path models_dir() const { return m_dir / "models"; }
  fs::path ledger_dir() const { return m_dir / "ledger"; }
  void add_model(const std::string& name) { std::ofstream(models_dir() / (name + ".gguf")) << "GGUF"; }

  // Starts the mock with `args` (after the binary) plus --port and --mock-ledger-dir (vLLM: after
  // `serve MODEL`); waits for the port when `wait` is set.
  ChildProcess& start(std::vector<std::string> args, bool wait = true, ChildOptions options = {}) {
    m_port = test_support::free_loopback_port();
    std::vector<std::string> argv = {GPUMOD_MOCK_SERVER_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--host", "127.0.0.1", "--port", std::to_string(m_port), "--mock-ledger-dir",
                             ledger_dir().string()});
    if (std::find(options.unset_env.begin(), options.unset_env.end(), "VLLM_SERVER_DEV_MODE") ==
            options.unset_env.end() &&
        !options.env.contains("VLLM_SERVER_DEV_MODE")) {
      options.unset_env.push_back("VLLM_SERVER_DEV_MODE");
    }
    m_child = std::make_unique<ChildProcess>(argv, options);
    EXPECT_GT(m_child->pid(), 0) << m_child->error();
    if (wait) {
      EXPECT_TRUE(test_support::wait_for_port(m_port, 10s)) << m_child->output();
    }
    return *m_child;
  }

  ChildProcess& start_router(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--models-dir", models_dir().string(), "--mock-load-delay-ms", "20",
                                     "--mock-unload-delay-ms", "10"};
    args.insert(args.end(), extra.begin(), extra.end());
    return start(args);
  }

  httplib::Client client() {
    httplib::Client c("127.0.0.1", m_port);
    c.set_connection_timeout(5s);
    c.set_read_timeout(10s);
    return c;
  }

  json get_json(const std::string& path) {
    auto c = client();
    auto r = c.Get(path.c_str());
    if (!r) return json();
    return json::parse(r->body, nullptr, false);
  }

  httplib::Result post(const std::string& path, const json& body) {
    auto c = client();
    return c.Post(path.c_str(), body.dump(), "application/json");
  }

  std::string model_status(const std::string& id) {
    const json models = get_json("/models");
    if (!models.is_object()) return "?";
    for (const auto& m : models["data"])
      if (m["id"] == id) return m["status"]["value"].get<std::string>();
    return "absent";
  }

  bool await_status(const std::string& id, const std::string& status) {
    return wait_until([&] { return model_status(id) == status; }, 5s);
  }

  // What this child holds in the ledger (0 when it has no entry).
  std::int64_t ledger_mib() {
    for (const auto& p : infra::gpu::read_ledger(ledger_dir()))
      if (p.pid == m_child->pid()) return p.used_mib;
    return 0;
  }

  fs::path m_dir;
  int m_port = 0;
  std::unique_ptr<ChildProcess> m_child;
};

TEST_F(MockServerTest, RouterListsGgufFilesAndPresetsInTheObservedShape) {
  add_model("alpha");
  add_model("beta");
  fs::create_directories(models_dir() / "sub");
  std::ofstream(models_dir() / "sub" / "hidden.gguf") << "GGUF";
  std::ofstream(models_dir() / "notes.txt") << "not a model";
  std::ofstream(m_dir / "presets.ini") << "[gamma]\nmodel = " << (m_dir / "gamma.gguf").string()
                                       << "\nctx-size = 4096\n";
  start_router({"--models-preset", (m_dir / "presets.ini").string(), "--models-max", "3", "--no-models-autoload"});

  const json models = get_json("/models");
  ASSERT_TRUE(models.is_object()) << m_child->output();
  EXPECT_EQ(models["object"], "list");
  std::vector<std::string> ids;
  for (const auto& m : models["data"]) {
    ids.push_back(m["id"]);
    EXPECT_EQ(m["object"], "model");
    EXPECT_EQ(m["owned_by"], "llamacpp");
    EXPECT_TRUE(m["aliases"].is_array());
    EXPECT_TRUE(m["status"]["args"].is_array());
    EXPECT_EQ(m["status"]["value"], "unloaded");
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"alpha", "beta", "gamma"}));
  EXPECT_NE(models["data"][2]["status"]["preset"].get<std::string>().find("ctx-size = 4096"), std::string::npos);
  EXPECT_EQ(get_json("/v1/models"), models);

  const json props = get_json("/props");
  EXPECT_EQ(props["role"], "router");
  EXPECT_EQ(props["max_instances"], 3);
  EXPECT_EQ(props["models_autoload"], false);
  EXPECT_EQ(get_json("/health"), json({{"status", "ok"}}));
}

TEST_F(MockServerTest, RouterLoadsAndUnloadsWithTheRealErrorBodies) {
  add_model("alpha");
  start_router({"--mock-model-vram", "alpha=1500"});

  auto r = post("/models/load", {{"model", "alpha"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body), json({{"success", true}}));
  ASSERT_TRUE(await_status("alpha", "loaded")) << m_child->output();
  EXPECT_EQ(ledger_mib(), 1500);

  r = post("/models/load", {{"model", "alpha"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"]["message"], "model is already running");

  r = post("/models/load", {{"model", "nope"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(json::parse(r->body)["error"]["message"], "File Not Found");

  r = post("/models/unload", {{"model", "alpha"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_TRUE(await_status("alpha", "unloaded"));
  EXPECT_EQ(ledger_mib(), 0);

  r = post("/models/unload", {{"model", "alpha"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  const json err = json::parse(r->body)["error"];
  EXPECT_EQ(err["message"], "model is not running");
  EXPECT_EQ(err["code"], 400);
  EXPECT_TRUE(err.contains("type"));

  // The buffer lines printed at load sum to the model's memory.
  const std::string out = m_child->output();
  std::regex line(R"(CUDA0 (model|KV|compute) buffer size =\s+([0-9.]+) MiB)");
  double sum = 0;
  int count = 0;
  for (std::sregex_iterator it(out.begin(), out.end(), line), end; it != end; ++it, ++count)
    sum += std::stod((*it)[2].str());
  EXPECT_EQ(count, 3) << out;
  EXPECT_NEAR(sum, 1500.0, 0.001);
}

TEST_F(MockServerTest, ModelsMaxEvictsTheLeastRecentlyUsedModel) {
  add_model("a");
  add_model("b");
  add_model("c");
  start_router({"--models-max", "2", "--mock-vram-mib", "100", "--mock-model-vram", "c=300"});
  for (const char* id : {"a", "b"}) {
    ASSERT_EQ(post("/models/load", {{"model", id}})->status, 200);
    ASSERT_TRUE(await_status(id, "loaded"));
  }
  // Use "a" so that "b" becomes the least recently used.
  ASSERT_EQ(post("/v1/chat/completions", {{"model", "a"}, {"messages", json::array()}})->status, 200);
  ASSERT_EQ(post("/models/load", {{"model", "c"}})->status, 200);
  ASSERT_TRUE(await_status("c", "loaded"));
  EXPECT_EQ(model_status("a"), "loaded");
  EXPECT_EQ(model_status("b"), "unloaded");
  EXPECT_EQ(ledger_mib(), 400);
}

TEST_F(MockServerTest, SigtermExitsZeroAndRemovesTheLedgerEntry) {
  add_model("a");
  auto& child = start_router({"--mock-vram-mib", "2764"});
  ASSERT_EQ(post("/models/load", {{"model", "a"}})->status, 200);
  ASSERT_TRUE(await_status("a", "loaded"));
  EXPECT_EQ(ledger_mib(), 2764);
  EXPECT_TRUE(fs::exists(ledger_dir() / std::to_string(child.pid())));
  EXPECT_EQ(child.terminate(5s), 0);
  EXPECT_FALSE(fs::exists(ledger_dir() / std::to_string(child.pid())));
}

TEST_F(MockServerTest, ChatToAnUnloadedModelDependsOnAutoload) {
  add_model("a");
  start_router({"--no-models-autoload"});
  auto r = post("/v1/chat/completions", {{"model", "a"}, {"messages", json::array()}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"]["message"], "model is not loaded");
  EXPECT_EQ(model_status("a"), "unloaded");

  m_child->terminate();
  start_router();  // autoload on
  r = post("/v1/chat/completions", {{"model", "a"}, {"messages", json::array()}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const json reply = json::parse(r->body);
  EXPECT_EQ(reply["object"], "chat.completion");
  EXPECT_EQ(reply["model"], "a");
  EXPECT_FALSE(reply["choices"][0]["message"]["content"].get<std::string>().empty());
  EXPECT_EQ(model_status("a"), "loaded");
}

TEST_F(MockServerTest, StreamingChatSendsChunksThenDone) {
  add_model("a");
  start_router();
  auto r = post("/v1/chat/completions", {{"model", "a"}, {"messages", json::array()}});
  ASSERT_TRUE(r);
  const std::string whole = json::parse(r->body)["choices"][0]["message"]["content"];

  r = post("/v1/chat/completions", {{"model", "a"}, {"stream", true}, {"messages", json::array()}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  std::string content;
  std::vector<std::string> events;
  std::size_t pos = 0;
  while ((pos = r->body.find("data: ", pos)) != std::string::npos) {
    const auto end = r->body.find("\n\n", pos);
    ASSERT_NE(end, std::string::npos);
    events.push_back(r->body.substr(pos + 6, end - pos - 6));
    pos = end + 2;
  }
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    const json chunk = json::parse(events[i]);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    const auto& delta = chunk["choices"][0]["delta"];
    if (delta.contains("content") && delta["content"].is_string()) content += delta["content"].get<std::string>();
  }
  EXPECT_EQ(content, whole);
}

TEST_F(MockServerTest, ModelsSseReportsStatusChanges) {
  add_model("a");
  start_router();
  std::mutex mutex;
  std::string seen;
  auto seen_has = [&](const std::string& text) {
    std::lock_guard lock(mutex);
    return seen.find(text) != std::string::npos;
  };
  std::thread reader([&] {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    auto c = client();
    c.Get("/models/sse", [&](const char* data, std::size_t len) {
      std::lock_guard lock(mutex);
      seen.append(data, len);
      return seen.find(R"("status":"loaded")") == std::string::npos && std::chrono::steady_clock::now() < deadline;
    });
  });
  // The stream starts with a snapshot; wait for it before loading.
  EXPECT_TRUE(wait_until([&] { return seen_has(R"(data: {"id":"a","status":"unloaded"})"); }, 5s));
  EXPECT_EQ(post("/models/load", {{"model", "a"}})->status, 200);
  reader.join();
  EXPECT_NE(seen.find(R"(data: {"id":"a","status":"unloaded"})"), std::string::npos) << seen;
  EXPECT_NE(seen.find(R"(data: {"id":"a","status":"loading"})"), std::string::npos) << seen;
  EXPECT_NE(seen.find(R"(data: {"id":"a","status":"loaded"})"), std::string::npos) << seen;
}

TEST_F(MockServerTest, SingleModelAnswers503WhileLoading) {
  add_model("solo");
  start({"--model", (models_dir() / "solo.gguf").string(), "--mock-load-delay-ms", "300", "-c", "2048",
         "--mock-vram-mib", "700"});
  auto c = client();
  auto r = c.Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(json::parse(r->body),
            json({{"error", {{"code", 503}, {"message", "Loading model"}, {"type", "unavailable_error"}}}}));
  ASSERT_TRUE(wait_until([&] { auto h = client().Get("/health"); return h && h->status == 200; }, 5s));
  const json models = get_json("/v1/models");
  ASSERT_EQ(models["data"].size(), 1u);
  EXPECT_EQ(models["data"][0]["id"], (models_dir() / "solo.gguf").string());
  EXPECT_EQ(ledger_mib(), 700);
}

TEST_F(MockServerTest, VllmSleepsAndWakesWithDevMode) {
  ChildOptions opts;
  opts.env["VLLM_SERVER_DEV_MODE"] = "1";
  start({"serve", "org/model", "--enable-sleep-mode", "--gpu-memory-utilization", "0.5", "--mock-vram-mib", "4000",
         "--mock-sleep-residue-mib", "500", "--mock-sleep-delay-ms", "10", "--mock-wake-delay-ms", "10"},
        true, opts);
  EXPECT_EQ(ledger_mib(), 4000);
  EXPECT_EQ(get_json("/is_sleeping"), json({{"is_sleeping", false}}));
  EXPECT_EQ(get_json("/v1/models")["data"][0]["id"], "org/model");

  auto c = client();
  auto r = c.Post("/sleep?level=1", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(get_json("/is_sleeping"), json({{"is_sleeping", true}}));
  EXPECT_EQ(ledger_mib(), 500);
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);  // healthy while asleep

  r = c.Post("/wake_up", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(get_json("/is_sleeping"), json({{"is_sleeping", false}}));
  EXPECT_EQ(ledger_mib(), 4000);

  r = c.Post("/sleep?level=3", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = c.Post("/v1/embeddings", json({{"input", "hi"}, {"model", "org/model"}}).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(json::parse(r->body)["data"][0]["object"], "embedding");
}

TEST_F(MockServerTest, VllmDevEndpointsAreAbsentWithoutDevMode) {
  start({"serve", "org/model", "--enable-sleep-mode", "--mock-vram-mib", "4000"});
  auto c = client();
  auto r = c.Post("/sleep?level=1", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = c.Get("/is_sleeping");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = c.Post("/wake_up", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(ledger_mib(), 4000);  // nothing was released
}

TEST_F(MockServerTest, FaultCrashDuringLoadMarksTheModelFailed) {
  add_model("a");
  start_router({"--mock-fault", "crash-during-load"});
  ASSERT_EQ(post("/models/load", {{"model", "a"}})->status, 200);
  ASSERT_TRUE(wait_until([&] {
    const json m = get_json("/models");
    return m.is_object() && m["data"][0]["status"].value("failed", false);
  }, 5s));
  const json status = get_json("/models")["data"][0]["status"];
  EXPECT_EQ(status["value"], "unloaded");
  EXPECT_EQ(status["exit_code"], 1);
  EXPECT_EQ(ledger_mib(), 0);
  EXPECT_TRUE(m_child->running());  // the router itself survives
}

TEST_F(MockServerTest, FaultHangOnLoadStaysLoading) {
  add_model("a");
  start_router({"--mock-fault", "hang-on-load"});
  ASSERT_EQ(post("/models/load", {{"model", "a"}})->status, 200);
  ASSERT_TRUE(wait_until([&] { return m_child->output().find("exiting due to model loading error") != std::string::npos; }, 5s));
  EXPECT_EQ(model_status("a"), "loading");
  EXPECT_EQ(ledger_mib(), 0);
  // Unloading a hung load is accepted and ends it.
  ASSERT_EQ(post("/models/unload", {{"model", "a"}})->status, 200);
  EXPECT_TRUE(await_status("a", "unloaded"));
}

TEST_F(MockServerTest, PresetWithAMissingModelFileStaysLoading) {
  std::ofstream(m_dir / "presets.ini") << "[ghost]\nmodel = " << (m_dir / "missing.gguf").string() << "\n";
  start_router({"--models-preset", (m_dir / "presets.ini").string()});
  ASSERT_EQ(post("/models/load", {{"model", "ghost"}})->status, 200);
  ASSERT_TRUE(wait_until([&] { return m_child->output().find("exiting due to model loading error") != std::string::npos; }, 5s));
  EXPECT_EQ(model_status("ghost"), "loading");
}

TEST_F(MockServerTest, FaultHttp500OnControlEndpoints) {
  add_model("a");
  start_router({"--mock-fault", "http-500"});
  auto r = post("/models/load", {{"model", "a"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], 500);
  EXPECT_EQ(model_status("a"), "unloaded");
}

TEST_F(MockServerTest, FaultMalformedJsonFromEnvironment) {
  add_model("a");
  ChildOptions opts;
  opts.env["GPUMOD_MOCK_FAULT"] = "malformed-json";
  start({"--models-dir", models_dir().string()}, true, opts);
  auto c = client();
  for (const char* path : {"/models", "/v1/models", "/health"}) {
    auto r = c.Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(json::parse(r->body, nullptr, false).is_discarded()) << path << ": " << r->body;
  }
}

TEST_F(MockServerTest, PortAlreadyTakenExitsOneWithABindMessage) {
  test_support::PortHolder holder;
  ASSERT_GT(holder.port(), 0);
  add_model("a");
  ChildProcess child({GPUMOD_MOCK_SERVER_BIN, "--models-dir", models_dir().string(), "--port",
                      std::to_string(holder.port()), "--mock-ledger-dir", ledger_dir().string()});
  EXPECT_EQ(child.wait_exit(10s), 1);
  EXPECT_NE(child.output().find("couldn't bind"), std::string::npos) << child.output();
}

TEST_F(MockServerTest, FaultRefuseBindAndUnknownFlagsExitOne) {
  add_model("a");
  auto& child = start({"--models-dir", models_dir().string(), "--mock-fault", "refuse-bind"}, false);
  EXPECT_EQ(child.wait_exit(10s), 1);
  EXPECT_NE(child.output().find("couldn't bind"), std::string::npos);

  ChildProcess bad({GPUMOD_MOCK_SERVER_BIN, "--models-dir", models_dir().string(), "--no-such-flag"});
  EXPECT_EQ(bad.wait_exit(10s), 1);
  EXPECT_NE(bad.output().find("--no-such-flag"), std::string::npos);
}

TEST_F(MockServerTest, HttpFlavourServesItsHealthPathAndUnhealthyFault) {
  start({"--mock-flavor", "http", "--mock-health-path", "/healthz", "--mock-vram-mib", "250"});
  auto c = client();
  auto r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(ledger_mib(), 250);
  m_child->terminate();

  start({"--mock-flavor", "http", "--mock-fault", "unhealthy"});
  auto c2 = client();
  r = c2.Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
}

}  // namespace
}  // namespace gpumod

namespace gpumod {
namespace {

TEST_F(MockServerTest, IdleModelSleepsToItsResidueAndWakesOnRequest) {
  add_model("a");
  std::ofstream(m_dir / "presets.ini") << "[a]\nsleep-idle-seconds = 0\n";
  start_router({"--models-preset", (m_dir / "presets.ini").string(), "--mock-vram-mib", "2764",
                "--mock-sleep-residue-mib", "584"});
  ASSERT_EQ(post("/models/load", {{"model", "a"}})->status, 200);
  ASSERT_TRUE(await_status("a", "sleeping")) << m_child->output();
  EXPECT_EQ(ledger_mib(), 584);
  auto r = post("/v1/chat/completions", {{"model", "a"}, {"messages", json::array()}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(m_child->output().find("woke up"), std::string::npos);
}

TEST_F(MockServerTest, CrashFaultsEndTheProcessWithASignal) {
  auto& child = start({"serve", "org/model", "--mock-fault", "crash-on-start"}, false);
  EXPECT_EQ(child.wait_exit(10s), 128 + SIGABRT);
  EXPECT_TRUE(infra::gpu::read_ledger(ledger_dir()).empty());

  add_model("solo");
  auto& single = start({"--model", (models_dir() / "solo.gguf").string(), "--mock-fault", "crash-after-ms=30"}, false);
  EXPECT_EQ(single.wait_exit(10s), 128 + SIGABRT);
}

}  // namespace
}  // namespace gpumod
