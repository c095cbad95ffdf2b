#include "gpumod/infra/gpu/nvidia_smi.hpp"

#include <gtest/gtest.h>

#include "unit/infra/gpu/gpu_test_support.hpp"

namespace gpumod::infra::gpu {
namespace {

using namespace std::chrono_literals;
using testing::read_fixture;
using testing::TempDir;

// --- query-gpu ---

TEST(NvidiaSmiQueryGpu, ParsesRealH100Idle) {
  auto r = parse_query_gpu_csv(read_fixture("h100_query_gpu_idle.csv"));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  const auto& d = r->front();
  EXPECT_EQ(d.index, 0);
  EXPECT_EQ(d.uuid, "GPU-6f5807f4-7436-b82c-2cd6-a79121ed7e18");
  EXPECT_EQ(d.name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(d.total_mib, 81559);
  EXPECT_EQ(d.free_mib, 81079);
  // nvidia-smi says 0 used; the 480 MiB the driver reserves count as used (as NVML counts).
  EXPECT_EQ(d.used_mib, 480);
  EXPECT_EQ(parse_driver_version_csv(read_fixture("h100_query_gpu_idle.csv")).value(),
            "580.159.04");
}

TEST(NvidiaSmiQueryGpu, UsedIsTotalMinusFreeOnRealBusyH100) {
  auto r = parse_query_gpu_csv(read_fixture("h100_query_gpu_busy.csv"));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().free_mib, 78505);
  EXPECT_EQ(r->front().used_mib, 81559 - 78505);
  EXPECT_EQ(r->front().used_mib + r->front().free_mib, r->front().total_mib);
}

TEST(NvidiaSmiQueryGpu, TwoGpusAreTwoDevices) {  // W19: the predecessor read one line
  const auto csv = read_fixture("two_gpus_query_gpu.csv");
  auto r = parse_query_gpu_csv(csv);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "NVIDIA GeForce RTX 4090");
  EXPECT_EQ((*r)[0].total_mib, 24564);
  EXPECT_EQ((*r)[0].used_mib, 24564 - 6040);
  EXPECT_EQ((*r)[1].index, 1);
  EXPECT_EQ((*r)[1].uuid, "GPU-9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a");
  EXPECT_EQ((*r)[1].name, "NVIDIA GeForce RTX 3090");
  EXPECT_EQ((*r)[1].total_mib, 24576);
  EXPECT_EQ((*r)[1].free_mib, 23889);
  EXPECT_EQ(parse_driver_version_csv(csv).value(), "550.54.15");
}

TEST(NvidiaSmiQueryGpu, FourGpusWithBlankLineAndNotAvailableUsed) {
  auto r = parse_query_gpu_csv(read_fixture("four_gpus_query_gpu.csv"));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ((*r)[i].index, i);
    EXPECT_EQ((*r)[i].uuid, "GPU-00000000-1111-2222-3333-44444444444" + std::to_string(i));
    EXPECT_EQ((*r)[i].total_mib, 81920);
    EXPECT_EQ((*r)[i].used_mib + (*r)[i].free_mib, 81920);
  }
  EXPECT_EQ((*r)[2].used_mib, 81920 - 81050);  // used [N/A], free known
  EXPECT_EQ((*r)[3].free_mib, 2052);
}

TEST(NvidiaSmiQueryGpu, FreeUnknownFallsBackToReportedUsed) {
  auto r = parse_query_gpu_csv("0,GPU-a,Some GPU,1000,300,N/A,1.0\n");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->front().used_mib, 300);
  EXPECT_EQ(r->front().free_mib, 700);
  auto all_unknown = parse_query_gpu_csv("0, GPU-a, Some GPU, [N/A], [N/A], [N/A], [N/A]\n");
  ASSERT_TRUE(all_unknown.has_value()) << all_unknown.error().message;
  EXPECT_EQ(all_unknown->front().total_mib, 0);
  EXPECT_EQ(parse_driver_version_csv("0, GPU-a, X, 1, 0, 1, [N/A]\n").value(), "");
}

TEST(NvidiaSmiQueryGpu, NamesWithCommasQuotedOrNot) {
  auto quoted = parse_query_gpu_csv("0, GPU-a, \"Acme, \"\"Turbo\"\" X\", 1000, 10, 990, 2.0\n");
  ASSERT_TRUE(quoted.has_value()) << quoted.error().message;
  EXPECT_EQ(quoted->front().name, "Acme, \"Turbo\" X");
  EXPECT_EQ(quoted->front().total_mib, 1000);
  auto bare = parse_query_gpu_csv("0, GPU-a, Acme, Turbo X, 1000, 10, 990, 2.0\n");
  ASSERT_TRUE(bare.has_value()) << bare.error().message;
  EXPECT_EQ(bare->front().name, "Acme, Turbo X");
  EXPECT_EQ(bare->front().free_mib, 990);
  EXPECT_EQ(parse_driver_version_csv("0, GPU-a, Acme, Turbo X, 1000, 10, 990, 2.0\n").value(),
            "2.0");
}

