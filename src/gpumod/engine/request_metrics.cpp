#include "gpumod/engine/request_metrics.hpp"

#include "gpumod/infra/state/state_store.hpp"

namespace gpumod::engine {

const std::vector<double>& request_latency_bounds() {
  static const std::vector<double> bounds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                          2.5,   5,    10,    30,   60,  120, 300};
  return bounds;
}

void RequestMetrics::observe(const infra::state::RequestRecord& r) {
  // Routed requests carry the configured model's name; anything else is client input.
  std::pair<std::string, std::string> key;
  if (!r.service_id.empty()) key = {r.model, r.service_id};
  std::lock_guard lock(m_mutex);
  auto it = m_data.series.find(key);
  if (it == m_data.series.end()) {
    if (m_data.series.size() >= k_max_series) key = {};
    it = m_data.series.try_emplace(key).first;
    it->second.queue_wait_seconds.bounds = request_latency_bounds();
    it->second.ttfb_seconds.bounds = request_latency_bounds();
  }
  auto& s = it->second;
  ++s.by_status[r.status];
  s.queue_wait_seconds.observe(static_cast<double>(r.queue_ms) / 1000.0);
  if (r.ttfb_ms >= 0) s.ttfb_seconds.observe(static_cast<double>(r.ttfb_ms) / 1000.0);
  if (r.prompt_tokens && *r.prompt_tokens > 0) s.prompt_tokens += static_cast<std::uint64_t>(*r.prompt_tokens);
  if (r.completion_tokens && *r.completion_tokens > 0) {
    s.completion_tokens += static_cast<std::uint64_t>(*r.completion_tokens);
  }
}

RequestMetricsSnapshot RequestMetrics::snapshot() const {
  std::lock_guard lock(m_mutex);
  return m_data;
}

}  // namespace gpumod::engine
