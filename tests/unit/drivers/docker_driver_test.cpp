#include "gpumod/drivers/docker_driver.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "unit/drivers/fake_http.hpp"

namespace gpumod::drivers {
namespace {

using json = nlohmann::json;
using test::FakeCall;
using test::FakeHttp;
using test::respond;

core::Service docker_service() {
  core::Service s;
  s.id = "tei";
  s.driver = core::DriverKind::docker;
  s.port = 8080;
  s.gpu = "GPU-abc-123";
  s.env = {{"MODEL_ID", "BAAI/bge-m3"}};
  s.unit_vars = {{"image", "ghcr.io/huggingface/text-embeddings-inference:1.5"},
                 {"container_port", "80"},
                 {"volumes", R"(["/tmp/gpumod-test-cache/../gpumod-test-cache:/data:ro"])"},
                 {"mem_limit", "8g"}};
  s.command = {"--model-id", "BAAI/bge-m3"};
  return s;
}

TEST(DockerBody, BuildsCreateRequest) {
  auto body = docker_create_body(docker_service());
  ASSERT_TRUE(body) << body.error().message;
  const auto j = json::parse(*body);
  EXPECT_EQ(j["Image"], "ghcr.io/huggingface/text-embeddings-inference:1.5");
  EXPECT_EQ(j["Env"], json::array({"MODEL_ID=BAAI/bge-m3"}));
  EXPECT_EQ(j["Cmd"], json::array({"--model-id", "BAAI/bge-m3"}));
  EXPECT_EQ(j["HostConfig"]["Binds"], json::array({"/tmp/gpumod-test-cache:/data:ro"}));
  EXPECT_EQ(j["HostConfig"]["PortBindings"]["80/tcp"][0]["HostIp"], "127.0.0.1");
  EXPECT_EQ(j["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
  EXPECT_EQ(j["HostConfig"]["Memory"], 8LL * 1024 * 1024 * 1024);
  EXPECT_EQ(j["HostConfig"]["Privileged"], false);
  const auto& dr = j["HostConfig"]["DeviceRequests"][0];
  EXPECT_EQ(dr["Capabilities"], json::array({json::array({"gpu"})}));
  EXPECT_EQ(dr["DeviceIDs"], json::array({"GPU-abc-123"}));
}

TEST(DockerBody, ValidationRejectsUnsafeInput) {
  EXPECT_FALSE(validate_docker_image("UPPER/case"));
  EXPECT_FALSE(validate_docker_image("img;rm -rf"));
  EXPECT_TRUE(validate_docker_image("vllm/vllm-openai:v0.9.1"));
  EXPECT_FALSE(validate_docker_volume("relative:/data"));
  EXPECT_FALSE(validate_docker_volume("/etc:/data"));
  EXPECT_FALSE(validate_docker_volume("/tmp/../etc:/data"));
  EXPECT_FALSE(validate_docker_volume("/tmp/x:data"));
  EXPECT_FALSE(validate_docker_volume("/tmp/x:/data:rx"));
  EXPECT_TRUE(validate_docker_volume("/tmp/x:/data"));
  EXPECT_FALSE(validate_docker_env("lower", "x"));
  EXPECT_FALSE(validate_docker_env("OK", "a\nb"));
  EXPECT_TRUE(validate_docker_env("HF_TOKEN_PATH", "/x"));

  auto s = docker_service();
  s.unit_vars["ports"] = R"(["70000:80"])";
  EXPECT_FALSE(docker_create_body(s));
  s = docker_service();
  s.unit_vars.erase("image");
  EXPECT_FALSE(docker_create_body(s));
  s = docker_service();
  s.env["bad-key"] = "1";
  EXPECT_FALSE(docker_create_body(s));
}

struct FakeDocker {
  std::string status;  // "" = no container
  bool image_present = true;
  std::vector<FakeCall> calls;
  DockerDriver driver() {
    return DockerDriver([this] {
      return std::make_unique<FakeHttp>([this](const FakeCall& c) {
        calls.push_back(c);
        if (c.method == "GET" && c.path == "/containers/gpumod-tei/json") {
          if (status.empty()) return respond(404, R"({"message":"No such container"})");
          return respond(200, json{{"State", {{"Status", status}, {"ExitCode", 137}}},
                                   {"Config", {{"Image", "ghcr.io/huggingface/text-embeddings-inference:1.5"}}}}
                                  .dump());
        }
        if (c.method == "GET" && c.path.starts_with("/images/"))
          return image_present ? respond(200, "{}") : respond(404, R"({"message":"No such image"})");
        if (c.path.starts_with("/containers/create")) {
          status = "created";
          return respond(201, R"({"Id":"abc"})");
        }
        if (c.path == "/containers/gpumod-tei/start") {
          status = "running";
          return respond(204, "");
        }
        if (c.path.starts_with("/containers/gpumod-tei/stop")) {
          status = "exited";
          return respond(204, "");
        }
        if (c.path.starts_with("/containers/prune")) {
          status.clear();
          return respond(200, "{}");
        }
        return respond(500, R"({"message":"unexpected"})");
      });
    });
  }
  std::size_t posts(std::string_view prefix) const {
    return std::count_if(calls.begin(), calls.end(),
                         [&](const FakeCall& c) { return c.method == "POST" && c.path.starts_with(prefix); });
  }
};

TEST(DockerStart, CreatesOnceThenIsIdempotent) {
  FakeDocker fake;
  auto d = fake.driver();
  const auto s = docker_service();
  ASSERT_TRUE(d.start(s, std::chrono::seconds(1)));
  EXPECT_EQ(fake.posts("/containers/create?name=gpumod-tei"), 1u);
  EXPECT_EQ(fake.posts("/containers/gpumod-tei/start"), 1u);
  ASSERT_TRUE(d.start(s, std::chrono::seconds(1)));  // running: nothing to do
  EXPECT_EQ(fake.posts("/containers/create"), 1u);
  EXPECT_EQ(fake.posts("/containers/gpumod-tei/start"), 1u);
  fake.status = "exited";
  ASSERT_TRUE(d.start(s, std::chrono::seconds(1)));  // stopped: start, no create
  EXPECT_EQ(fake.posts("/containers/create"), 1u);
  EXPECT_EQ(fake.posts("/containers/gpumod-tei/start"), 2u);
  ASSERT_TRUE(d.stop(s, std::chrono::seconds(1)));
  EXPECT_EQ(fake.status, "");
  ASSERT_TRUE(d.stop(s, std::chrono::seconds(1)));  // already gone
}

TEST(DockerStart, MissingImageIsNeverPulled) {
  FakeDocker fake;
  fake.image_present = false;
  auto st = fake.driver().start(docker_service(), std::chrono::seconds(1));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, util::ErrorCode::not_found);
  EXPECT_NE(st.error().message.find("docker pull ghcr.io/huggingface/text-embeddings-inference:1.5"), std::string::npos);
  EXPECT_EQ(fake.posts("/images/create"), 0u);
  EXPECT_EQ(fake.posts("/containers/create"), 0u);
}

TEST(DockerObserve, MapsContainerStates) {
  FakeDocker fake;
  auto d = fake.driver();
  FakeHttp health([](const FakeCall&) { return respond(200, "{}"); });
  DriverContext ctx{health, {}, {}};
  const auto s = docker_service();
  EXPECT_EQ(d.observe(s, ctx).state, core::ServiceState::stopped);
  const std::vector<std::pair<std::string, core::ServiceState>> cases = {
      {"running", core::ServiceState::running},     {"restarting", core::ServiceState::starting},
      {"paused", core::ServiceState::unhealthy},    {"dead", core::ServiceState::failed},
      {"exited", core::ServiceState::failed},       {"created", core::ServiceState::stopped}};
  for (const auto& [status, state] : cases) {
    fake.status = status;
    EXPECT_EQ(d.observe(s, ctx).state, state) << status;
  }
  fake.status = "exited";
  auto ready = d.await_ready(s, ctx, std::chrono::seconds(5));
  ASSERT_FALSE(ready);
  EXPECT_NE(ready.error().message.find("exit code 137"), std::string::npos);
}

TEST(DockerDriver, HasNoLaunchSpec) {
  EXPECT_FALSE(DockerDriver().launch_spec(docker_service(), {}));
  EXPECT_EQ(url_encode(R"({"a":["b=c"]})"), "%7B%22a%22%3A%5B%22b%3Dc%22%5D%7D");
}

}  // namespace
}  // namespace gpumod::drivers
