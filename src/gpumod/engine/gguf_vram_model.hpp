// GgufVramModel: the VramModel for llama.cpp services whose model is a readable GGUF file:
// `model_path` naming a .gguf file, or, in router mode, unit_vars.models_dir + default_model
// (models_dir/<default_model>.gguf). vram_at_context is the VRAM estimator's GPU total at that
// context with the service's llama-server settings from unit_vars (cache_type_k/v, flash_attn,
// n_gpu_layers, n_cpu_moe, parallel, batch_size, ubatch_size). Parsed shapes are cached by path,
// size and modification time, so one simulation reads each file once; a changed file is re-read.
// Thread-safety: vram_at_context may be called from several threads (the cache is locked).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "gpumod/core/model_shape.hpp"
#include "gpumod/core/service.hpp"
#include "gpumod/core/vram_estimator.hpp"
#include "gpumod/engine/simulation_request.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::engine {

// The estimator options a service's unit_vars ask llama-server for (context aside). Errors:
// invalid_argument naming the unit_var.
util::Result<core::EstimateOptions> estimate_options_for(const core::Service& service);

// The GGUF file a service loads, or nullopt when it names none (vLLM, HTTP, a directory).
std::optional<std::string> service_model_file(const core::Service& service);

class GgufVramModel final : public VramModel {
 public:
  std::optional<std::int64_t> vram_at_context(const core::Service& service,
                                              std::int64_t context) const override;
  std::string source() const override { return "estimated from model file"; }

  // The parsed shape of `path` (cached); errors as read_gguf_model / model_shape_from_gguf.
  util::Result<std::shared_ptr<const core::ModelShape>> shape(const std::string& path) const;
  // How many times a file was parsed (for tests of the cache).
  int parse_count() const;

 private:
  struct Entry {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::shared_ptr<const core::ModelShape> shape;
  };
  mutable std::mutex m_mutex;
  mutable std::map<std::string, Entry> m_cache;
  mutable int m_parses = 0;
};

}  // namespace gpumod::engine
