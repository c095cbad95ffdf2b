#include "gpumod/core/on_demand.hpp"

#include <gtest/gtest.h>

namespace gpumod::core {
namespace {

using std::chrono::milliseconds;

DemandService svc(std::string id, ServiceState state, std::int64_t holds, std::int64_t need) {
  DemandService s;
  s.id = std::move(id);
  s.state = state;
  s.holds_mib = holds;
  s.need_mib = need;
  return s;
}

Mode mode(std::string id, std::vector<std::string> services) {
  Mode m;
  m.id = std::move(id);
  m.services = std::move(services);
  return m;
}

DemandInput gpu(std::string target, std::int64_t total, std::vector<DemandService> services) {
  DemandInput in;
  in.target = std::move(target);
  in.total_mib = total;
  std::int64_t used = 0;
  for (const auto& s : services) used += s.holds_mib;
  in.free_mib = total - used;
  in.services = std::move(services);
  in.margin_mib = 500;
  return in;
}

TEST(OnDemandChoice, ServesWhatRunsAndWaitsForWhatLoads) {
  auto in = gpu("a", 24000, {svc("a", ServiceState::running, 8000, 8000)});
  EXPECT_EQ(choose_on_demand(in).action, DemandAction::serve);
  in.services[0].state = ServiceState::loading;
  EXPECT_EQ(choose_on_demand(in).action, DemandAction::wait);
}

TEST(OnDemandChoice, WakesBesideWhenTheWakeFits) {
  // Asleep it keeps 600 MiB, so waking needs only the rest: 7400 + margin fits in 7960 free.
  auto in = gpu("a", 24000, {svc("a", ServiceState::sleeping, 600, 8000), svc("b", ServiceState::running, 15440, 15440)});
  const auto c = choose_on_demand(in);
  EXPECT_EQ(c.action, DemandAction::wake);
  EXPECT_EQ(c.need_mib, 7400);
  EXPECT_TRUE(c.wake_target);
}

TEST(OnDemandChoice, StartsBesideWhenItFits) {
  auto in = gpu("a", 24000, {svc("a", ServiceState::stopped, 0, 8000), svc("b", ServiceState::running, 10000, 10000)});
  EXPECT_EQ(choose_on_demand(in).action, DemandAction::start);
}

TEST(OnDemandChoice, SwitchesToTheModeWithFewestChanges) {
  auto in = gpu("a", 24000, {svc("a", ServiceState::stopped, 0, 12000), svc("b", ServiceState::running, 12000, 12000),
                             svc("c", ServiceState::running, 4000, 4000), svc("d", ServiceState::stopped, 0, 4000)});
  // m1 keeps c (stops b, starts a: 2 changes); m2 also starts d and stops c (4 changes).
  in.modes = {mode("m2", {"a", "d"}), mode("m1", {"a", "c"})};
  auto c = choose_on_demand(in);
  EXPECT_EQ(c.action, DemandAction::switch_mode);
  EXPECT_EQ(c.mode_id, "m1");
  // Equal changes: the lower measured cost wins, then the mode id.
  in.modes = {mode("z", {"a", "c"}), mode("y", {"a", "c"})};
  EXPECT_EQ(choose_on_demand(in).mode_id, "y");
  in.modes = {mode("y", {"a", "c", "d"}), mode("x", {"a", "d"})};
  // y: start a, start d, stop b = 3; x: start a, start d, stop b, stop c = 4.
  EXPECT_EQ(choose_on_demand(in).mode_id, "y");
}

TEST(OnDemandChoice, ModeTieBrokenByMeasuredCost) {
  auto in = gpu("a", 24000, {svc("a", ServiceState::stopped, 0, 10000), svc("b", ServiceState::running, 14000, 14000),
                             svc("c", ServiceState::stopped, 0, 2000), svc("d", ServiceState::stopped, 0, 2000)});
  in.services[2].start_cost = milliseconds(9000);
  in.services[3].start_cost = milliseconds(100);
  in.modes = {mode("mc", {"a", "c"}), mode("md", {"a", "d"})};
  EXPECT_EQ(choose_on_demand(in).mode_id, "md");
}

TEST(OnDemandChoice, ModeThatWouldStopAPinnedServiceIsNotChosen) {
  auto in = gpu("a", 24000, {svc("a", ServiceState::stopped, 0, 12000), svc("b", ServiceState::running, 12000, 12000),
                             svc("c", ServiceState::running, 1000, 1000)});
  in.services[1].pinned = true;
  in.modes = {mode("m", {"a", "c"})};
  const auto c = choose_on_demand(in);
  EXPECT_NE(c.action, DemandAction::switch_mode);
}

TEST(OnDemandChoice, EvictsSleepersFirstCheapestWakeFirst) {
  auto in = gpu("a", 24000, {svc("a", ServiceState::stopped, 0, 10000), svc("b", ServiceState::running, 8000, 8000),
                             svc("c", ServiceState::running, 8000, 8000), svc("d", ServiceState::running, 6000, 6000)});
  in.policy = OnDemandPolicy::evict;
  in.services[1].can_sleep = true;
  in.services[1].wake_cost = milliseconds(5000);
  in.services[2].can_sleep = true;
  in.services[2].wake_cost = milliseconds(800);
  in.services[2].sleep_mib = 500;
  // free 2000; needs 10500: sleep c (frees 7500) -> 9500, then sleep b (frees 8000) -> 17500.
  const auto c = choose_on_demand(in);
  ASSERT_EQ(c.action, DemandAction::evict);
  ASSERT_EQ(c.evictions.size(), 2u);
  EXPECT_EQ(c.evictions[0].service_id, "c");
  EXPECT_TRUE(c.evictions[0].sleep);
  EXPECT_EQ(c.evictions[0].frees_mib, 7500);
  EXPECT_EQ(c.evictions[1].service_id, "b");
  EXPECT_TRUE(c.evictions[1].sleep);
  EXPECT_NE(c.plan.find("then start a"), std::string::npos);
}

TEST(OnDemandChoice, StopsWhenSleepingIsNotEnough) {
  auto in = gpu("a", 24000, {svc("a", ServiceState::stopped, 0, 20000), svc("b", ServiceState::running, 20000, 20000)});
  in.policy = OnDemandPolicy::evict;
  in.services[1].can_sleep = true;
  in.services[1].sleep_mib = 4000;  // asleep it would keep 4000: 4000 free + 16000 < 20500
  const auto c = choose_on_demand(in);
  ASSERT_EQ(c.action, DemandAction::evict);
  ASSERT_EQ(c.evictions.size(), 1u);
  EXPECT_FALSE(c.evictions[0].sleep);
  EXPECT_EQ(c.evictions[0].frees_mib, 20000);
}

TEST(OnDemandChoice, RefusesWithThePlanWhenPinnedServicesHoldTheMemory) {
  auto in = gpu("a", 24000, {svc("a", ServiceState::stopped, 0, 20000), svc("b", ServiceState::running, 12000, 12000)});
  in.services[1].pinned = true;
  const auto c = choose_on_demand(in);
  EXPECT_EQ(c.action, DemandAction::refuse);
  EXPECT_NE(c.plan.find("needs 20,000 MiB"), std::string::npos) << c.plan;
  EXPECT_NE(c.plan.find("pinned: b holds 12,000 MiB"), std::string::npos) << c.plan;
}

TEST(OnDemandChoice, WaitsWhenOnlyBusyOrRecentServicesStandInTheWay) {
  auto in = gpu("a", 24000, {svc("a", ServiceState::stopped, 0, 20000), svc("b", ServiceState::running, 12000, 12000)});
  in.services[1].resident = true;
  EXPECT_EQ(choose_on_demand(in).action, DemandAction::wait);
  in.services[1].resident = false;
  in.services[1].busy = true;
  EXPECT_EQ(choose_on_demand(in).action, DemandAction::wait);
  in.services[1].busy = false;
  EXPECT_EQ(choose_on_demand(in).action, DemandAction::evict);
}

TEST(OnDemandChoice, PolicyNeverChangesNothing) {
  auto in = gpu("a", 24000, {svc("a", ServiceState::stopped, 0, 20000), svc("b", ServiceState::running, 12000, 12000)});
  in.policy = OnDemandPolicy::never;
  in.modes = {mode("m", {"a"})};
  const auto c = choose_on_demand(in);
  EXPECT_EQ(c.action, DemandAction::refuse);
  EXPECT_NE(c.plan.find("on_demand is never"), std::string::npos);
}

TEST(OnDemandChoice, PolicyEvictNeverSwitchesModes) {
  auto in = gpu("a", 24000, {svc("a", ServiceState::stopped, 0, 12000), svc("b", ServiceState::running, 14000, 14000)});
  in.modes = {mode("m", {"a"})};
  EXPECT_EQ(choose_on_demand(in).action, DemandAction::switch_mode);
  in.policy = OnDemandPolicy::evict;
  EXPECT_EQ(choose_on_demand(in).action, DemandAction::evict);
}

}  // namespace
}  // namespace gpumod::core

