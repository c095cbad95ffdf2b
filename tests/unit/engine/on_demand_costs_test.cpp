// The on-demand choice's costs from stored measurements (engine/on_demand.cpp bring_up_costs):
// the stored wake/start durations (bench history, real switches) change the choice and the
// eviction order; the daemon's own newer measurement wins over an older stored one; the
// measurements of the service's own GPU come first. No processes: a state store in a temp dir
// and the pure choice (core/on_demand.hpp).
#include <gtest/gtest.h>

#include "gpumod/core/on_demand.hpp"
#include "gpumod/engine/on_demand.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "support/temp_dir.hpp"

namespace gpumod::engine {
namespace {

using std::chrono::milliseconds;

constexpr std::int64_t k_t0_ms = 1'700'000'000'000;  // when the stored durations were measured

core::Service service(const std::string& id, bool sleeps) {
  core::Service s;
  s.id = id;
  s.driver = core::DriverKind::vllm;
  s.startup_timeout = std::chrono::seconds(40);
  s.supports_sleep = sleeps;
  s.sleep_mode = sleeps ? core::SleepMode::l1 : core::SleepMode::none;
  return s;
}

class OnDemandCosts : public ::testing::Test {
 protected:
  OnDemandCosts() : m_store(*infra::state::StateStore::open(m_dir.path() / "state.db")) {}

  void stored(const std::string& id, const char* action, std::int64_t ms, const std::string& gpu = "GPU-A",
              std::int64_t at_ms = k_t0_ms) {
    ASSERT_TRUE(m_store.add_step_timing({id, action, ms, gpu, at_ms}));
  }

  // a and b run (8,000 MiB each) on a 24,000 MiB GPU; t needs 10,000: one of them must go.
  core::DemandInput two_running(bool sleepers, const std::string& gpu = "GPU-A",
                                const std::map<std::string, OwnMeasurement>& own_wake = {},
                                const std::map<std::string, OwnMeasurement>& own_start = {}) {
    core::DemandInput in;
    in.target = "t";
    in.total_mib = 24000;
    in.free_mib = 8000;
    in.policy = core::OnDemandPolicy::evict;
    for (const std::string id : {"a", "b", "t"}) {
      const auto s = service(id, sleepers);
      core::DemandService d;
      d.id = id;
      d.state = id == "t" ? core::ServiceState::stopped : core::ServiceState::running;
      d.holds_mib = id == "t" ? 0 : 8000;
      d.need_mib = id == "t" ? 10000 : 8000;
      d.can_sleep = s.can_sleep();
      const auto find = [&](const std::map<std::string, OwnMeasurement>& m) {
        const auto it = m.find(id);
        return it == m.end() ? std::optional<OwnMeasurement>() : std::optional<OwnMeasurement>(it->second);
      };
      const auto c = bring_up_costs(s, find(own_wake), find(own_start), m_store, gpu);
      d.wake_cost = c.wake_cost;
      d.start_cost = c.start_cost;
      in.services.push_back(d);
    }
    return in;
  }

  static std::string first_evicted(const core::DemandInput& in) {
    const auto c = core::choose_on_demand(in);
    EXPECT_EQ(c.action, core::DemandAction::evict) << c.plan;
    return c.evictions.empty() ? "" : c.evictions.front().service_id;
  }

