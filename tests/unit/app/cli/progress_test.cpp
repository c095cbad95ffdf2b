#include "gpumod/app/cli/progress.hpp"

#include <gtest/gtest.h>

namespace gpumod::app {
namespace {

TEST(SwitchProgress, LineSaysStepOfTotalAndTheStep) {
  EXPECT_EQ(switch_progress_line("code", 2, 5, "chat started and ready in 812 ms"),
            "switching to code: step 2 of 5 - chat started and ready in 812 ms");
  EXPECT_EQ(switch_progress_line("code", 0, 0, ""), "switching to code");
}

}  // namespace
}  // namespace gpumod::app
