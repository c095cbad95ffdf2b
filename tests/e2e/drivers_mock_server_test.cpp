// The llama.cpp and vLLM drivers against the real gpumod-mock-server binary on loopback.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "gpumod/drivers/llamacpp_driver.hpp"
#include "gpumod/drivers/vllm_driver.hpp"
#include "gpumod/infra/http/client.hpp"
#include "gpumod/util/strings.hpp"
#include "support/child_process.hpp"
#include "support/free_port.hpp"

namespace gpumod::drivers {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test_support::ChildOptions;
using test_support::ChildProcess;

class MockServer {
 public:
  MockServer(std::vector<std::string> args, std::map<std::string, std::string> env = {},
             std::vector<std::string> unset = {}) {
    m_dir = fs::temp_directory_path() / ("gpumod-drivers-" + std::to_string(::getpid()) + "-" + std::to_string(++s_n));
    fs::create_directories(m_dir / "models");
    fs::create_directories(m_dir / "ledger");
    for (const char* m : {"alpha", "beta"}) std::ofstream(m_dir / "models" / (std::string(m) + ".gguf")) << "";
    port = test_support::free_loopback_port();
    std::vector<std::string> argv = {GPUMOD_MOCK_SERVER_BIN};
    for (auto& a : args) argv.push_back(a == "@models" ? (m_dir / "models").string() : a);
    argv.insert(argv.end(), {"--host", "127.0.0.1", "--port", std::to_string(port), "--mock-ledger-dir",
                             (m_dir / "ledger").string()});
    ChildOptions o;
    o.env = std::move(env);
    o.unset_env = std::move(unset);
    child = std::make_unique<ChildProcess>(argv, o);
    http = infra::http::make_tcp_client("127.0.0.1", port);
  }
  ~MockServer() {
    child.reset();
    std::error_code ec;
    fs::remove_all(m_dir, ec);
  }
  DriverContext ctx() {
    return DriverContext{*http, [this] { return child->running(); }, [this](std::size_t n) {
                           auto lines = util::split(child->output(), '\n');
                           if (!lines.empty() && lines.back().empty()) lines.pop_back();
                           if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(n));
                           return lines;
                         }};
  }
  bool up() { return test_support::wait_for_port(port, 5s); }

  int port = 0;
  std::unique_ptr<ChildProcess> child;
  std::unique_ptr<infra::http::HttpClient> http;

 private:
  fs::path m_dir;
  static inline int s_n = 0;
};

core::Service router(int port, std::string model = "alpha") {
  core::Service s;
  s.id = "svc-" + model;
  s.driver = core::DriverKind::llamacpp;
  s.port = port;
  s.sleep_mode = core::SleepMode::router;
  s.unit_vars = {{"models_dir", "/unused"}, {"default_model", model}};
  return s;
}

std::string status_of(DriverContext& ctx, const std::string& id) {
  auto models = list_models(ctx, 1s);
  if (!models) return "error";
  for (const auto& m : *models)
    if (m.id == id) return m.value;
  return "absent";
}

TEST(DriversLlamaE2E, RouterLoadUnloadAwaitedAndIdempotent) {
  MockServer m({"--models-dir", "@models", "--no-models-autoload", "--mock-load-delay-ms", "50",
                "--mock-unload-delay-ms", "20"});
  auto ctx = m.ctx();
  LlamaCppDriver d;
  auto s = router(m.port);
  ASSERT_TRUE(d.await_ready(s, ctx, 5s));  // router healthy, then alpha loaded
  EXPECT_EQ(status_of(ctx, "alpha"), "loaded");
  EXPECT_EQ(d.observe(s, ctx).state, core::ServiceState::running);
  EXPECT_TRUE(load_model(ctx, "alpha", 2s));  // already running: success
  ASSERT_TRUE(d.sleep(s, ctx, 0, 2s));
  EXPECT_EQ(status_of(ctx, "alpha"), "unloaded");  // awaited: no polling needed here
  auto o = d.observe(s, ctx);
  EXPECT_TRUE(o.healthy);
  EXPECT_EQ(o.state, core::ServiceState::sleeping);
  EXPECT_TRUE(unload_model(ctx, "alpha", 2s));  // not running: success
  ASSERT_TRUE(d.wake(s, ctx, 2s));
  EXPECT_EQ(status_of(ctx, "alpha"), "loaded");
  auto ghost = load_model(ctx, "ghost", 2s);
  ASSERT_FALSE(ghost);
  EXPECT_EQ(ghost.error().code, util::ErrorCode::not_found);
}