  test_support::TempDir m_dir;
  infra::state::StateStore m_store;
};

TEST_F(OnDemandCosts, WithoutMeasurementsTheEstimatesApply) {
  const auto c = bring_up_costs(service("a", true), std::nullopt, std::nullopt, m_store, "GPU-A");
  EXPECT_EQ(c.wake_cost, milliseconds(1000));
  EXPECT_EQ(c.start_cost, milliseconds(10000)) << "a quarter of the 40 s startup timeout";
  EXPECT_EQ(first_evicted(two_running(true)), "a") << "equal costs: by id";
}

TEST_F(OnDemandCosts, StoredWakeTimesOrderTheSleeps) {
  stored("a", "wake", 5000);
  stored("b", "wake", 200);
  const auto in = two_running(true);
  EXPECT_EQ(in.services[0].wake_cost, milliseconds(5000));
  EXPECT_EQ(in.services[1].wake_cost, milliseconds(200));
  EXPECT_EQ(first_evicted(in), "b") << "the cheapest stored wake is slept first";
}

TEST_F(OnDemandCosts, StoredStartTimesOrderTheStops) {
  stored("b", "start", 300);  // a never measured: a quarter of its startup timeout (10 s)
  EXPECT_EQ(first_evicted(two_running(false)), "b");
  stored("a", "start", 100);
  EXPECT_EQ(first_evicted(two_running(false)), "a");
}

TEST_F(OnDemandCosts, NeverWokenIsCostedAsItsStart) {
  stored("a", "start", 400);
  const auto c = bring_up_costs(service("a", true), std::nullopt, std::nullopt, m_store, "GPU-A");
  EXPECT_EQ(c.wake_cost, milliseconds(400));
  EXPECT_EQ(c.start_cost, milliseconds(400));
}

TEST_F(OnDemandCosts, TheNewerOfOwnAndStoredMeasurementWins) {
  stored("a", "wake", 5000);
  stored("b", "wake", 200);
  // The daemon woke a itself after the stored measurements: its 100 ms counts.
  auto in = two_running(true, "GPU-A", {{"a", {milliseconds(100), k_t0_ms + 1}}});
  EXPECT_EQ(in.services[0].wake_cost, milliseconds(100));
  EXPECT_EQ(first_evicted(in), "a");
  // Its own measurement is older than the stored one (a bench ran since): the stored counts.
  in = two_running(true, "GPU-A", {{"a", {milliseconds(100), k_t0_ms - 1}}});
  EXPECT_EQ(in.services[0].wake_cost, milliseconds(5000));
  EXPECT_EQ(first_evicted(in), "b");
}

TEST_F(OnDemandCosts, TheServicesOwnGpuComesFirst) {
  stored("a", "wake", 5000, "GPU-A");
  stored("a", "wake", 100, "GPU-B");
  stored("b", "wake", 200, "GPU-A");
  EXPECT_EQ(first_evicted(two_running(true, "GPU-A")), "b");
  // On GPU-B, a's 100 ms there beats b's 200 ms measured on GPU-A only (used: better than none).
  const auto in = two_running(true, "GPU-B");
  EXPECT_EQ(in.services[0].wake_cost, milliseconds(100));
  EXPECT_EQ(in.services[1].wake_cost, milliseconds(200));
  EXPECT_EQ(first_evicted(in), "a");
}

TEST_F(OnDemandCosts, StoredStartTimesChooseBetweenModesOfEqualChanges) {
  // c runs (14,000 MiB) and t does not fit beside it: t with a (mode ma) or with b (mode mb),
  // each three changes (stop c, start two); the cheaper is chosen.
  auto in = two_running(false);
  for (auto& d : in.services) {
    d.state = core::ServiceState::stopped;
    d.holds_mib = 0;
  }
  in.services.push_back({.id = "c", .state = core::ServiceState::running, .holds_mib = 14000, .need_mib = 14000});
  in.free_mib = 9000;
  in.policy = core::OnDemandPolicy::mode;
  in.modes = {core::Mode{.id = "ma", .services = {"t", "a"}}, core::Mode{.id = "mb", .services = {"t", "b"}}};
  auto c = core::choose_on_demand(in);
  EXPECT_EQ(c.action, core::DemandAction::switch_mode) << c.plan;
  EXPECT_EQ(c.mode_id, "ma") << "equal estimates: by id";

  stored("a", "start", 9000);
  stored("b", "start", 100);
  in.services[0].start_cost = bring_up_costs(service("a", false), std::nullopt, std::nullopt, m_store, "GPU-A").start_cost;
  in.services[1].start_cost = bring_up_costs(service("b", false), std::nullopt, std::nullopt, m_store, "GPU-A").start_cost;
  c = core::choose_on_demand(in);
  EXPECT_EQ(c.mode_id, "mb") << c.plan;
}

}  // namespace
}  // namespace gpumod::engine
