#include "gpumod/core/router_mates.hpp"

#include <gtest/gtest.h>

#include "gpumod/core/mode_plan.hpp"

namespace gpumod::core {
namespace {

RouterModel model(std::string id, std::string status, std::string service = "", bool in_mode = false) {
  return {std::move(id), std::move(status), std::move(service), in_mode};
}

TEST(RouterMates, ModelsMaxFromUnitVarsDefaultsToLlamaServers) {
  Service s;
  EXPECT_EQ(models_max_of(s), 4);
  s.unit_vars["models_max"] = "1";
  EXPECT_EQ(models_max_of(s), 1);
  s.unit_vars["models_max"] = "0";
  EXPECT_EQ(models_max_of(s), 0);
  s.unit_vars["models_max"] = "many";
  EXPECT_EQ(models_max_of(s), 4);
}

TEST(RouterMates, NoEvictionBelowModelsMaxOrWithoutLimit) {
  const std::vector<RouterModel> models{model("a", "loaded", "chat-a", true), model("b", "unloaded", "chat-b")};
  EXPECT_FALSE(choose_eviction(models, "b", 2).needed);
  EXPECT_FALSE(choose_eviction(models, "b", 0).needed);
  EXPECT_FALSE(choose_eviction(models, "a", 1).needed) << "already loaded: nothing to make room for";
}

TEST(RouterMates, EvictsAMateOutsideTheModeFirst) {
  const std::vector<RouterModel> models{model("a", "loaded", "chat-a", true), model("c", "sleeping", "chat-c", false),
                                        model("b", "unloaded", "chat-b")};
  const auto c = choose_eviction(models, "b", 2);
  ASSERT_TRUE(c.needed);
  ASSERT_TRUE(c.victim);
  EXPECT_EQ(*c.victim, "chat-c");
  EXPECT_EQ(c.victim_model, "c");
  EXPECT_FALSE(c.victim_in_mode);
}

TEST(RouterMates, NamesAModeMateWhenNoOtherCanGo) {
  const std::vector<RouterModel> models{model("a", "loaded", "chat-a", true), model("b", "unloaded", "chat-b")};
  const auto c = choose_eviction(models, "b", 1);
  ASSERT_TRUE(c.victim);
  EXPECT_EQ(*c.victim, "chat-a");
  EXPECT_TRUE(c.victim_in_mode);
}

TEST(RouterMates, NeverPicksAModelNoServiceServes) {
  const std::vector<RouterModel> models{model("x", "loaded"), model("b", "unloaded", "chat-b")};
  const auto c = choose_eviction(models, "b", 1);
  EXPECT_TRUE(c.needed);
  EXPECT_FALSE(c.victim);
  EXPECT_NE(c.problem.find("models_max 1"), std::string::npos) << c.problem;
}

TEST(RouterMates, UnloadedMateIsEvictedOnlyWhenItWasMeantToRun) {
  EXPECT_EQ(classify_unloaded(ServiceState::running), UnloadedMate::evicted);
  EXPECT_EQ(classify_unloaded(ServiceState::unhealthy), UnloadedMate::evicted);
  EXPECT_EQ(classify_unloaded(ServiceState::stopped), UnloadedMate::stopped);
  EXPECT_EQ(classify_unloaded(ServiceState::failed), UnloadedMate::failed);
  EXPECT_EQ(classify_unloaded(ServiceState::sleeping), UnloadedMate::asleep);
  EXPECT_EQ(classify_unloaded(ServiceState::loading), UnloadedMate::pending);
}

// A dead router comes back with the mates the current mode wants loaded; an asleep (or evicted)
// mate stays asleep, one running outside the mode is stopped, stopped and failed ones stay so.
TEST(RouterMates, RouterRestartReloadsOnlyWhatTheModeWants) {
  const std::vector<MateNow> mates{{"chat-a", ServiceState::unhealthy}, {"chat-b", ServiceState::running},
                                   {"chat-c", ServiceState::sleeping}, {"chat-d", ServiceState::stopped},
                                   {"chat-e", ServiceState::failed}, {"chat-f", ServiceState::running}};
  const auto p = plan_router_restart(mates, {"chat-a", "chat-c", "chat-f", "emb"});
  EXPECT_EQ(p.load, (std::vector<std::string>{"chat-a", "chat-f"}));
  EXPECT_EQ(p.asleep, std::vector<std::string>{"chat-c"});
  EXPECT_EQ(p.stop, std::vector<std::string>{"chat-b"});
  EXPECT_TRUE(p.restarts_process());
  // No current mode: whatever ran comes back.
  const auto none = plan_router_restart(mates, {});
  EXPECT_EQ(none.load, (std::vector<std::string>{"chat-a", "chat-b", "chat-f"}));
  EXPECT_TRUE(none.stop.empty());
  // Only a mate outside the mode ran: the router is not started again.
  const auto outside = plan_router_restart({{"chat-b", ServiceState::running}, {"chat-d", ServiceState::stopped}}, {"chat-a"});
  EXPECT_FALSE(outside.restarts_process());
  EXPECT_EQ(outside.stop, std::vector<std::string>{"chat-b"});
}

Config issue_config() {
  Config c;
  for (const char* id : {"chat-a", "chat-b"}) {
    Service s;
    s.id = id;
    s.driver = DriverKind::llamacpp;
    s.sleep_mode = SleepMode::router;
    s.port = 7070;
    c.services.push_back(s);
  }
  Service emb;
  emb.id = "emb";
  emb.driver = DriverKind::vllm;
  c.services.push_back(emb);
  c.modes = {Mode{"a", "a", "", {"chat-a", "emb"}, {}}, Mode{"b", "b", "", {"chat-b", "emb"}, {}}};
  return c;
}

TEST(RouterMates, ModeModificationsNameWokenAndEvicted) {
  const auto cfg = issue_config();
  EXPECT_TRUE(mode_modifications(cfg, "a", {{"chat-a", {ServiceState::running, false}},
                                            {"chat-b", {ServiceState::stopped, false}},
                                            {"emb", {ServiceState::running, false}}})
                  .empty());
  EXPECT_EQ(mode_modifications(cfg, "a", {{"chat-a", {ServiceState::sleeping, true}},
                                          {"chat-b", {ServiceState::running, false}},
                                          {"emb", {ServiceState::running, false}}}),
            (std::vector<std::string>{"chat-b woken", "chat-a evicted"}));
  EXPECT_EQ(mode_modifications(cfg, "b", {{"chat-a", {ServiceState::stopped, false}},
                                          {"chat-b", {ServiceState::running, false}},
                                          {"emb", {ServiceState::stopped, false}}}),
            (std::vector<std::string>{"emb stopped"}));
  EXPECT_TRUE(mode_modifications(cfg, "nope", {}).empty());
}

TEST(RouterMates, PlanStepsCarryThePriorStateAndRouterSleepHasNoLevel) {
  auto cfg = issue_config();
  PlanInput in;
  in.config = &cfg;
  in.target_mode = "b";
  in.gpu_free_mib = 20000;
  in.observed["chat-a"] = {ServiceState::running, 4000, std::nullopt, std::nullopt};
  in.observed["emb"] = {ServiceState::sleeping, 0, std::nullopt, std::nullopt, 2};
  auto plan = plan_mode_switch(in);
  ASSERT_TRUE(plan) << plan.error().message;
  bool saw_a = false, saw_emb = false;
  for (const auto& s : plan->steps) {
    if (s.service_id == "chat-a") {
      saw_a = true;
      EXPECT_EQ(s.action, StepAction::sleep);
      EXPECT_EQ(s.sleep_level, 0);
      EXPECT_EQ(s.prior_state, ServiceState::running);
    }
    if (s.service_id == "emb") {
      saw_emb = true;
      EXPECT_EQ(s.action, StepAction::wake);
      EXPECT_EQ(s.prior_state, ServiceState::sleeping);
      EXPECT_EQ(s.prior_sleep_level, 2);
    }
  }
  EXPECT_TRUE(saw_a && saw_emb);
}

}  // namespace
}  // namespace gpumod::core