namespace gpumod::core {
namespace {

DemandService router_model(std::string id, ServiceState state, std::int64_t holds, std::int64_t need) {
  DemandService s;
  s.id = std::move(id);
  s.state = state;
  s.holds_mib = holds;
  s.need_mib = need;
  s.can_sleep = true;
  s.router = "7070|/models";
  s.models_max = 1;
  return s;
}

TEST(OnDemandChoice, RouterAtModelsMaxUnloadsAnIdleMateFirst) {
  DemandInput in;
  in.target = "beta";
  in.total_mib = 24000;
  in.free_mib = 18000;  // fits beside by memory, but the router holds models_max models
  in.services = {router_model("alpha", ServiceState::running, 6000, 6000), router_model("beta", ServiceState::sleeping, 0, 8000)};
  auto c = choose_on_demand(in);
  ASSERT_EQ(c.action, DemandAction::evict) << c.plan;
  ASSERT_EQ(c.evictions.size(), 1u);
  EXPECT_EQ(c.evictions[0].service_id, "alpha");
  EXPECT_TRUE(c.evictions[0].sleep);
  EXPECT_TRUE(c.wake_target);
  // A busy or just-loaded mate makes it wait; a pinned one refuses.
  in.services[0].busy = true;
  EXPECT_EQ(choose_on_demand(in).action, DemandAction::wait);
  in.services[0].busy = false;
  in.services[0].pinned = true;
  c = choose_on_demand(in);
  EXPECT_EQ(c.action, DemandAction::refuse);
  EXPECT_NE(c.plan.find("alpha (pinned)"), std::string::npos) << c.plan;
  // Room for both (models_max 2): a plain wake.
  in.services[0].pinned = false;
  for (auto& s : in.services) s.models_max = 2;
  EXPECT_EQ(choose_on_demand(in).action, DemandAction::wake);
}

}  // namespace
}  // namespace gpumod::core
