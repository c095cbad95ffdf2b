#include "gpumod/infra/config/config_loader.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>


#include "gpumod/util/strings.hpp"
#include "unit/infra/config/temp_config.hpp"

namespace gpumod::infra::config {
namespace {

using testing_support::fake_env;
using testing_support::TempConfig;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> lines(const std::vector<ConfigDiagnostic>& diagnostics) {
  std::vector<std::string> out;
  for (const auto& d : diagnostics) out.push_back(format_diagnostic(d));
  return out;
}

std::int64_t mode_vram_mib(const core::Config& config, const std::string& mode_id) {
  const auto* mode = config.find_mode(mode_id);
  EXPECT_NE(mode, nullptr) << mode_id;
  if (mode == nullptr) return -1;
  std::int64_t sum = 0;
  for (const auto& id : mode->services) sum += config.find_service(id)->vram_mib;
  return sum;
}

const std::string k_vllm_a =
    "id: embed-a\n"
    "driver: vllm\n"
    "port: 8000\n"
    "vram_mb: 1000\n";

ConfigLoad load(const TempConfig& tc, std::map<std::string, std::string> env = {}) {
  return load_config(tc.root(), fake_env(std::move(env)));
}

// ---------------------------------------------------------------------------------------------
// The bundled example

TEST(ConfigLoaderTest, BundledExampleLoadsWithOneNoteAboutTheSharedRouter) {
  const auto result =
      load_config(std::filesystem::path(GPUMOD_SOURCE_DIR) / "examples/config",
                  fake_env({{"HOME", "/home/ada"}}));
  ASSERT_THAT(lines(result.errors), IsEmpty());
  ASSERT_TRUE(result.config);
  EXPECT_THAT(lines(result.notes),
              ElementsAre("presets/llm/glm-code.yaml:6:7: glm-code and nemotron-3-nano share port "
                          "7070 (one llama-server router); legal because no mode runs them "
                          "together"));
  const auto& c = *result.config;
  EXPECT_THAT(c.service_ids(),
              ElementsAre("glm-code", "nemotron-3-nano", "vllm-embedding", "vllm-embedding-code"));
  EXPECT_THAT(c.mode_ids(), ElementsAre("code", "embeddings", "glm", "nemotron"));
  EXPECT_EQ(mode_vram_mib(c, "nemotron"), 20000);
  EXPECT_EQ(mode_vram_mib(c, "code"), 22500);
  EXPECT_EQ(mode_vram_mib(c, "code") + c.find_service("vllm-embedding")->vram_mib, 27500);
  EXPECT_THAT(c.find_mode("code")->services, ElementsAre("nemotron-3-nano", "vllm-embedding-code"));

  ASSERT_TRUE(c.settings.simulate_gpu);
  EXPECT_EQ(c.settings.simulate_gpu->name, "NVIDIA GeForce RTX 4090 (simulated)");
  EXPECT_EQ(c.settings.simulate_gpu->total_mib, 24564);
  EXPECT_TRUE(c.settings.simulate_gpu->only_without_gpu);

  const auto* nemo = c.find_service("nemotron-3-nano");
  EXPECT_EQ(nemo->driver, core::DriverKind::llamacpp);
  EXPECT_EQ(nemo->sleep_mode, core::SleepMode::router);
  EXPECT_EQ(nemo->port, 7070);
  EXPECT_EQ(nemo->context_size, 8192);
  EXPECT_EQ(nemo->var("models_dir"), "/home/ada/models");
  EXPECT_EQ(nemo->var("models_max"), "1");
  EXPECT_EQ(nemo->var("no_models_autoload"), "true");
  EXPECT_EQ(nemo->var("default_model"), "Nemotron-3-Nano-30B-A3B-UD-Q4_K_XL");
  EXPECT_EQ(nemo->defined_at.file, "presets/llm/nemotron-3-nano.yaml");

  const auto* code = c.find_service("vllm-embedding-code");
  EXPECT_EQ(code->sleep_mode, core::SleepMode::l1);
  EXPECT_TRUE(code->supports_sleep);
  EXPECT_EQ(code->var("gpu_mem_util"), "0.10");
  EXPECT_EQ(code->var("runner"), "pooling");
  EXPECT_EQ(c.find_service("vllm-embedding")->sleep_mode, core::SleepMode::l2);
}

// ---------------------------------------------------------------------------------------------
// One preset

TEST(ConfigLoaderTest, PresetDefaultsAndAllKeys) {
  TempConfig tc;
  tc.write("presets/minimal.yaml", "id: mini\ndriver: fastapi\nvram_mb: 0\n");
  tc.write("presets/full.yml",
           "id: full\n"
           "name: Full One\n"
           "driver: llamacpp\n"
           "port: 7071\n"
           "vram_mb: 1234\n"
           "context_size: 4096\n"
           "kv_cache_per_1k: 12.5\n"
           "model_id: org/Model-GGUF\n"
           "model_path: /m/model.gguf\n"
           "health_endpoint: /ready\n"
           "startup_timeout: 300\n"
           "supports_sleep: yes\n"
           "sleep_mode: router\n"
           "unit_template: llamacpp.service.j2\n"
           "depends_on: [mini]\n"
           "supervisor: systemd\n"
           "stop_timeout: 45\n"
           "restart: always\n"
           "max_restarts: 0\n"
           "restart_window: 120\n"
           "command: [llama-server, --port, '7071']\n"
           "env: {CUDA_VISIBLE_DEVICES: 0}\n"
           "gpu: GPU-1234\n");
  const auto r = load(tc);
  ASSERT_THAT(lines(r.errors), IsEmpty());
  ASSERT_TRUE(r.config);
  const auto* mini = r.config->find_service("mini");
  ASSERT_NE(mini, nullptr);
  EXPECT_EQ(mini->name, "mini");
  EXPECT_EQ(mini->driver, core::DriverKind::http);
  EXPECT_EQ(mini->startup_timeout, std::chrono::seconds(60));
  EXPECT_EQ(mini->health_endpoint, "/health");
  EXPECT_FALSE(mini->port);
  EXPECT_EQ(mini->sleep_mode, core::SleepMode::none);

  const auto* full = r.config->find_service("full");
  ASSERT_NE(full, nullptr);
  EXPECT_EQ(full->name, "Full One");
  EXPECT_EQ(full->port, 7071);
  EXPECT_EQ(full->vram_mib, 1234);
  EXPECT_EQ(full->context_size, 4096);
  EXPECT_DOUBLE_EQ(full->kv_cache_per_1k_mib.value_or(-1), 12.5);
  EXPECT_EQ(full->model_path, "/m/model.gguf");
  EXPECT_EQ(full->health_endpoint, "/ready");
  EXPECT_EQ(full->startup_timeout, std::chrono::seconds(300));
  EXPECT_TRUE(full->supports_sleep);
  EXPECT_EQ(full->unit_template, "llamacpp.service.j2");
  EXPECT_THAT(full->depends_on, ElementsAre("mini"));
  EXPECT_EQ(full->supervisor, core::SupervisorKind::systemd);
  EXPECT_EQ(full->stop_timeout, std::chrono::seconds(45));
  EXPECT_EQ(full->restart, core::RestartPolicy::always);
  EXPECT_EQ(full->max_restarts, 0);
  EXPECT_EQ(full->restart_window, std::chrono::seconds(120));
  EXPECT_THAT(full->command, ElementsAre("llama-server", "--port", "7071"));
  EXPECT_EQ(full->env.at("CUDA_VISIBLE_DEVICES"), "0");
  EXPECT_EQ(full->gpu, "GPU-1234");
  EXPECT_EQ(full->defined_at.to_string(), "presets/full.yml:1:1");
}

TEST(ConfigLoaderTest, UnknownKeySuggestsTheClosestKey) {
  TempConfig tc;
  tc.write("presets/a.yaml", "id: a\ndriver: vllm\nvram_mib: 100\nvram_mb: 100\nsleepmode: l1\n");
  const auto r = load(tc);
  EXPECT_FALSE(r.config);
  EXPECT_THAT(lines(r.errors),
              ElementsAre("presets/a.yaml:3:1: unknown key 'vram_mib' in a preset (did you mean "
                          "'vram_mb'?)",
                          "presets/a.yaml:5:1: unknown key 'sleepmode' in a preset (did you mean "
                          "'sleep_mode'?)"));
}

TEST(ConfigLoaderTest, WrongTypesSayWhatWasExpected) {
  TempConfig tc;
  tc.write("presets/nemotron.yaml",
           "id: nemo\n"
           "driver: llamacpp\n"
           "vram_mb: 20000\n"
           "port: abc\n"
           "context_size: [1, 2]\n"
           "kv_cache_per_1k: lots\n"
           "supports_sleep: maybe\n"
           "model_id: {a: b}\n"
           "depends_on: other\n"
           "unit_vars: [x]\n"
           "command: [ok, {a: b}]\n");
  const auto r = load(tc);
  EXPECT_THAT(lines(r.errors),
              ElementsAre("presets/nemotron.yaml:4:7: port: expected an integer, got 'abc'",
                          "presets/nemotron.yaml:5:15: context_size: expected an integer, got a list",
                          "presets/nemotron.yaml:6:18: kv_cache_per_1k: expected a number, got 'lots'",
                          "presets/nemotron.yaml:7:17: supports_sleep: expected true or false, got "
                          "'maybe'",
                          "presets/nemotron.yaml:8:11: model_id: expected a string, got a mapping",
                          "presets/nemotron.yaml:9:13: depends_on: expected a list of strings, got "
                          "'other'",
                          "presets/nemotron.yaml:10:12: unit_vars: expected a mapping of names to "
                          "values, got a list",
                          "presets/nemotron.yaml:11:15: command[1]: expected a string, got a "
                          "mapping"));
}

TEST(ConfigLoaderTest, ValuesOutOfRangeAndBadChoices) {
  TempConfig tc;
  tc.write("presets/x.yaml",
           "id: x\n"
           "driver: llama-cpp\n"
           "vram_mb: -1\n"
           "port: 70000\n"
           "startup_timeout: 0\n"
           "health_endpoint: health\n"
           "kv_cache_per_1k: -0.5\n"
           "stop_timeout: 601\n"
           "max_restarts: 101\n"
           "restart: sometimes\n"
           "supervisor: systemd-user\n"
           "sleep_mode: deep\n"
           "context_size: 1048577\n");
  const auto r = load(tc);
  EXPECT_THAT(
      lines(r.errors),
      ElementsAre(
          "presets/x.yaml:2:9: driver: expected one of llamacpp, vllm, fastapi, http, docker, got "
          "'llama-cpp' (did you mean 'llamacpp'?)",
          "presets/x.yaml:3:10: vram_mb: -1 is out of range (0 to 1048576)",
          "presets/x.yaml:4:7: port: 70000 is out of range (1 to 65535)",
          "presets/x.yaml:5:18: startup_timeout: 0 is out of range (1 to 3600)",
          "presets/x.yaml:6:18: health_endpoint: must start with '/', got 'health'",
          "presets/x.yaml:7:18: kv_cache_per_1k: -0.5 is below the minimum 0",
          "presets/x.yaml:8:15: stop_timeout: 601 is out of range (1 to 600)",
          "presets/x.yaml:9:15: max_restarts: 101 is out of range (0 to 100)",
          "presets/x.yaml:10:10: restart: expected one of no, on-failure, always, got 'sometimes'",
          "presets/x.yaml:11:13: supervisor: expected one of process, systemd, got 'systemd-user' "
          "(did you mean 'systemd'?)",
          "presets/x.yaml:12:13: sleep_mode: expected one of none, l1, l2, router, got 'deep'",
          "presets/x.yaml:13:15: context_size: 1048577 is out of range (1 to 1048576)"));
}

TEST(ConfigLoaderTest, MissingRequiredKeysAndBadIds) {
  TempConfig tc;
  tc.write("presets/a.yaml", "# comment\nname: nameless\n");
  tc.write("presets/b.yaml", "id: bad id!\ndriver: vllm\nvram_mb:\n");
  tc.write("presets/c.yaml", "");
  tc.write("modes/m.yaml", "id: m\n");
  const auto r = load(tc);
  EXPECT_THAT(
      lines(r.errors),
      ElementsAre(
          "modes/m.yaml:1:1: missing required key 'services'",
          "presets/a.yaml:2:1: missing required key 'id'",
          "presets/a.yaml:2:1: missing required key 'driver'",
          "presets/a.yaml:2:1: missing required key 'vram_mb'",
          "presets/b.yaml:1:5: service id 'bad id!' is not valid: expected 1-64 characters, "
          "letters, digits, '_' or '-', starting with a letter or digit",
          "presets/b.yaml:3:1: vram_mb: expected an integer, got nothing",
          "presets/c.yaml: the file is empty: a preset needs at least id, driver and vram_mb"));
}

TEST(ConfigLoaderTest, SleepModeMustFitTheDriver) {
  TempConfig tc;
  tc.write("presets/app.yaml", "id: app\ndriver: fastapi\nvram_mb: 10\nsleep_mode: l1\n");
  tc.write("presets/box.yaml", "id: box\ndriver: docker\nvram_mb: 10\nsleep_mode: router\n");
  tc.write("presets/vl.yaml", "id: vl\ndriver: vllm\nvram_mb: 10\nsleep_mode: router\n");
  tc.write("presets/ll.yaml", "id: ll\ndriver: llamacpp\nvram_mb: 10\nsleep_mode: l2\n");
  tc.write("presets/ok.yaml", "id: ok\ndriver: fastapi\nvram_mb: 10\nsleep_mode: none\n");
  const auto r = load(tc);
  EXPECT_THAT(
      lines(r.errors),
      ElementsAre(
          "presets/app.yaml:4:13: sleep_mode l1 needs a driver that can sleep (llamacpp or vllm); "
          "driver fastapi cannot",
          "presets/box.yaml:4:13: sleep_mode router needs a driver that can sleep (llamacpp or "
          "vllm); driver docker cannot",
          "presets/ll.yaml:4:13: sleep_mode l2 is a vLLM sleep level; a llama.cpp service sleeps "
          "by unloading its model from a router: use sleep_mode router",
          "presets/vl.yaml:4:13: sleep_mode router is for llama-server routers (driver llamacpp); "
          "vLLM sleeps with l1 or l2"));
}

TEST(ConfigLoaderTest, SleepModeWithoutSupportsSleepIsANote) {
  TempConfig tc;
  tc.write("presets/v.yaml", "id: v\ndriver: vllm\nvram_mb: 10\nsupports_sleep: false\nsleep_mode: l1\n");
  const auto r = load(tc);
  EXPECT_THAT(lines(r.errors), IsEmpty());
  ASSERT_TRUE(r.config);
  EXPECT_THAT(lines(r.notes),
              ElementsAre("presets/v.yaml:5:13: sleep_mode is l1 but supports_sleep is false; "
                          "gpumod follows sleep_mode and will put this service to sleep"));
}

TEST(ConfigLoaderTest, EnvAndCommandAreValidated) {
  TempConfig tc;
  tc.write("presets/e.yaml",
           "id: e\n"
           "driver: http\n"
           "vram_mb: 1\n"
           "env:\n"
           "  1BAD: x\n"
           "  GOOD: \"line\\nbreak\"\n"
           "  LIST: [a]\n"
           "command: []\n");
  tc.write("presets/f.yaml", "id: f\ndriver: http\nvram_mb: 1\ncommand: ['', x]\n");
  const auto r = load(tc);
  EXPECT_THAT(lines(r.errors),
              ElementsAre("presets/e.yaml:5:3: env: '1BAD' is not a valid variable name (letters, "
                          "digits and '_', not starting with a digit)",
                          "presets/e.yaml:6:9: env.GOOD: a value must not contain a line break",
                          "presets/e.yaml:7:9: env.LIST: expected a string, got a list",
                          "presets/e.yaml:8:10: command: expected at least the program to run, "
                          "got an empty list",
                          "presets/f.yaml:4:11: command: the program (first element) is empty"));
}

TEST(ConfigLoaderTest, DuplicateKeysAndSecondDocumentsAreErrors) {
  TempConfig tc;
  tc.write("presets/d.yaml", "id: d\ndriver: vllm\nvram_mb: 1\nport: 1\nport: 2\n---\nid: e\n");
  const auto r = load(tc);
  EXPECT_THAT(lines(r.errors),
              ElementsAre("presets/d.yaml:5:1: duplicate key 'port' (first at line 4)",
                          "presets/d.yaml:7:1: a second YAML document: put one preset in each file"));
}

// ---------------------------------------------------------------------------------------------
// $VAR expansion

TEST(ConfigLoaderTest, ExpandsVariablesInPathsUnitVarsCommandAndEnv) {
  TempConfig tc;
  tc.write("presets/v.yaml",
           "id: v\n"
           "driver: llamacpp\n"
           "vram_mb: 1\n"
           "model_path: $MODELS/a.gguf\n"
           "model_id: $MODELS/not-expanded\n"
           "unit_vars:\n"
           "  dir: ${MODELS}/dir\n"
           "  unknown: $NOPE/x\n"
           "  bin: \"$HOME/bin/llama-server\"\n"
           "  flag: True\n"
           "  quoted_flag: 'yes'\n"
           "  ctx: 8192\n"
           "  empty:\n"
           "  nested: {paths: [$HOME/a, 2, true, null], n: 1.5}\n"
           "command: [$HOME/bin/run, \"--dir=${MODELS}\"]\n"
           "env: {DIR: $MODELS, N: 3}\n");
  const auto r = load(tc, {{"HOME", "/home/ada"}, {"MODELS", "/srv/models"}});
  ASSERT_THAT(lines(r.errors), IsEmpty());
  const auto* s = r.config->find_service("v");
  EXPECT_EQ(s->model_path, "/srv/models/a.gguf");
  EXPECT_EQ(s->model_id, "$MODELS/not-expanded");
  EXPECT_EQ(s->var("dir"), "/srv/models/dir");
  EXPECT_EQ(s->var("unknown"), "$NOPE/x");
  EXPECT_EQ(s->var("bin"), "/home/ada/bin/llama-server");
  EXPECT_EQ(s->var("flag"), "true");
  EXPECT_EQ(s->var("quoted_flag"), "yes");
  EXPECT_EQ(s->var("ctx"), "8192");
  EXPECT_EQ(s->var("empty"), "");
  EXPECT_EQ(s->var("nested"), R"({"n":1.5,"paths":["/home/ada/a",2,true,null]})");
  EXPECT_THAT(s->command, ElementsAre("/home/ada/bin/run", "--dir=/srv/models"));
  EXPECT_EQ(s->env.at("DIR"), "/srv/models");
  EXPECT_EQ(s->env.at("N"), "3");
}

// ---------------------------------------------------------------------------------------------
// Modes, settings and cross-file checks

TEST(ConfigLoaderTest, ModeKeysAreValidated) {
  TempConfig tc;
  tc.write("presets/a.yaml", k_vllm_a);
  tc.write("modes/m.yaml", "id: m\ndescripton: typo\nservices: [embed-a]\n");
  tc.write("modes/n.yml", "id: n\nname: Named\ndescription: all\nservices:\n  - embed-a\n");
  const auto r = load(tc);
  EXPECT_THAT(lines(r.errors),
              ElementsAre("modes/m.yaml:2:1: unknown key 'descripton' in a mode (did you mean "
                          "'description'?)"));
  tc.write("modes/m.yaml", "id: m\nservices: []\n");
  const auto ok = load(tc);
  ASSERT_THAT(lines(ok.errors), IsEmpty());
  EXPECT_EQ(ok.config->find_mode("m")->name, "m");
  EXPECT_TRUE(ok.config->find_mode("m")->services.empty());
  EXPECT_EQ(ok.config->find_mode("n")->name, "Named");
  EXPECT_EQ(ok.config->find_mode("n")->description, "all");
  EXPECT_THAT(ok.config->find_mode("n")->services, ElementsAre("embed-a"));
}

TEST(ConfigLoaderTest, DuplicateIdsNameBothFiles) {
  TempConfig tc;
  tc.write("presets/a.yaml", k_vllm_a);
  tc.write("presets/sub/b.yaml", "# copy\nid: embed-a\ndriver: vllm\nvram_mb: 1\n");
  tc.write("modes/m1.yaml", "id: m\nservices: [embed-a]\n");
  tc.write("modes/m2.yaml", "\n\nid: m\nservices: [embed-a]\n");
  const auto r = load(tc);
  EXPECT_THAT(lines(r.errors),
              ElementsAre("modes/m2.yaml:3:5: duplicate mode id 'm': also defined at modes/m1.yaml:1:5",
                          "presets/sub/b.yaml:2:5: duplicate service id 'embed-a': also defined at "
                          "presets/a.yaml:1:5"));
}

TEST(ConfigLoaderTest, ModeReferencesMustExistOnce) {
  TempConfig tc;
  tc.write("presets/a.yaml", k_vllm_a);
  tc.write("modes/m.yaml", "id: m\nservices:\n  - embed-a\n  - embed-b\n  - embed-a\n  - zzz\n");
  const auto r = load(tc);
  EXPECT_THAT(lines(r.errors),
              ElementsAre("modes/m.yaml:4:5: mode 'm': unknown service 'embed-b' (did you mean "
                          "'embed-a'?)",
                          "modes/m.yaml:5:5: mode 'm' lists service 'embed-a' twice (first at line 3)",
                          "modes/m.yaml:6:5: mode 'm': unknown service 'zzz'"));
}

TEST(ConfigLoaderTest, DependsOnMustNameKnownServicesWithoutCycles) {
  TempConfig tc;
  tc.write("presets/a.yaml", "id: a\ndriver: http\nvram_mb: 1\ndepends_on: [b]\n");
  tc.write("presets/b.yaml", "id: b\ndriver: http\nvram_mb: 1\ndepends_on: [c, a]\n");
  tc.write("presets/c.yaml", "id: c\ndriver: http\nvram_mb: 1\ndepends_on:\n  - nothing-like-it\n");
  tc.write("presets/d.yaml", "id: self\ndriver: http\nvram_mb: 1\ndepends_on: [self]\n");
  const auto r = load(tc);
  EXPECT_THAT(lines(r.errors),
              ElementsAre("presets/b.yaml:4:17: depends_on forms a cycle: a -> b -> a",
                          "presets/c.yaml:5:5: depends_on: unknown service 'nothing-like-it'",
                          "presets/d.yaml:4:14: depends_on forms a cycle: self -> self"));
}

TEST(ConfigLoaderTest, ServicesOfOneModeMustNotShareAPort) {
  TempConfig tc;
  tc.write("presets/a.yaml", k_vllm_a);
  tc.write("presets/b.yaml", "id: embed-b\ndriver: vllm\nport: 8000\nvram_mb: 1\n");
  tc.write("modes/both.yaml", "id: both\nservices: [embed-a, embed-b]\n");
  const auto r = load(tc);
  EXPECT_THAT(lines(r.errors),
              ElementsAre("modes/both.yaml:2:21: embed-a and embed-b both listen on port 8000: one "
                          "mode cannot run them together"));
  EXPECT_THAT(r.notes, IsEmpty());
}

TEST(ConfigLoaderTest, SharedPortOutsideAnyModeIsANote) {
  TempConfig tc;
  tc.write("presets/a.yaml", k_vllm_a);
  tc.write("presets/b.yaml", "id: embed-b\ndriver: vllm\nport: 8000\nvram_mb: 1\n");
  tc.write("modes/a.yaml", "id: a\nservices: [embed-a]\n");
  const auto r = load(tc);
  ASSERT_THAT(lines(r.errors), IsEmpty());
  EXPECT_THAT(lines(r.notes),
              ElementsAre("presets/a.yaml:3:7: embed-a and embed-b share port 8000; legal because "
                          "no mode runs them together"));
}

std::string router(const std::string& id, const std::string& models_dir, int models_max) {
  return "id: " + id +
         "\ndriver: llamacpp\nport: 7070\nvram_mb: 100\nsleep_mode: router\nsupports_sleep: "
         "true\nunit_vars:\n  models_dir: " +
         models_dir + "\n  models_max: " + std::to_string(models_max) + "\n";
}

TEST(ConfigLoaderTest, RouterModelsInOneModeNeedModelsMax) {
  TempConfig tc;
  tc.write("presets/nemotron-3-nano.yaml", router("nemotron-3-nano", "$HOME/models", 1));
  tc.write("presets/glm-code.yaml", router("glm-code", "/home/ada/models", 1));
  tc.write("modes/both.yaml", "id: both\nservices:\n  - nemotron-3-nano\n  - glm-code\n");
  const auto r = load(tc, {{"HOME", "/home/ada"}});
  EXPECT_THAT(lines(r.errors),
              ElementsAre("modes/both.yaml:4:5: nemotron-3-nano and glm-code share the llama-server "
                          "router on port 7070 (models_max 1): one mode cannot hold both"));

  // With room for two models, one router serves both in one mode.
  tc.write("presets/nemotron-3-nano.yaml", router("nemotron-3-nano", "$HOME/models", 2));
  tc.write("presets/glm-code.yaml", router("glm-code", "/home/ada/models", 2));
  const auto ok = load(tc, {{"HOME", "/home/ada"}});
  EXPECT_THAT(lines(ok.errors), IsEmpty());
  EXPECT_TRUE(ok.config);
  EXPECT_THAT(ok.notes, IsEmpty());

  // Different models_dir: two servers on one port, never together.
  tc.write("presets/glm-code.yaml", router("glm-code", "/other", 2));
  const auto two = load(tc, {{"HOME", "/home/ada"}});
  EXPECT_THAT(lines(two.errors),
              ElementsAre("modes/both.yaml:4:5: nemotron-3-nano and glm-code both listen on port "
                          "7070: one mode cannot run them together"));
}

TEST(ConfigLoaderTest, RouterModelsMaxMustBeAPositiveInteger) {
  TempConfig tc;
  tc.write("presets/r.yaml",
           "id: r\ndriver: llamacpp\nvram_mb: 1\nsleep_mode: router\nunit_vars:\n  models_max: "
           "lots\n");
  const auto r = load(tc);
  EXPECT_THAT(lines(r.errors),
              ElementsAre("presets/r.yaml:6:15: unit_vars.models_max: expected an integer from 1 "
                          "to 1024, got 'lots'"));
}

TEST(ConfigLoaderTest, SettingsAreReadAndValidated) {
  TempConfig tc;
  tc.write("gpumod.yaml",
           "gpu:\n  uuid: GPU-abc\n  simulate: {name: Test GPU, total_mib: 8192, only_without_gpu: "
           "false}\nvram_margin_mib: 0\n");
  const auto r = load(tc);
  ASSERT_THAT(lines(r.errors), IsEmpty());
  const auto& s = r.config->settings;
  EXPECT_EQ(s.gpu_uuid, "GPU-abc");
  ASSERT_TRUE(s.simulate_gpu);
  EXPECT_EQ(s.simulate_gpu->name, "Test GPU");
  EXPECT_EQ(s.simulate_gpu->total_mib, 8192);
  EXPECT_FALSE(s.simulate_gpu->only_without_gpu);
  EXPECT_EQ(s.vram_margin_mib, 0);

  tc.write("gpumod.yaml",
           "gpu:\n  simulate:\n    name: X\n    total_mb: 8192\n  uid: x\nvram_margin: 1\n"
           "---\n");
  tc.write("gpumod.yaml",
           "gpu:\n  simulate:\n    name: X\n    total_mib: 0\n  uid: x\nvram_margin: 1\n");
  const auto bad = load(tc);
  EXPECT_THAT(lines(bad.errors),
              ElementsAre("gpumod.yaml:4:16: gpu.simulate.total_mib: 0 is out of range (1 to "
                          "2097152)",
                          "gpumod.yaml:5:3: unknown key 'gpu.uid' in gpumod.yaml (did you mean "
                          "'uuid'?)",
                          "gpumod.yaml:6:1: unknown key 'vram_margin' in gpumod.yaml (did you mean "
                          "'vram_margin_mib'?)"));

  tc.write("gpumod.yaml", "gpu:\n  simulate:\n    name: X\nvram_margin_mib: 70000\n");
  const auto missing = load(tc);
  EXPECT_THAT(lines(missing.errors),
              ElementsAre("gpumod.yaml:2:3: missing required key 'gpu.simulate.total_mib'",
                          "gpumod.yaml:4:18: vram_margin_mib: 70000 is out of range (0 to 65536)"));
}

TEST(ConfigLoaderTest, DefaultSettingsWithoutGpumodYaml) {
  TempConfig tc;
  const auto r = load(tc);
  ASSERT_THAT(lines(r.errors), IsEmpty());
  ASSERT_TRUE(r.config);
  EXPECT_TRUE(r.config->services.empty());
  EXPECT_TRUE(r.config->modes.empty());
  EXPECT_EQ(r.config->settings.vram_margin_mib, 512);
  EXPECT_FALSE(r.config->settings.simulate_gpu);
  EXPECT_EQ(r.config->root, tc.root());
}

// ---------------------------------------------------------------------------------------------
// Files, roots and reporting

TEST(ConfigLoaderTest, IgnoresEditorTempAndHiddenFiles) {
  TempConfig tc;
  tc.write("presets/a.yaml", k_vllm_a);
  for (const char* name : {"presets/a.yaml~", "presets/.a.yaml", "presets/a.yaml.swp",
                           "presets/a.tmp", "presets/.hidden/x.yaml", "presets/notes.txt",
                           "modes/.#m.yaml", "modes/deeper/m.yaml"}) {
    tc.write(name, "this: [is not valid\n");
  }
  tc.write("presets/UPPER.YML", "id: upper\ndriver: http\nvram_mb: 1\n");
  const auto r = load(tc);
  ASSERT_THAT(lines(r.errors), IsEmpty());
  EXPECT_THAT(r.config->service_ids(), ElementsAre("embed-a", "upper"));
}

TEST(ConfigLoaderTest, YamlSyntaxErrorReportsFileLineAndColumn) {
  const auto root = std::filesystem::path(GPUMOD_TESTDATA_DIR) / "config/broken-yaml";
  const auto r = load_config(root, fake_env({}));
  EXPECT_FALSE(r.config);
  EXPECT_THAT(lines(r.errors),
              ElementsAre("modes/m.yaml:2:11: YAML syntax error: this '[' is never closed (end of sequence flow "
                          "not found at 3:1)",
                          "presets/llm/bad.yaml:4:11: YAML syntax error: illegal map value"));
}

// yaml-cpp gives up on an unclosed bracket at the next line; the error points at the bracket.
TEST(ConfigLoaderTest, UnclosedBracketIsReportedWhereItOpens) {
  TempConfig tc;
  tc.write("presets/a.yaml", "id: a\nport: {x: 1 # a comment with ] and }\nvram_mb: 3\ndriver: vllm\n");
  const auto r = load(tc);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(format_diagnostic(r.errors[0]), HasSubstr("presets/a.yaml:2:7: YAML syntax error: this '{' is never closed"));
}

TEST(ConfigLoaderTest, ReportsManyErrorsTogetherSortedByFileAndLine) {
  const auto root = std::filesystem::path(GPUMOD_TESTDATA_DIR) / "config/many-errors";
  const auto r = load_config(root, fake_env({}));
  EXPECT_FALSE(r.config);
  EXPECT_THAT(
      lines(r.errors),
      ElementsAre(
          "gpumod.yaml:2:3: unknown key 'gpu.simulated' in gpumod.yaml (did you mean 'simulate'?)",
          "modes/chat.yaml:5:5: mode 'chat': unknown service 'nemotron-nan' (did you mean "
          "'nemotron-nano'?)",
          "modes/chat.yaml:6:5: mode 'chat' lists service 'vllm-chat' twice (first at line 4)",
          "presets/llm/nemotron-nano.yaml:5:10: vram_mb: expected an integer, got '20GB'",
          "presets/llm/nemotron-nano.yaml:6:1: unknown key 'contxt_size' in a preset (did you "
          "mean 'context_size'?)",
          "presets/vllm-chat.yaml:4:7: port: 0 is out of range (1 to 65535)",
          "presets/vllm-chat.yaml:7:13: sleep_mode: expected one of none, l1, l2, router, got 'L1' "
          "(did you mean 'l1'?)"));
}

TEST(ConfigLoaderTest, MissingRootIsAnError) {
  const auto root = std::filesystem::path(::testing::TempDir()) / "gpumod-no-such-config-dir";
  const auto r = load_config(root, fake_env({}));
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(format_diagnostic(r.errors[0]),
            root.string() + ": the configuration directory does not exist");
}

TEST(ConfigLoaderTest, LoadOrErrorGivesOneLinePerError) {
  const auto good = load_config_or_error(std::filesystem::path(GPUMOD_SOURCE_DIR) / "examples/config");
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_EQ(good->services.size(), 4u);

  const auto bad =
      load_config_or_error(std::filesystem::path(GPUMOD_TESTDATA_DIR) / "config/many-errors");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, util::ErrorCode::config_invalid);
  const auto message_lines = util::split(bad.error().message, '\n');
  EXPECT_EQ(message_lines.size(), 7u);
  EXPECT_EQ(message_lines.front(),
            "gpumod.yaml:2:3: unknown key 'gpu.simulated' in gpumod.yaml (did you mean "
            "'simulate'?)");
}

TEST(ConfigLoaderTest, FormatDiagnostic) {
  EXPECT_EQ(format_diagnostic({{"presets/llm/nemotron.yaml", 4, 7}, "port: bad"}),
            "presets/llm/nemotron.yaml:4:7: port: bad");
  EXPECT_EQ(format_diagnostic({{"presets", 0, 0}, "cannot read"}), "presets: cannot read");
}

}  // namespace
}  // namespace gpumod::infra::config
