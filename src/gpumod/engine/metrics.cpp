#include "gpumod/engine/metrics.hpp"

namespace gpumod::engine {

void Histogram::observe(double value) {
  if (cumulative.size() != bounds.size()) cumulative.assign(bounds.size(), 0);
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (value <= bounds[i]) ++cumulative[i];
  }
  sum += value;
  ++count;
}

const std::vector<double>& switch_duration_bounds() {
  static const std::vector<double> bounds{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
  return bounds;
}

void MetricsRecorder::on_event(const EngineEvent& e) {
  std::lock_guard lock(m_mutex);
  ++m_data.events;
  const auto seconds = [&]() -> std::optional<double> {
    if (!e.elapsed_ms) return std::nullopt;
    return static_cast<double>(*e.elapsed_ms) / 1000.0;
  };
  const auto service = [&]() -> ServiceCounters& { return m_data.services[e.service_id]; };
  const std::string& k = e.kind;
  if (k == "service.started") {
    ++service().starts;
    if (auto s = seconds()) service().last_start_seconds = *s;
  } else if (k == "service.stopped") {
    ++service().stops;
  } else if (k == "service.slept") {
    ++service().sleeps;
  } else if (k == "service.woken") {
    ++service().wakes;
    if (auto s = seconds()) service().last_wake_seconds = *s;
  } else if (k == "service.failed") {
    ++service().failures;
  } else if (k == "health.restarted") {
    if (!e.service_id.empty()) ++service().restarts;  // "": a router restarted with no model to load
  } else if (k == "admission.refused") {
    ++m_data.admission_refusals[e.reason.empty() ? "other" : e.reason];
  } else if (k == "switch.started") {
    m_undo_seen = false;
  } else if (k == "switch.step") {
    ++m_data.switch_steps[{e.action, e.outcome}];
  } else if (k == "switch.undo") {
    m_undo_seen = true;
    ++m_data.switch_steps[{e.action, e.outcome == "undone" ? "undone" : "undo_failed"}];
  } else if (k == "switch.done" || k == "switch.failed" || k == "switch.refused") {
    auto& h = m_data.switch_seconds[e.outcome.empty() ? "failed" : e.outcome];
    if (h.bounds.empty()) h.bounds = switch_duration_bounds();
    h.observe(seconds().value_or(0));
    if (k == "switch.refused") ++m_data.admission_refusals[e.reason.empty() ? "other" : e.reason];
    if (k == "switch.failed" && m_undo_seen) ++m_data.rollbacks[e.outcome == "rolled_back" ? "complete" : "incomplete"];
    m_undo_seen = false;
  } else if (k == "config.reloaded") {
    ++m_data.config_reloads[e.outcome.empty() ? "applied" : e.outcome];
    m_data.config_valid = true;
    m_data.config_problem.clear();
  } else if (k == "config.rejected") {
    ++m_data.config_reloads["rejected"];
    m_data.config_valid = false;
    m_data.config_problem = e.message;
  }
}

MetricsSnapshot MetricsRecorder::snapshot() const {
  std::lock_guard lock(m_mutex);
  return m_data;
}

}  // namespace gpumod::engine
