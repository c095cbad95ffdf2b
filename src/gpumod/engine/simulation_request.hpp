// Turns a "what if" question (a mode, plus added/removed services, plus context overrides; or a
// plain list of services) into a core::SimInput and runs the simulation. The VRAM of a service at
// another context comes from a VramModel: the GGUF estimator for services with a model file, else
// the preset's kv_cache_per_1k.
// Thread-safety: pure functions over their arguments.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gpumod/core/config.hpp"
#include "gpumod/core/gpu.hpp"
#include "gpumod/core/simulation.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::engine {

// How a service's VRAM depends on its context. Implementations may read model files.
class VramModel {
 public:
  virtual ~VramModel() = default;
  // The service's need at `context` tokens, or nullopt when this model cannot tell.
  virtual std::optional<std::int64_t> vram_at_context(const core::Service& service,
                                                      std::int64_t context) const = 0;
  // A short label for output ("estimated from model file", "kv_cache_per_1k").
  virtual std::string source() const = 0;
};

// Linear KV model from the preset: vram + (ctx - context_size) * kv_cache_per_1k / 1024.
class PresetKvModel final : public VramModel {
 public:
  std::optional<std::int64_t> vram_at_context(const core::Service& service,
                                              std::int64_t context) const override;
  std::string source() const override { return "kv_cache_per_1k"; }
};

struct SimulationRequest {
  std::optional<std::string> mode_id;          // simulate mode ID
  std::vector<std::string> services;           // simulate services A,B (when no mode)
  std::vector<std::string> add;                // --add
  std::vector<std::string> remove;             // --remove
  std::map<std::string, std::int64_t> context; // --context SERVICE=TOKENS
};

struct SimulationOutcome {
  std::string title;        // "mode code" / "services a, b"
  std::string gpu_name;
  bool gpu_simulated = false;
  core::SimResult result;
};

constexpr std::int64_t k_max_context_tokens = 1048576;

// Errors: not_found (unknown mode or service, with a "did you mean"), invalid_argument (a context
// override out of range, or for a service whose VRAM cannot be estimated at another context).
util::Result<SimulationOutcome> run_simulation(const core::Config& config,
                                               const core::GpuSnapshot& gpu,
                                               const SimulationRequest& request,
                                               const std::vector<const VramModel*>& models,
                                               std::int64_t external_mib = 0);

// Parses "SERVICE=TOKENS".
util::Result<std::pair<std::string, std::int64_t>> parse_context_override(std::string_view text);

}  // namespace gpumod::engine
