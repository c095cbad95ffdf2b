// Expected step durations of a plan from measured durations (engine/bench_costs.cpp).
#include <gtest/gtest.h>

#include "gpumod/engine/bench.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "support/temp_dir.hpp"

namespace gpumod::engine {
namespace {

using core::StepAction;

core::PlanStep step(StepAction a, const std::string& id, bool outgoing) {
  core::PlanStep s;
  s.action = a;
  s.service_id = id;
  s.outgoing = outgoing;
  return s;
}

TEST(BenchCosts, OutgoingInParallelIncomingInOrder) {
  test_support::TempDir dir;
  auto store = infra::state::StateStore::open(dir.path() / "db");
  ASSERT_TRUE(store);
  for (auto [id, action, ms] : {std::tuple{"x", "stop", 300}, std::tuple{"y", "sleep", 500},
                                std::tuple{"z", "start", 2000}, std::tuple{"w", "wake", 700}}) {
    ASSERT_TRUE(store->add_step_timing({id, action, ms, "GPU-A", 0}));
  }
  core::Plan plan;
  plan.steps = {step(StepAction::stop, "x", true), step(StepAction::sleep, "y", true),
                step(StepAction::start, "z", false), step(StepAction::wake, "w", false),
                step(StepAction::keep, "k", false)};
  auto e = expected_durations(*store, plan, "GPU-A");
  ASSERT_EQ(e.step_ms.size(), 5u);
  EXPECT_EQ(e.step_ms[0], 300);
  EXPECT_EQ(e.step_ms[2], 2000);
  EXPECT_EQ(e.step_ms[4], 0);
  ASSERT_TRUE(e.total_ms);
  EXPECT_EQ(*e.total_ms, 500 + 2000 + 700);  // the longest outgoing step, then each incoming one
  // Measured on another GPU only: still used (better than nothing).
  EXPECT_EQ(expected_durations(*store, plan, "GPU-B").total_ms, 3200);

  plan.steps.push_back(step(StepAction::start, "never-measured", false));
  e = expected_durations(*store, plan, "GPU-A");
  EXPECT_FALSE(e.step_ms.back().has_value());
  EXPECT_FALSE(e.total_ms.has_value()) << "no total while a step has no measurement";

  EXPECT_EQ(expected_bring_up_ms(*store, "w", true), 700);
  EXPECT_EQ(expected_bring_up_ms(*store, "z", true), 2000) << "never woken: its start";
  EXPECT_FALSE(expected_bring_up_ms(*store, "never-measured", false).has_value());
}

}  // namespace
}  // namespace gpumod::engine
