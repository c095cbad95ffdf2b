// Router-mates: the services one llama-server router process serves (one model each). The router
// is one server instance; its mates are planned together: stopping a mate unloads its model and
// the process stops only when no mate is to stay running or asleep; loading a mate into a router
// at `models_max` first unloads a named mate (the eviction), and a mate the router unloaded on its
// own is "evicted", never "crashed". Pure decisions, used by the engine (engine/router_mates.cpp).
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gpumod/core/config.hpp"
#include "gpumod/core/service.hpp"

namespace gpumod::core {

// The most models the router of `s` keeps loaded at once (unit_vars.models_max; llama-server's
// default 4; 0 = no limit).
int models_max_of(const Service& s);

// One model the router lists, as the engine sees it.
struct RouterModel {
  std::string model_id;
  std::string status;      // the router's value: loaded, loading, sleeping, unloaded, ...
  std::string service_id;  // the mate serving it ("" when no gpumod service does)
  bool in_current_mode = false;
};

struct EvictionChoice {
  bool needed = false;               // the router is at models_max
  std::optional<std::string> victim; // the mate to unload first (service id)
  std::string victim_model;
  bool victim_in_mode = false;       // the victim is a service of the current mode
  std::string problem;               // needed but no mate can be unloaded (models of others)
};

// What must be unloaded before `loading_model` can load into a router that lists `models` and
// keeps at most `models_max` loaded. A model occupies the router while loaded, loading or
// sleeping. The victim is a mate, never a model gpumod does not serve: first one outside the
// current mode, else one of it (victim_in_mode; the caller refuses unless told to evict).
EvictionChoice choose_eviction(const std::vector<RouterModel>& models, const std::string& loading_model,
                               int models_max);

// Whether a router model status occupies one of the router's model slots.
bool occupies_router(const std::string& status);

// What gpumod should call a mate whose model the router reports unloaded while the router runs,
// given the state gpumod recorded for it: stopped/failed stay so; asleep stays asleep; starting
// or loading is pending (its load is on the way); anything else (running, unhealthy, unknown) was
// unloaded by the router itself: evicted.
enum class UnloadedMate { stopped, failed, asleep, pending, evicted };
UnloadedMate classify_unloaded(ServiceState recorded);

// How the services differ from `mode` ("chat-b woken", "chat-a evicted"): each service running
// outside the mode, then each service of the mode (with its dependencies) that is not running, in
// the order given. `evicted` names the services whose model their router unloaded; `router_mates` those
// served by a router (a load into a router is a wake).
struct ServiceNow {
  ServiceState state = ServiceState::stopped;
  bool evicted = false;
};
std::vector<std::string> mode_modifications(const Config& config, const std::string& mode_id,
                                            const std::vector<std::pair<std::string, ServiceNow>>& services);

// A router process to start again (it died, or hangs): which of its mates come back how. A mate
// running (or on its way, or unhealthy) is loaded again when the current mode wants it (every such
// mate when `mode_services` is empty: no current mode); one running outside the mode is stopped
// (its model is not loaded again); an asleep mate, evicted ones included, stays asleep (the
// router runs, its model unloaded); stopped and failed mates stay so. The router process is
// started again only when `load` or `asleep` is non-empty.
struct MateNow {
  std::string service_id;
  ServiceState state = ServiceState::stopped;
};
struct RouterRestartPlan {
  std::vector<std::string> load;    // loaded again, in the order given
  std::vector<std::string> asleep;  // kept asleep
  std::vector<std::string> stop;    // ran outside the current mode: stopped
  bool restarts_process() const { return !load.empty() || !asleep.empty(); }
};
RouterRestartPlan plan_router_restart(const std::vector<MateNow>& mates, const std::set<std::string>& mode_services);

}  // namespace gpumod::core
