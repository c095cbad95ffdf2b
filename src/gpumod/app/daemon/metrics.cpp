#include "gpumod/app/daemon/metrics.hpp"

#include <httplib.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <set>

namespace gpumod::app {

namespace {

constexpr double k_bytes_per_mib = 1024.0 * 1024.0;

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  // The shortest text that reads back as the same double (0.005, not 0.0050000000000000001).
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc{}) {
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
  }
  return std::string(buf, end);
}

std::string mib_bytes(std::int64_t mib) { return number(static_cast<double>(mib) * k_bytes_per_mib); }

using Labels = std::vector<std::pair<std::string, std::string>>;

std::string labels(const Labels& ls) {
  if (ls.empty()) return "";
  std::string out = "{";
  for (std::size_t i = 0; i < ls.size(); ++i) {
    if (i) out += ',';
    out += ls[i].first + "=\"" + escape_label_value(ls[i].second) + "\"";
  }
  return out + "}";
}

// One metric family: # HELP, # TYPE, then its samples.
class Family {
 public:
  Family(std::string& out, const std::string& name, const std::string& type, const std::string& help)
      : m_out(out), m_name(name) {
    m_out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const Labels& ls, const std::string& value, const std::string& suffix = "") {
    m_out += m_name + suffix + labels(ls) + " " + value + "\n";
  }

 private:
  std::string& m_out;
  std::string m_name;
};

// The samples of one histogram (its _bucket per bound and +Inf, _sum, _count) under `ls`.
void histogram_samples(Family& f, const Labels& ls, const engine::Histogram& h) {
  for (std::size_t i = 0; i < h.bounds.size(); ++i) {
    Labels with_le = ls;
    with_le.emplace_back("le", number(h.bounds[i]));
    const auto n = i < h.cumulative.size() ? h.cumulative[i] : 0;
    f.sample(with_le, number(static_cast<double>(n)), "_bucket");
  }
  Labels inf = ls;
  inf.emplace_back("le", "+Inf");
  f.sample(inf, number(static_cast<double>(h.count)), "_bucket");
  f.sample(ls, number(h.sum), "_sum");
  f.sample(ls, number(static_cast<double>(h.count)), "_count");
}

}  // namespace