TEST(DriversLlamaE2E, HangOnLoadHitsOurDeadlineNamingTheModel) {
  MockServer m({"--models-dir", "@models", "--no-models-autoload", "--mock-load-delay-ms", "50",
                "--mock-fault", "hang-on-load"});
  ASSERT_TRUE(m.up());
  auto ctx = m.ctx();
  auto st = load_model(ctx, "beta", 3s);
  ASSERT_FALSE(st);
  // The child logged "exiting due to model loading error": failed at once, or our deadline.
  EXPECT_TRUE(st.error().code == util::ErrorCode::failed || st.error().code == util::ErrorCode::timeout);
  EXPECT_NE(st.error().message.find("'beta'"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("exiting due to model loading error"), std::string::npos) << st.error().message;
}

TEST(DriversLlamaE2E, CrashDuringLoadIsAFailedLoadWithTheLogTail) {
  MockServer m({"--models-dir", "@models", "--no-models-autoload", "--mock-load-delay-ms", "30",
                "--mock-fault", "crash-during-load"});
  ASSERT_TRUE(m.up());
  auto ctx = m.ctx();
  auto st = load_model(ctx, "alpha", 5s);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, util::ErrorCode::failed);
  EXPECT_NE(st.error().message.find("log:"), std::string::npos) << st.error().message;
  // observe tells the failed load from a deliberate unload
  auto o = LlamaCppDriver().observe(router(m.port), ctx);
  EXPECT_EQ(o.state, core::ServiceState::failed) << o.reason;
}

TEST(DriversLlamaE2E, Http500AndMalformedJsonAreClearErrors) {
  {
    MockServer m({"--models-dir", "@models", "--mock-fault", "http-500"});
    ASSERT_TRUE(m.up());
    auto ctx = m.ctx();
    auto st = load_model(ctx, "alpha", 2s);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message.find("500"), std::string::npos) << st.error().message;
  }
  {
    MockServer m({"--models-dir", "@models", "--mock-fault", "malformed-json"});
    ASSERT_TRUE(m.up());
    auto ctx = m.ctx();
    auto models = list_models(ctx, 1s);
    ASSERT_FALSE(models);
    EXPECT_EQ(models.error().code, util::ErrorCode::corrupt);
    auto o = LlamaCppDriver().observe(router(m.port), ctx);
    EXPECT_NE(o.state, core::ServiceState::running);
  }
}

TEST(DriversLlamaE2E, ReadinessFailsFastWhenTheProcessDies) {
  MockServer m({"--model", "/nonexistent/missing.gguf", "--mock-load-delay-ms", "20"});
  auto ctx = m.ctx();
  core::Service s;
  s.id = "single";
  s.port = m.port;
  s.model_path = "/nonexistent/missing.gguf";
  auto st = LlamaCppDriver().await_ready(s, ctx, 20s);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, util::ErrorCode::failed);
  EXPECT_NE(st.error().message.find("process exited"), std::string::npos) << st.error().message;
}

core::Service vllm(int port, core::SleepMode mode) {
  core::Service s;
  s.id = "embed";
  s.driver = core::DriverKind::vllm;
  s.port = port;
  s.model_id = "BAAI/bge-m3";
  s.sleep_mode = mode;
  return s;
}

TEST(DriversVllmE2E, SleepAndWakeAtLevelOneAndTwoConfirmed) {
  MockServer m({"serve", "BAAI/bge-m3", "--enable-sleep-mode", "--mock-sleep-delay-ms", "20"},
               {{"VLLM_SERVER_DEV_MODE", "1"}});
  auto ctx = m.ctx();
  VllmDriver d;
  ASSERT_TRUE(d.await_ready(vllm(m.port, core::SleepMode::l1), ctx, 5s));
  for (auto mode : {core::SleepMode::l1, core::SleepMode::l2}) {
    auto s = vllm(m.port, mode);
    ASSERT_TRUE(d.sleep(s, ctx, 0, 2s));
    EXPECT_TRUE(*vllm_is_sleeping(ctx, 1s));
    EXPECT_EQ(d.observe(s, ctx).state, core::ServiceState::sleeping);
    ASSERT_TRUE(d.wake(s, ctx, 2s));
    EXPECT_FALSE(*vllm_is_sleeping(ctx, 1s));
    EXPECT_EQ(d.observe(s, ctx).state, core::ServiceState::running);
  }
}

TEST(DriversVllmE2E, WithoutDevModeSleepIsAClearError) {
  MockServer m({"serve", "BAAI/bge-m3", "--enable-sleep-mode"}, {}, {"VLLM_SERVER_DEV_MODE"});
  auto ctx = m.ctx();
  VllmDriver d;
  ASSERT_TRUE(d.await_ready(vllm(m.port, core::SleepMode::l1), ctx, 5s));
  auto st = d.sleep(vllm(m.port, core::SleepMode::l1), ctx, 0, 1s);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("VLLM_SERVER_DEV_MODE=1"), std::string::npos) << st.error().message;
}

}  // namespace
}  // namespace gpumod::drivers
