// gpumod bench end to end: the real binary and daemon against gpumod-mock-server with configured
// timings (--mock-ttft-ms, --mock-prompt-tps, --mock-gen-tps, load/wake delays), so measured
// numbers are checked against the mock's own delays: lower bounds from the configured values, and
// upper bounds only where the server reports its own timings (never wall-clock-tight).
#include "e2e/runtime_fixture.hpp"
#include "support/json_schema.hpp"

namespace gpumod::testing {
namespace {

constexpr int k_ttft_ms = 40;
constexpr int k_prompt_tps = 2000;
constexpr int k_gen_tps = 200;
constexpr int k_prompt_tokens = 64;
constexpr int k_gen_tokens = 12;

std::map<std::string, std::string> timed_env(std::map<std::string, std::string> extra = {}) {
  std::map<std::string, std::string> env = {{"GPUMOD_MOCK_TTFT_MS", std::to_string(k_ttft_ms)},
                                            {"GPUMOD_MOCK_PROMPT_TPS", std::to_string(k_prompt_tps)},
                                            {"GPUMOD_MOCK_GEN_TPS", std::to_string(k_gen_tps)}};
  env.insert(extra.begin(), extra.end());
  return env;
}

class BenchE2E : public RuntimeFixture {
 protected:
  // A single-model llama-server (the mock under llama-server's name, with a model file).
  void add_llama(const std::string& id, std::map<std::string, std::string> env = timed_env()) {
    const auto model = runner.home() / (id + ".gguf");
    std::ofstream(model) << "GGUF";
    env["GPUMOD_MOCK_VRAM_MIB"] = "1500";  // what the mock "loads"
    add_preset({.id = id, .driver = "llamacpp", .vram_mib = 1500, .sleep_mode = "none", .env = std::move(env),
                .model_path = model.string(), .bin = mock_named("llama-server")});
  }

  json bench(const std::string& target, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"bench", target, "--prompt-tokens", std::to_string(k_prompt_tokens),
                                  "--gen-tokens", std::to_string(k_gen_tokens), "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = gpumod(args, 120000);
    EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
    return r.exit_code == 0 ? test_support::expect_one_document(r.out, r.err, "bench") : json::parse(r.out, nullptr, false);
  }

