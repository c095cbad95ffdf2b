// Expected step durations from what gpumod measured (bench.hpp): the costs dry runs, simulate and
// on-demand choices use.
#include <algorithm>
#include <map>

#include "gpumod/engine/bench.hpp"
#include "gpumod/infra/state/state_store.hpp"

namespace gpumod::engine {

namespace {

std::optional<infra::state::ExpectedStep> measured_step(const infra::state::StateStore& store,
                                                       const std::string& service, const char* action,
                                                       const std::string& gpu_uuid) {
  auto r = store.expected_step(service, action, gpu_uuid);
  if ((!r || !*r) && !gpu_uuid.empty()) r = store.expected_step(service, action);  // another GPU's
  if (!r) return std::nullopt;
  return *r;
}

std::optional<std::int64_t> measured(const infra::state::StateStore& store, const std::string& service,
                                     const char* action, const std::string& gpu_uuid) {
  if (auto m = measured_step(store, service, action, gpu_uuid)) return m->elapsed_ms;
  return std::nullopt;
}

}  // namespace

ExpectedDurations expected_durations(const infra::state::StateStore& store, const core::Plan& plan,
                                     const std::string& gpu_uuid) {
  using core::StepAction;
  ExpectedDurations out;
  bool complete = true;
  // Outgoing steps run in parallel, one thread per process: the switch waits for the longest.
  std::int64_t outgoing_ms = 0, incoming_ms = 0;
  for (const auto& step : plan.steps) {
    std::optional<std::int64_t> ms;
    switch (step.action) {
      case StepAction::keep: ms = 0; break;
      case StepAction::start: ms = measured(store, step.service_id, "start", gpu_uuid); break;
      case StepAction::stop: ms = measured(store, step.service_id, "stop", gpu_uuid); break;
      case StepAction::sleep: ms = measured(store, step.service_id, "sleep", gpu_uuid); break;
      case StepAction::wake:
        ms = measured(store, step.service_id, "wake", gpu_uuid);
        // A router model's wake is a load into its router, as its first start was (sleep level 0).
        if (!ms && step.prior_sleep_level == 0) ms = measured(store, step.service_id, "start", gpu_uuid);
        break;
      case StepAction::restart: {
        const auto a = measured(store, step.service_id, "stop", gpu_uuid);
        const auto b = measured(store, step.service_id, "start", gpu_uuid);
        if (a && b) ms = *a + *b;
        break;
      }
      case StepAction::await_ready: break;
    }
    out.step_ms.push_back(ms);
    if (!ms) {
      complete = false;
      continue;
    }
    if (step.outgoing) outgoing_ms = std::max(outgoing_ms, *ms);
    else incoming_ms += *ms;
  }
  if (complete && !plan.steps.empty()) out.total_ms = outgoing_ms + incoming_ms;
  return out;
}

std::optional<infra::state::ExpectedStep> expected_bring_up(const infra::state::StateStore& store,
                                                           const std::string& service_id, bool asleep,
                                                           const std::string& gpu_uuid) {
  if (asleep) {
    if (auto w = measured_step(store, service_id, "wake", gpu_uuid)) return w;
  }
  return measured_step(store, service_id, "start", gpu_uuid);
}

std::optional<std::int64_t> expected_bring_up_ms(const infra::state::StateStore& store,
                                                 const std::string& service_id, bool asleep,
                                                 const std::string& gpu_uuid) {
  if (auto e = expected_bring_up(store, service_id, asleep, gpu_uuid)) return e->elapsed_ms;
  return std::nullopt;
}

}  // namespace gpumod::engine
