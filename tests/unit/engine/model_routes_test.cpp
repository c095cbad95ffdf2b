#include "gpumod/engine/model_routes.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace gpumod::engine {
namespace {

using nlohmann::json;

core::Config config() {
  core::Config c;
  core::Service router;
  router.id = "nemo";
  router.driver = core::DriverKind::llamacpp;
  router.unit_vars = {{"models_dir", "/m"}, {"default_model", "Nemotron-Q4"}};
  router.serving.aliases = {"nemotron"};
  router.serving.virtual_models = {{"nemotron-fast", R"({"chat_template_kwargs":{"enable_thinking":false}})", {"top_p"}}};
  core::Service single;
  single.id = "glm";
  single.driver = core::DriverKind::llamacpp;
  single.model_path = "/models/GLM-4.7-Flash-Q4.gguf";
  core::Service vllm;
  vllm.id = "embed";
  vllm.driver = core::DriverKind::vllm;
  vllm.model_id = "Qwen/Qwen3-Embedding-0.6B";
  vllm.serving.aliases = {"Nemotron-Q4"};  // taken by nemo's own id: ignored
  core::Service named;
  named.id = "named";
  named.driver = core::DriverKind::vllm;
  named.model_id = "org/big";
  named.unit_vars = {{"served_model_name", "big"}};
  c.services = {vllm, single, named, router};
  return c;
}

TEST(ModelRoutes, NamesMapToTheServiceAndTheUpstreamsOwnId) {
  const ModelRoutes routes(config());
  const auto expect = [&](std::string name, std::string service, std::string upstream, std::string kind) {
    auto r = routes.find(name);
    ASSERT_TRUE(r) << name;
    EXPECT_EQ(r->service_id, service) << name;
    EXPECT_EQ(r->upstream_model, upstream) << name;
    EXPECT_EQ(r->kind, kind) << name;
  };
  expect("Nemotron-Q4", "nemo", "Nemotron-Q4", "model");
  expect("nemotron", "nemo", "Nemotron-Q4", "alias");
  expect("nemotron-fast", "nemo", "Nemotron-Q4", "virtual");
  expect("nemo", "nemo", "Nemotron-Q4", "service");
  expect("GLM-4.7-Flash-Q4", "glm", "GLM-4.7-Flash-Q4", "model");
  expect("Qwen/Qwen3-Embedding-0.6B", "embed", "Qwen/Qwen3-Embedding-0.6B", "model");
  expect("big", "named", "big", "model");
  expect("org/big", "named", "big", "model");
  EXPECT_FALSE(routes.find("missing"));
}

TEST(ModelRoutes, BodyIsRewrittenForTheUpstream) {
  const ModelRoutes routes(config());
  auto r = routes.route_body(R"({"model":"nemotron-fast","top_p":0.5,"stream":true,"chat_template_kwargs":{"x":1}})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->stream);
  EXPECT_EQ(r->route.service_id, "nemo");
  const auto body = json::parse(r->body);
  EXPECT_EQ(body["model"], "Nemotron-Q4");
  EXPECT_FALSE(body.contains("top_p")) << "stripped";
  EXPECT_EQ(body["chat_template_kwargs"], json({{"x", 1}, {"enable_thinking", false}})) << "merged";
}

TEST(ModelRoutes, BadBodiesAndUnknownModelsSayWhy) {
  const ModelRoutes routes(config());
  auto r = routes.route_body("{not json");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::invalid_argument);
  r = routes.route_body(R"({"messages":[]})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::invalid_argument);
  r = routes.route_body(R"({"model":"nemotorn"})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::not_found);
  EXPECT_NE(r.error().message.find("nemotron"), std::string::npos) << r.error().message;
  r = routes.route_body(R"({"model":"nemotron","stream":"yes"})");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->stream) << "only a boolean true streams";
}

}  // namespace
}  // namespace gpumod::engine
