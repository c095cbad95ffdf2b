// ModelShape: what the VRAM estimator needs to know about a model, as plain data. It is filled
// from a GGUF header (infra/gguf/model_shape_from_gguf.hpp) or built by hand in tests, and holds
// the hyperparameters llama.cpp reads (per-layer head counts, key/value lengths, sliding window,
// MoE, MLA, Mamba2 state sizes) plus the weight bytes grouped the way llama.cpp places them.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gpumod::core {

struct LayerShape {
  std::uint32_t n_head = 0;
  std::uint32_t n_head_kv = 0;   // 0: no KV cache in this layer (recurrent or FFN/MoE-only)
  std::uint32_t n_ff = 0;        // feed-forward length (0 on nemotron_h mamba/attention layers)
  bool recurrent = false;        // a Mamba/SSM layer: holds recurrent state, no KV
  bool swa = false;              // a sliding-window attention layer
  std::uint64_t weight_bytes = 0;  // blk.N.* tensors except the routed experts
  std::uint64_t expert_bytes = 0;  // blk.N.ffn_{gate,up,down,gate_up}_exps
};

struct ModelShape {
  std::string architecture;
  std::uint32_t n_layer = 0;
  std::uint32_t n_embd = 0;
  std::uint32_t n_head = 0;          // max over layers
  std::uint32_t n_embd_head_k = 0;   // key length per head (default n_embd / n_head)
  std::uint32_t n_embd_head_v = 0;   // value length per head (default n_embd / n_head)
  std::uint32_t n_ctx_train = 0;
  std::uint32_t n_vocab = 0;
  std::uint32_t n_ff = 0;            // max over layers

  // Sliding-window attention: window in tokens (0 = none); `layers[i].swa` marks the layers.
  std::uint32_t n_swa = 0;

  // Mixture of experts.
  std::uint32_t n_expert = 0;
  std::uint32_t n_expert_used = 0;
  std::uint32_t n_ff_exp = 0;

  // Multi-head latent attention (deepseek2 and kin): when `mla` is true the cache holds one
  // "head" of n_embd_head_k = kv_lora_rank + n_rot per token and layer, and no V.
  bool mla = false;
  std::uint32_t kv_lora_rank = 0;
  std::uint32_t n_rot = 0;

  // Mamba2 / SSM sizes (ssm.conv_kernel, ssm.inner_size, ssm.state_size, ssm.group_count,
  // ssm.time_step_rank).
  std::uint32_t ssm_d_conv = 0;
  std::uint32_t ssm_d_inner = 0;
  std::uint32_t ssm_d_state = 0;
  std::uint32_t ssm_n_group = 0;
  std::uint32_t ssm_dt_rank = 0;

  std::vector<LayerShape> layers;  // n_layer entries

  // Weights, grouped as llama.cpp places them.
  std::uint64_t token_embd_bytes = 0;  // stays in host memory
  std::uint64_t output_bytes = 0;      // output.weight; 0 when tied to token_embd
  bool output_tied = false;            // no output.weight: llama.cpp duplicates token_embd
  std::uint64_t other_bytes = 0;       // output_norm, rope factors, anything outside blk.N
  std::uint64_t total_weight_bytes = 0;
  std::uint64_t n_params = 0;
  std::map<std::string, std::uint64_t> bytes_by_type;  // ggml type name -> bytes

  // Derived facts.
  std::uint32_t n_attention_layers() const;  // layers with n_head_kv > 0
  std::uint32_t n_recurrent_layers() const;
  bool has_experts() const { return n_expert > 0; }
  // Conv + SSM state floats of one recurrent layer for one sequence (llama.cpp n_embd_r + n_embd_s).
  std::uint64_t recurrent_state_floats() const;
};

}  // namespace gpumod::core
