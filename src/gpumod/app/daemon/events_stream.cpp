#include "gpumod/app/daemon/events_stream.hpp"

#include <httplib.h>

#include <atomic>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>

#include "gpumod/app/daemon/event_signal.hpp"
#include "gpumod/app/daemon/json_codec.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::app {

namespace {

using nlohmann::json;

constexpr auto k_keepalive = std::chrono::seconds(15);
constexpr int k_batch = 500;
// Each open stream holds one of the server's worker threads; more would starve the requests.
constexpr int k_max_streams = 4;
std::atomic<int> g_open_streams{0};

util::Result<std::int64_t> start_after(const httplib::Request& req, infra::state::StateStore& store) {
  const auto max = std::numeric_limits<std::int64_t>::max();
  if (req.has_header("Last-Event-ID")) return util::parse_int(req.get_header_value("Last-Event-ID"), 0, max, "Last-Event-ID");
  if (req.has_param("after")) return util::parse_int(req.get_param_value("after"), 0, max, "after");
  return store.latest_event_id();
}

}  // namespace

void install_events_stream_routes(httplib::Server& server, infra::state::StateStore& store, EventSignal& events) {
  server.Get("/v1/events/stream", [&store, &events](const httplib::Request& req, httplib::Response& res) {
    auto after = start_after(req, store);
    if (!after) {
      res.status = http_status_for(after.error().code);
      res.set_content(error_json(after.error()).dump(), "application/json");
      return;
    }
    if (g_open_streams.fetch_add(1) >= k_max_streams) {
      g_open_streams.fetch_sub(1);
      const util::Error busy{util::ErrorCode::unavailable, "too many open event streams (" +
                                                              std::to_string(k_max_streams) + "); close one"};
      res.status = http_status_for(busy.code);
      res.set_content(error_json(busy).dump(), "application/json");
      return;
    }
    auto last = std::make_shared<std::int64_t>(*after);
    auto first = std::make_shared<bool>(true);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream", [&store, &events, last, first](std::size_t, httplib::DataSink& sink) {
          std::string out;
          if (*first) {
            *first = false;
            out = "retry: 2000\n\n";  // also sends the headers at once
          }
          const auto gen = events.generation();
          auto list = store.list_events(*last, k_batch);
          if (!list) return false;
          for (const auto& e : *list) {
            *last = e.id;
            const json j{{"id", e.id},      {"ts_ms", e.ts_ms}, {"kind", e.kind},
                         {"service", e.service_id}, {"mode", e.mode_id}, {"message", e.message}};
            out += "id: " + std::to_string(e.id) + "\ndata: " + j.dump() + "\n\n";
          }
          if (!out.empty()) {
            if (!sink.write(out.data(), out.size())) return false;
            if (!list->empty()) return true;  // there may be more: read again before waiting
          }
          if (events.stopping()) {
            sink.done();
            return true;
          }
          if (events.wait(gen, std::chrono::duration_cast<std::chrono::milliseconds>(k_keepalive)) == gen &&
              !events.stopping()) {
            static constexpr char k_ping[] = ": keep-alive\n\n";
            if (!sink.write(k_ping, sizeof k_ping - 1)) return false;
          }
          return sink.is_writable();
        },
        [](bool) { g_open_streams.fetch_sub(1); });
  });
}

}  // namespace gpumod::app
