#include "gpumod/app/cli/vram_models.hpp"

#include "gpumod/engine/gguf_vram_model.hpp"

namespace gpumod::app {

VramModels::VramModels(const core::Config& /*config*/) {
  m_models.push_back(std::make_unique<engine::GgufVramModel>());
  m_models.push_back(std::make_unique<engine::PresetKvModel>());
}

std::vector<const engine::VramModel*> VramModels::list() const {
  std::vector<const engine::VramModel*> out;
  for (const auto& m : m_models) out.push_back(m.get());
  return out;
}

}  // namespace gpumod::app
