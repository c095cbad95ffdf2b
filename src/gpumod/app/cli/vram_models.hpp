// The VRAM models the CLI offers the simulation, best first: the GGUF estimator for services with
// a readable model file, then the preset's kv_cache_per_1k.
// Thread-safety: not shared between threads.
#pragma once

#include <memory>
#include <vector>

#include "gpumod/core/config.hpp"
#include "gpumod/engine/simulation_request.hpp"

namespace gpumod::app {

class VramModels {
 public:
  explicit VramModels(const core::Config& config);
  std::vector<const engine::VramModel*> list() const;

 private:
  std::vector<std::unique_ptr<engine::VramModel>> m_models;
};

}  // namespace gpumod::app
