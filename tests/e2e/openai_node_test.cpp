// The OpenAI endpoint through the official `openai` npm client (tests/node/openai, pinned, with
// its lockfile; `make test` runs `npm ci` there). Each case writes a configuration, starts the
// daemon, and runs one scenario of tests/node/openai/test.mjs.
#include "e2e/openai_fixture.hpp"
#include "gpumod/util/subprocess.hpp"

namespace gpumod::testing {
namespace {

class OpenAiNodeE2E : public OpenAiE2E {
 protected:
  void SetUp() override {
    const auto dir = source_dir() / "tests" / "node" / "openai";
    if (util::find_program("node").empty()) GTEST_SKIP() << "node is not installed (make test installs the client with npm ci)";
    if (!std::filesystem::exists(dir / "node_modules" / "openai")) {
      GTEST_SKIP() << "the openai client is not installed: run `npm ci` in " << dir.string() << " (make test does)";
    }
  }

  void run_scenario(const std::string& scenario) {
    start_daemon();
    test_support::ChildOptions o;
    o.env = runner.env();
    o.env["OPENAI_BASE_URL"] = "http://127.0.0.1:" + std::to_string(port) + "/v1";
    o.env["GPUMOD_BIN"] = GPUMOD_BIN;
    o.env["GPUMOD_CONFIG"] = config_dir().string();
    o.env["GPUMOD_SCENARIO"] = scenario;
    const auto script = (source_dir() / "tests" / "node" / "openai" / "test.mjs").string();
    test_support::ChildProcess node({util::find_program("node"), script}, o);
    ASSERT_GT(node.pid(), 0) << node.error();
    const auto rc = node.wait_exit(std::chrono::minutes(3));
    EXPECT_EQ(rc, 0) << node.output();
  }
};

TEST_F(OpenAiNodeE2E, ChatStreamingEmbeddingsModelsAndDisconnect) {
  write_config({{.id = "chat",
                 .vram_mib = 4000,
                 .env = {{"GPUMOD_MOCK_CHUNK_DELAY_MS", "10"}, {"GPUMOD_MOCK_REPLY_WORDS", "12"}},
                 .extra = "aliases: [gpt-local]\n"},
                {.id = "embed", .vram_mib = 2000},
                {.id = "long",
                 .vram_mib = 2000,
                 .env = {{"GPUMOD_MOCK_CHUNK_DELAY_MS", "50"}, {"GPUMOD_MOCK_REPLY_WORDS", "400"}},
                 .extra = "aliases: [chat-long]\n"}},
               {});
  run_scenario("basic");
}

TEST_F(OpenAiNodeE2E, OnDemandModeSwitch) {
  write_config({{.id = "a", .vram_mib = 14000}, {.id = "b", .vram_mib = 14000}}, {{"ma", {"a"}}, {"mb", {"b"}}});
  run_scenario("switch");
}

TEST_F(OpenAiNodeE2E, QueueThatFillsIs429) {
  write_config({{.id = "slow", .env = {{"GPUMOD_MOCK_LOAD_DELAY_MS", "3000"}}}}, {}, "  max_queue: 1\n");
  run_scenario("queue");
}

TEST_F(OpenAiNodeE2E, TtlSleepThenWake) {
  write_config({{.id = "chat", .extra = "ttl_s: 1\n"}}, {});
  run_scenario("ttl");
}

TEST_F(OpenAiNodeE2E, PinnedServiceBlocksEviction503) {
  write_config({{.id = "big", .vram_mib = 16000, .extra = "pin: true\n"}, {.id = "other", .vram_mib = 12000}}, {});
  run_scenario("pinned");
}

TEST_F(OpenAiNodeE2E, RouterModelsAtModelsMaxOneDoNotThrash) {
  const int router = test_support::free_loopback_port();
  write_config({router_model("r-alpha", "alpha", router, 6000), router_model("r-beta", "beta", router, 8000)}, {},
               "  min_residency_s: 1\n");
  run_scenario("router");
}

TEST_F(OpenAiNodeE2E, UpstreamDiesMidStream502) {
  write_config({{.id = "chat", .env = {{"GPUMOD_MOCK_FAULT", "die-mid-stream"}, {"GPUMOD_MOCK_REPLY_WORDS", "20"}}}}, {});
  run_scenario("dies");
}

}  // namespace
}  // namespace gpumod::testing
