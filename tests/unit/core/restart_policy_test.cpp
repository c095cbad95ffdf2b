#include "gpumod/core/restart_policy.hpp"

#include <gtest/gtest.h>

namespace gpumod::core {
namespace {

using namespace std::chrono_literals;
using TP = RestartTracker::TimePoint;

TP at(std::chrono::seconds s) { return TP{} + s; }

RestartSettings settings(RestartPolicy policy, int max_restarts = 3) {
  RestartSettings s;
  s.policy = policy;
  s.max_restarts = max_restarts;
  return s;
}

RestartTracker no_jitter(RestartSettings s) { return RestartTracker(s, [] { return 0.5; }); }

TEST(RestartTrackerTest, PolicyDecidesWhatToRestart) {
  auto never = no_jitter(settings(RestartPolicy::never));
  EXPECT_EQ(never.on_exit(at(1s), ExitKind::crashed, true).action, RestartAction::leave_stopped);

  auto on_failure = no_jitter(settings(RestartPolicy::on_failure));
  EXPECT_EQ(on_failure.on_exit(at(1s), ExitKind::clean, true).action, RestartAction::leave_stopped);
  auto d = on_failure.on_exit(at(2s), ExitKind::crashed, true);
  EXPECT_EQ(d.action, RestartAction::restart);
  EXPECT_EQ(d.delay, 1000ms);

  auto always = no_jitter(settings(RestartPolicy::always));
  EXPECT_EQ(always.on_exit(at(1s), ExitKind::clean, true).action, RestartAction::restart);
  EXPECT_EQ(always.on_exit(at(2s), ExitKind::killed_by_us, true).action, RestartAction::leave_stopped);
}

TEST(RestartTrackerTest, BudgetWithinWindow) {
  auto t = no_jitter(settings(RestartPolicy::on_failure, 3));
  for (int i = 0; i < 3; ++i) {
    t.on_ready(at(std::chrono::seconds(i * 10)));
    auto d = t.on_exit(at(std::chrono::seconds(i * 10 + 5)), ExitKind::crashed, true);
    EXPECT_EQ(d.action, RestartAction::restart) << i;
  }
  EXPECT_EQ(t.restarts_in_window(at(30s)), 3);
  t.on_ready(at(30s));
  auto d = t.on_exit(at(35s), ExitKind::crashed, true);
  EXPECT_EQ(d.action, RestartAction::give_up);
  EXPECT_NE(d.reason.find("budget"), std::string::npos);
  EXPECT_TRUE(t.gave_up());
  // Once the first restarts leave the 600 s window, the budget has room again.
  t.on_ready(at(700s));
  EXPECT_EQ(t.restarts_in_window(at(706s)), 0);
  EXPECT_EQ(t.on_exit(at(706s), ExitKind::crashed, true).action, RestartAction::restart);
}

TEST(RestartTrackerTest, BackoffDoublesUpToTheCap) {
  auto t = no_jitter(settings(RestartPolicy::on_failure, 100));
  std::vector<long long> delays;
  for (int i = 0; i < 9; ++i) {
    t.on_ready(at(std::chrono::seconds(i)));  // ready, but never stable for 60 s
    delays.push_back(t.on_exit(at(std::chrono::seconds(i + 1)), ExitKind::crashed, true).delay.count());
  }
  EXPECT_EQ(delays, (std::vector<long long>{1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000}));
  EXPECT_EQ(t.failure_streak(), 9);
}

TEST(RestartTrackerTest, JitterStaysWithinTwentyPercentAndTheCap) {
  RestartSettings s = settings(RestartPolicy::on_failure, 100);
  double r = 0.0;
  RestartTracker t(s, [&] { return r; });
  r = 0.0;
  EXPECT_EQ(t.on_exit(at(1s), ExitKind::crashed, true).delay, 800ms);
  r = 0.999999;
  auto d2 = t.on_exit(at(2s), ExitKind::crashed, true).delay;  // base 2000
  EXPECT_GE(d2, 2399ms);
  EXPECT_LE(d2, 2400ms);
  for (int i = 0; i < 10; ++i) t.on_exit(at(std::chrono::seconds(3 + i)), ExitKind::crashed, true);
  r = 0.999999;
  EXPECT_EQ(t.on_exit(at(20s), ExitKind::crashed, true).delay, 60000ms);  // cap is a hard maximum
  r = 0.0;
  EXPECT_EQ(t.on_exit(at(21s), ExitKind::crashed, true).delay, 48000ms);
  for (double x : {0.1, 0.3, 0.7, 0.9}) {
    r = x;
    auto d = t.on_exit(at(22s), ExitKind::crashed, true).delay;
    EXPECT_GE(d, 48000ms);
    EXPECT_LE(d, 60000ms);
  }
}

TEST(RestartTrackerTest, TwoExitsBeforeReadyAreACrashLoop) {
  auto t = no_jitter(settings(RestartPolicy::on_failure, 10));
  auto first = t.on_exit(at(1s), ExitKind::crashed, false);
  EXPECT_EQ(first.action, RestartAction::restart);
  auto second = t.on_exit(at(3s), ExitKind::crashed, false);
  EXPECT_EQ(second.action, RestartAction::give_up);
  EXPECT_NE(second.reason.find("crash loop"), std::string::npos);

  // Becoming ready in between breaks the chain.
  auto u = no_jitter(settings(RestartPolicy::on_failure, 10));
  EXPECT_EQ(u.on_exit(at(1s), ExitKind::crashed, false).action, RestartAction::restart);
  u.on_ready(at(5s));
  EXPECT_EQ(u.on_exit(at(6s), ExitKind::crashed, true).action, RestartAction::restart);
  EXPECT_EQ(u.on_exit(at(9s), ExitKind::crashed, false).action, RestartAction::restart);
  EXPECT_EQ(u.on_exit(at(12s), ExitKind::crashed, false).action, RestartAction::give_up);

  // reset() clears the history.
  u.reset();
  EXPECT_FALSE(u.gave_up());
  EXPECT_EQ(u.on_exit(at(20s), ExitKind::crashed, false).action, RestartAction::restart);
}

TEST(RestartTrackerTest, StableRunResetsTheBackoff) {
  auto t = no_jitter(settings(RestartPolicy::on_failure, 10));
  t.on_ready(at(0s));
  EXPECT_EQ(t.on_exit(at(5s), ExitKind::crashed, true).delay, 1000ms);
  t.on_ready(at(10s));
  EXPECT_EQ(t.on_exit(at(20s), ExitKind::crashed, true).delay, 2000ms);  // 10 s up: not stable
  t.on_ready(at(30s));
  EXPECT_EQ(t.on_exit(at(100s), ExitKind::crashed, true).delay, 1000ms);  // 70 s up: stable
  EXPECT_EQ(t.failure_streak(), 1);
}

TEST(RestartTrackerTest, SettingsFromService) {
  Service svc;
  svc.restart = RestartPolicy::always;
  svc.max_restarts = 7;
  svc.restart_window = 120s;
  auto s = RestartSettings::for_service(svc);
  EXPECT_EQ(s.policy, RestartPolicy::always);
  EXPECT_EQ(s.max_restarts, 7);
  EXPECT_EQ(s.window, 120s);
  EXPECT_EQ(to_string(RestartAction::give_up), "give-up");
}

}  // namespace
}  // namespace gpumod::core
