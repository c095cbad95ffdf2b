// The on-demand choice: what to change so that a requested service serves — the smallest change
// by the rule of docs/openai-endpoint.md: (1) wake or start it beside what runs if memory admits;
// (2) else switch to the mode holding it with the fewest changes (ties: lower measured cost, then
// mode id); (3) else evict idle, unpinned services (sleep before stop, cheapest measured wake
// first) until it fits; (4) else wait (the only obstacles are busy or recently loaded services)
// or refuse with the plan that could not be made. A pure function of observed facts.
// Thread-safety: pure.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gpumod/core/mode.hpp"
#include "gpumod/core/serve.hpp"
#include "gpumod/core/service.hpp"

namespace gpumod::core {

// One configured service as observed now.
struct DemandService {
  std::string id;
  ServiceState state = ServiceState::stopped;
  std::int64_t holds_mib = 0;   // what its processes hold now (0 when stopped)
  std::int64_t need_mib = 0;    // what it holds running (learned, else configured)
  std::int64_t sleep_mib = 0;   // what it keeps asleep (learned, else 0)
  bool can_sleep = false;
  bool pinned = false;          // pin: true
  bool busy = false;            // requests in flight or queued for it
  bool resident = false;        // loaded less than min_residency ago
  std::chrono::milliseconds wake_cost{0};   // measured wake (else an estimate)
  std::chrono::milliseconds start_cost{0};  // measured start (else an estimate)
  // llama.cpp router models: the router they share ("" = own process) and its models_max
  // (loading one more than that makes the router unload one: gpumod chooses which, first).
  std::string router;
  int models_max = 0;
};

struct DemandInput {
  std::string target;
  std::vector<DemandService> services;  // every configured service, the target included
  std::vector<Mode> modes;
  std::optional<std::string> current_mode;
  std::int64_t total_mib = 0;   // the GPU's memory
  std::int64_t free_mib = 0;    // free now
  std::int64_t margin_mib = 0;  // admission margin
  OnDemandPolicy policy = OnDemandPolicy::mode;
};

enum class DemandAction {
  serve,        // it serves already
  wait,         // it is starting/loading, or only busy/resident services stand in the way
  wake,         // beside what runs
  start,        // beside what runs
  switch_mode,  // to mode_id
  evict,        // the evictions, then wake or start the target
  refuse,       // nothing can make it fit now (or policy never)
};
std::string_view to_string(DemandAction action);

struct Eviction {
  std::string service_id;
  bool sleep = false;           // sleep (else stop)
  std::int64_t frees_mib = 0;
};

struct DemandChoice {
  DemandAction action = DemandAction::refuse;
  std::string mode_id;               // switch_mode
  std::vector<Eviction> evictions;   // evict, in order
  bool wake_target = false;          // evict/wake: the target is asleep (wake, not start)
  std::int64_t need_mib = 0;         // what the target still needs on the GPU
  std::int64_t free_mib = 0;
  std::string plan;                  // the plan (or why there is none) in words
};

DemandChoice choose_on_demand(const DemandInput& in);

}  // namespace gpumod::core
