#include "gpumod/infra/gpu/nvml_probe.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "gpumod/util/subprocess.hpp"
#include "unit/infra/gpu/gpu_test_support.hpp"

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

// The probe against a fake libnvidia-ml (fake_nvml.c), compiled here when a C compiler exists.
class FakeNvml : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_dir = new testing::TempDir();
    std::string cc;
    for (const char* name : {"cc", "gcc", "clang"}) {
      cc = util::find_program(name);
      if (!cc.empty()) break;
    }
    if (cc.empty()) return;
    const auto lib = s_dir->path() / "libfake-nvml.so";
    util::CaptureOptions opts;
    opts.deadline = 60s;
    auto r = util::run_capture(
        {cc, "-shared", "-fPIC", "-O1", "-o", lib.string(),
         std::string(GPUMOD_SOURCE_DIR) + "/tests/unit/infra/gpu/fake_nvml.c"},
        opts);
    if (r && r->exit_code == 0) s_lib = new std::string(lib.string());
  }
  static void TearDownTestSuite() {
    delete s_lib;
    s_lib = nullptr;
    delete s_dir;
    s_dir = nullptr;
  }
  void SetUp() override {
    if (!s_lib) GTEST_SKIP() << "no C compiler to build the fake NVML library";
    // The same handle the probe gets (dlopen counts references), for the test controls.
    m_handle = ::dlopen(s_lib->c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(m_handle, nullptr);
    set_hang = reinterpret_cast<void (*)(int)>(::dlsym(m_handle, "fake_nvml_set_hang_ms"));
    init_count = reinterpret_cast<int (*)()>(::dlsym(m_handle, "fake_nvml_init_count"));
    ASSERT_TRUE(set_hang && init_count);
    set_hang(0);
  }
  void TearDown() override {
    if (m_handle) ::dlclose(m_handle);
  }

  static inline testing::TempDir* s_dir = nullptr;
  static inline std::string* s_lib = nullptr;
  void* m_handle = nullptr;
  void (*set_hang)(int) = nullptr;
  int (*init_count)() = nullptr;
};

TEST_F(FakeNvml, ReadsDevicesMemoryAndProcesses) {
  auto probe = open_nvml_probe_from({"libgpumod-no-such-nvml.so.1", *s_lib}, 5s);
  ASSERT_TRUE(probe.has_value()) << probe.error().message;
  EXPECT_EQ((*probe)->name(), "nvml");
  EXPECT_EQ(init_count(), 1);
  auto snap = (*probe)->snapshot(5s);
  ASSERT_TRUE(snap.has_value()) << snap.error().message;
  EXPECT_EQ(snap->source, core::GpuSource::nvml);
  EXPECT_EQ(snap->driver_version, "580.159.04");
  ASSERT_EQ(snap->devices.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const auto& d = snap->devices[i];
    EXPECT_EQ(d.index, i);
    EXPECT_EQ(d.uuid, "GPU-fake-" + std::to_string(i));
    EXPECT_EQ(d.name, "Fake H100 " + std::to_string(i));
    EXPECT_EQ(d.total_mib, 81559);
    EXPECT_EQ(d.free_mib, 81079);
    EXPECT_EQ(d.used_mib, 480);  // NVML's used, reserved memory included; total = used + free
  }
  ASSERT_EQ(snap->devices[0].processes.size(), 2u);
  EXPECT_EQ(snap->devices[0].processes[0].pid, ::getpid());
  EXPECT_EQ(snap->devices[0].processes[0].used_mib, 2566);
  EXPECT_EQ(snap->devices[0].processes[0].name, process_name_of(::getpid()));
  EXPECT_FALSE(snap->devices[0].processes[0].name.empty());
  EXPECT_EQ(snap->devices[0].processes[1].pid, 4000000);
  EXPECT_EQ(snap->devices[0].processes[1].used_mib, 0);  // NVML_VALUE_NOT_AVAILABLE
  EXPECT_EQ(snap->devices[0].processes[1].name, "");     // no such process here
  EXPECT_TRUE(snap->devices[1].processes.empty());

  // The probe is reused: NVML stays initialized once, and is shut down with the probe.
  ASSERT_TRUE((*probe)->snapshot(5s).has_value());
  EXPECT_EQ(init_count(), 1);
  probe->reset();
  EXPECT_EQ(init_count(), 0);
}

TEST_F(FakeNvml, HungDriverTimesOutWithoutBlockingAndRecovers) {
  auto probe = open_nvml_probe_from({*s_lib}, 5s);
  ASSERT_TRUE(probe.has_value()) << probe.error().message;
  set_hang(600);
  auto first = (*probe)->snapshot(50ms);
  ASSERT_FALSE(first.has_value());
  EXPECT_EQ(first.error().code, util::ErrorCode::timeout);
  // While the first query is stuck, another caller also gets a timeout rather than a pile-up.
  auto second = (*probe)->snapshot(20ms);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, util::ErrorCode::timeout);
  set_hang(0);
  // Once the stuck query returns, the probe answers again.
  auto third = (*probe)->snapshot(10s);
  ASSERT_TRUE(third.has_value()) << third.error().message;
  EXPECT_EQ(third->devices.size(), 2u);
}

}  // namespace
}  // namespace gpumod::infra::gpu
