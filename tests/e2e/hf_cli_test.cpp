// The Hugging Face commands through the real gpumod binary against the loopback FakeHub:
// model quants (table and JSON, fit next to a mode), offline from cache, preset generate (the
// written file passes `gpumod config check`), model download, discover, and clear errors.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "support/fake_hub.hpp"
#include "support/gpumod_runner.hpp"
#include "support/json_schema.hpp"

namespace gpumod {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* k_repo = "unsloth/Nemotron-3-Nano-30B-A3B-GGUF";
constexpr const char* k_st_repo = "meta-llama/Llama-3.1-8B-Instruct";

class HfCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/gpumod-hfcli-XXXXXX";
    s_dir = new fs::path(::mkdtemp(tmpl));
    s_repo = new test_support::FakeHubRepo(test_support::nemotron_repo(*s_dir / "nemotron"));
    s_st = new test_support::FakeHubRepo(test_support::llama_safetensors_repo(*s_dir / "llama"));
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*s_dir, ec);
    delete s_repo;
    delete s_st;
    delete s_dir;
  }
  void SetUp() override {
    hub.add_repo(*s_repo);
    hub.add_repo(*s_st);
    runner.env()["HF_ENDPOINT"] = hub.endpoint();
    runner.env()["HF_TOKEN"] = "";
    runner.env()["HF_HUB_OFFLINE"] = "";
    runner.env()["XDG_CACHE_HOME"] = (runner.home() / "cache").string();
  }
  static fs::path* s_dir;
  static test_support::FakeHubRepo* s_repo;
  static test_support::FakeHubRepo* s_st;
  test_support::FakeHub hub;
  testing::GpumodRunner runner;
};
fs::path* HfCli::s_dir = nullptr;
test_support::FakeHubRepo* HfCli::s_repo = nullptr;
test_support::FakeHubRepo* HfCli::s_st = nullptr;

