#include "gpumod/infra/gpu/nvml_probe.hpp"

#include <gtest/gtest.h>

namespace gpumod::infra::gpu {
namespace {

using namespace std::chrono_literals;

TEST(NvmlProbe, OpensOrFailsCleanlyAsUnavailable) {
  auto probe = open_nvml_probe(10s);
  if (probe.has_value()) {
    // A machine with an NVIDIA GPU: the probe must read it.
    auto snap = (*probe)->snapshot(10s);
    ASSERT_TRUE(snap.has_value()) << snap.error().message;
    EXPECT_EQ(snap->source, core::GpuSource::nvml);
    ASSERT_FALSE(snap->devices.empty());
    for (const auto& d : snap->devices) {
      EXPECT_GT(d.total_mib, 0);
      EXPECT_EQ(d.used_mib + d.free_mib, d.total_mib);
      EXPECT_TRUE(d.uuid.starts_with("GPU-") || d.uuid.starts_with("MIG-")) << d.uuid;
    }
    return;
  }
  EXPECT_EQ(probe.error().code, util::ErrorCode::unavailable) << probe.error().message;
  EXPECT_NE(probe.error().message.find("NVML"), std::string::npos) << probe.error().message;
}

TEST(NvmlProbe, MissingLibraryIsUnavailableAndNamed) {
  auto probe = open_nvml_probe_from({"libgpumod-no-such-nvml.so.1", "libgpumod-nope.so"}, 1s);
  ASSERT_FALSE(probe.has_value());
  EXPECT_EQ(probe.error().code, util::ErrorCode::unavailable);
  EXPECT_NE(probe.error().message.find("libgpumod-no-such-nvml.so.1"), std::string::npos)
      << probe.error().message;
}

TEST(NvmlProbe, LibraryWithoutNvmlFunctionsIsUnavailable) {
  auto probe = open_nvml_probe_from({"libm.so.6"}, 1s);
  ASSERT_FALSE(probe.has_value());
  EXPECT_EQ(probe.error().code, util::ErrorCode::unavailable);
  EXPECT_NE(probe.error().message.find("nvmlInit_v2"), std::string::npos)
      << probe.error().message;
}

}  // namespace
}  // namespace gpumod::infra::gpu
