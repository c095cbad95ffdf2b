// The real gpumod binary: gguf inspect, model register|list|show|remove|estimate (text, JSON,
// --fit, the measured layer, llama-fit-params side by side), bad inputs and their exit codes.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gpumod/core/ggml_types.hpp"
#include "gpumod/core/vram_estimator.hpp"
#include "gpumod/infra/gguf/model_info.hpp"
#include "gpumod/infra/gguf/reader.hpp"
#include "gpumod/util/subprocess.hpp"
#include "gpumod/engine/model_registry.hpp"
#include "gpumod/infra/gguf/writer.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "support/gpumod_runner.hpp"
#include "tools/make_model/vocab_builder.hpp"
#include "support/json_schema.hpp"

namespace gpumod::testing {
namespace {

namespace fs = std::filesystem;
namespace gg = infra::gguf;
using nlohmann::json;

// The observed 1.1 B F16 llama (llama-server-observed.md) as a sparse zero-filled file.
void write_llama_1b(const std::string& path) {
  using core::ggml_id::f16;
  using core::ggml_id::f32;
  const std::uint64_t e = 2048, kv = 512, ff = 8192, vocab = 32064;
  std::vector<gg::MetadataEntry> meta{
      gg::meta_string("general.architecture", "llama"), gg::meta_u32("llama.block_count", 16),
      gg::meta_u32("llama.embedding_length", 2048),     gg::meta_u32("llama.feed_forward_length", 8192),
      gg::meta_u32("llama.attention.head_count", 32),   gg::meta_u32("llama.attention.head_count_kv", 8),
      gg::meta_u32("llama.context_length", 131072),     gg::meta_u32("llama.vocab_size", 32064)};
  std::vector<gg::TensorSpec> t{{"token_embd.weight", f16, {e, vocab}},
                                {"output.weight", f16, {e, vocab}},
                                {"output_norm.weight", f32, {e}}};
  for (int i = 0; i < 16; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    t.push_back({b + "attn_norm.weight", f32, {e}});
    t.push_back({b + "attn_q.weight", f16, {e, e}});
    t.push_back({b + "attn_k.weight", f16, {e, kv}});
    t.push_back({b + "attn_v.weight", f16, {e, kv}});
    t.push_back({b + "attn_output.weight", f16, {e, e}});
    t.push_back({b + "ffn_norm.weight", f32, {e}});
    t.push_back({b + "ffn_gate.weight", f16, {e, ff}});
    t.push_back({b + "ffn_up.weight", f16, {e, ff}});
    t.push_back({b + "ffn_down.weight", f16, {ff, e}});
  }
  ASSERT_TRUE(gg::write_gguf(path, meta, t));
}

class ModelCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(runner.home() / "models");
    model = (runner.home() / "models" / "tiny-1b-F16.gguf").string();
    write_llama_1b(model);
  }
  RunResult gpumod(std::vector<std::string> args) {
    std::vector<std::string> full{"--config", example_config_dir().string()};
    full.insert(full.end(), args.begin(), args.end());
    return runner.run(full);
  }
  GpumodRunner runner;
  std::string model;
};

TEST_F(ModelCliTest, InspectsTheSharedVocabFiles) {
  const fs::path dir = fs::path(GPUMOD_SHARED_TESTDATA_DIR) / "gguf";
  if (!fs::is_directory(dir)) GTEST_SKIP() << "no shared test data at " << dir;
  int seen = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".gguf") continue;
    ++seen;
    auto r = gpumod({"gguf", "inspect", entry.path().string(), "--json"});
    ASSERT_EQ(r.exit_code, 0) << entry.path() << ": " << r.err;
    const auto j = json::parse(r.out);
    EXPECT_FALSE(j["architecture"].get<std::string>().empty()) << entry.path();
    EXPECT_EQ(j["tensor_count"], 0) << entry.path();  // vocab-only files
    EXPECT_EQ(j["file_bytes"], fs::file_size(entry.path()));
    r = gpumod({"gguf", "inspect", entry.path().string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("Architecture:"), std::string::npos);
  }
  EXPECT_GT(seen, 0);
}

