#include "gpumod/infra/config/root.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "unit/infra/config/temp_config.hpp"

namespace gpumod::infra::config {
namespace {

using testing_support::fake_env;
using testing_support::TempConfig;

class ConfigRootTest : public ::testing::Test {
 protected:
  ConfigRootTest() {
    tc.write("cli/.keep", "");
    tc.write("envdir/.keep", "");
    tc.write("xdg/gpumod/.keep", "");
    tc.write("home/.config/gpumod/.keep", "");
    tc.write("bundled/.keep", "");
  }
  std::filesystem::path p(const std::string& relative) const { return tc.root() / relative; }
  TempConfig tc;
};

TEST_F(ConfigRootTest, CommandLineComesFirst) {
  const auto r = resolve_config_root(p("cli"), fake_env({{"GPUMOD_CONFIG_DIR", p("envdir")}}),
                                     p("bundled"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->root, p("cli"));
  EXPECT_FALSE(r->bundled);
  EXPECT_EQ(r->source, "--config");
}

TEST_F(ConfigRootTest, MissingCommandLineDirIsAnErrorNotAFallBack) {
  const auto r = resolve_config_root(p("nope"), fake_env({}), p("bundled"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::not_found);
  EXPECT_EQ(r.error().message,
            "config directory '" + p("nope").string() + "' (from --config) does not exist");
}

TEST_F(ConfigRootTest, EnvironmentVariableBeforeXdg) {
  const auto env = fake_env({{"GPUMOD_CONFIG_DIR", p("envdir")},
                             {"XDG_CONFIG_HOME", p("xdg")},
                             {"HOME", p("home")}});
  const auto r = resolve_config_root(std::nullopt, env, p("bundled"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->root, p("envdir"));
  EXPECT_EQ(r->source, "$GPUMOD_CONFIG_DIR");

  const auto missing = resolve_config_root(
      std::nullopt, fake_env({{"GPUMOD_CONFIG_DIR", p("gone")}, {"HOME", p("home")}}), p("bundled"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, util::ErrorCode::not_found);
  EXPECT_NE(missing.error().message.find("$GPUMOD_CONFIG_DIR"), std::string::npos);
}

TEST_F(ConfigRootTest, XdgConfigHomeThenHomeDotConfig) {
  const auto xdg = resolve_config_root(
      std::nullopt, fake_env({{"XDG_CONFIG_HOME", p("xdg")}, {"HOME", p("home")}}), p("bundled"));
  ASSERT_TRUE(xdg);
  EXPECT_EQ(xdg->root, p("xdg") / "gpumod");
  EXPECT_EQ(xdg->source, "$XDG_CONFIG_HOME/gpumod");

  const auto home = resolve_config_root(std::nullopt, fake_env({{"HOME", p("home")}}), p("bundled"));
  ASSERT_TRUE(home);
  EXPECT_EQ(home->root, p("home") / ".config" / "gpumod");
  EXPECT_EQ(home->source, "~/.config/gpumod");

  // An empty GPUMOD_CONFIG_DIR counts as unset; a relative XDG_CONFIG_HOME is ignored.
  const auto relative_xdg = resolve_config_root(
      std::nullopt,
      fake_env({{"GPUMOD_CONFIG_DIR", ""}, {"XDG_CONFIG_HOME", "xdg"}, {"HOME", p("home")}}),
      p("bundled"));
  ASSERT_TRUE(relative_xdg);
  EXPECT_EQ(relative_xdg->root, p("home") / ".config" / "gpumod");
}

TEST_F(ConfigRootTest, BundledExampleWhenNothingElseExists) {
  const auto r = resolve_config_root(
      std::nullopt, fake_env({{"XDG_CONFIG_HOME", p("empty-xdg")}, {"HOME", p("home")}}),
      p("bundled"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->root, p("bundled"));
  EXPECT_TRUE(r->bundled);
  EXPECT_EQ(r->source, "bundled example");

  const auto none = resolve_config_root(std::nullopt, fake_env({}), p("no-bundle"));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, util::ErrorCode::not_found);
}

TEST(ConfigFingerprintTest, ChangesWhenAConfigFileChanges) {
  TempConfig tc;
  tc.write("presets/a.yaml", "id: a\n");
  tc.write("modes/m.yaml", "id: m\n");
  const auto first = config_fingerprint(tc.root());
  EXPECT_EQ(config_fingerprint(tc.root()), first);

  tc.write("presets/a.yaml~", "backup\n");  // ignored by the loader, so by the fingerprint too
  tc.write("notes.txt", "x\n");
  EXPECT_EQ(config_fingerprint(tc.root()), first);

  tc.write("presets/a.yaml", "id: aa\n");  // size changes
  const auto second = config_fingerprint(tc.root());
  EXPECT_NE(second, first);

  // Same size, new modification time.
  const auto path = tc.root() / "presets/a.yaml";
  tc.write("presets/a.yaml", "id: ab\n");
  std::filesystem::last_write_time(path, std::filesystem::last_write_time(path) + std::chrono::seconds(5));
  const auto third = config_fingerprint(tc.root());
  EXPECT_NE(third, second);

  tc.write("presets/llm/b.yaml", "id: b\n");
  EXPECT_NE(config_fingerprint(tc.root()), third);
}

}  // namespace
}  // namespace gpumod::infra::config
