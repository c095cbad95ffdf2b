#include "gpumod/drivers/vllm_driver.hpp"

#include <gtest/gtest.h>

#include "gpumod/drivers/http_driver.hpp"
#include "unit/drivers/fake_http.hpp"

namespace gpumod::drivers {
namespace {

using test::FakeCall;
using test::FakeHttp;
using test::respond;
using Strings = std::vector<std::string>;

core::Service vllm_service(core::SleepMode mode) {
  core::Service s;
  s.id = "embed";
  s.driver = core::DriverKind::vllm;
  s.port = 8000;
  s.model_id = "BAAI/bge-m3";
  s.sleep_mode = mode;
  s.supports_sleep = mode != core::SleepMode::none;
  return s;
}

TEST(VllmLaunch, GoldenArgvWithSleepMode) {
  auto s = vllm_service(core::SleepMode::l2);
  s.context_size = 8192;
  s.unit_vars = {{"gpu_mem_util", "0.35"}, {"runner", "pooling"}, {"max_num_seqs", "16"}, {"dtype", "bfloat16"},
                 {"enforce_eager", "true"}, {"trust_remote_code", "true"}, {"extra_args", "--seed 1"}};
  auto spec = VllmDriver().launch_spec(s, LaunchOptions{});
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->argv, (Strings{"vllm", "serve", "BAAI/bge-m3", "--host", "127.0.0.1", "--port", "8000",
                                 "--gpu-memory-utilization", "0.35", "--max-model-len", "8192", "--max-num-seqs", "16",
                                 "--dtype", "bfloat16", "--runner", "pooling", "--enforce-eager", "--trust-remote-code",
                                 "--enable-sleep-mode", "--seed", "1"}));
  EXPECT_EQ(spec->env.at("VLLM_SERVER_DEV_MODE"), "1");
}

TEST(VllmLaunch, NoDevModeWithoutSleepAndBadValuesRejected) {
  auto s = vllm_service(core::SleepMode::none);
  auto spec = VllmDriver().launch_spec(s, LaunchOptions{});
  ASSERT_TRUE(spec);
  EXPECT_FALSE(spec->env.contains("VLLM_SERVER_DEV_MODE"));
  EXPECT_EQ(std::count(spec->argv.begin(), spec->argv.end(), "--enable-sleep-mode"), 0);
  EXPECT_EQ(spec->argv[8], "0.9");
  s.unit_vars = {{"gpu_memory_utilization", "1.5"}};
  EXPECT_FALSE(VllmDriver().launch_spec(s, {}));
  s.unit_vars = {{"dtype", "--evil"}};
  EXPECT_FALSE(VllmDriver().launch_spec(s, {}));
  s.unit_vars.clear();
  s.model_id.clear();
  EXPECT_FALSE(VllmDriver().launch_spec(s, {}));
}

TEST(VllmSleepFake, UsesTheServiceLevelAndConfirms) {
  bool asleep = false;
  std::string level_seen;
  FakeHttp http([&](const FakeCall& c) {
    if (c.method == "POST" && c.path.starts_with("/sleep?level=")) {
      level_seen = c.path.substr(13);
      asleep = true;
      return respond(200, "");
    }
    if (c.path == "/is_sleeping") return respond(200, asleep ? R"({"is_sleeping":true})" : R"({"is_sleeping":false})");
    if (c.path == "/wake_up") {
      asleep = false;
      return respond(200, "");
    }
    return respond(404, "");
  });
  DriverContext ctx{http, {}, {}};
  VllmDriver d;
  ASSERT_TRUE(d.sleep(vllm_service(core::SleepMode::l2), ctx, 0, std::chrono::seconds(1)));
  EXPECT_EQ(level_seen, "2");
  ASSERT_TRUE(d.wake(vllm_service(core::SleepMode::l2), ctx, std::chrono::seconds(1)));
  EXPECT_FALSE(asleep);
  EXPECT_FALSE(d.sleep(vllm_service(core::SleepMode::l1), ctx, 3, std::chrono::seconds(1)));
}

TEST(VllmSleepFake, UnconfirmedSleepIsAnError) {  // W6: a 200 that changes nothing is not a sleep
  FakeHttp http([&](const FakeCall& c) {
    if (c.path == "/is_sleeping") return respond(200, R"({"is_sleeping":false})");
    return respond(200, "");
  });
  DriverContext ctx{http, {}, {}};
  auto st = VllmDriver().sleep(vllm_service(core::SleepMode::l1), ctx, 1, std::chrono::milliseconds(60));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, util::ErrorCode::timeout);
  EXPECT_NE(st.error().message.find("is_sleeping=true"), std::string::npos);
}

TEST(VllmSleepFake, NotFoundMeansDevModeOff) {
  FakeHttp http([](const FakeCall&) { return respond(404, R"({"detail":"Not Found"})"); });
  DriverContext ctx{http, {}, {}};
  auto st = VllmDriver().sleep(vllm_service(core::SleepMode::l1), ctx, 1, std::chrono::seconds(1));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("VLLM_SERVER_DEV_MODE=1"), std::string::npos);
}

TEST(VllmObserveFake, SleepingWhileHealthy) {
  FakeHttp http([](const FakeCall& c) {
    if (c.path == "/health") return respond(200, "");
    return respond(200, R"({"is_sleeping":true})");
  });
  DriverContext ctx{http, {}, {}};
  auto o = VllmDriver().observe(vllm_service(core::SleepMode::l1), ctx);
  EXPECT_TRUE(o.healthy);
  EXPECT_TRUE(o.sleeping);
  EXPECT_EQ(o.state, core::ServiceState::sleeping);
}

TEST(HttpDriver, ArgvFromCommandAndHealthEndpointHonoured) {
  core::Service s;
  s.id = "rag";
  s.driver = core::DriverKind::http;
  s.port = 9000;
  s.health_endpoint = "/healthz";
  HttpDriver d;
  EXPECT_FALSE(d.launch_spec(s, {}));  // no command
  s.command = {"/usr/bin/python3", "-m", "app", "--port", "9000"};
  s.env = {{"APP_MODE", "prod"}};
  auto spec = d.launch_spec(s, {});
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->argv, s.command);
  EXPECT_EQ(spec->env.at("APP_MODE"), "prod");

  FakeHttp http([](const FakeCall& c) { return respond(c.path == "/healthz" ? 200 : 404, "{}"); });
  DriverContext ctx{http, {}, {}};
  EXPECT_EQ(d.observe(s, ctx).state, core::ServiceState::running);
  EXPECT_TRUE(d.await_ready(s, ctx, std::chrono::milliseconds(100)));
  EXPECT_EQ(http.calls.back().path, "/healthz");
  s.health_endpoint = "healthz";
  EXPECT_FALSE(d.launch_spec(s, {}));
  EXPECT_FALSE(d.sleep(s, ctx, 1, std::chrono::milliseconds(10)));  // no sleep support
}

}  // namespace
}  // namespace gpumod::drivers
