#include "gpumod/infra/gpu/select.hpp"

#include <gtest/gtest.h>

#include "gpumod/infra/gpu/nvml_probe.hpp"
#include "gpumod/infra/gpu/sim_ledger.hpp"
#include "unit/infra/gpu/gpu_test_support.hpp"

namespace gpumod::infra::gpu {
namespace {

using namespace std::chrono_literals;
using testing::PathGuard;
using testing::TempDir;

core::SimulatedGpu sim(std::string name, std::int64_t mib, bool only_without_gpu) {
  core::SimulatedGpu g;
  g.name = std::move(name);
  g.total_mib = mib;
  g.only_without_gpu = only_without_gpu;
  return g;
}

bool nvml_works_here() { return open_nvml_probe(10s).has_value(); }

TEST(SelectProbe, CommandLineOverrideWins) {
  TempDir dir;
  core::Settings settings;
  settings.simulate_gpu = sim("From yaml", 8000, false);
  auto sel = select_probe(settings, sim("RTX 4090", 24564, false), dir.path());
  ASSERT_TRUE(sel.has_value()) << sel.error().message;
  EXPECT_EQ(sel->probe->name(), "simulated");
  EXPECT_NE(sel->note.find("--simulate-gpu"), std::string::npos) << sel->note;
  ASSERT_TRUE(write_ledger_entry(dir.path(), ::getpid(), 4000, "x").has_value());
  auto snap = sel->probe->snapshot(1s);
  ASSERT_TRUE(snap.has_value());
  EXPECT_EQ(snap->devices[0].name, "RTX 4090");
  EXPECT_EQ(snap->devices[0].total_mib, 24564);
  EXPECT_EQ(snap->devices[0].used_mib, 4000);  // the ledger dir is the one passed in
}

TEST(SelectProbe, ForcedYamlSimulationSkipsRealGpus) {
  TempDir dir;
  core::Settings settings;
  settings.simulate_gpu = sim("Lab GPU", 48000, false);
  auto sel = select_probe(settings, std::nullopt, dir.path());
  ASSERT_TRUE(sel.has_value()) << sel.error().message;
  EXPECT_EQ(sel->probe->name(), "simulated");
  EXPECT_NE(sel->note.find("only_without_gpu: false"), std::string::npos) << sel->note;
  EXPECT_EQ(sel->probe->snapshot(1s)->devices[0].total_mib, 48000);
}

TEST(SelectProbe, NoGpuAndNoSimulationIsUnavailableWithAdvice) {
  if (nvml_works_here()) GTEST_SKIP() << "this machine has a working NVML";
  TempDir dir;
  PathGuard path(dir.path().string());  // no nvidia-smi on PATH
  auto sel = select_probe(core::Settings{}, std::nullopt, dir.path());
  ASSERT_FALSE(sel.has_value());
  EXPECT_EQ(sel.error().code, util::ErrorCode::unavailable);
  EXPECT_NE(sel.error().message.find("NVML"), std::string::npos) << sel.error().message;
  EXPECT_NE(sel.error().message.find("nvidia-smi not found"), std::string::npos);
  EXPECT_NE(sel.error().message.find("--simulate-gpu NAME:MiB"), std::string::npos);
}

TEST(SelectProbe, FallsBackToYamlSimulationWithoutGpu) {
  if (nvml_works_here()) GTEST_SKIP() << "this machine has a working NVML";
  TempDir dir;
  PathGuard path(dir.path().string());
  core::Settings settings;
  settings.simulate_gpu = sim("Fallback GPU", 16000, true);
  auto sel = select_probe(settings, std::nullopt, dir.path());
  ASSERT_TRUE(sel.has_value()) << sel.error().message;
  EXPECT_EQ(sel->probe->name(), "simulated");
  EXPECT_NE(sel->note.find("no NVIDIA GPU found"), std::string::npos) << sel->note;
  EXPECT_NE(sel->note.find("gpumod.yaml"), std::string::npos) << sel->note;
}

TEST(SelectProbe, UsesNvidiaSmiOnPathWhenNvmlIsMissing) {
  if (nvml_works_here()) GTEST_SKIP() << "this machine has a working NVML";
  TempDir dir;
  testing::write_fake_nvidia_smi(dir.path(), testing::read_fixture("two_gpus_query_gpu.csv"), "");
  PathGuard path(dir.path().string() + ":" + PathGuard::current());
  core::Settings settings;
  settings.simulate_gpu = sim("Unused", 1000, true);  // a real GPU comes first
  auto sel = select_probe(settings, std::nullopt, dir.path());
  ASSERT_TRUE(sel.has_value()) << sel.error().message;
  EXPECT_EQ(sel->probe->name(), "nvidia-smi");
  auto snap = sel->probe->snapshot(5s);
  ASSERT_TRUE(snap.has_value()) << snap.error().message;
  EXPECT_EQ(snap->devices.size(), 2u);
}

TEST(SelectProbe, BrokenNvidiaSmiFallsThroughToSimulation) {
  if (nvml_works_here()) GTEST_SKIP() << "this machine has a working NVML";
  TempDir dir;
  testing::write_script(dir.path(), "nvidia-smi", "echo 'No devices were found'; exit 6\n");
  PathGuard path(dir.path().string() + ":" + PathGuard::current());
  core::Settings settings;
  settings.simulate_gpu = sim("Fallback GPU", 16000, true);
  auto sel = select_probe(settings, std::nullopt, dir.path());
  ASSERT_TRUE(sel.has_value()) << sel.error().message;
  EXPECT_EQ(sel->probe->name(), "simulated");
  EXPECT_NE(sel->note.find("No devices were found"), std::string::npos) << sel->note;
}

}  // namespace
}  // namespace gpumod::infra::gpu
