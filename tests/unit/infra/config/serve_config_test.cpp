// serve: in gpumod.yaml and the serving keys of presets (aliases, virtual_models, ttl_s, pin,
// max_concurrent, on_demand).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gpumod/infra/config/config_loader.hpp"
#include "unit/infra/config/temp_config.hpp"

namespace gpumod::infra::config {
namespace {

using testing_support::fake_env;
using testing_support::TempConfig;
using ::testing::HasSubstr;

std::string all_errors(const ConfigLoad& r) {
  std::string out;
  for (const auto& d : r.errors) out += format_diagnostic(d) + "\n";
  return out;
}

void write_base(TempConfig& t, const std::string& settings, const std::string& preset_extra = "") {
  t.write("gpumod.yaml", settings);
  t.write("presets/chat.yaml", "id: chat\ndriver: vllm\nport: 8001\nvram_mb: 1000\nmodel_id: org/chat\n" + preset_extra);
  t.write("modes/rest.yaml", "id: rest\nservices: [chat]\n");
}

TEST(ServeConfig, DefaultsListenOnLoopback7979) {
  TempConfig t;
  write_base(t, "");
  const auto r = load_config(t.root(), fake_env({}));
  ASSERT_TRUE(r.config) << all_errors(r);
  const auto& s = r.config->settings.serve;
  EXPECT_EQ(s.listen, "127.0.0.1:7979");
  EXPECT_FALSE(s.listen_explicit);
  EXPECT_TRUE(s.api_keys.empty());
  EXPECT_EQ(s.on_demand, core::OnDemandPolicy::mode);
  EXPECT_FALSE(s.default_ttl);
}

TEST(ServeConfig, AllKeysRead) {
  TempConfig t;
  write_base(t,
             "serve:\n  listen: \"127.0.0.1:9000\"\n  api_keys: [\"0123456789abcdef\"]\n  max_queue: 3\n"
             "  request_timeout_s: 7\n  drain_timeout_s: 8\n  min_residency_s: 9\n  default_ttl_s: 60\n"
             "  idle_mode: rest\n  on_demand: evict\n  max_body_mib: 2\n",
             "aliases: [gpt, chat-2]\nvirtual_models:\n  chat-fast:\n    set: {chat_template_kwargs: {enable_thinking: false}}\n"
             "    strip: [top_p]\nttl_s: 30\npin: true\nmax_concurrent: 4\non_demand: never\n");
  const auto r = load_config(t.root(), fake_env({}));
  ASSERT_TRUE(r.config) << all_errors(r);
  const auto& s = r.config->settings.serve;
  EXPECT_EQ(s.listen, "127.0.0.1:9000");
  EXPECT_TRUE(s.listen_explicit);
  EXPECT_EQ(s.api_keys.size(), 1u);
  EXPECT_EQ(s.max_queue, 3);
  EXPECT_EQ(s.request_timeout.count(), 7);
  EXPECT_EQ(s.drain_timeout.count(), 8);
  EXPECT_EQ(s.min_residency.count(), 9);
  EXPECT_EQ(s.default_ttl->count(), 60);
  EXPECT_EQ(s.idle_mode, "rest");
  EXPECT_EQ(s.on_demand, core::OnDemandPolicy::evict);
  EXPECT_EQ(s.max_body_bytes, 2u << 20);
  const auto& chat = r.config->find_service("chat")->serving;
  EXPECT_EQ(chat.aliases, (std::vector<std::string>{"gpt", "chat-2"}));
  ASSERT_EQ(chat.virtual_models.size(), 1u);
  EXPECT_EQ(chat.virtual_models[0].name, "chat-fast");
  EXPECT_EQ(chat.virtual_models[0].set_json, R"({"chat_template_kwargs":{"enable_thinking":false}})");
  EXPECT_EQ(chat.virtual_models[0].strip, std::vector<std::string>{"top_p"});
  EXPECT_EQ(chat.ttl->count(), 30);
  EXPECT_TRUE(chat.pin);
  EXPECT_EQ(chat.max_concurrent, 4);
  EXPECT_EQ(chat.on_demand, core::OnDemandPolicy::never);
}

TEST(ServeConfig, ListenOffTurnsTheEndpointOff) {
  TempConfig t;
  write_base(t, "serve:\n  listen: off\n");
  const auto r = load_config(t.root(), fake_env({}));
  ASSERT_TRUE(r.config) << all_errors(r);
  EXPECT_TRUE(r.config->settings.serve.listen.empty());
}

TEST(ServeConfig, BadValuesAreReportedWhereTheyAre) {
  TempConfig t;
  write_base(t, "serve:\n  listen: \"0.0.0.0:80\"\n  idle_mode: nap\n  api_keys: [short]\n  liste: x\n",
             "aliases: [\"has space\"]\n");
  const auto r = load_config(t.root(), fake_env({}));
  EXPECT_FALSE(r.config);
  const auto errors = all_errors(r);
  EXPECT_THAT(errors, HasSubstr("gpumod.yaml:4:14: serve.api_keys: a key must be 16 to 512 printable characters"));
  EXPECT_THAT(errors, HasSubstr("unknown key 'serve.liste'"));
  EXPECT_THAT(errors, HasSubstr("serve.idle_mode: no mode 'nap'"));
  EXPECT_THAT(errors, HasSubstr("'0.0.0.0:80' is not a loopback address; set serve.api_keys"));
  EXPECT_THAT(errors, HasSubstr("aliases: 'has space' is not a model name"));
}

}  // namespace
}  // namespace gpumod::infra::config
