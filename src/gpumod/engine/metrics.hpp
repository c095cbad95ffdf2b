// MetricsRecorder: the counters behind GET /metrics, kept from the engine's events as they happen
// (an Observer), never recomputed by scanning the event log: per service starts, stops, sleeps,
// wakes, health restarts and failures with the last start and wake durations; switch durations by
// outcome (a histogram), switch steps by action and outcome, rollbacks, admission refusals by
// reason, configuration reloads by outcome. Gauges of the moment (memory, states) come from
// Engine::status at scrape time; the app renders both (app/daemon/metrics.hpp).
// Thread-safety: on_event and snapshot may be called from any thread (one mutex).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gpumod/engine/engine.hpp"

namespace gpumod::engine {

struct ServiceCounters {
  std::uint64_t starts = 0;
  std::uint64_t stops = 0;
  std::uint64_t sleeps = 0;
  std::uint64_t wakes = 0;
  std::uint64_t restarts = 0;  // by the health monitor
  std::uint64_t failures = 0;
  std::optional<double> last_start_seconds;  // start to ready (a load)
  std::optional<double> last_wake_seconds;
};

// A cumulative histogram over fixed upper bounds (seconds); +Inf is count.
struct Histogram {
  std::vector<double> bounds;
  std::vector<std::uint64_t> cumulative;  // per bound: observations <= bound
  double sum = 0;
  std::uint64_t count = 0;
  void observe(double value);
};

// Upper bounds of the switch duration histogram, in seconds.
const std::vector<double>& switch_duration_bounds();

struct MetricsSnapshot {
  std::map<std::string, ServiceCounters> services;
  std::map<std::string, Histogram> switch_seconds;  // by outcome: done, failed, rolled_back, refused
  std::map<std::pair<std::string, std::string>, std::uint64_t> switch_steps;  // (action, outcome)
  std::map<std::string, std::uint64_t> rollbacks;   // complete, incomplete
  std::map<std::string, std::uint64_t> admission_refusals;  // by reason
  std::map<std::string, std::uint64_t> config_reloads;      // applied, unchanged, rejected
  bool config_valid = true;          // false while the files on disk are broken (the old config runs)
  std::string config_problem;        // why, when not valid
  std::uint64_t events = 0;
};

class MetricsRecorder final : public Observer {
 public:
  void on_event(const EngineEvent& event) override;
  MetricsSnapshot snapshot() const;

 private:
  mutable std::mutex m_mutex;
  MetricsSnapshot m_data;
  bool m_undo_seen = false;  // the running switch has undone a step (a rollback ran)
};

}  // namespace gpumod::engine
