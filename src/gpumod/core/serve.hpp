// Serving settings: the `serve:` section of gpumod.yaml (the daemon's OpenAI-compatible endpoint)
// and the per-preset keys that shape how a service is served on demand (aliases, virtual models,
// idle TTL, pin, concurrency). Pure data; no I/O.
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gpumod::core {

// What a request for a model that is not serving may change (serve.on_demand, per service or
// globally): `mode` wakes/starts beside, then switches mode, then evicts; `evict` never switches
// mode; `never` changes nothing (503 unless it already serves).
enum class OnDemandPolicy { mode, evict, never };
std::string_view to_string(OnDemandPolicy policy);
std::optional<OnDemandPolicy> parse_on_demand_policy(std::string_view text);

// What an idle service becomes after its TTL (serve.idle_action): its deepest sleep, else stop.
inline constexpr std::string_view k_default_listen = "127.0.0.1:7979";

struct ServeSettings {
  // "HOST:PORT", or empty when `listen: off`. listen_explicit: written in gpumod.yaml (or given
  // on the command line): failing to bind it is an error; the default's failure is reported only.
  std::string listen = std::string(k_default_listen);
  bool listen_explicit = false;
  std::vector<std::string> api_keys;              // Bearer keys; required off loopback
  int max_queue = 64;                             // requests waiting for loads, over all models
  std::chrono::seconds request_timeout{600};      // a non-streaming request waits this long (504)
  std::chrono::seconds drain_timeout{60};         // in-flight requests finish before sleep/stop
  std::chrono::seconds min_residency{30};         // a loaded service keeps its place this long
  std::optional<std::chrono::seconds> default_ttl;  // idle services slept/stopped; none = never
  std::string idle_mode;                          // the mode to return to when all are idle
  OnDemandPolicy on_demand = OnDemandPolicy::mode;
  std::size_t max_body_bytes = 32u * 1024u * 1024u;  // a larger request body is refused (413)
  int request_log_rows = 10000;                   // the ring of recorded requests in the state DB
};

// A model name that maps to a service's model with request fields set or removed
// (`virtual_models: {fast: {set: {chat_template_kwargs: {enable_thinking: false}}, strip: [x]}}`).
struct VirtualModel {
  std::string name;
  std::string set_json = "{}";       // a JSON object merged into the request body (recursively)
  std::vector<std::string> strip;    // top-level request fields removed
};

// Per-service serving keys of a preset.
struct ServiceServing {
  std::vector<std::string> aliases;            // more model names for this service
  std::vector<VirtualModel> virtual_models;
  std::optional<std::chrono::seconds> ttl;     // idle TTL; none = serve.default_ttl_s; 0 = never
  bool pin = false;                            // never evicted on demand
  int max_concurrent = 0;                      // requests in flight at once (0 = no limit; over: 429)
  std::optional<OnDemandPolicy> on_demand;     // none = serve.on_demand
};

}  // namespace gpumod::core
