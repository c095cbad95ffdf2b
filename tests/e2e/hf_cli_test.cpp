// The Hugging Face commands through the real gpumod binary against the loopback FakeHub:
// model quants (table and JSON, fit next to a mode), offline from cache, preset generate (the
// written file passes `gpumod config check`), model download, discover, and clear errors.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "support/fake_hub.hpp"
#include "support/gpumod_runner.hpp"

namespace gpumod {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* k_repo = "unsloth/Nemotron-3-Nano-30B-A3B-GGUF";

class HfCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/gpumod-hfcli-XXXXXX";
    s_dir = new fs::path(::mkdtemp(tmpl));
    s_repo = new test_support::FakeHubRepo(test_support::nemotron_repo(*s_dir / "nemotron"));
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*s_dir, ec);
    delete s_repo;
    delete s_dir;
  }
  void SetUp() override {
    hub.add_repo(*s_repo);
    runner.env()["HF_ENDPOINT"] = hub.endpoint();
    runner.env()["HF_TOKEN"] = "";
    runner.env()["HF_HUB_OFFLINE"] = "";
    runner.env()["XDG_CACHE_HOME"] = (runner.home() / "cache").string();
  }
  static fs::path* s_dir;
  static test_support::FakeHubRepo* s_repo;
  test_support::FakeHub hub;
  testing::GpumodRunner runner;
};
fs::path* HfCli::s_dir = nullptr;
test_support::FakeHubRepo* HfCli::s_repo = nullptr;

TEST_F(HfCli, QuantsTableFitsNextToMode) {
  const auto cfg = testing::example_config_dir().string();
  auto r = runner.run({"--config", cfg, "model", "quants", k_repo, "--vram", "24564", "--ctx", "8192", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
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
  const auto j = json::parse(r.out);
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
  EXPECT_TRUE(json::parse(d.out)["sha256_verified"].get<bool>());
  EXPECT_EQ(fs::file_size(dir / "tiny-Q8_0.gguf"), fs::file_size(small));
  auto disc = runner.run({"discover", "--budget", "22064", "--json"});
  ASSERT_EQ(disc.exit_code, 0) << disc.err;
  const auto j = json::parse(disc.out);
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][0]["repo"], k_repo);
  EXPECT_EQ(j["results"][0]["best"]["quant"], "UD-Q4_K_XL");
}

TEST_F(HfCli, RegisterFromTheHubStoresTheRemoteHeader) {
  auto r = runner.run({"model", "register", "--source", "huggingface", k_repo, "--quant", "UD-Q4_K_XL", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
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

}  // namespace
}  // namespace gpumod
