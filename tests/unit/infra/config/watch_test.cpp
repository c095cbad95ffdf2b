// ConfigWatcher: a YAML edit anywhere under the root (new preset folders included) calls back
// once per burst; files that are not YAML (editor swap files) do not.
#include "gpumod/infra/config/watch.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>

#include "support/child_process.hpp"
#include "support/temp_dir.hpp"

namespace gpumod::infra::config {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class ConfigWatch : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir.path() / "presets");
    fs::create_directories(dir.path() / "modes");
    auto w = ConfigWatcher::start(dir.path(), 100ms, [this] { ++calls; });
    ASSERT_TRUE(w.has_value()) << w.error().message;
    watcher = std::move(*w);
  }
  bool wait_calls(int n) {
    return test_support::wait_until([&] { return calls.load() >= n; }, 10s);
  }
  test_support::TempDir dir;
  std::atomic<int> calls{0};
  std::unique_ptr<ConfigWatcher> watcher;
};

TEST_F(ConfigWatch, ABurstOfEditsIsOneCallAndTheNextEditAnother) {
  for (int i = 0; i < 5; ++i) std::ofstream(dir.path() / "presets" / ("p" + std::to_string(i) + ".yaml")) << "id: p\n";
  ASSERT_TRUE(wait_calls(1));
  std::ofstream(dir.path() / "gpumod.yaml") << "vram_margin_mib: 0\n";
  ASSERT_TRUE(wait_calls(2));
  EXPECT_EQ(calls.load(), 2);
}

TEST_F(ConfigWatch, FollowsFoldersCreatedLaterAndIgnoresSwapFiles) {
  std::ofstream(dir.path() / "modes" / ".code.yaml.swp") << "x";
  std::ofstream(dir.path() / "modes" / "notes.txt") << "x";
  fs::create_directories(dir.path() / "presets" / "llm" / "big");
  ASSERT_TRUE(wait_calls(1));  // the new folder itself
  std::ofstream(dir.path() / "presets" / "llm" / "big" / "chat.yaml") << "id: chat\n";
  ASSERT_TRUE(wait_calls(2));  // a file in it: the folder is watched
  std::ofstream(dir.path() / "modes" / ".other.swp") << "x";
  fs::rename(dir.path() / "presets" / "llm" / "big" / "chat.yaml", dir.path() / "presets" / "chat.yaml");
  ASSERT_TRUE(wait_calls(3));
  EXPECT_EQ(calls.load(), 3);
}

TEST(ConfigWatchStart, AMissingRootIsAnError) {
  auto w = ConfigWatcher::start("/nonexistent/gpumod-config", 100ms, [] {});
  ASSERT_FALSE(w.has_value());
  EXPECT_NE(w.error().message.find("/nonexistent/gpumod-config"), std::string::npos);
}

}  // namespace
}  // namespace gpumod::infra::config
