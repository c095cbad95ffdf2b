#include "gpumod/core/mode_plan.hpp"

#include <gtest/gtest.h>

namespace gpumod::core {
namespace {

Service svc(std::string id, std::int64_t vram, SleepMode sleep = SleepMode::none,
            DriverKind driver = DriverKind::vllm, std::optional<int> port = std::nullopt) {
  Service s;
  s.id = std::move(id);
  s.vram_mib = vram;
  s.sleep_mode = sleep;
  s.driver = driver;
  s.port = port;
  return s;
}

// The predecessor's worked example (§6.3): code = {embed, devstral(l1)} -> rag = {embed, rag-llm, reranker}.
Config worked_example() {
  Config c;
  c.services = {svc("svc-devstral", 15000, SleepMode::l1), svc("svc-embed", 2000),
                svc("svc-rag-llm", 5000), svc("svc-reranker", 3000), svc("svc-orphan", 1000)};
  c.modes = {Mode{"code", "Code", "", {"svc-embed", "svc-devstral"}, {}},
             Mode{"rag", "RAG", "", {"svc-embed", "svc-reranker", "svc-rag-llm"}, {}}};
  return c;
}

const PlanStep* find(const Plan& p, const std::string& id) {
  for (const auto& s : p.steps) {
    if (s.service_id == id) return &s;
  }
  return nullptr;
}

ObservedService running(std::int64_t mib) { return {ServiceState::running, mib, std::nullopt, std::nullopt}; }

TEST(ModePlan, WorkedExampleCodeToRag) {
  const auto cfg = worked_example();
  PlanInput in{&cfg, "rag", {{"svc-embed", running(2000)}, {"svc-devstral", running(15000)}}, 7000, 512};
  const auto plan = plan_mode_switch(in);
  ASSERT_TRUE(plan.has_value());
  ASSERT_EQ(plan->steps.size(), 4u);
  // Outgoing first: devstral is slept (sleep-capable, running), not stopped.
  EXPECT_EQ(plan->steps[0].service_id, "svc-devstral");
  EXPECT_EQ(plan->steps[0].action, StepAction::sleep);
  EXPECT_EQ(plan->steps[0].sleep_level, 1);
  // The shared embed service is kept; incoming follow the mode's declared order (W12).
  EXPECT_EQ(plan->steps[1].service_id, "svc-embed");
  EXPECT_EQ(plan->steps[1].action, StepAction::keep);
  EXPECT_EQ(plan->steps[2].service_id, "svc-reranker");
  EXPECT_EQ(plan->steps[2].action, StepAction::start);
  EXPECT_EQ(plan->steps[3].service_id, "svc-rag-llm");
  EXPECT_EQ(plan->steps[3].action, StepAction::start);
  EXPECT_TRUE(plan->predicted_to_fit);
  // 7000 free + (15000 - 600 residue) - 3000 - 5000.
  EXPECT_EQ(plan->predicted_free_mib, 7000 + 14400 - 8000);
}

TEST(ModePlan, SharedServiceThatCrashedIsRepairedW1) {
  const auto cfg = worked_example();
  PlanInput in{&cfg, "code", {{"svc-devstral", running(15000)}}, 9000, 512};  // embed is down
  const auto plan = plan_mode_switch(in);
  ASSERT_TRUE(plan);
  ASSERT_NE(find(*plan, "svc-embed"), nullptr);
  EXPECT_EQ(find(*plan, "svc-embed")->action, StepAction::start);
  EXPECT_EQ(find(*plan, "svc-devstral")->action, StepAction::keep);
}

TEST(ModePlan, AsleepTargetServiceIsWokenAndUnhealthyIsRestarted) {
  const auto cfg = worked_example();
  PlanInput in{&cfg, "code",
               {{"svc-devstral", {ServiceState::sleeping, 600, 15000, 600}},
                {"svc-embed", {ServiceState::unhealthy, 2000, std::nullopt, std::nullopt}}},
               20000, 512};
  const auto plan = plan_mode_switch(in);
  ASSERT_TRUE(plan);
  EXPECT_EQ(find(*plan, "svc-devstral")->action, StepAction::wake);
  EXPECT_EQ(find(*plan, "svc-devstral")->need_mib, 15000 - 600);
  EXPECT_EQ(find(*plan, "svc-embed")->action, StepAction::restart);
}

TEST(ModePlan, ResidentTargetServicesNeedNoMemoryW2) {
  const auto cfg = worked_example();
  // Nothing recorded as current mode, but the rag services already run: no allocation needed.
  PlanInput in{&cfg, "rag",
               {{"svc-embed", running(2000)}, {"svc-rag-llm", running(5000)}, {"svc-reranker", running(3000)}},
               100, 512};
  const auto plan = plan_mode_switch(in);
  ASSERT_TRUE(plan);
  EXPECT_FALSE(plan->changes_anything());
  EXPECT_TRUE(plan->predicted_to_fit);
}

TEST(ModePlan, TheSumOfIncomingNeedsIsCheckedNotTheMaxW3) {
  const auto cfg = worked_example();
  // 6,000 free: enough for the largest incoming (5,000 + 512) but not for both (8,000 + 512).
  PlanInput in{&cfg, "rag", {{"svc-embed", running(2000)}}, 6000, 512};
  const auto plan = plan_mode_switch(in);
  ASSERT_TRUE(plan);
  EXPECT_FALSE(plan->predicted_to_fit);
  EXPECT_NE(plan->fit_problem.find("svc-rag-llm"), std::string::npos);
}

TEST(ModePlan, MeasuredFreeMemoryBoundsTheSwitchW4) {
  const auto cfg = worked_example();
  // The GPU is 24 GB but only 3,000 MiB are free (others hold the rest): starting embed (2,000)
  // fits with the margin; the predecessor compared with the total and would have said yes to more.
  PlanInput in{&cfg, "code", {}, 3000, 512};
  const auto plan = plan_mode_switch(in);
  ASSERT_TRUE(plan);
  EXPECT_FALSE(plan->predicted_to_fit);  // devstral's 15,000 cannot fit in what is left
}

TEST(ModePlan, SleepLevelTwoIsHonouredW5) {
  auto cfg = worked_example();
  cfg.services[0].sleep_mode = SleepMode::l2;
  PlanInput in{&cfg, "rag", {{"svc-devstral", running(15000)}}, 20000, 512};
  const auto plan = plan_mode_switch(in);
  ASSERT_TRUE(plan);
  EXPECT_EQ(find(*plan, "svc-devstral")->sleep_level, 2);
}

TEST(ModePlan, OutgoingUnhealthyStartingAndUnknownAreStoppedW7) {
  auto cfg = worked_example();
  PlanInput in{&cfg, "rag",
               {{"svc-devstral", {ServiceState::unhealthy, 15000, std::nullopt, std::nullopt}},
                {"svc-orphan", {ServiceState::unknown, 1000, std::nullopt, std::nullopt}}},
               20000, 512};
  const auto plan = plan_mode_switch(in);
  ASSERT_TRUE(plan);
  EXPECT_EQ(find(*plan, "svc-devstral")->action, StepAction::stop);
  EXPECT_EQ(find(*plan, "svc-orphan")->action, StepAction::stop);
  EXPECT_TRUE(find(*plan, "svc-orphan")->outgoing);
}

TEST(ModePlan, OutgoingSleepingServiceIsStoppedNotSlept) {
  const auto cfg = worked_example();
  PlanInput in{&cfg, "rag", {{"svc-devstral", {ServiceState::sleeping, 600, std::nullopt, std::nullopt}}}, 20000, 512};
  const auto plan = plan_mode_switch(in);
  ASSERT_TRUE(plan);
  EXPECT_EQ(find(*plan, "svc-devstral")->action, StepAction::stop);
  EXPECT_EQ(find(*plan, "svc-devstral")->frees_mib, 600);
}

// A service of the mode being left that is already asleep stays asleep (where the switch puts
// a running one); so a switch resumed after a crash, which finds what it had slept asleep, plans
// what the uninterrupted switch would have left.
TEST(ModePlan, OutgoingSleepingServiceOfTheModeBeingLeftStaysAsleep) {
  const auto cfg = worked_example();
  PlanInput in{&cfg, "rag", {{"svc-devstral", {ServiceState::sleeping, 600, std::nullopt, std::nullopt}}}, 20000, 512};
  in.leaving = {"svc-embed", "svc-devstral"};
  const auto plan = plan_mode_switch(in);
  ASSERT_TRUE(plan);
  EXPECT_EQ(find(*plan, "svc-devstral"), nullptr);
  // The same service running is slept: both ways it ends asleep.
  in.observed["svc-devstral"] = running(10000);
  const auto running_plan = plan_mode_switch(in);
  ASSERT_TRUE(running_plan);
  EXPECT_EQ(find(*running_plan, "svc-devstral")->action, StepAction::sleep);
}

TEST(ModePlan, DependenciesStartFirstAndAreReportedW11W12) {
  auto cfg = worked_example();
  cfg.services[2].depends_on = {"svc-orphan"};  // rag-llm depends on svc-orphan (not in rag)
  PlanInput in{&cfg, "rag", {}, 30000, 512};
  const auto plan = plan_mode_switch(in);
  ASSERT_TRUE(plan);
  std::vector<std::string> order;
  for (const auto& s : plan->steps) order.push_back(s.service_id);
  const std::vector<std::string> expected{"svc-embed", "svc-reranker", "svc-orphan", "svc-rag-llm"};
  EXPECT_EQ(order, expected);
  EXPECT_TRUE(find(*plan, "svc-orphan")->as_dependency);
}

TEST(ModePlan, DependencyCycleIsAConfigError) {
  auto cfg = worked_example();
  cfg.services[2].depends_on = {"svc-reranker"};
  cfg.services[3].depends_on = {"svc-rag-llm"};
  PlanInput in{&cfg, "rag", {}, 30000, 512};
  const auto plan = plan_mode_switch(in);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().code, util::ErrorCode::config_invalid);
}

TEST(ModePlan, UnknownModeSuggestsASpelling) {
  const auto cfg = worked_example();
  PlanInput in{&cfg, "rga", {}, 1000, 512};
  const auto plan = plan_mode_switch(in);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().code, util::ErrorCode::not_found);
  EXPECT_NE(plan.error().message.find("did you mean 'rag'"), std::string::npos);
}

