// VRAM simulation: does a set of services fit a GPU, and if not, which smallest changes make it
// fit (sleep, stop, or lower the context of one or more services). Pure math, no I/O: callers
// supply each service's need and how its need changes with context.
//
// Unlike the predecessor (§9.3, W22), every alternative listed is checked to fit, combinations of
// services are considered, a sleeping service keeps its residue, and memory held by processes
// gpumod does not manage counts against the GPU.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gpumod/core/service.hpp"

namespace gpumod::core {

struct SimEntry {
  std::string id;
  std::int64_t vram_mib = 0;            // need at the current (or overridden) context
  std::string vram_source;              // "configured", "estimated", "measured", "override"
  SleepMode sleep_mode = SleepMode::none;
  bool can_sleep = false;
  std::int64_t sleep_residue_mib = 0;   // memory kept while asleep
  std::optional<std::int64_t> context;  // tokens, when known
  // Need at another context; empty when the context cannot be changed.
  std::function<std::optional<std::int64_t>(std::int64_t context)> vram_at_context;
  std::int64_t min_context = 2048;
};

struct SimInput {
  std::vector<SimEntry> services;
  std::int64_t gpu_total_mib = 0;
  std::int64_t external_mib = 0;  // used by processes gpumod does not manage
};

enum class ChangeKind { lower_context, sleep, stop };
std::string_view to_string(ChangeKind kind);

struct Change {
  std::string service_id;
  ChangeKind kind = ChangeKind::stop;
  std::optional<std::int64_t> context;  // for lower_context: the new context
  std::int64_t freed_mib = 0;
};

struct Alternative {
  std::vector<Change> changes;
  std::int64_t freed_mib = 0;
  std::int64_t projected_total_mib = 0;
  std::int64_t headroom_mib = 0;
};

struct AlternativeLimits {
  std::size_t max_alternatives = 10;
  std::size_t max_changes = 3;  // services changed by one alternative
};

struct SimResult {
  std::vector<SimEntry> services;
  std::int64_t gpu_total_mib = 0;
  std::int64_t external_mib = 0;
  std::int64_t proposed_mib = 0;   // sum of the services' needs
  std::int64_t headroom_mib = 0;   // total - external - proposed (negative when it does not fit)
  bool fits = false;
  std::vector<Alternative> alternatives;  // only when it does not fit; each one fits
};

SimResult simulate(SimInput input, const AlternativeLimits& limits = {});

// The default memory a sleeping service keeps (its CUDA context): a router unload frees the
// child process entirely; vLLM sleep keeps the engine process. Used until a residue is measured.
std::int64_t default_sleep_residue_mib(SleepMode mode, std::int64_t vram_mib);

}  // namespace gpumod::core