TEST(NvidiaSmiQueryGpu, EmptyOutputIsNoDevice) {
  EXPECT_TRUE(parse_query_gpu_csv("").value().empty());
  EXPECT_TRUE(parse_query_gpu_csv("\n  \n").value().empty());
}

TEST(NvidiaSmiQueryGpu, MalformedLinesNameTheLine) {
  const std::string good = "0, GPU-a, X, 1000, 0, 1000, 1.0\n";
  struct Case {
    std::string csv;
    std::string expect;
  } cases[] = {
      {good + "1, GPU-b, X, 1000\n", "line 2"},
      {good + "\n1, GPU-b, X, lots, 0, 1000, 1.0\n", "line 3"},
      {good + "one, GPU-b, X, 1000, 0, 1000, 1.0\n", "index"},
      {good + "1, GPU-b, X, -5, 0, 1000, 1.0\n", "memory.total"},
      {good + "1, GPU-b, \"X, 1000, 0, 1000, 1.0\n", "unterminated"},
      {good + "1, GPU-a, Y, 1000, 0, 1000, 1.0\n", "listed twice"},
      {good + "0, GPU-c, Y, 1000, 0, 1000, 1.0\n", "listed twice"},
      {good + "1, N/A, Y, 1000, 0, 1000, 1.0\n", "uuid"},
  };
  for (const auto& c : cases) {
    auto r = parse_query_gpu_csv(c.csv);
    ASSERT_FALSE(r.has_value()) << c.csv;
    EXPECT_EQ(r.error().code, util::ErrorCode::corrupt) << c.csv;
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("--query-gpu"), std::string::npos) << r.error().message;
  }
}

// --- query-compute-apps ---

TEST(NvidiaSmiComputeApps, RealH100BusyAndIdle) {
  auto busy = parse_compute_apps_csv(read_fixture("h100_compute_apps_busy.csv"));
  ASSERT_TRUE(busy.has_value()) << busy.error().message;
  ASSERT_EQ(busy->size(), 1u);
  EXPECT_EQ(busy->front().first, "GPU-6f5807f4-7436-b82c-2cd6-a79121ed7e18");
  EXPECT_EQ(busy->front().second.pid, 407);
  EXPECT_EQ(busy->front().second.used_mib, 2566);
  EXPECT_EQ(busy->front().second.name, "python3");

  auto idle = parse_compute_apps_csv(read_fixture("h100_compute_apps_idle.csv"));
  ASSERT_TRUE(idle.has_value()) << idle.error().message;
  EXPECT_TRUE(idle->empty());
}

TEST(NvidiaSmiComputeApps, NotAvailableValuesAreUnknown) {
  auto r = parse_compute_apps_csv(read_fixture("four_gpus_compute_apps.csv"));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].first, "GPU-00000000-1111-2222-3333-444444444441");
  EXPECT_EQ((*r)[0].second.name, "/opt/vllm/bin/python3");
  EXPECT_EQ((*r)[1].second.used_mib, 38000);
  EXPECT_EQ((*r)[2].second.pid, 5152);
  EXPECT_EQ((*r)[2].second.used_mib, 0);  // [N/A]
  EXPECT_EQ((*r)[2].second.name, "/usr/bin/python3");
  EXPECT_EQ((*r)[3].second.used_mib, 40990);
  EXPECT_EQ((*r)[3].second.name, "");  // [N/A]
}

TEST(NvidiaSmiComputeApps, CrlfBlankAndNoProcessLines) {
  auto crlf = parse_compute_apps_csv(read_fixture("two_gpus_compute_apps.csv"));
  ASSERT_TRUE(crlf.has_value()) << crlf.error().message;
  ASSERT_EQ(crlf->size(), 1u);
  EXPECT_EQ(crlf->front().second.name, "/home/me/llama.cpp/build/bin/llama-server");
  EXPECT_TRUE(parse_compute_apps_csv("\n\n").value().empty());
  EXPECT_TRUE(parse_compute_apps_csv("No running processes found\n").value().empty());
}

TEST(NvidiaSmiComputeApps, ProcessPathWithCommaIsKept) {
  auto r = parse_compute_apps_csv("GPU-a, 12, 100, /srv/a,b/llama-server\n");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->front().second.name, "/srv/a,b/llama-server");
}

