// The CLI's one contract (docs/cli-contract.md), checked on the real binary without a daemon:
// exit codes from the README's table, --json output that is one document (errors included) and
// valid against its schema in docs/schemas/, special files refused before they are opened,
// `config check` with the drivers' own validation, `simulate` input checks, small messages, and
// read-only commands on a broken configuration or a read-only state directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "gpumod/infra/state/state_store.hpp"
#include "support/gpumod_runner.hpp"
#include "support/json_schema.hpp"
#include "tools/make_model/model_builder.hpp"
#include "tools/make_model/vocab_builder.hpp"

namespace gpumod::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string k_sim = "NVIDIA GeForce RTX 4090 (simulated):24564";

class CliContractTest : public ::testing::Test {
 protected:
  RunResult on_example(std::vector<std::string> args) {
    std::vector<std::string> full{"--config", example_config_dir().string(), "--simulate-gpu", k_sim};
    full.insert(full.end(), args.begin(), args.end());
    return runner.run(full);
  }
  RunResult on(const fs::path& cfg, std::vector<std::string> args) {
    std::vector<std::string> full{"--config", cfg.string()};
    full.insert(full.end(), args.begin(), args.end());
    return runner.run(full);
  }
  // A configuration of its own: presets/<file> with `text`, settings simulating a GPU.
  fs::path config_with(const std::map<std::string, std::string>& presets, const std::map<std::string, std::string>& modes = {}) {
    const fs::path dir = runner.home() / ("cfg" + std::to_string(++m_configs));
    fs::create_directories(dir / "presets");
    fs::create_directories(dir / "modes");
    std::ofstream(dir / "gpumod.yaml") << "gpu:\n  simulate:\n    name: Test GPU\n    total_mib: 24000\n    only_without_gpu: false\n";
    for (const auto& [name, text] : presets) std::ofstream(dir / "presets" / name) << text;
    for (const auto& [name, text] : modes) std::ofstream(dir / "modes" / name) << text;
    return dir;
  }
  // stdout is exactly one JSON document, valid against docs/schemas/<schema>.schema.json.
  static json one_document(const RunResult& r, const std::string& schema) {
    return test_support::expect_one_document(r.out, r.err, schema);
  }
  GpumodRunner runner;
  int m_configs = 0;
};

// ---- --json: one document, errors included ----------------------------------------------------