  json history() {
    const auto r = gpumod({"bench", "--history", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return test_support::expect_one_document(r.out, r.err, "bench-history");
  }

  static double median(const json& stat) { return stat["median"].get<double>(); }
};

TEST_F(BenchE2E, LlamaServerTableFromTheServersOwnTimings) {
  add_llama("chat");
  ASSERT_EQ(gpumod({"service", "start", "chat"}).exit_code, 0);
  const auto r = bench("chat", {"--runs", "3", "--no-thinking"});
  ASSERT_TRUE(r.is_object()) << r;
  EXPECT_EQ(r["service"], "chat");
  ASSERT_EQ(r["rows"].size(), 2u) << "completion, and the chat row with thinking off";
  const auto& row = r["rows"][0];
  EXPECT_EQ(row["label"], "completion");
  EXPECT_EQ(row["endpoint"], "/completion");
  EXPECT_EQ(row["source"], "server timings");
  EXPECT_EQ(row["prompt_n"], k_prompt_tokens) << "exact prompt, from the server's own /tokenize";
  EXPECT_EQ(row["gen_n"], k_gen_tokens);
  EXPECT_EQ(row["ttft_ms"]["n"], 3);
  // The mock sleeps at least the configured time per token, so its own rates are at most the
  // configured ones; a loaded machine only makes them lower.
  EXPECT_LE(median(row["gen_tps"]), k_gen_tps * 1.02);
  EXPECT_GE(median(row["gen_tps"]), k_gen_tps / 4.0);
  EXPECT_LE(median(row["prompt_tps"]), k_prompt_tps * 1.02);
  EXPECT_GE(median(row["prompt_tps"]), k_prompt_tps / 4.0);
  // TTFT covers the fixed delay, the prompt and the first token at least.
  const double min_ttft = k_ttft_ms + 1000.0 * k_prompt_tokens / k_prompt_tps + 1000.0 / k_gen_tps;
  EXPECT_GE(row["ttft_ms"]["min"].get<double>(), min_ttft);
  EXPECT_GE(row["e2e_ms"]["min"].get<double>(), k_ttft_ms + 1000.0 * k_prompt_tokens / k_prompt_tps +
                                                       1000.0 * k_gen_tokens / k_gen_tps);
  EXPECT_EQ(r["rows"][1]["label"], "chat, thinking off");
  EXPECT_EQ(r["vram_before_mib"], 1500);
  EXPECT_EQ(r["vram_after_mib"], 1500);

  // Stored, listed by --history, and shown by status.
  const auto h = history();
  ASSERT_EQ(h["runs"].size(), 1u) << h;
  EXPECT_EQ(h["runs"][0]["subject"], "chat");
  EXPECT_EQ(h["runs"][0]["id"], r["run_id"]);
  EXPECT_DOUBLE_EQ(h["runs"][0]["gen_tps"].get<double>(), median(row["gen_tps"]));
  const auto st = status();
  EXPECT_DOUBLE_EQ(st["services"][0]["bench"]["gen_tps"].get<double>(), median(row["gen_tps"]));
  EXPECT_NE(gpumod({"status"}).out.find("Last measured (gpumod bench):"), std::string::npos);
  // Text and Markdown renderings of the same run.
  const auto text = gpumod({"bench", "--history"});
  EXPECT_NE(text.out.find("prompt=64 gen=12 runs=3 concurrency=1 no-thinking"), std::string::npos) << text.out;
  const auto md = gpumod({"bench", "chat", "--prompt-tokens", "8", "--gen-tokens", "2", "--runs", "1", "--markdown"}, 60000);
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_NE(md.out.find("| ROW |"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("| completion |"), std::string::npos) << md.out;

  // status: the newest bench is a column of the table and an object of --json (in its schema),
  // with the daemon and without one (from the store).
  const auto live = status();
  EXPECT_EQ(test_support::schema_violations(live, "status"), "");
  ASSERT_TRUE(live["services"][0].contains("bench")) << live;
  EXPECT_EQ(live["services"][0]["bench"]["settings"], "prompt=8 gen=2 runs=1 concurrency=1") << "the newest run";
  EXPECT_NE(gpumod({"status"}).out.find("GEN TOK/S"), std::string::npos);
  ASSERT_EQ(gpumod({"daemon", "stop", "--with-services"}).exit_code, 0);
  const auto offline = status();
  EXPECT_EQ(offline["source"], "database");
  EXPECT_EQ(test_support::schema_violations(offline, "status"), "");
  EXPECT_EQ(offline["services"][0]["bench"], live["services"][0]["bench"]);
  EXPECT_NE(gpumod({"status"}).out.find("GEN TOK/S"), std::string::npos);
}

TEST_F(BenchE2E, ConcurrentRequestsAndAModelNameAsTarget) {
  add_preset({.id = "vgen", .vram_mib = 2000, .sleep_mode = "none", .env = timed_env()});
  ASSERT_EQ(gpumod({"service", "start", "vgen"}).exit_code, 0);
  // vLLM returns no timings: the rates come from the stream; the model id names the service.
  const auto r = bench("test/vgen", {"--runs", "2", "--concurrency", "3"});
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["service"], "vgen");
  const auto& row = r["rows"][0];
  EXPECT_EQ(row["endpoint"], "/v1/completions");
  EXPECT_EQ(row["source"], "stream");
  EXPECT_EQ(row["requests"], 6);
  EXPECT_EQ(row["prompt_n"], k_prompt_tokens) << "usage from the stream";
  EXPECT_EQ(row["gen_n"], k_gen_tokens);
  EXPECT_EQ(row["ttft_ms"]["n"], 6);
  EXPECT_GE(row["ttft_ms"]["min"].get<double>(), k_ttft_ms + 1000.0 * k_prompt_tokens / k_prompt_tps);
  EXPECT_GT(median(row["aggregate_gen_tps"]), 0.0);
}

TEST_F(BenchE2E, EmbeddingServiceIsMeasuredInEmbeddingsPerSecond) {
  add_preset({.id = "emb", .vram_mib = 1000, .sleep_mode = "none", .env = timed_env(),
              .unit_vars = {{"runner", "pooling"}}});
  ASSERT_EQ(gpumod({"service", "start", "emb"}).exit_code, 0);
  const auto r = bench("emb", {"--runs", "2"});
  ASSERT_TRUE(r.is_object());
  ASSERT_EQ(r["rows"].size(), 1u);
  const auto& row = r["rows"][0];
  EXPECT_EQ(row["label"], "embeddings");
  EXPECT_EQ(row["prompt_n"], k_prompt_tokens);
  EXPECT_GE(row["e2e_ms"]["min"].get<double>(), k_ttft_ms + 1000.0 * k_prompt_tokens / k_prompt_tps);
  // One embedding per request, each taking at least the configured delays.
  EXPECT_LE(median(row["embeddings_per_s"]), 1000.0 / (k_ttft_ms + 1000.0 * k_prompt_tokens / k_prompt_tps) * 1.02);
  EXPECT_GT(median(row["embeddings_per_s"]), 0.0);
}

TEST_F(BenchE2E, ColdLoadAndWakeThroughGpumodFeedTheDryRun) {
  add_preset({.id = "vs", .vram_mib = 2000, .sleep_mode = "l1",
              .env = timed_env({{"GPUMOD_MOCK_LOAD_DELAY_MS", "300"}, {"GPUMOD_MOCK_WAKE_DELAY_MS", "150"}})});
  add_mode("m", {"vs"});
  // Cold: a stopped service is started by the measurement itself. (The page cache is kept: a test
  // must not drop the whole machine's cache; the script under bench/gpu/ measures that.)
  const auto r = bench("vs", {"--cold", "--keep-page-cache", "--runs", "2"});
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["load_ms"]["n"], 2);
  EXPECT_GE(r["load_ms"]["min"].get<double>(), 300.0) << "the mock's load delay";
  EXPECT_GE(r["wake_ms"]["min"].get<double>(), 150.0) << "the mock's wake delay";
  EXPECT_EQ(r["sleep_ms"]["n"], 2);
  EXPECT_EQ(r["cold_note"], "page cache kept (warm load)");
  // The dry run of a switch that starts it expects the measured start.
  ASSERT_EQ(gpumod({"service", "stop", "vs"}).exit_code, 0);
  const auto plan = gpumod({"mode", "switch", "m", "--dry-run", "--json"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  const auto p = json::parse(plan.out);
  ASSERT_EQ(p["steps"].size(), 1u) << p;
  EXPECT_EQ(p["steps"][0]["action"], "start");
  ASSERT_TRUE(p["steps"][0].contains("expected_ms")) << p;
  EXPECT_GE(p["steps"][0]["expected_ms"].get<std::int64_t>(), 300);
  EXPECT_EQ(p["expected_total_ms"], p["steps"][0]["expected_ms"]);
  const auto text = gpumod({"mode", "switch", "m", "--dry-run"});
  EXPECT_NE(text.out.find("EXPECTED"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("Expected duration: "), std::string::npos) << text.out;
}

TEST_F(BenchE2E, BadInputGivesClearErrorsAndStoresNothing) {
  add_llama("chat");
  add_llama("flaky", timed_env({{"GPUMOD_MOCK_FAULT", "error-after-requests=3"}}));
  auto r = gpumod({"bench", "nope"});
  EXPECT_TRUE(is_cli_error(r, "no service or model 'nope'")) << r.err;
  // Stopped: refused unless --start.
  r = gpumod({"bench", "chat", "--runs", "1"});
  EXPECT_TRUE(is_cli_error(r, "chat is stopped")) << r.err;
  EXPECT_NE(r.err.find("--start"), std::string::npos) << r.err;
  r = gpumod({"bench", "chat", "--runs", "1", "--gen-tokens", "2", "--prompt-tokens", "4", "--start"}, 60000);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("started for the bench"), std::string::npos) << r.out;
  // A server that fails mid-run (the warm-up and 2 requests pass, the third answers 500).
  ASSERT_EQ(gpumod({"service", "start", "flaky"}).exit_code, 0);
  r = gpumod({"bench", "flaky", "--runs", "4", "--gen-tokens", "2", "--prompt-tokens", "4"}, 60000);
  EXPECT_TRUE(is_cli_error(r, "run 3 of 4")) << r.err;
  EXPECT_NE(r.err.find("HTTP 500"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing was stored"), std::string::npos) << r.err;
  const auto h = history();
  ASSERT_EQ(h["runs"].size(), 1u) << "only chat's run: " << h;
  EXPECT_EQ(h["runs"][0]["subject"], "chat");
  // Numbers out of range are refused before anything runs.
  r = gpumod({"bench", "chat", "--runs", "0"});
  EXPECT_NE(r.exit_code, 0);
  r = gpumod({"bench", "switch", "a", "a"});
  EXPECT_TRUE(is_cli_error(r, "same mode")) << r.err;
}

TEST_F(BenchE2E, SwitchBenchAlternatesRealSwitchesAndTimesTheRoutersOwnSwap) {
  const int port = test_support::free_loopback_port();
  const std::map<std::string, std::string> env = {{"GPUMOD_MOCK_LOAD_DELAY_MS", "200"},
                                                  {"GPUMOD_MOCK_UNLOAD_DELAY_MS", "50"}};
  for (auto [id, model] : {std::pair{"r-alpha", "alpha"}, std::pair{"r-beta", "beta"}}) {
    add_preset({.id = id, .driver = "llamacpp", .port = port, .vram_mib = 5000, .sleep_mode = "router", .env = env,
                .unit_vars = {{"models_dir", runner.home().string()}, {"models_max", "1"},
                              {"no_models_autoload", "true"}, {"default_model", model}}});
    std::ofstream(runner.home() / (std::string(model) + ".gguf")) << "GGUF";
  }
  add_mode("a", {"r-alpha"});
  add_mode("b", {"r-beta"});
  add_mode("a2", {"r-alpha"});
  const auto r = gpumod({"bench", "switch", "a", "b", "--rounds", "2", "--json"}, 120000);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const auto j = test_support::expect_one_document(r.out, r.err, "bench-switch");
  ASSERT_EQ(j["legs"].size(), 4u) << "a->b, b->a, twice";
  for (const auto& leg : j["legs"]) {
    EXPECT_FALSE(leg["steps"].empty()) << "never a no-op: " << leg;
    EXPECT_GE(leg["total_ms"].get<std::int64_t>(), 200) << "a model load at least";
  }
  ASSERT_EQ(j["directions"].size(), 2u);
  for (const auto& d : j["directions"]) {
    EXPECT_EQ(d["total_ms"]["n"], 2);
    ASSERT_TRUE(d.contains("router_swap_ms")) << d;
    EXPECT_GE(d["router_swap_ms"]["min"].get<double>(), 250.0) << "the router's unload + load delays";
    EXPECT_GT(d["ratio"].get<double>(), 0.0);
    bool load_step = false;
    for (const auto& s : d["steps"]) {
      if (s["action"] == "wake" || s["action"] == "start") {
        load_step = true;
        EXPECT_GE(median(s["router_load_ms"]), 200.0) << s;
      }
    }
    EXPECT_TRUE(load_step) << d;
  }
  // The measured steps are what the next dry run expects.
  const auto p = json::parse(gpumod({"mode", "switch", "b", "--dry-run", "--json"}).out);
  EXPECT_TRUE(p["expected_total_ms"].is_number()) << p;
  // Two modes that run the same services: a switch between them changes nothing, so it is refused.
  const auto same = gpumod({"bench", "switch", "a", "a2"}, 60000);
  EXPECT_TRUE(is_cli_error(same, "changed nothing")) << same.err;
  EXPECT_EQ(history()["runs"].size(), 1u);
}

// The GPU validation script the lead runs on a GPU machine, run here against the mock server under
// llama-server's name (a simulated GPU, sparse models): it must produce its whole report.
TEST_F(BenchE2E, GpuValidationScriptRunsAgainstTheMockServer) {
  const fs::path out = runner.home() / "validation";
  const fs::path bin_dir = fs::path(GPUMOD_MOCK_SERVER_BIN).parent_path();
  test_support::ChildProcess script(
      {"/bin/bash", std::string(GPUMOD_SOURCE_DIR) + "/bench/gpu/bench_validation.sh", mock_named("llama-server"),
       (runner.home() / "models").string(), out.string()},
      {.env = {{"GPUMOD", GPUMOD_BIN},
               {"MAKE_MODEL", (bin_dir / "gpumod-make-model").string()},
               {"SIMULATE_GPU", "1"}, {"KEEP_PAGE_CACHE", "1"}, {"MODEL_DATA", "zeros"}, {"RUNS", "1"}, {"ROUNDS", "1"},
               {"PORT_BASE", std::to_string(test_support::free_loopback_port_run(3))},
               {"GPUMOD_MOCK_LOAD_DELAY_MS", "50"}, {"GPUMOD_MOCK_GEN_TPS", "2000"},
               {"GPUMOD_SERVE_LISTEN", "off"}}});  // (no endpoint on the default port)
  const auto rc = script.wait_exit(std::chrono::milliseconds(110000));
  ASSERT_TRUE(rc.has_value()) << script.output();
  ASSERT_EQ(*rc, 0) << script.output();
  std::ifstream in(out / "report.md");
  const std::string report((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* part : {"| completion | 512 / 128 |", "| completion | 2,048 / 256 |", "| chat, thinking off |",
                           "Load through gpumod (cold):", "page cache kept (warm load)", "ROUTER'S OWN SWAP",
                           "| wake | llm-a |", "Expected duration:"}) {
    EXPECT_NE(report.find(part), std::string::npos) << part << "\n" << report;
  }
  // llm-b's first load in the round is a start (its router never held it), later ones wakes.
  EXPECT_TRUE(report.find("| start | llm-b |") != std::string::npos || report.find("| wake | llm-b |") != std::string::npos)
      << report;
  const auto sw = json::parse(std::ifstream(out / "switch.json"), nullptr, false);
  ASSERT_TRUE(sw.is_object());
  EXPECT_TRUE(sw["directions"][0].contains("router_swap_ms")) << sw;
}

}  // namespace
}  // namespace gpumod::testing