TEST(ModePlan, RouterModelsSwapInsideOneRouterW14) {
  Config c;
  auto nemo = svc("nemotron", 20000, SleepMode::router, DriverKind::llamacpp, 7070);
  auto glm = svc("glm", 19000, SleepMode::router, DriverKind::llamacpp, 7070);
  nemo.unit_vars["models_dir"] = glm.unit_vars["models_dir"] = "/models";
  c.services = {glm, nemo};
  c.modes = {Mode{"a", "", "", {"nemotron"}, {}}, Mode{"b", "", "", {"glm"}, {}}};
  EXPECT_EQ(router_group(nemo), router_group(glm));
  // The router runs with nemotron loaded; glm's model is known to the router but unloaded.
  PlanInput in{&c, "b", {{"nemotron", running(20000)}, {"glm", {ServiceState::sleeping, 0, std::nullopt, std::nullopt}}}, 4000, 512};
  const auto plan = plan_mode_switch(in);
  ASSERT_TRUE(plan);
  EXPECT_EQ(find(*plan, "nemotron")->action, StepAction::sleep);  // unload inside the router
  EXPECT_EQ(find(*plan, "glm")->action, StepAction::wake);        // load inside the same router
  EXPECT_TRUE(plan->predicted_to_fit);
  // Back again: nemotron asleep in the router, glm running; a sleeping router-mate is left alone.
  PlanInput back{&c, "a", {{"glm", running(19000)}, {"nemotron", {ServiceState::sleeping, 0, std::nullopt, std::nullopt}}}, 5000, 512};
  const auto plan2 = plan_mode_switch(back);
  ASSERT_TRUE(plan2);
  EXPECT_EQ(find(*plan2, "glm")->action, StepAction::sleep);
  EXPECT_EQ(find(*plan2, "nemotron")->action, StepAction::wake);
}

}  // namespace
}  // namespace gpumod::core