TEST_F(CliContractTest, JsonErrorsAreOneDocumentOnStdout) {
  auto r = on_example({"mode", "show", "nope", "--json"});
  EXPECT_EQ(r.exit_code, 4);
  auto j = one_document(r, "error");
  EXPECT_EQ(j["error"]["code"], "not_found");
  EXPECT_THAT(j["error"]["message"].get<std::string>(), HasSubstr("no mode 'nope'"));
  EXPECT_THAT(r.err, HasSubstr("gpumod: error: no mode 'nope'"));  // people still read stderr

  r = on_example({"simulate", "mode", "code", "--context", "nemotron-3-nano=0", "--json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(one_document(r, "error")["error"]["code"], "invalid_argument");

  r = on_example({"service", "list", "--json", "--no-such-flag"});  // a usage error is a document too
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(one_document(r, "error")["error"]["code"], "invalid_argument");

  r = on_example({"mode", "show", "nope"});  // without --json, stdout stays empty
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.out, "");
}

TEST_F(CliContractTest, EveryJsonOutputMatchesItsSchema) {
  one_document(on_example({"service", "list", "--json"}), "service-list");
  one_document(on_example({"mode", "list", "--json"}), "mode-list");
  one_document(on_example({"mode", "show", "code", "--json"}), "mode-show");
  one_document(on_example({"config", "check", "--json"}), "config-check");
  auto r = on_example({"simulate", "mode", "code", "--add", "vllm-embedding", "--json"});
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_FALSE(one_document(r, "simulate")["alternatives"].empty());
  one_document(on_example({"simulate", "mode", "code", "--json"}), "simulate");
  r = on_example({"status", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(one_document(r, "status")["source"], "database");
  one_document(on_example({"model", "list", "--json"}), "model-list");
  one_document(on_example({"events", "--json"}), "events");
  const fs::path vocab = runner.home() / "vocab.gguf";
  ASSERT_TRUE(tools::write_vocab_gguf(vocab.string(), tools::known_vocab("phi-3")));
  one_document(on_example({"gguf", "inspect", vocab.string(), "--json"}), "gguf-inspect");
}

// The validator the tests above rely on does catch what it should.
TEST_F(CliContractTest, TheSchemaValidatorRejectsWhatTheSchemaForbids) {
  const auto ok = json::parse(R"({"error": {"code": "not_found", "message": "x"}})");
  EXPECT_EQ(test_support::schema_violations(ok, "error"), "");
  EXPECT_THAT(test_support::schema_violations(json::parse(R"({"error": {"code": "nope", "message": "x"}})"), "error"),
              HasSubstr("/error/code"));
  EXPECT_THAT(test_support::schema_violations(json::parse(R"({"error": {"code": "io"}})"), "error"),
              HasSubstr("missing required property 'message'"));
  EXPECT_THAT(test_support::schema_violations(json::parse(R"({"error": {"code": "io", "message": 3}})"), "error"),
              HasSubstr("expected type"));
  EXPECT_THAT(test_support::schema_violations(json::parse(R"({"events": [{"id": 1}]})"), "events"),
              HasSubstr("missing required property 'ts_ms'"));
  auto st = json::parse(on_example({"status", "--json"}).out);
  st["services"][0]["state"] = "asleep";
  EXPECT_THAT(test_support::schema_violations(st, "status"), HasSubstr("/services/0/state"));
}

// ---- exit codes and messages for bad arguments --------------------------------------------------

TEST_F(CliContractTest, ConfigOptionThatNamesNoDirectory) {
  auto r = runner.run({"--config", "", "service", "list"});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // not ignored (the bundled example would be used)
  EXPECT_THAT(r.err, HasSubstr("--config"));
  EXPECT_THAT(r.err, Not(HasSubstr("bundled example")));

  const fs::path file = runner.home() / "a-file";
  std::ofstream(file) << "x";
  r = runner.run({"--config", file.string(), "service", "list"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("is not a directory"));
  EXPECT_THAT(r.err, Not(HasSubstr("does not exist")));

  r = runner.run({"--config", (runner.home() / "nowhere").string(), "service", "list"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_THAT(r.err, HasSubstr("does not exist"));
}

TEST_F(CliContractTest, SpecialFilesAreRefusedBeforeTheyAreOpened) {
  const fs::path dir = runner.home() / "models";
  fs::create_directories(dir);
  auto r = on_example({"gguf", "inspect", dir.string()});
  EXPECT_EQ(r.exit_code, 4) << "a directory is not a usage error: " << r.err;
  EXPECT_THAT(r.err, HasSubstr("is a directory"));

  // A FIFO: opening it would wait for a writer forever (the runner's deadline would end it).
  const fs::path fifo = runner.home() / "model.gguf";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  r = on_example({"gguf", "inspect", fifo.string()});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_THAT(r.err, HasSubstr("is a FIFO"));
  r = on_example({"model", "estimate", fifo.string(), "--json"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_EQ(one_document(r, "error")["error"]["code"], "not_found");
  r = on_example({"gguf", "inspect", "/dev/null"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_THAT(r.err, HasSubstr("character device"));
}

TEST_F(CliContractTest, DiscoverNamesTheOptionItWasGiven) {
  auto r = on_example({"discover", "qwen", "--budget", "-1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--budget -1"));
  EXPECT_THAT(r.err, Not(HasSubstr("--vram")));
}

// ---- config check: the drivers' own validation --------------------------------------------------

std::string llama_preset(const std::string& id, int port, const std::string& unit_vars) {
  return "id: " + id + "\ndriver: llamacpp\nport: " + std::to_string(port) + "\nvram_mb: 1000\nmodel_path: /models/" + id +
         ".gguf\nsleep_mode: none\nunit_vars:\n" + unit_vars;
}

TEST_F(CliContractTest, ConfigCheckRefusesWhatTheLaunchWouldRefuse) {
  for (const auto& [vars, expected] : std::vector<std::pair<std::string, std::string>>{
           {"  ctx_size: abc\n", "unit_vars.ctx_size"},
           {"  ctx_size: -1\n", "unit_vars.ctx_size"},
           {"  n_gpu_layers: -5\n", "unit_vars.n_gpu_layers"},
           {"  cache_type_k: q3\n", "unit_vars.cache_type_k 'q3' is not a KV cache type"}}) {
    SCOPED_TRACE(vars);
    const auto cfg = config_with({{"a.yaml", llama_preset("a", 7001, vars)}});
    auto r = on(cfg, {"config", "check"});
    EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("presets/a.yaml:1:1: error: "));
    EXPECT_THAT(r.out, HasSubstr(expected));
    EXPECT_THAT(r.out, Not(HasSubstr("OK:")));
    r = on(cfg, {"config", "check", "--json"});
    EXPECT_EQ(r.exit_code, 3);
    const auto j = one_document(r, "config-check");
    EXPECT_FALSE(j["ok"].get<bool>());
    ASSERT_FALSE(j["errors"].empty());
  }
}

TEST_F(CliContractTest, ConfigCheckWarnsAboutUnreadKeysRouterMatesAndMissingFiles) {
  const fs::path models = runner.home() / "no-such-models";
  const auto cfg = config_with(
      {{"a.yaml", llama_preset("a", 7002, "  jinjja: true\n")},
       {"r1.yaml", "id: r1\ndriver: llamacpp\nport: 7010\nvram_mb: 1000\nsleep_mode: router\nunit_vars:\n  models_dir: " +
                       models.string() + "\n  default_model: m1\n  models_max: 2\n  flash_attn: on\n"},
       {"r2.yaml", "id: r2\ndriver: llamacpp\nport: 7010\nvram_mb: 1000\nsleep_mode: router\nunit_vars:\n  models_dir: " +
                       models.string() + "\n  default_model: m2\n  models_max: 1\n  flash_attn: off\n"}});
  auto r = on(cfg, {"config", "check"});
  EXPECT_EQ(r.exit_code, 0) << "warnings are not errors\n" << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("presets/a.yaml:1:1: warning: unit_vars.jinjja is not read by the llamacpp driver and has "
                               "no effect (did you mean 'jinja'?)"));
  EXPECT_THAT(r.out, HasSubstr("r2 and r1 are models of one llama-server router (port 7010"));
  EXPECT_THAT(r.out, HasSubstr("--models-max (r1: 2, r2: 1)"));
  EXPECT_THAT(r.out, HasSubstr("--flash-attn (r1: on, r2: off)"));
  EXPECT_THAT(r.out, HasSubstr("unit_vars.models_dir " + models.string() + " does not exist"));
  EXPECT_THAT(r.out, HasSubstr("model file /models/a.gguf does not exist"));
  const auto j = one_document(on(cfg, {"config", "check", "--json"}), "config-check");
  EXPECT_TRUE(j["ok"].get<bool>());
  EXPECT_GE(j["warnings"].size(), 4u);
}

TEST_F(CliContractTest, ConfigCheckOnAnEmptyDirectoryIsNotOk) {
  const fs::path empty = runner.home() / "empty";
  fs::create_directories(empty);
  auto r = on(empty, {"config", "check"});
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_THAT(r.out, Not(HasSubstr("OK: 0 services")));
  EXPECT_THAT(r.out, HasSubstr("no services"));
}

// ---- simulate: validated input, like with like ---------------------------------------------------

TEST_F(CliContractTest, SimulateValidatesItsInput) {
  auto r = on_example({"simulate", "services", "vllm-embedding,vllm-embedding"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.err, HasSubstr("'vllm-embedding' is listed twice"));
  r = on_example({"simulate", "mode", "nemotron", "--remove", "vllm-embedding"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.err, HasSubstr("--remove vllm-embedding: 'vllm-embedding' is not among the simulated services"));
  // glm-code and nemotron-3-nano share the router on 7070 with models_max 1: never loaded together.
  r = on_example({"simulate", "mode", "nemotron", "--add", "glm-code"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.err, HasSubstr("share the llama-server router on port 7070"));
}

// --context: the configured figure plus the estimated change between the two contexts, not an
// absolute header estimate set against configured figures (which made a 23,000 MiB service
// "need" 4,600 MiB at a larger context, and offered a context cut that "freed" 20,000 MiB).
TEST_F(CliContractTest, SimulateContextComparesLikeWithLike) {
  const fs::path model = runner.home() / "models" / "tiny-1b-F16.gguf";
  fs::create_directories(model.parent_path());
  tools::ModelSpec spec;
  spec.layers = 16;
  spec.embd = 2048;
  spec.heads = 32;
  spec.kv_heads = 8;
  spec.ff = 8192;
  spec.vocab = 32064;
  spec.ctx_train = 131072;
  ASSERT_TRUE(tools::write_model(model.string(), spec, {}));
  const auto cfg = config_with({{"chat.yaml", "id: chat\ndriver: llamacpp\nport: 7301\nvram_mb: 23000\ncontext_size: 8192\n"
                                              "sleep_mode: none\nmodel_path: " + model.string() + "\n"}});
  auto r = on(cfg, {"simulate", "services", "chat", "--context", "chat=65536", "--json"});
  EXPECT_EQ(r.exit_code, 7) << "23,000 MiB plus the KV of 57,344 more tokens does not fit 24,000\n" << r.out << r.err;
  const auto j = one_document(r, "simulate");
  const auto vram = j["services"][0]["vram_mib"].get<std::int64_t>();
  EXPECT_GT(vram, 23000);
  EXPECT_LT(vram, 23000 + 4000);
  EXPECT_THAT(j["services"][0]["source"].get<std::string>(), HasSubstr("configured + estimated change"));
  for (const auto& alt : j["alternatives"]) {
    for (const auto& c : alt["changes"]) {
      if (c["action"] == "lower_context") {
        EXPECT_LE(c["freed_mib"].get<std::int64_t>(), vram - 23000) << alt.dump();
      }
    }
  }
}

// ---- read-only commands on a broken configuration, a read-only state directory -----------------

TEST_F(CliContractTest, ReadOnlyCommandsShowWhatIsStoredWhenTheConfigurationBreaks) {
  const auto cfg = config_with({{"emb.yaml", "id: emb\ndriver: vllm\nport: 8001\nvram_mb: 1500\nmodel_id: x/emb\n"}},
                               {{"m.yaml", "id: m\nservices: [emb]\n"}});
  ASSERT_EQ(on(cfg, {"status"}).exit_code, 0);  // stores the configuration
  std::ofstream(cfg / "presets" / "bad.yaml") << "id: bad\ndriver: vllm\nport: [\n";
  ASSERT_EQ(on(cfg, {"config", "check"}).exit_code, 3);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"status"}, {"service", "list"}, {"mode", "list"}, {"model", "list"}, {"events"}}) {
    SCOPED_TRACE(args.front());
    auto r = on(cfg, args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("warning: the configuration does not load"));
  }
  auto r = on(cfg, {"service", "list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(one_document(r, "service-list")["services"][0]["id"], "emb");
  r = on(cfg, {"status", "--json"});
  EXPECT_EQ(one_document(r, "status")["services"].size(), 1u);
  // A command that changes something still refuses (it would act on a configuration that is not there).
  r = on(cfg, {"service", "start", "emb"});
  EXPECT_EQ(r.exit_code, 3);
}

TEST_F(CliContractTest, ReadOnlyCommandsWorkOnAReadOnlyStateDirectory) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes to read-only directories; run as a normal user to check this";
  const auto cfg = config_with({{"emb.yaml", "id: emb\ndriver: vllm\nport: 8002\nvram_mb: 1500\nmodel_id: x/emb\n"}});
  ASSERT_EQ(on(cfg, {"status"}).exit_code, 0);
  const fs::path state = runner.home() / "state";
  fs::permissions(state, fs::perms::owner_read | fs::perms::owner_exec, fs::perm_options::replace);
  fs::permissions(state / "gpumod.db", fs::perms::owner_read, fs::perm_options::replace);
  for (const auto& args : std::vector<std::vector<std::string>>{{"status"}, {"model", "list"}, {"events"}}) {
    SCOPED_TRACE(args.front());
    auto r = on(cfg, args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("opened read-only"));
  }
  fs::permissions(state, fs::perms::owner_all, fs::perm_options::replace);
  fs::permissions(state / "gpumod.db", fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
}

// ---- events: the newest N ------------------------------------------------------------------------

TEST_F(CliContractTest, EventsShowTheNewestWithLimitAfterAndSince) {
  {
    auto store = infra::state::StateStore::open(runner.home() / "state" / "gpumod.db");
    ASSERT_TRUE(store) << store.error().message;
    for (int i = 1; i <= 250; ++i) {
      infra::state::Event e;
      e.kind = "test.event";
      e.message = "event " + std::to_string(i);
      e.ts_ms = i <= 200 ? 1000 : 4'000'000'000'000;  // the last 50 "now-ish" (year 2096)
      ASSERT_TRUE(store->append_event(e));
    }
  }
  auto r = on_example({"events", "--json", "--limit", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = one_document(r, "events");
  ASSERT_EQ(j["events"].size(), 3u);
  EXPECT_EQ(j["events"][0]["message"], "event 248");  // the newest three, oldest first
  EXPECT_EQ(j["events"][2]["message"], "event 250");
  r = on_example({"events"});
  EXPECT_THAT(r.out, HasSubstr("event 250"));
  EXPECT_THAT(r.out, Not(HasSubstr("event 1\n")));  // 200 by default: the newest, not the oldest
  j = json::parse(on_example({"events", "--json", "--after", "245", "--limit", "100"}).out);
  EXPECT_EQ(j["events"].size(), 5u);
  j = json::parse(on_example({"events", "--json", "--since", "2000-01-01", "--limit", "1000"}).out);
  EXPECT_EQ(j["events"].size(), 50u);
  r = on_example({"events", "--since", "yesterday"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--since 'yesterday'"));
}

// ---- daemon install -----------------------------------------------------------------------------

TEST_F(CliContractTest, DaemonInstallWritesWhereSystemdLooksWithTheEnvironmentAndKeepsAnotherUnit) {
  const fs::path xdg = runner.home() / "xdg-config";
  runner.env()["XDG_CONFIG_HOME"] = xdg.string();
  runner.env()["GPUMOD_LLAMA_SERVER_BIN"] = "/opt/llama/bin/llama-server";
  auto r = on_example({"daemon", "install"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path unit = xdg / "systemd" / "user" / "gpumod.service";
  ASSERT_TRUE(fs::is_regular_file(unit)) << r.out;
  EXPECT_FALSE(fs::exists(runner.home() / ".config" / "systemd" / "user" / "gpumod.service"));
  std::ifstream in(unit);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The same database, state and runtime directories and servers as this CLI.
  EXPECT_THAT(text, HasSubstr("Environment=\"GPUMOD_DB_PATH=" + (runner.home() / "state" / "gpumod.db").string() + "\""));
  EXPECT_THAT(text, HasSubstr("Environment=\"XDG_STATE_HOME=" + (runner.home() / "state").string() + "\""));
  EXPECT_THAT(text, HasSubstr("Environment=\"XDG_RUNTIME_DIR=" + (runner.home() / "runtime").string() + "\""));
  EXPECT_THAT(text, HasSubstr("Environment=\"GPUMOD_LLAMA_SERVER_BIN=/opt/llama/bin/llama-server\""));
  EXPECT_THAT(text, HasSubstr("\"--simulate-gpu\""));
  EXPECT_THAT(text, HasSubstr("KillMode=process"));
  EXPECT_THAT(text, HasSubstr("\"daemon\" \"run\""));

  r = on_example({"daemon", "install"});  // the same unit again: unchanged
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("unchanged"));

  std::ofstream(unit, std::ios::trunc) << "[Service]\nExecStart=/usr/bin/true\n";  // someone else's
  r = on_example({"daemon", "install"});
  EXPECT_EQ(r.exit_code, 8) << r.out;
  EXPECT_THAT(r.err, HasSubstr("--force"));
  std::ifstream again(unit);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>()),
            "[Service]\nExecStart=/usr/bin/true\n");
  r = on_example({"daemon", "install", "--force"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::ifstream forced(unit);
  EXPECT_THAT(std::string((std::istreambuf_iterator<char>(forced)), std::istreambuf_iterator<char>()),
              HasSubstr("GPUMOD_DB_PATH"));
}

// ---- demo ---------------------------------------------------------------------------------------

TEST_F(CliContractTest, DemoFailsWhenItsLiveSwitchesFail) {
  runner.env()["GPUMOD_MOCK_FAULT"] = "crash-on-start";  // every mock server exits at start
  auto r = runner.run({"demo"}, 120000);
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.err, HasSubstr("the demo's live switches failed"));
}

}  // namespace
}  // namespace gpumod::testing
