// Mode-switch planning: from the OBSERVED state of every service (not the mode the database last
// recorded, W1) to an ordered list of steps that leaves the GPU in the target mode, with the VRAM
// predicted after each step. Pure: the engine observes, plans, then executes with admission
// control, a journal and rollback.
//
// Rules (predecessor §6 and its weak spots W1–W14):
// - Outgoing (not in the target, not stopped): a running service that can sleep is slept at its
//   own level (W5); a sleeping one is stopped (its residue is freed) unless it shares a llama.cpp
//   router with an incoming service (then its model is already unloaded); anything else — running,
//   unhealthy, starting, loading, failed with a live process, unknown — is stopped (W7).
// - Incoming, in the mode's declared order with dependencies first (W12): stopped/failed → start,
//   sleeping → wake, unhealthy → restart (repair, W1), starting/loading → await, running → keep.
//   Dependencies that are not in the mode are started too and reported as such (W11).
// - Admission: each start/wake needs its learned footprint when known, else its configured VRAM,
//   counted once (only what will allocate: W2, W3); the plan predicts the free memory after each
//   step against the GPU's measured free memory, so memory held by others counts (W4).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include "gpumod/core/config.hpp"
#include "gpumod/core/service.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::core {

enum class StepAction { keep, sleep, stop, wake, start, restart, await_ready };
std::string_view to_string(StepAction action);

struct ObservedService {
  ServiceState state = ServiceState::stopped;
  std::int64_t resident_mib = 0;  // memory its processes hold now (0 when unknown or stopped)
  std::optional<std::int64_t> learned_mib;        // learned footprint when running
  std::optional<std::int64_t> learned_sleep_mib;  // learned footprint when asleep
  int sleep_level = 0;                            // when asleep: the level it sleeps at (0: its default)
};

struct PlanStep {
  StepAction action = StepAction::keep;
  std::string service_id;
  std::string reason;
  int sleep_level = 0;              // for sleep: 1 or 2 (router: 1)
  bool as_dependency = false;       // started because a target service depends on it
  std::int64_t need_mib = 0;        // memory this step allocates (start/wake/restart)
  std::int64_t frees_mib = 0;       // memory this step frees (sleep/stop)
  std::int64_t predicted_free_mib = 0;  // GPU free memory predicted after this step
  bool outgoing = false;
  // The state before this step, which its undo restores (an asleep service stays asleep at its
  // level, a stopped one stopped).
  ServiceState prior_state = ServiceState::stopped;
  int prior_sleep_level = 0;
};

struct PlanInput {
  const Config* config = nullptr;
  std::string target_mode;
  std::map<std::string, ObservedService> observed;  // by service id; missing = stopped
  std::int64_t gpu_free_mib = 0;                     // measured now
  std::int64_t margin_mib = 512;
  // The services of the mode being left (its `services` and their dependencies). One of them
  // found asleep is left asleep, where the switch would have put it; an outgoing service asleep
  // from an older mode is stopped (§6.1). So a switch resumed after a crash, which finds the
  // services it had already slept asleep, ends as the uninterrupted one would have.
  std::set<std::string> leaving;
};

struct Plan {
  std::string target_mode;
  std::vector<PlanStep> steps;       // outgoing first, then incoming in order
  std::int64_t predicted_free_mib = 0;
  bool predicted_to_fit = true;      // every start/wake had need + margin free when it runs
  std::string fit_problem;           // why not, when it does not
  bool changes_anything() const;
};

// Errors: not_found (unknown mode), config_invalid (a dependency cycle).
util::Result<Plan> plan_mode_switch(const PlanInput& input);

// The key that groups llama.cpp router services of one llama-server process ("" if not a router
// service): port plus models_dir.
std::string router_group(const Service& service);

// The target services in start order: each service's depends_on first (depth-first), then itself.
util::Result<std::vector<std::pair<std::string, bool /*dependency only*/>>> start_order(
    const Config& config, const std::vector<std::string>& targets);

}  // namespace gpumod::core
