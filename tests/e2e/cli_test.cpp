// The real gpumod binary on the bundled example: tables and JSON (golden files), the spike's
// simulation table, errors and exit codes.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/gpumod_runner.hpp"

namespace gpumod::testing {
namespace {

using nlohmann::json;

const std::string k_sim = "NVIDIA GeForce RTX 4090 (simulated):24564";

class CliTest : public ::testing::Test {
 protected:
  RunResult gpumod(std::vector<std::string> args) {
    std::vector<std::string> full{"--config", example_config_dir().string(), "--simulate-gpu", k_sim};
    full.insert(full.end(), args.begin(), args.end());
    return runner.run(full);
  }
  std::string normalized(const std::string& text) {
    return replace_all(text, example_config_dir().string(), "<example>");
  }
  GpumodRunner runner;
};

TEST_F(CliTest, ServiceListTableAndJson) {
  auto r = gpumod({"service", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(compare_golden("service_list.txt", r.out), "");
  r = gpumod({"service", "list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(compare_golden("service_list.json", normalized(r.out)), "");
  const auto j = json::parse(r.out);
  EXPECT_EQ(j["services"].size(), 4u);
}

TEST_F(CliTest, ModeListAndShow) {
  auto r = gpumod({"mode", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(compare_golden("mode_list.txt", r.out), "");
  r = gpumod({"mode", "show", "code"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(compare_golden("mode_show_code.txt", normalized(r.out)), "");
  r = gpumod({"mode", "show", "code", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["total_vram_mib"], 22500);
}

// The spike's table: Nemotron alone 20,000 MB with 4,564 MB headroom (fits); Nemotron +
// embed-code 22,500 MB with 2,064 MB headroom (fits); + both embeddings 27,500 MB, -2,936 MB.
TEST_F(CliTest, SpikeSimulationTable) {
  auto r = gpumod({"simulate", "mode", "nemotron", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = json::parse(r.out);
  EXPECT_EQ(j["proposed_mib"], 20000);
  EXPECT_EQ(j["headroom_mib"], 4564);
  EXPECT_TRUE(j["fits"].get<bool>());
  EXPECT_TRUE(j["gpu"]["simulated"].get<bool>());

  r = gpumod({"simulate", "mode", "code", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = json::parse(r.out);
  EXPECT_EQ(j["proposed_mib"], 22500);
  EXPECT_EQ(j["headroom_mib"], 2064);
  EXPECT_TRUE(j["fits"].get<bool>());

  r = gpumod({"simulate", "mode", "code", "--add", "vllm-embedding", "--json"});
  EXPECT_EQ(r.exit_code, 7) << "does not fit => exit 7";
  j = json::parse(r.out);
  EXPECT_EQ(j["proposed_mib"], 27500);
  EXPECT_EQ(j["headroom_mib"], -2936);
  EXPECT_FALSE(j["fits"].get<bool>());
  ASSERT_FALSE(j["alternatives"].empty());
  for (const auto& alt : j["alternatives"]) EXPECT_GE(alt["headroom_mib"].get<int>(), 0);

  r = gpumod({"simulate", "mode", "code", "--add", "vllm-embedding", "--visual"});
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(compare_golden("simulate_code_add_embedding_visual.txt", r.out), "");
  EXPECT_NE(r.out.find("free: -2,936 MB"), std::string::npos);
}

TEST_F(CliTest, SimulateServicesListAndRemove) {
  auto r = gpumod({"simulate", "services", "nemotron-3-nano,vllm-embedding-code", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["proposed_mib"], 22500);
  r = gpumod({"simulate", "mode", "code", "--remove", "vllm-embedding-code", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["proposed_mib"], 20000);
}

TEST_F(CliTest, SimulateUnknownIdsAndBadContext) {
  auto r = gpumod({"simulate", "mode", "cdoe"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("gpumod: error: no mode 'cdoe' (did you mean 'code'?)"), std::string::npos) << r.err;
  r = gpumod({"simulate", "mode", "code", "--add", "vllm-embeding"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("did you mean 'vllm-embedding'"), std::string::npos) << r.err;
  r = gpumod({"simulate", "mode", "code", "--context", "nemotron-3-nano=0"});
  EXPECT_EQ(r.exit_code, 2);
  r = gpumod({"simulate", "mode", "code", "--context", "nemotron-3-nano;rm=100"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(CliTest, StatusJsonReportsTheSimulatedGpu) {
  auto r = gpumod({"status", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  EXPECT_TRUE(j["gpu"]["simulated"].get<bool>());
  ASSERT_EQ(j["gpu"]["devices"].size(), 1u);
  EXPECT_EQ(j["gpu"]["devices"][0]["total_mib"], 24564);
  EXPECT_EQ(j["gpu"]["devices"][0]["name"], "NVIDIA GeForce RTX 4090 (simulated)");
  EXPECT_EQ(j["services"].size(), 4u);
  for (const auto& s : j["services"]) EXPECT_EQ(s["state"], "stopped");
  r = gpumod({"status"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[SIMULATED]"), std::string::npos);
}

TEST_F(CliTest, ConfigCheckOnTheExampleHasOneNoteAndNoErrors) {
  auto r = gpumod({"config", "check"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("note:"), std::string::npos);
  EXPECT_NE(r.out.find("7070"), std::string::npos);
}

TEST_F(CliTest, ConfigCheckReportsEveryErrorWithItsLocation) {
  const auto dir = runner.home() / "badconfig";
  std::filesystem::create_directories(dir / "presets");
  std::filesystem::create_directories(dir / "modes");
  std::ofstream(dir / "presets" / "a.yaml") << "id: a\ndriver: vllm\nport: 8000\nvram_mb: 1000\nvram_mbb: 3\n";
  std::ofstream(dir / "presets" / "b.yaml") << "id: b\ndriver: vllm\nport: 8000\nvram_mb: 99999999\n";
  std::ofstream(dir / "modes" / "m.yaml") << "id: m\nservices: [a, b, c]\n";
  auto r = runner.run({"--config", dir.string(), "config", "check"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("presets/a.yaml:5:1"), std::string::npos) << r.out;  // unknown key
  EXPECT_NE(r.out.find("did you mean 'vram_mb'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("presets/b.yaml:4"), std::string::npos) << r.out;    // out of range
  EXPECT_NE(r.out.find("modes/m.yaml"), std::string::npos) << r.out;        // unknown service c
  EXPECT_NE(r.out.find("8000"), std::string::npos) << r.out;                // same port in one mode
  // Other commands refuse the broken configuration with the same exit code.
  r = runner.run({"--config", dir.string(), "service", "list"});
  EXPECT_EQ(r.exit_code, 3);
}

TEST_F(CliTest, MistypedCommandSuggestsTheRightOne) {
  auto r = gpumod({"stauts"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("did you mean 'status'"), std::string::npos) << r.err;
  r = gpumod({"mode", "lsit"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("did you mean 'list'"), std::string::npos) << r.err;
}

TEST_F(CliTest, HelpOnEveryCommand) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--help"}, {"status", "--help"}, {"service", "list", "--help"}, {"mode", "show", "--help"},
           {"simulate", "mode", "--help"}, {"config", "check", "--help"}, {"mode", "switch", "--help"}}) {
    const auto r = runner.run(args);
    EXPECT_EQ(r.exit_code, 0) << args.front();
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << args.front();
  }
}

TEST_F(CliTest, BundledExampleIsUsedAndAnnouncedWhenNoConfigExists) {
  const auto r = runner.run({"--simulate-gpu", k_sim, "mode", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("bundled example"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("nemotron"), std::string::npos);
}

}  // namespace
}  // namespace gpumod::testing