TEST(NvidiaSmiComputeApps, MalformedLinesNameTheLine) {
  const std::string good = "GPU-a, 12, 100, x\n";
  for (const auto& [csv, expect] : std::vector<std::pair<std::string, std::string>>{
           {good + "GPU-a, 13\n", "line 2"},
           {good + good + "GPU-a, pid, 100, y\n", "line 3"},
           {good + "GPU-a, 0, 100, y\n", "pid"},
           {good + "GPU-a, 14, 1.5, y\n", "used_memory"},
           {good + "[N/A], 14, 1, y\n", "uuid"},
       }) {
    auto r = parse_compute_apps_csv(csv);
    ASSERT_FALSE(r.has_value()) << csv;
    EXPECT_EQ(r.error().code, util::ErrorCode::corrupt);
    EXPECT_NE(r.error().message.find(expect), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("--query-compute-apps"), std::string::npos);
  }
}

// --- the probe, through a fake nvidia-smi ---

TEST(NvidiaSmiProbe, SnapshotAttachesProcessesToTheirGpu) {
  TempDir dir;
  const auto smi = testing::write_fake_nvidia_smi(dir.path(), read_fixture("four_gpus_query_gpu.csv"),
                                                  read_fixture("four_gpus_compute_apps.csv"));
  auto probe = make_nvidia_smi_probe(smi.string());
  EXPECT_EQ(probe->name(), "nvidia-smi");
  auto snap = probe->snapshot(5s);
  ASSERT_TRUE(snap.has_value()) << snap.error().message;
  EXPECT_EQ(snap->source, core::GpuSource::nvidia_smi);
  EXPECT_EQ(snap->driver_version, "535.161.08");
  ASSERT_EQ(snap->devices.size(), 4u);
  EXPECT_TRUE(snap->devices[0].processes.empty());
  ASSERT_EQ(snap->devices[1].processes.size(), 1u);
  EXPECT_EQ(snap->devices[1].processes[0].pid, 4242);
  EXPECT_TRUE(snap->devices[2].processes.empty());
  ASSERT_EQ(snap->devices[3].processes.size(), 3u);
  EXPECT_EQ(snap->devices[3].processes[2].pid, 5153);
}

TEST(NvidiaSmiProbe, IdleGpuHasNoProcesses) {
  TempDir dir;
  const auto smi = testing::write_fake_nvidia_smi(dir.path(), read_fixture("h100_query_gpu_idle.csv"),
                                                  read_fixture("h100_compute_apps_idle.csv"));
  auto snap = make_nvidia_smi_probe(smi.string())->snapshot(5s);
  ASSERT_TRUE(snap.has_value()) << snap.error().message;
  ASSERT_EQ(snap->devices.size(), 1u);
  EXPECT_TRUE(snap->devices[0].processes.empty());
  EXPECT_EQ(snap->devices[0].used_mib, 480);
}

TEST(NvidiaSmiProbe, HangingNvidiaSmiTimesOut) {
  TempDir dir;
  const auto smi = testing::write_script(dir.path(), "nvidia-smi", "exec sleep 30\n");
  auto snap = make_nvidia_smi_probe(smi.string())->snapshot(200ms);
  ASSERT_FALSE(snap.has_value());
  EXPECT_EQ(snap.error().code, util::ErrorCode::timeout);
  EXPECT_NE(snap.error().message.find("--query-gpu"), std::string::npos) << snap.error().message;
}

TEST(NvidiaSmiProbe, DriverFailureIsUnavailableWithItsMessage) {
  TempDir dir;
  const auto smi = testing::write_script(
      dir.path(), "nvidia-smi",
      "echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\"\n"
      "exit 9\n");
  auto snap = make_nvidia_smi_probe(smi.string())->snapshot(5s);
  ASSERT_FALSE(snap.has_value());
  EXPECT_EQ(snap.error().code, util::ErrorCode::unavailable);
  EXPECT_NE(snap.error().message.find("status 9"), std::string::npos) << snap.error().message;
  EXPECT_NE(snap.error().message.find("couldn't communicate"), std::string::npos);
}

TEST(NvidiaSmiProbe, NoGpuListedOrMissingProgramIsUnavailable) {
  TempDir dir;
  const auto smi = testing::write_fake_nvidia_smi(dir.path(), "", "");
  auto empty = make_nvidia_smi_probe(smi.string())->snapshot(5s);
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code, util::ErrorCode::unavailable);

  auto missing = make_nvidia_smi_probe((dir.path() / "no-such-smi").string())->snapshot(5s);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, util::ErrorCode::unavailable);
}

TEST(NvidiaSmiProbe, GarbledOutputIsCorrupt) {
  TempDir dir;
  const auto smi = testing::write_fake_nvidia_smi(dir.path(), "0, GPU-a, X, 1000, 0, 1000, 1.0\n",
                                                  "GPU-a, 12\n");
  auto snap = make_nvidia_smi_probe(smi.string())->snapshot(5s);
  ASSERT_FALSE(snap.has_value());
  EXPECT_EQ(snap.error().code, util::ErrorCode::corrupt);
  EXPECT_NE(snap.error().message.find("line 1"), std::string::npos) << snap.error().message;
}

}  // namespace
}  // namespace gpumod::infra::gpu
