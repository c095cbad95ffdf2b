#include "gpumod/infra/config/expand.hpp"

#include <gtest/gtest.h>

#include "unit/infra/config/temp_config.hpp"

namespace gpumod::infra::config {
namespace {

using testing_support::fake_env;

TEST(ExpandVarsTest, FollowsPythonExpandvars) {
  const auto env = fake_env({{"HOME", "/home/ada"}, {"A", "x"}, {"A_B", "y"}, {"1", "one"},
                             {"EMPTY", ""}, {"D", "$HOME"}});
  EXPECT_EQ(expand_vars("$HOME/models", env), "/home/ada/models");
  EXPECT_EQ(expand_vars("${HOME}/models", env), "/home/ada/models");
  EXPECT_EQ(expand_vars("a${A}b$A_B", env), "axby");          // the longest word is the name
  EXPECT_EQ(expand_vars("$A-$A.$A/", env), "x-x.x/");
  EXPECT_EQ(expand_vars("$1", env), "one");                    // digits are word characters
  EXPECT_EQ(expand_vars("[$EMPTY]", env), "[]");
  EXPECT_EQ(expand_vars("$D", env), "$HOME");                  // no second expansion
}

TEST(ExpandVarsTest, LeavesUnknownAndMalformedReferencesAlone) {
  const auto env = fake_env({{"HOME", "/h"}});
  EXPECT_EQ(expand_vars("$NOPE/x", env), "$NOPE/x");
  EXPECT_EQ(expand_vars("${NOPE}/x", env), "${NOPE}/x");
  EXPECT_EQ(expand_vars("cost: 5$", env), "cost: 5$");
  EXPECT_EQ(expand_vars("$$HOME", env), "$/h");
  EXPECT_EQ(expand_vars("${HOME", env), "${HOME");
  EXPECT_EQ(expand_vars("${}", env), "${}");
  EXPECT_EQ(expand_vars("$-x", env), "$-x");
  EXPECT_EQ(expand_vars("no dollars", env), "no dollars");
  EXPECT_EQ(expand_vars("", env), "");
}

TEST(ExpandVarsTest, ProcessEnvReadsTheRealEnvironment) {
  ::setenv("GPUMOD_EXPAND_TEST_VAR", "v1", 1);
  EXPECT_EQ(expand_vars("<$GPUMOD_EXPAND_TEST_VAR>", process_env()), "<v1>");
  ::unsetenv("GPUMOD_EXPAND_TEST_VAR");
  EXPECT_EQ(expand_vars("<$GPUMOD_EXPAND_TEST_VAR>", process_env()), "<$GPUMOD_EXPAND_TEST_VAR>");
}

}  // namespace
}  // namespace gpumod::infra::config
