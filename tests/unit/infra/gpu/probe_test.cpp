#include "gpumod/infra/gpu/probe.hpp"

#include <errno.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace gpumod::infra::gpu {
namespace {

core::GpuSnapshot two_devices() {
  core::GpuSnapshot s;
  s.source = core::GpuSource::nvml;
  core::GpuDevice a;
  a.index = 1;  // listed first on purpose: selection is by index, not by position
  a.uuid = "GPU-bbbb";
  core::GpuDevice b;
  b.index = 0;
  b.uuid = "GPU-AAAA";
  s.devices = {a, b};
  return s;
}

TEST(GpuFindDevice, ByIndexUuidOrDefault) {
  const auto s = two_devices();
  ASSERT_NE(find_device(s, "1"), nullptr);
  EXPECT_EQ(find_device(s, "1")->uuid, "GPU-bbbb");
  EXPECT_EQ(find_device(s, "0")->uuid, "GPU-AAAA");
  EXPECT_EQ(find_device(s, "GPU-bbbb")->index, 1);
  EXPECT_EQ(find_device(s, "gpu-aaaa")->index, 0);  // case-insensitive
  EXPECT_EQ(find_device(s, "")->index, 0);          // empty: index 0
  EXPECT_EQ(find_device(s, " 1 ")->index, 1);
  EXPECT_EQ(find_device(s, "2"), nullptr);
  EXPECT_EQ(find_device(s, "GPU-cccc"), nullptr);
  EXPECT_EQ(find_device(core::GpuSnapshot{}, ""), nullptr);
}

TEST(GpuFindDevice, EmptyPicksFirstWhenNoIndexZero) {
  auto s = two_devices();
  s.devices.pop_back();
  EXPECT_EQ(find_device(s, "")->uuid, "GPU-bbbb");
}

TEST(GpuProcessName, ReadsCommOfLiveProcessOnly) {
  const std::string own = process_name_of(::getpid());
  EXPECT_EQ(own, std::string(program_invocation_short_name).substr(0, 15));
  EXPECT_EQ(process_name_of(0), "");
  EXPECT_EQ(process_name_of(-1), "");
  EXPECT_EQ(process_name_of(999999999), "");
}

TEST(GpuSourceName, Names) {
  EXPECT_EQ(to_string(core::GpuSource::nvml), "nvml");
  EXPECT_EQ(to_string(core::GpuSource::nvidia_smi), "nvidia-smi");
  EXPECT_EQ(to_string(core::GpuSource::simulated), "simulated");
}

}  // namespace
}  // namespace gpumod::infra::gpu