// The same on vocab-only files of the real ones' shapes, written by the project (no ../shared).
TEST_F(ModelCliTest, InspectsVocabShapedWrittenFiles) {
  for (const char* name : {"llama-spm", "phi-3", "bert-bge"}) {
    const auto spec = tools::known_vocab(name);
    const std::string path = (runner.home() / (std::string(name) + ".gguf")).string();
    ASSERT_TRUE(tools::write_vocab_gguf(path, spec));
    auto r = gpumod({"gguf", "inspect", path, "--json"});
    ASSERT_EQ(r.exit_code, 0) << name << ": " << r.err;
    const auto j = json::parse(r.out);
    EXPECT_EQ(j["architecture"], spec.arch);
    EXPECT_EQ(j["tensor_count"], 0);
    EXPECT_EQ(j["file_bytes"], fs::file_size(path));
    r = gpumod({"gguf", "inspect", path});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("Architecture:"), std::string::npos);
  }
}

TEST_F(ModelCliTest, InspectsAWrittenModelWithItsTensors) {
  auto r = gpumod({"gguf", "inspect", model});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Quant:         F16"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Heads:         32 (KV heads 8, head dim 64)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Context:       131,072 tokens"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("blk.0.attn_q.weight"), std::string::npos);  // only with --tensors

  r = gpumod({"gguf", "inspect", model, "--tensors", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["quant"], "F16");
  EXPECT_EQ(j["model"]["n_layer"], 16);
  EXPECT_EQ(j["model"]["n_head_kv"], 8);
  EXPECT_EQ(j["model"]["n_expert"], 0);
  EXPECT_EQ(j["split_count"], 1);
  EXPECT_EQ(j["quant_mix_bytes"]["f16"].get<std::uint64_t>() + j["quant_mix_bytes"]["f32"].get<std::uint64_t>(),
            j["weight_bytes"].get<std::uint64_t>());
  ASSERT_EQ(j["tensors"].size(), 3u + 16u * 9u);
  const auto& q = j["tensors"][4];
  EXPECT_EQ(q["name"], "blk.0.attn_q.weight");
  EXPECT_EQ(q["type"], "f16");
  EXPECT_EQ(q["shape"], json::array({2048, 2048}));
  EXPECT_EQ(q["bytes"], 2048 * 2048 * 2);
  EXPECT_EQ(q["offset"].get<std::uint64_t>() % 32, 0u);

  r = gpumod({"gguf", "inspect", model, "--tensors"});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("blk.15.ffn_down.weight"), std::string::npos);
}

