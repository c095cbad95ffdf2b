#include "gpumod/infra/config/files.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/infra/config/temp_config.hpp"

namespace gpumod::infra::config {
namespace {

using testing_support::TempConfig;
using ::testing::ElementsAre;

TEST(ConfigFilesTest, FileNameFilter) {
  EXPECT_TRUE(is_config_file_name("a.yaml"));
  EXPECT_TRUE(is_config_file_name("a.yml"));
  EXPECT_TRUE(is_config_file_name("A.YAML"));
  EXPECT_FALSE(is_config_file_name(".a.yaml"));
  EXPECT_FALSE(is_config_file_name("a.yaml~"));
  EXPECT_FALSE(is_config_file_name("a.yaml.swp"));
  EXPECT_FALSE(is_config_file_name("a.yaml.tmp"));
  EXPECT_FALSE(is_config_file_name("a.json"));
  EXPECT_FALSE(is_config_file_name(".yaml"));
  EXPECT_FALSE(is_config_file_name(""));
}

TEST(ConfigFilesTest, ListsSettingsPresetsRecursivelyAndModesFlat) {
  TempConfig tc;
  tc.write("gpumod.yaml", "");
  tc.write("presets/z.yaml", "");
  tc.write("presets/llm/a.yml", "");
  tc.write("presets/.git/x.yaml", "");
  tc.write("modes/b.yaml", "");
  tc.write("modes/sub/c.yaml", "");
  tc.write("other/d.yaml", "");
  const auto list = list_config_files(tc.root());
  std::vector<std::string> names;
  for (const auto& f : list.files) names.push_back(f.relative);
  EXPECT_THAT(names, ElementsAre("gpumod.yaml", "presets/llm/a.yml", "presets/z.yaml", "modes/b.yaml"));
  EXPECT_EQ(list.files[0].kind, ConfigFileKind::settings);
  EXPECT_EQ(list.files[1].kind, ConfigFileKind::preset);
  EXPECT_EQ(list.files[3].kind, ConfigFileKind::mode);
  EXPECT_TRUE(list.problems.empty());
}

}  // namespace
}  // namespace gpumod::infra::config