std::string escape_label_value(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string render_metrics(const MetricsInput& in) {
  std::string out;
  {
    Family f(out, "gpumod_build_info", "gauge", "The gpumod version of the daemon (always 1).");
    f.sample({{"version", in.version}}, "1");
  }
  {
    Family f(out, "gpumod_status_ok", "gauge", "1 when the daemon could read the GPU and the services for this scrape.");
    f.sample({}, in.status ? "1" : "0");
  }
  const auto& c = in.counters;
  {
    Family f(out, "gpumod_config_valid", "gauge",
             "0 while the configuration files on disk are broken (the last valid one keeps running).");
    f.sample({}, c.config_valid ? "1" : "0");
  }
  {
    Family f(out, "gpumod_config_reloads_total", "counter", "Configuration reloads by outcome (applied, unchanged, rejected).");
    for (const char* outcome : {"applied", "unchanged", "rejected"}) {
      const auto it = c.config_reloads.find(outcome);
      f.sample({{"outcome", outcome}}, number(it == c.config_reloads.end() ? 0 : static_cast<double>(it->second)));
    }
  }
  {
    Family f(out, "gpumod_events_total", "counter", "Events the engine recorded since the daemon started.");
    f.sample({}, number(static_cast<double>(c.events)));
  }

  if (in.status) {
    const auto& st = *in.status;
    const auto gpu_labels = [](const core::GpuDevice& d) {
      return Labels{{"gpu", std::to_string(d.index)}, {"uuid", d.uuid}, {"name", d.name}};
    };
    Family total(out, "gpumod_gpu_memory_total_bytes", "gauge", "Memory of a GPU.");
    for (const auto& d : st.gpu.devices) total.sample(gpu_labels(d), mib_bytes(d.total_mib));
    Family used(out, "gpumod_gpu_memory_used_bytes", "gauge", "Memory in use on a GPU.");
    for (const auto& d : st.gpu.devices) used.sample(gpu_labels(d), mib_bytes(d.used_mib));
    Family free(out, "gpumod_gpu_memory_free_bytes", "gauge", "Free memory of a GPU.");
    for (const auto& d : st.gpu.devices) free.sample(gpu_labels(d), mib_bytes(d.free_mib));
    Family other(out, "gpumod_gpu_memory_unmanaged_bytes", "gauge",
                 "GPU memory held by processes gpumod does not manage.");
    for (std::size_t i = 0; i < st.gpu.devices.size(); ++i) {
      const auto mib = i < st.external_mib_by_device.size() ? st.external_mib_by_device[i] : 0;
      other.sample(gpu_labels(st.gpu.devices[i]), mib_bytes(mib));
    }

    Family mode(out, "gpumod_current_mode", "gauge", "The current mode (1 on its series; none when no mode is set).");
    if (st.current_mode) mode.sample({{"mode", *st.current_mode}}, "1");

    constexpr std::array states{core::ServiceState::stopped,   core::ServiceState::starting,
                                core::ServiceState::running,   core::ServiceState::loading,
                                core::ServiceState::sleeping,  core::ServiceState::unhealthy,
                                core::ServiceState::failed,    core::ServiceState::unknown};
    Family state(out, "gpumod_service_state", "gauge", "A service's state (one-hot: 1 on the state it is in).");
    for (const auto& s : st.services) {
      for (const auto x : states) {
        state.sample({{"service", s.id}, {"state", std::string(core::to_string(x))}}, s.state == x ? "1" : "0");
      }
    }
    Family info(out, "gpumod_service_info", "gauge", "A configured service (always 1), with its driver and port.");
    for (const auto& s : st.services) {
      info.sample({{"service", s.id},
                   {"driver", std::string(core::to_string(s.driver))},
                   {"port", s.port ? std::to_string(*s.port) : ""}},
                  "1");
    }
    Family conf(out, "gpumod_service_configured_memory_bytes", "gauge", "The memory a service's preset declares.");
    for (const auto& s : st.services) conf.sample({{"service", s.id}}, mib_bytes(s.configured_mib));
    Family meas(out, "gpumod_service_measured_memory_bytes", "gauge", "GPU memory a service's processes hold now.");
    for (const auto& s : st.services) {
      if (s.measured_mib) meas.sample({{"service", s.id}}, mib_bytes(*s.measured_mib));
    }
    Family learned(out, "gpumod_service_learned_memory_bytes", "gauge",
                   "A service's learned footprint, awake (state=running) and asleep (state=sleeping).");
    for (const auto& s : st.services) {
      if (s.learned_mib) learned.sample({{"service", s.id}, {"state", "running"}}, mib_bytes(*s.learned_mib));
      if (s.learned_sleep_mib) learned.sample({{"service", s.id}, {"state", "sleeping"}}, mib_bytes(*s.learned_sleep_mib));
    }

    // Counters of services in the configuration (zero when nothing happened yet).
    std::vector<std::pair<std::string, engine::ServiceCounters>> svc;
    for (const auto& s : st.services) {
      const auto it = c.services.find(s.id);
      svc.emplace_back(s.id, it == c.services.end() ? engine::ServiceCounters{} : it->second);
    }
    Family ops(out, "gpumod_service_operations_total", "counter", "Completed service operations (start, stop, sleep, wake).");
    for (const auto& [id, k] : svc) {
      ops.sample({{"service", id}, {"operation", "start"}}, number(static_cast<double>(k.starts)));
      ops.sample({{"service", id}, {"operation", "stop"}}, number(static_cast<double>(k.stops)));
      ops.sample({{"service", id}, {"operation", "sleep"}}, number(static_cast<double>(k.sleeps)));
      ops.sample({{"service", id}, {"operation", "wake"}}, number(static_cast<double>(k.wakes)));
    }
    Family restarts(out, "gpumod_service_restarts_total", "counter", "Restarts of a service by the health monitor.");
    for (const auto& [id, k] : svc) restarts.sample({{"service", id}}, number(static_cast<double>(k.restarts)));
    Family failures(out, "gpumod_service_failures_total", "counter", "Times a service failed (to start, to wake, or while running).");
    for (const auto& [id, k] : svc) failures.sample({{"service", id}}, number(static_cast<double>(k.failures)));
    Family load(out, "gpumod_service_last_start_seconds", "gauge", "How long the last start took, to ready (a load).");
    for (const auto& [id, k] : svc) {
      if (k.last_start_seconds) load.sample({{"service", id}}, number(*k.last_start_seconds));
    }
    Family wake(out, "gpumod_service_last_wake_seconds", "gauge", "How long the last wake took, to ready.");
    for (const auto& [id, k] : svc) {
      if (k.last_wake_seconds) wake.sample({{"service", id}}, number(*k.last_wake_seconds));
    }
  }

  {
    Family f(out, "gpumod_switch_duration_seconds", "histogram",
             "Mode switch durations by outcome (done, failed, rolled_back, refused).");
    for (const auto& [outcome, h] : c.switch_seconds) histogram_samples(f, {{"outcome", outcome}}, h);
  }
  {
    Family f(out, "gpumod_switch_steps_total", "counter", "Mode switch steps by action and outcome (undone/undo_failed: rollback).");
    for (const auto& [key, n] : c.switch_steps) {
      f.sample({{"action", key.first}, {"outcome", key.second}}, number(static_cast<double>(n)));
    }
  }
  {
    Family f(out, "gpumod_switch_rollbacks_total", "counter", "Failed switches that were rolled back (complete or incomplete).");
    for (const char* outcome : {"complete", "incomplete"}) {
      const auto it = c.rollbacks.find(outcome);
      f.sample({{"outcome", outcome}}, number(it == c.rollbacks.end() ? 0 : static_cast<double>(it->second)));
    }
  }
  {
    Family f(out, "gpumod_admission_refusals_total", "counter",
             "Starts, wakes and switches refused before any change, by reason.");
    std::set<std::string> reasons{"insufficient_vram", "does_not_fit", "preflight"};
    for (const auto& [r, n] : c.admission_refusals) reasons.insert(r);
    for (const auto& r : reasons) {
      const auto it = c.admission_refusals.find(r);
      f.sample({{"reason", r}}, number(it == c.admission_refusals.end() ? 0 : static_cast<double>(it->second)));
    }
  }
  return out;
}

std::string render_endpoint_metrics(const EndpointMetricsInput& in) {
  std::string out;
  const auto& series = in.requests.series;
  const auto model_service = [](const std::pair<std::string, std::string>& key) {
    return Labels{{"model", key.first}, {"service", key.second}};
  };
  {
    Family f(out, "gpumod_endpoint_requests_total", "counter",
             "Requests the OpenAI-compatible endpoint answered, by model, service and HTTP status "
             "(model and service empty: no configured model was named).");
    for (const auto& [key, s] : series) {
      for (const auto& [status, n] : s.by_status) {
        auto ls = model_service(key);
        ls.emplace_back("status", std::to_string(status));
        f.sample(ls, number(static_cast<double>(n)));
      }
    }
  }
  {
    // Every configured service, and any other one with requests (a service removed by a reload).
    std::map<std::string, engine::DemandLoad> load;
    for (const auto& id : in.services) load[id];
    for (const auto& [id, l] : in.load) load[id] = l;
    Family depth(out, "gpumod_endpoint_queue_depth", "gauge",
                 "Requests waiting for their service to be made to serve (a wake, start, switch or eviction).");
    for (const auto& [id, l] : load) depth.sample({{"service", id}}, std::to_string(l.waiting));
    Family flight(out, "gpumod_endpoint_requests_in_flight", "gauge", "Requests being answered by a service now.");
    for (const auto& [id, l] : load) flight.sample({{"service", id}}, std::to_string(l.in_flight));
  }
  {
    Family f(out, "gpumod_endpoint_queue_wait_seconds", "histogram",
             "How long answered requests waited for their service to serve (0 when it already served).");
    for (const auto& [key, s] : series) histogram_samples(f, model_service(key), s.queue_wait_seconds);
  }
  {
    Family f(out, "gpumod_endpoint_time_to_first_byte_seconds", "histogram",
             "From a request's arrival to the first byte of its service's answer (queue wait included).");
    for (const auto& [key, s] : series) {
      if (s.ttfb_seconds.count > 0) histogram_samples(f, model_service(key), s.ttfb_seconds);
    }
  }
  {
    Family f(out, "gpumod_endpoint_prompt_tokens_total", "counter", "Prompt (input) tokens, from the answers' usage.");
    for (const auto& [key, s] : series) {
      if (!key.second.empty()) f.sample(model_service(key), number(static_cast<double>(s.prompt_tokens)));
    }
  }
  {
    Family f(out, "gpumod_endpoint_completion_tokens_total", "counter",
             "Completion (output) tokens, from the answers' usage.");
    for (const auto& [key, s] : series) {
      if (!key.second.empty()) f.sample(model_service(key), number(static_cast<double>(s.completion_tokens)));
    }
  }
  return out;
}

void install_metrics_routes(httplib::Server& server, engine::Engine& engine,
                            const engine::MetricsRecorder& recorder, MetricsAppender extra) {
  server.Get("/metrics", [&engine, &recorder, extra](const httplib::Request&, httplib::Response& res) {
    MetricsInput in;
    in.counters = recorder.snapshot();
    auto st = engine.status();
    if (st) in.status = &*st;
    in.version = GPUMOD_VERSION;
    std::string text = render_metrics(in);
    if (extra) extra(text);
    res.status = 200;
    res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace gpumod::app