TEST_F(ModelCliTest, InspectErrorsHaveExitCodes) {
  auto r = gpumod({"gguf", "inspect", (runner.home() / "missing.gguf").string()});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("no such file"), std::string::npos);
  const auto junk = (runner.home() / "junk.gguf").string();
  std::ofstream(junk) << "this is not a GGUF file";
  r = gpumod({"gguf", "inspect", junk});
  EXPECT_EQ(r.exit_code, 10);
  EXPECT_NE(r.err.find("GGUF"), std::string::npos) << r.err;
  const std::string truncated(runner.home() / "cut.gguf");
  {
    std::ifstream src(model, std::ios::binary);
    std::string head(2000, '\0');  // ends inside the metadata / tensor table
    src.read(head.data(), static_cast<std::streamsize>(head.size()));
    std::ofstream(truncated, std::ios::binary) << head;
  }
  r = gpumod({"gguf", "inspect", truncated});
  EXPECT_EQ(r.exit_code, 10) << r.err;
  r = gpumod({"gguf", "inspect"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(ModelCliTest, EstimateTextAndJson) {
  auto r = gpumod({"model", "estimate", model});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("HEADER ESTIMATE"), std::string::npos) << r.out;
  auto line_of = [&](const std::string& label) {
    const auto at = r.out.find(label);
    return at == std::string::npos ? std::string() : r.out.substr(at, r.out.find('\n', at) - at);
  };
  EXPECT_NE(line_of("GPU KV cache").find(" 128.0"), std::string::npos) << r.out;
  EXPECT_NE(line_of("GPU total at load").find(" 2,766.1"), std::string::npos) << r.out;
  // After real use: + the first-request workspace of a dense model (20 MiB).
  EXPECT_NE(line_of("GPU first-request workspace").find(" 20.0"), std::string::npos) << r.out;
  EXPECT_NE(line_of("GPU total after use").find(" 2,786.1"), std::string::npos) << r.out;
  EXPECT_NE(line_of("GPU runtime overhead (default)").find(" 590.0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--overhead-mib"), std::string::npos);

  r = gpumod({"model", "estimate", model, "--ctx", "32768", "--cache-type-k", "q8_0", "--cache-type-v", "q8_0",
              "--flash-attn", "on", "--parallel", "1", "--overhead-mib", "500", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = test_support::expect_one_document(r.out, r.err, "model-estimate");
  EXPECT_EQ(j["estimate"]["source"], "header estimate");
  EXPECT_EQ(j["estimate"]["context_size"], 32768);
  EXPECT_NEAR(j["estimate"]["gpu"]["kv_mib"].get<double>(), 544.0, 0.01);  // q8_0: 34 bytes per 32
  EXPECT_NEAR(j["estimate"]["gpu"]["weights_mib"].get<double>(), 1981.5, 0.1);
  // The measured base plus what a quantized KV cache's kernels take at load (+98 MiB).
  EXPECT_EQ(j["estimate"]["gpu"]["overhead_mib"], 598.0);
  EXPECT_TRUE(j["estimate"]["overhead_measured"]);
  EXPECT_EQ(j["settings"]["cache_type_k"], "q8_0");
  EXPECT_EQ(j["settings"]["parallel"], 1);
  EXPECT_TRUE(j["measured"].is_null());
  EXPECT_TRUE(j["fit"].is_null());
  const auto g = j["estimate"]["gpu"];
  EXPECT_NEAR(g["total_mib"].get<double>(),
              g["weights_mib"].get<double>() + g["kv_mib"].get<double>() + g["recurrent_state_mib"].get<double>() +
                  g["compute_mib"].get<double>() + g["overhead_mib"].get<double>() + g["workspace_mib"].get<double>(),
              0.01);
  EXPECT_NEAR(g["total_at_load_mib"].get<double>(), g["total_mib"].get<double>() - g["workspace_mib"].get<double>(), 0.01);

  // Fewer GPU layers move weights and KV to the host.
  r = gpumod({"model", "estimate", model, "--n-gpu-layers", "8", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto p = json::parse(r.out);
  EXPECT_LT(p["estimate"]["gpu"]["weights_mib"].get<double>(), 1000.0);
  EXPECT_GT(p["estimate"]["host_mib"].get<double>(), 1000.0);
}

TEST_F(ModelCliTest, FitAnswersTheLargestContextOrTheMostLayers) {
  auto r = gpumod({"model", "estimate", model, "--fit", "4000", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = json::parse(r.out);
  ASSERT_TRUE(j["fit"]["fits"]);
  const auto ctx = j["fit"]["context_size"].get<int>();
  EXPECT_EQ(ctx % 256, 0);
  // 4000 - (1981.5 + 590 + ~67) leaves ~1,360 MiB at 32 MiB per 1k of KV (+ mask growth).
  EXPECT_GT(ctx, 32768);
  EXPECT_LT(ctx, 45000 * 2);
  // The answer fits and one more step does not.
  auto at = json::parse(gpumod({"model", "estimate", model, "--ctx", std::to_string(ctx), "--json"}).out);
  EXPECT_LE(at["estimate"]["gpu"]["total_mib"].get<double>(), 4000.0);
  auto above = json::parse(gpumod({"model", "estimate", model, "--ctx", std::to_string(ctx + 256), "--json"}).out);
  EXPECT_GT(above["estimate"]["gpu"]["total_mib"].get<double>(), 4000.0);

  r = gpumod({"model", "estimate", model, "--fit", "4000"});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Largest context within 4,000 MiB"), std::string::npos) << r.out;

  r = gpumod({"model", "estimate", model, "--n-gpu-layers", "fit", "--fit", "1800", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = test_support::expect_one_document(r.out, r.err, "model-estimate");
  const int layers = j["fit"]["n_gpu_layers"].get<int>();
  EXPECT_GT(layers, 0);
  EXPECT_LT(layers, 17);

  r = gpumod({"model", "estimate", model, "--fit", "100"});
  EXPECT_EQ(r.exit_code, 7);  // insufficient_vram
  EXPECT_NE(r.err.find("not even 256 tokens"), std::string::npos) << r.err;
}

TEST_F(ModelCliTest, FitTargetPredictsLlamaServerFitOn) {
  // The 1.1 B F16 model (training context 131,072): 4,000 MiB free leaves fit 2,449 MiB to use,
  // less than the full context needs, more than 4,096 cells: fit shrinks the context only.
  auto r = gpumod({"model", "estimate", model, "--fit-target-mib", "4000", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = json::parse(r.out);
  ASSERT_FALSE(j["fit_on"].is_null()) << r.out;
  EXPECT_TRUE(j["fit_on"]["context_reduced"]);
  const int ctx = j["fit_on"]["context_size"].get<int>();
  EXPECT_EQ(ctx % 256, 0);
  EXPECT_GT(ctx, 4096);
  EXPECT_LT(ctx, 131072);
  EXPECT_EQ(j["fit_on"]["n_gpu_layers"], 17);
  EXPECT_LE(j["fit_on"]["projected_mib"].get<double>(), j["fit_on"]["budget_mib"].get<double>());
  EXPECT_GT(j["fit_on"]["gpu"]["total_mib"].get<double>(), j["fit_on"]["gpu"]["total_at_load_mib"].get<double>());

  r = gpumod({"model", "estimate", model, "--fit-target-mib", "4000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("llama-server --fit on with 4,000 MiB free"), std::string::npos) << r.out;

  EXPECT_EQ(gpumod({"model", "estimate", model, "--fit-target-mib", "0"}).exit_code, 2);
  EXPECT_EQ(gpumod({"model", "estimate", model, "--fit-target-mib", "lots"}).exit_code, 2);
}

TEST_F(ModelCliTest, EstimateRejectsBadInputs) {
  const std::vector<std::vector<std::string>> bad{
      {"--ctx", "-5"},          {"--ctx", "abc"},           {"--ctx", "2000000"},
      {"--cache-type-k", "q9"}, {"--cache-type-v", "f32"},  {"--flash-attn", "maybe"},
      {"--parallel", "0"},      {"--n-gpu-layers", "lots"}, {"--n-cpu-moe", "-1"},
      {"--batch", "256", "--ubatch", "512"},                {"--overhead-mib", "x"},
      {"--fit", "0"},           {"--n-gpu-layers", "fit"}};
  for (const auto& extra : bad) {
    std::vector<std::string> args{"model", "estimate", model};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = gpumod(args);
    EXPECT_EQ(r.exit_code, 2) << extra[0] << " " << extra[1] << ": " << r.err;
    EXPECT_NE(r.err.find("gpumod: error:"), std::string::npos);
  }
  EXPECT_EQ(gpumod({"model", "estimate", (runner.home() / "none.gguf").string()}).exit_code, 4);
  EXPECT_EQ(gpumod({"model", "estimate", "no-such-model"}).exit_code, 4);
  EXPECT_EQ(gpumod({"model", "estimate", "bad id!"}).exit_code, 2);
  const auto junk = (runner.home() / "junk.gguf").string();
  std::ofstream(junk) << "GGUF but not really";
  EXPECT_EQ(gpumod({"model", "estimate", junk}).exit_code, 10);
}

TEST_F(ModelCliTest, RegistryRoundTrip) {
  auto r = gpumod({"model", "register", "--source", "gguf", model, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = test_support::expect_one_document(r.out, r.err, "model-register");
  EXPECT_EQ(j["id"], "tiny-1b-F16");
  EXPECT_FALSE(j["refreshed"]);
  EXPECT_EQ(j["quant"], "F16");
  EXPECT_NEAR(j["base_vram_mib"].get<double>(), 2787.0, 2.0);  // at load 2,767 + 20 MiB after the first request (dense)
  EXPECT_EQ(j["summary"]["n_layer"], 16);

  r = gpumod({"model", "register", "--source", "gguf", model});  // W28: refresh, not failure
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Refreshed model tiny-1b-F16"), std::string::npos) << r.out;

  r = gpumod({"model", "register", "--source", "local", "--id", "qwen-vllm", "--vram-mib", "20000",
              "--kv-per-1k-mib", "12.5", "--architecture", "Qwen2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  r = gpumod({"model", "list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = json::parse(r.out);
  ASSERT_EQ(j["models"].size(), 2u);
  EXPECT_EQ(j["models"][0]["id"], "qwen-vllm");
  r = gpumod({"model", "list"});
  EXPECT_NE(r.out.find("tiny-1b-F16"), std::string::npos);

  r = gpumod({"model", "show", "qwen-vllm", "--json"});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(test_support::expect_one_document(r.out, r.err, "model-show")["kv_per_1k_mib"], 12.5);
  r = gpumod({"model", "show", "tiny-1b-F16"});
  EXPECT_NE(r.out.find("Base VRAM:"), std::string::npos);

  // Estimating by id reads the registered file.
  r = gpumod({"model", "estimate", "tiny-1b-F16", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["estimate"]["source"], "header estimate");
  // A hand-entered model: base + kv_per_1k x (ctx - 4096) / 1024.
  r = gpumod({"model", "estimate", "qwen-vllm", "--ctx", "8192", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NEAR(json::parse(r.out)["estimate"]["gpu"]["total_mib"].get<double>(), 20050.0, 0.01);

  r = gpumod({"model", "remove", "qwen-vllm", "--json"});
  EXPECT_TRUE(test_support::expect_one_document(r.out, r.err, "model-remove")["removed"]);
  r = gpumod({"model", "remove", "qwen-vllm", "--json"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(json::parse(r.out)["removed"]);
  EXPECT_EQ(gpumod({"model", "show", "qwen-vllm"}).exit_code, 4);

  // Bad registrations.
  EXPECT_EQ(gpumod({"model", "register", "--source", "local", "--id", "x", "--vram-mib", "0"}).exit_code, 2);
  EXPECT_EQ(gpumod({"model", "register", "--source", "local", "--vram-mib", "10"}).exit_code, 2);
  EXPECT_EQ(gpumod({"model", "register", "--source", "hub", model}).exit_code, 2);
  EXPECT_EQ(gpumod({"model", "register", "--source", "gguf", model, "--id", "../x"}).exit_code, 2);
  EXPECT_EQ(gpumod({"model", "register", "--source", "gguf", (runner.home() / "no.gguf").string()}).exit_code, 4);
}

TEST_F(ModelCliTest, MeasuredLoadsAreShownNextToTheEstimate) {
  ASSERT_EQ(gpumod({"model", "register", "--source", "gguf", model}).exit_code, 0);
  {
    auto store = infra::state::StateStore::open(runner.env().at("GPUMOD_DB_PATH"));
    ASSERT_TRUE(store) << store.error().message;
    infra::state::ModelMeasurement m;
    m.model_id = "tiny-1b-F16";
    m.settings_key = engine::measurement_settings_key(core::EstimateOptions{});
    m.model_mib = 1981;
    m.kv_mib = 128;
    m.compute_mib = 66;
    m.device = "NVIDIA H100 80GB HBM3";
    m.process_mib = 2764;
    ASSERT_TRUE(store->add_measurement(m));
  }
  auto r = gpumod({"model", "estimate", "tiny-1b-F16", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = json::parse(r.out);
  ASSERT_FALSE(j["measured"].is_null());
  EXPECT_EQ(j["measured"]["process_mib"], 2764);
  EXPECT_EQ(j["measured"]["device"], "NVIDIA H100 80GB HBM3");
  r = gpumod({"model", "estimate", "tiny-1b-F16"});
  EXPECT_NE(r.out.find("MEASURED"), std::string::npos) << r.out;
  // Other settings: no measurement applies.
  r = gpumod({"model", "estimate", "tiny-1b-F16", "--ctx", "8192", "--json"});
  EXPECT_TRUE(json::parse(r.out)["measured"].is_null());
}

TEST_F(ModelCliTest, LlamaFitParamsIsShownSideBySideWhenInstalled) {
  const fs::path bin = runner.home() / "bin";
  fs::create_directories(bin);
  const fs::path fake = bin / "llama-fit-params";
  {
    std::ofstream f(fake);
    // Prints what llama-fit-params --fit-print on prints; records its argv.
    f << "#!/bin/sh\necho \"$@\" > \"" << (runner.home() / "fit-args").string() << "\"\n"
      << "echo 'llama_params_fit: some log line'\necho 'CUDA0 1981 128 66 '\necho 'Host 125 0 4 '\n";
  }
  fs::permissions(fake, fs::perms::owner_all);
  const char* path = std::getenv("PATH");
  runner.env()["PATH"] = bin.string() + ":" + (path ? path : "/usr/bin:/bin");

  auto r = gpumod({"model", "estimate", model, "--ctx", "8192", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = json::parse(r.out);
  ASSERT_FALSE(j["llama_fit_params"].is_null()) << r.out;
  EXPECT_EQ(j["llama_fit_params"]["device"], "CUDA0");
  EXPECT_EQ(j["llama_fit_params"]["gpu"]["total_mib"], 1981.0 + 128 + 66);
  EXPECT_EQ(j["llama_fit_params"]["host"]["compute_mib"], 4.0);
  std::ifstream args(runner.home() / "fit-args");
  std::string line;
  std::getline(args, line);
  EXPECT_NE(line.find("-c 8192"), std::string::npos) << line;
  EXPECT_NE(line.find("--fit-print on"), std::string::npos) << line;
  r = gpumod({"model", "estimate", model});
  EXPECT_NE(r.out.find("LLAMA-FIT-PARAMS"), std::string::npos) << r.out;

  // Absent (or failing): skipped quietly.
  runner.env()["PATH"] = "/nonexistent";
  r = gpumod({"model", "estimate", model, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(json::parse(r.out)["llama_fit_params"].is_null());
}

// simulate --context uses the estimator for a service whose router default_model is a file: the
// example's nemotron-3-nano reads $HOME/models/Nemotron-3-Nano-30B-A3B-UD-Q4_K_XL.gguf.
TEST_F(ModelCliTest, SimulateContextUsesTheModelFile) {
  const std::vector<std::string> sim{"--simulate-gpu", "NVIDIA GeForce RTX 4090 (simulated):24564", "simulate",
                                     "mode", "nemotron", "--context", "nemotron-3-nano=32768", "--json"};
  auto r = gpumod(sim);
  EXPECT_EQ(r.exit_code, 2) << "no model file and no kv_cache_per_1k: " << r.out << r.err;

  const auto file = (runner.home() / "models" / "Nemotron-3-Nano-30B-A3B-UD-Q4_K_XL.gguf").string();
  fs::rename(model, file);
  r = gpumod(sim);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  auto f = gg::read_gguf_model(file);
  ASSERT_TRUE(f);
  auto shape = gg::model_shape_from_gguf(*f);
  ASSERT_TRUE(shape);
  // Like with like: the configured 20,000 MiB plus the estimated change from the configured 8,192
  // tokens to 32,768 (not the estimate at 32,768 set against configured figures).
  const auto at = [&](std::uint32_t ctx) {
    core::EstimateOptions o;
    o.context_size = ctx;
    return static_cast<std::int64_t>(std::ceil(core::estimate_vram(*shape, o).gpu.total_mib));
  };
  const auto expected = 20000 + at(32768) - at(8192);
  ASSERT_EQ(j["services"].size(), 1u);
  EXPECT_EQ(j["services"][0]["vram_mib"], expected);
  EXPECT_EQ(j["services"][0]["context"], 32768);
}

// gpumod-make-model (src/tools) is built next to gpumod; its files read back with our reader and
// give sane estimates for each architecture it writes.
TEST_F(ModelCliTest, MakeModelWritesReadableModelsOfEveryArchitecture) {
  const fs::path tool = fs::path(GPUMOD_BIN).parent_path() / "gpumod-make-model";
  if (!fs::exists(tool)) GTEST_SKIP() << "gpumod-make-model not built (cmake --build build --target gpumod-make-model)";
  struct Case {
    std::string arch;
    std::vector<std::string> args;
  };
  const std::vector<Case> cases{
      {"llama", {"--layers", "4", "--embd", "256", "--heads", "4", "--kv-heads", "2", "--ff", "512", "--type", "q8_0"}},
      {"qwen3moe", {"--arch", "qwen3moe", "--layers", "4", "--embd", "256", "--heads", "4", "--kv-heads", "2",
                    "--experts", "8", "--experts-used", "2", "--ff-exp", "128", "--type", "q4_0"}},
      {"gemma2", {"--arch", "gemma2", "--layers", "4", "--embd", "256", "--heads", "4", "--kv-heads", "2",
                  "--head-dim", "64", "--swa-window", "512"}},
      {"nemotron_h_moe", {"--arch", "nemotron_h_moe", "--layers", "8", "--embd", "256", "--heads", "4", "--kv-heads",
                          "2", "--head-dim", "64", "--experts", "8", "--experts-used", "2", "--ff-exp", "128"}}};
  for (const auto& c : cases) {
    const std::string out = (runner.home() / (c.arch + ".gguf")).string();
    std::vector<std::string> argv{tool.string(), out, "--vocab", "400", "--ctx-train", "8192"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = util::run_capture(argv);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->exit_code, 0) << c.arch << ": " << r->err;
    auto f = gg::read_gguf_model(out);
    ASSERT_TRUE(f) << c.arch << ": " << f.error().message;
    EXPECT_EQ(f->get_string("general.architecture"), c.arch);
    EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
    ASSERT_NE(f->get_array("tokenizer.ggml.tokens"), nullptr);
    EXPECT_EQ(f->get_array("tokenizer.ggml.tokens")->count, 400u);
    EXPECT_EQ(f->get_array("tokenizer.ggml.scores")->count, 400u);
    EXPECT_EQ(f->get_array("tokenizer.ggml.token_type")->count, 400u);
    EXPECT_EQ(f->get_uint("tokenizer.ggml.eos_token_id"), 2u);
    EXPECT_TRUE(f->get_float(c.arch + ".attention.layer_norm_rms_epsilon"));
    auto shape = gg::model_shape_from_gguf(*f);
    ASSERT_TRUE(shape) << c.arch << ": " << shape.error().message;
    EXPECT_EQ(shape->n_vocab, 400u);
    EXPECT_EQ(shape->n_ctx_train, 8192u);
    core::EstimateOptions o;
    const auto e = core::estimate_vram(*shape, o);
    EXPECT_GT(e.gpu.weights_mib, 0.5) << c.arch;
    EXPECT_GT(e.gpu.kv_mib, 0.0) << c.arch;
    EXPECT_LT(e.gpu.total_mib, 700.0) << c.arch;  // tiny models: mostly the runtime overhead
    if (c.arch == "llama") {
      EXPECT_EQ(gg::quant_label(*f, "llama.gguf"), "Q8_0");
      EXPECT_EQ(shape->n_embd_head_k, 64u);
    }
    if (c.arch == "qwen3moe") {
      EXPECT_EQ(shape->n_expert, 8u);
      EXPECT_EQ(shape->n_expert_used, 2u);
      EXPECT_GT(shape->layers[0].expert_bytes, 0u);
    }
    if (c.arch == "gemma2") {
      EXPECT_EQ(shape->n_swa, 512u);
      EXPECT_TRUE(shape->output_tied);  // llama.cpp duplicates token_embd for gemma2
      EXPECT_TRUE(shape->layers[0].swa);
      EXPECT_FALSE(shape->layers[1].swa);
    }
    if (c.arch == "nemotron_h_moe") {
      EXPECT_EQ(shape->n_recurrent_layers(), 4u);
      EXPECT_EQ(shape->n_attention_layers(), 1u);
      EXPECT_GT(e.gpu.recurrent_state_mib, 0.0);
    }
  }
  // Bad shapes are refused with a usage error.
  auto r = util::run_capture({tool.string(), (runner.home() / "x.gguf").string(), "--arch", "llama", "--vocab", "10"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_FALSE(fs::exists(runner.home() / "x.gguf"));
}

}  // namespace
}  // namespace gpumod::testing
