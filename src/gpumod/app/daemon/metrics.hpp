// GET /metrics: the Prometheus text exposition (format 0.0.4) of the daemon. render_metrics is a
// pure function of the engine's status (gauges of the moment: GPU memory per device by index and
// UUID, service states, measured/learned/configured memory, the current mode) and the recorder's
// counters (engine/metrics.hpp). Names follow Prometheus conventions: a `gpumod_` prefix, bytes
// and seconds as base units, `_total` counters; label values are escaped.
// install_metrics_routes puts GET /metrics on a server (the Unix socket, the TCP listener).
// Thread-safety: render_metrics is pure; the route's handler may run on any worker thread.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "gpumod/engine/engine.hpp"
#include "gpumod/engine/metrics.hpp"
#include "gpumod/engine/on_demand.hpp"
#include "gpumod/engine/request_metrics.hpp"

namespace httplib {
class Server;
}

namespace gpumod::app {

// Extra metric families appended to the exposition, already in text format (complete families
// with # HELP and # TYPE). The OpenAI-compatible endpoint fills this with its requests by
// model/service/status, queue depth, queue wait and time-to-first-byte histograms and tokens.
using MetricsAppender = std::function<void(std::string& out)>;

struct MetricsInput {
  const engine::StatusView* status = nullptr;  // null: the status could not be read (gpumod_status_ok 0)
  engine::MetricsSnapshot counters;
  std::string version;
};

std::string render_metrics(const MetricsInput& in);

// The OpenAI-compatible endpoint's families (docs/daemon-protocol.md): requests by
// model/service/status, queue depth and requests in flight per service, queue wait and
// time-to-first-byte histograms, prompt and completion tokens. Pure, like render_metrics.
struct EndpointMetricsInput {
  engine::RequestMetricsSnapshot requests;
  std::map<std::string, engine::DemandLoad> load;  // OnDemand::load()
  std::vector<std::string> services;               // configured ids (gauges at 0 for the idle)
};
std::string render_endpoint_metrics(const EndpointMetricsInput& in);

// Escapes a label value: backslash, double quote and newline (the text format's rules).
std::string escape_label_value(const std::string& value);

void install_metrics_routes(httplib::Server& server, engine::Engine& engine,
                            const engine::MetricsRecorder& recorder, MetricsAppender extra = {});

}  // namespace gpumod::app
