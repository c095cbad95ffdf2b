#include "gpumod/core/model_shape.hpp"

namespace gpumod::core {

std::uint32_t ModelShape::n_attention_layers() const {
  std::uint32_t n = 0;
  for (const auto& l : layers) n += (l.n_head_kv > 0 && !l.recurrent) ? 1 : 0;
  return n;
}

std::uint32_t ModelShape::n_recurrent_layers() const {
  std::uint32_t n = 0;
  for (const auto& l : layers) n += l.recurrent ? 1 : 0;
  return n;
}

std::uint64_t ModelShape::recurrent_state_floats() const {
  // llama_hparams::n_embd_r(): (d_conv - 1) * (d_inner + 2 * n_group * d_state)
  // llama_hparams::n_embd_s(): d_state * d_inner
  const std::uint64_t conv = ssm_d_conv > 0 ? ssm_d_conv - 1 : 0;
  const std::uint64_t r = conv * (std::uint64_t{ssm_d_inner} + 2ULL * ssm_n_group * ssm_d_state);
  const std::uint64_t s = std::uint64_t{ssm_d_state} * ssm_d_inner;
  return r + s;
}

}  // namespace gpumod::core
