#include "gpumod/infra/gpu/simulated_probe.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "gpumod/infra/gpu/sim_ledger.hpp"
#include "unit/infra/gpu/gpu_test_support.hpp"

namespace gpumod::infra::gpu {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

// A pid that surely belonged to a process that is gone: a child we started and reaped.
int dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return static_cast<int>(child);
}

core::SimulatedGpu gpu(std::int64_t total_mib) {
  core::SimulatedGpu g;
  g.name = "RTX 4090";
  g.total_mib = total_mib;
  return g;
}

TEST(SimulatedProbe, EmptyLedgerIsAnIdleGpu) {
  TempDir dir;
  auto probe = make_simulated_probe(gpu(24564), dir.path() / "ledger-not-created-yet");
  EXPECT_EQ(probe->name(), "simulated");
  auto snap = probe->snapshot(1s);
  ASSERT_TRUE(snap.has_value()) << snap.error().message;
  EXPECT_TRUE(snap->simulated());
  EXPECT_EQ(snap->driver_version, "simulated");
  ASSERT_EQ(snap->devices.size(), 1u);
  const auto& d = snap->devices[0];
  EXPECT_EQ(d.index, 0);
  EXPECT_EQ(d.uuid, "GPU-SIMULATED-0");
  EXPECT_EQ(d.name, "RTX 4090");
  EXPECT_EQ(d.total_mib, 24564);
  EXPECT_EQ(d.used_mib, 0);
  EXPECT_EQ(d.free_mib, 24564);
  EXPECT_TRUE(d.processes.empty());
}

TEST(SimulatedProbe, CountsLiveLedgerEntriesOnly) {
  TempDir dir;
  const int gone = dead_pid();
  ASSERT_TRUE(write_ledger_entry(dir.path(), ::getpid(), 9000, "mock-llama").has_value());
  ASSERT_TRUE(write_ledger_entry(dir.path(), ::getppid(), 1500, "mock-vllm").has_value());
  ASSERT_TRUE(write_ledger_entry(dir.path(), gone, 7000, "crashed").has_value());
  auto probe = make_simulated_probe(gpu(24564), dir.path());
  auto snap = probe->snapshot(1s);
  ASSERT_TRUE(snap.has_value()) << snap.error().message;
  const auto& d = snap->devices.at(0);
  EXPECT_EQ(d.used_mib, 10500);
  EXPECT_EQ(d.free_mib, 24564 - 10500);
  ASSERT_EQ(d.processes.size(), 2u);
  for (const auto& p : d.processes) {
    EXPECT_NE(p.pid, gone);
    if (p.pid == ::getpid()) {
      EXPECT_EQ(p.used_mib, 9000);
      EXPECT_EQ(p.name, "mock-llama");
    }
  }
  EXPECT_FALSE(std::filesystem::exists(dir.path() / std::to_string(gone)));

  // Memory moves as entries change.
  remove_ledger_entry(dir.path(), ::getpid());
  auto after = probe->snapshot(1s);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->devices[0].used_mib, 1500);
  EXPECT_EQ(after->devices[0].free_mib, 24564 - 1500);
}

TEST(SimulatedProbe, OversubscriptionNeverGivesNegativeFree) {
  TempDir dir;
  ASSERT_TRUE(write_ledger_entry(dir.path(), ::getpid(), 1500, "big").has_value());
  auto snap = make_simulated_probe(gpu(1000), dir.path())->snapshot(1s);
  ASSERT_TRUE(snap.has_value());
  EXPECT_EQ(snap->devices[0].used_mib, 1500);
  EXPECT_EQ(snap->devices[0].free_mib, 0);
}

TEST(SimulateGpuArg, ParsesNameAndMib) {
  auto g = parse_simulate_gpu_arg("RTX 4090:24564");
  ASSERT_TRUE(g.has_value()) << g.error().message;
  EXPECT_EQ(g->name, "RTX 4090");
  EXPECT_EQ(g->total_mib, 24564);
  EXPECT_FALSE(g->only_without_gpu);
  auto colons = parse_simulate_gpu_arg("  lab:box:2097152");
  ASSERT_TRUE(colons.has_value()) << colons.error().message;
  EXPECT_EQ(colons->name, "lab:box");
  EXPECT_EQ(colons->total_mib, 2097152);
  EXPECT_TRUE(parse_simulate_gpu_arg(std::string(128, 'x') + ":1").has_value());
}

TEST(SimulateGpuArg, RejectsBadInput) {
  for (const std::string& bad : std::vector<std::string>{"", "RTX4090", ":24564", "  :100", "X:0", "X:-1", "X:2097153",
                                "X:24GB", "X:", std::string(129, 'x') + ":1",
                                std::string("bad\x01name:100"), std::string("caf\xc3\xa9:100")}) {
    auto r = parse_simulate_gpu_arg(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, util::ErrorCode::invalid_argument) << bad;
    EXPECT_FALSE(r.error().message.empty());
  }
}

}  // namespace
}  // namespace gpumod::infra::gpu
