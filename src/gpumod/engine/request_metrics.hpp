// RequestMetrics: the counters of the OpenAI-compatible endpoint behind GET /metrics, kept as
// requests finish (one observe per answered request, the same record the request ring stores):
// requests by model, service and HTTP status; queue wait and time-to-first-byte histograms
// (seconds) by model and service; prompt and completion tokens from the answers' usage. Label
// values are bounded: a model is named only when the request was routed to a configured model
// (raw client input never becomes a label; an unrouted request counts under model "" and service
// ""), and at most k_max_series routed label sets are kept (more fold into the unrouted set).
// Queue depth and requests in flight are gauges of the moment (OnDemand::load()).
// Thread-safety: observe and snapshot may be called from any thread (one mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "gpumod/engine/metrics.hpp"

namespace gpumod::infra::state {
struct RequestRecord;
}

namespace gpumod::engine {

// Upper bounds of the endpoint's latency histograms (queue wait, time to first byte), in seconds.
const std::vector<double>& request_latency_bounds();

struct RequestSeries {
  std::map<int, std::uint64_t> by_status;  // HTTP status answered -> requests
  Histogram queue_wait_seconds;            // every answered request (0 when it did not wait)
  Histogram ttfb_seconds;                  // requests that got a first byte from the upstream
  std::uint64_t prompt_tokens = 0;
  std::uint64_t completion_tokens = 0;
};

struct RequestMetricsSnapshot {
  // By (model, service); ("", "") holds requests that named no configured model.
  std::map<std::pair<std::string, std::string>, RequestSeries> series;
};

class RequestMetrics {
 public:
  static constexpr std::size_t k_max_series = 1000;

  void observe(const infra::state::RequestRecord& record);
  RequestMetricsSnapshot snapshot() const;

 private:
  mutable std::mutex m_mutex;
  RequestMetricsSnapshot m_data;
};

}  // namespace gpumod::engine