TEST_F(HfCli, QuantsTableFitsNextToMode) {
  const auto cfg = testing::example_config_dir().string();
  auto r = runner.run({"--config", cfg, "model", "quants", k_repo, "--vram", "24564", "--ctx", "8192", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = test_support::expect_one_document(r.out, r.err, "model-quants");
  ASSERT_EQ(j["quants"].size(), 5u);
  std::map<std::string, json> by;
  for (const auto& q : j["quants"]) by[q["quant"].get<std::string>()] = q;
  EXPECT_TRUE(by["UD-Q4_K_XL"]["fits"].get<bool>());
  EXPECT_TRUE(by["UD-Q4_K_XL"]["best"].get<bool>());
  EXPECT_TRUE(by["Q4_K_M"]["fits"].get<bool>());  // the whole 24 GiB: even Q4_K_M fits
  EXPECT_EQ(by["Q4_K_M"]["parts"].get<int>(), 2);
  // Offline, from the cache: the same answer and no request.
  hub.reset_counters();
  runner.env()["HF_HUB_OFFLINE"] = "1";
  auto text = runner.run({"--config", cfg, "model", "quants", k_repo, "--vram", "24564", "--ctx", "8192"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("UD-Q4_K_XL"), std::string::npos);
  EXPECT_NE(text.out.find("yes (best)"), std::string::npos);
  EXPECT_EQ(hub.requests(), 0u);
}

TEST_F(HfCli, ErrorsAreClear) {
  auto bad = runner.run({"model", "quants", "../../etc", "--vram", "24000"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("repo id"), std::string::npos) << bad.err;
  auto missing = runner.run({"model", "quants", "acme/none", "--vram", "24000"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("not found"), std::string::npos) << missing.err;
  EXPECT_EQ(hub.requests(), 1u);  // the traversal never reached the hub
}

TEST_F(HfCli, PresetGeneratePassesConfigCheck) {
  const fs::path root = runner.home() / "cfg";
  fs::create_directories(root);
  fs::copy(testing::example_config_dir(), root, fs::copy_options::recursive);
  const fs::path out = root / "presets" / "llm" / "nemotron-hf.yaml";
  auto r = runner.run({"--config", root.string(), "preset", "generate", k_repo, "--quant", "UD-Q4_K_XL", "--vram",
                       "24564", "--id", "nemotron-hf", "--out", out.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = test_support::expect_one_document(r.out, r.err, "preset-generate");
  EXPECT_GE(j["port"].get<int>(), 7071);
  EXPECT_LE(j["vram_mib"].get<int>(), 24564);
  ASSERT_TRUE(fs::exists(out));
  auto check = runner.run({"--config", root.string(), "config", "check"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  auto again = runner.run({"--config", root.string(), "preset", "generate", k_repo, "--quant", "UD-Q4_K_XL", "--vram",
                           "24564", "--id", "other", "--out", out.string()});
  EXPECT_NE(again.exit_code, 0);  // never overwrites
}

TEST_F(HfCli, DownloadAndDiscover) {
  const auto small = test_support::write_small_gguf(runner.home() / "src", "tiny-Q8_0.gguf");
  test_support::FakeHubRepo r;
  r.id = "acme/tiny-GGUF";
  r.sha = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  r.files.push_back({"tiny-Q8_0.gguf", small, "", test_support::sha256_of_file(small), true});
  hub.add_repo(r);
  const fs::path dir = runner.home() / "models";
  auto d = runner.run({"model", "download", "acme/tiny-GGUF", "--quant", "Q8_0", "--dir", dir.string(), "--json"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_TRUE(test_support::expect_one_document(d.out, d.err, "model-download")["sha256_verified"].get<bool>());
  EXPECT_EQ(fs::file_size(dir / "tiny-Q8_0.gguf"), fs::file_size(small));
  auto disc = runner.run({"discover", "--budget", "22064", "--json"});
  ASSERT_EQ(disc.exit_code, 0) << disc.err;
  const auto j = test_support::expect_one_document(disc.out, disc.err, "discover");
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][0]["repo"], k_repo);
  EXPECT_EQ(j["results"][0]["best"]["quant"], "UD-Q4_K_XL");
}

TEST_F(HfCli, RegisterFromTheHubStoresTheRemoteHeader) {
  auto r = runner.run({"model", "register", "--source", "huggingface", k_repo, "--quant", "UD-Q4_K_XL", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = test_support::expect_one_document(r.out, r.err, "model-register");
  EXPECT_EQ(j["source"], "huggingface");
  EXPECT_EQ(j["architecture"], "nemotron_h_moe");
  EXPECT_NE(j["location"].get<std::string>().find("hf://"), std::string::npos);
  EXPECT_FALSE(j["refreshed"].get<bool>());
  // Registering again refreshes instead of failing (W28).
  r = runner.run({"model", "register", "--source", "huggingface", k_repo, "--quant", "UD-Q4_K_XL", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(nlohmann::json::parse(r.out)["refreshed"].get<bool>());
  // Without --quant it is a usage error; a traversal repo id is refused before any request.
  EXPECT_EQ(runner.run({"model", "register", "--source", "huggingface", k_repo}).exit_code, 2);
  EXPECT_EQ(runner.run({"model", "register", "--source", "huggingface", "../x", "--quant", "Q4_K_M"}).exit_code, 2);
}

TEST_F(HfCli, QuantsOnASafetensorsRepoShowsOneVllmRow) {
  auto r = runner.run({"model", "quants", k_st_repo, "--vram", "24564", "--ctx", "8192"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("A vLLM model (safetensors"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("8.03 B parameters, BF16, 2 files"), std::string::npos) << r.out;
  // The row: dtype, params, size, VRAM, fits, max context, first shard (+1 part).
  EXPECT_NE(r.out.find("BF16"), std::string::npos);
  EXPECT_NE(r.out.find("16.1 GB"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("yes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("model-00001-of-00002.safetensors (+1 parts)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("weights 15,317 + KV 1,024 (128 KiB/token, auto)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("gpu-memory-utilization"), std::string::npos) << r.out;
  // Offline, from the cache: the same row and no request.
  hub.reset_counters();
  runner.env()["HF_HUB_OFFLINE"] = "1";
  auto offline = runner.run({"model", "quants", k_st_repo, "--vram", "24564", "--ctx", "8192"});
  ASSERT_EQ(offline.exit_code, 0) << offline.err;
  EXPECT_EQ(offline.out, r.out);
  EXPECT_EQ(hub.requests(), 0u);
  runner.env()["HF_HUB_OFFLINE"] = "";

  auto j = runner.run({"model", "quants", k_st_repo, "--vram", "24564", "--ctx", "8192", "--kv-cache-dtype", "fp8", "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const auto doc = test_support::expect_one_document(j.out, j.err, "model-quants");
  EXPECT_EQ(doc["format"], "safetensors");
  ASSERT_EQ(doc["quants"].size(), 1u);
  const auto& row = doc["quants"][0];
  EXPECT_EQ(row["params"].get<std::uint64_t>(), 8'030'261'248ULL);
  EXPECT_EQ(row["weights_mib"].get<int>(), 15317);
  EXPECT_EQ(row["kv_mib"].get<int>(), 512);  // fp8: 64 KiB per token
  EXPECT_EQ(row["parts"].get<int>(), 2);
  EXPECT_TRUE(row["fits"].get<bool>());
  // The total is the sum of its (each rounded up) parts.
  EXPECT_NEAR(row["vram_mib"].get<double>(), row["weights_mib"].get<double>() + 512 + row["activation_mib"].get<double>() +
                                                 row["cuda_graph_mib"].get<double>() + row["overhead_mib"].get<double>(),
              4.0);
  const double util = row["min_gpu_memory_utilization"].get<double>();
  EXPECT_NEAR(util, row["vram_mib"].get<double>() / 24564.0, 1e-3);
  EXPECT_EQ(doc["shape"]["n_head_kv"], 8);
  // A budget smaller than the weights: does not fit, no context fits.
  auto small = runner.run({"model", "quants", k_st_repo, "--vram", "12000", "--json"});
  ASSERT_EQ(small.exit_code, 0) << small.err;
  const auto s = json::parse(small.out)["quants"][0];
  EXPECT_FALSE(s["fits"].get<bool>());
  EXPECT_TRUE(s["max_context"].is_null());
}

TEST_F(HfCli, RegisterASafetensorsRepoWithoutQuant) {
  auto r = runner.run({"model", "register", "--source", "huggingface", k_st_repo, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  EXPECT_EQ(j["id"], "Llama-3-1-8B-Instruct");
  EXPECT_EQ(j["source"], "huggingface");
  EXPECT_EQ(j["architecture"], "LlamaForCausalLM");
  EXPECT_EQ(j["quant"], "BF16");
  EXPECT_EQ(j["location"], std::string("hf://") + k_st_repo + "@5206a32e0bd3067aef1ce90f5528ade7d866253f");
  EXPECT_NEAR(j["parameters_b"].get<double>(), 8.030, 0.001);
  EXPECT_NEAR(j["kv_per_1k_mib"].get<double>(), 128.0, 1e-9);
  EXPECT_EQ(j["summary"]["format"], "safetensors");
  EXPECT_EQ(j["summary"]["n_layer"], 32);
  EXPECT_EQ(j["summary"]["n_head_kv"], 8);
  EXPECT_EQ(j["summary"]["weight_bytes"].get<std::uint64_t>(), 16'060'522'496ULL);
  // The registered figure drives `model estimate`: base at 4,096 + 128 MiB per 1k tokens.
  const auto base = j["base_vram_mib"].get<std::int64_t>();
  auto e = runner.run({"model", "estimate", "Llama-3-1-8B-Instruct", "--ctx", "8192", "--json"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const auto ej = json::parse(e.out);
  EXPECT_NEAR(ej["estimate"]["gpu"]["total_mib"].get<double>(), static_cast<double>(base) + 512.0, 1.0) << e.out;
  EXPECT_NE(ej.dump().find("vLLM model (safetensors"), std::string::npos) << e.out;
  // A GGUF repo still needs --quant (usage error).
  EXPECT_EQ(runner.run({"model", "register", "--source", "huggingface", k_repo}).exit_code, 2);
}

}  // namespace
}  // namespace gpumod
