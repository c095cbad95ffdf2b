// The VRAM a vLLM server needs for a safetensors model, as pure math over plain data (no I/O):
//   - HfModelConfig: what config.json says (layers, heads, KV heads, head_dim, sliding window,
//     per-layer attention kind for hybrid models, MLA, MoE, dtype, quantization), filled by
//     infra/hf/safetensors_repo or by hand in tests;
//   - WeightSummary: parameters and bytes per safetensors dtype, exact from the file headers;
//   - estimate_vllm: weights + KV cache for one sequence of `context` tokens (vLLM refuses to
//     start when the cache cannot hold max_model_len tokens) + recurrent state + the profile
//     run's activation peak + CUDA graphs + the CUDA context / non-torch allocations.
// The KV per token is the same formula as the llama.cpp estimator's (vram_estimator.hpp):
// n_kv_heads x (head_dim_k + head_dim_v) x bytes per attention layer; MLA layers hold one
// (kv_lora_rank + qk_rope_head_dim) row and no V. vLLM pages the cache in blocks of 16 tokens;
// sliding-window layers hold at most min(window - 1 + max_num_batched_tokens, context) tokens
// plus one block (vLLM's SlidingWindowSpec). See docs/huggingface.md for the formula and limits.
// vLLM itself preallocates gpu_memory_utilization x the GPU's memory whatever the model needs;
// this is the model's own need (the smallest utilization that works = total / GPU memory).
// Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumod/util/result.hpp"

namespace gpumod::core {

// Bits per element of a safetensors dtype ("BF16" -> 16, "F8_E4M3" -> 8, "F4" -> 4); nullopt
// for a dtype gpumod does not know.
std::optional<std::uint32_t> safetensors_dtype_bits(std::string_view dtype);

enum class LayerAttention : std::uint8_t {
  full,     // full attention: KV for every token
  sliding,  // sliding-window attention: KV for the window
  linear,   // linear attention (gated delta net ...): a fixed state, no KV
  mamba,    // Mamba/SSM: a fixed state, no KV
  none,     // no token mixing that keeps state (an FFN/MoE-only layer)
};

struct HfModelConfig {
  std::string model_type;          // "llama"
  std::string architecture;        // architectures[0], "LlamaForCausalLM"
  std::uint32_t n_layer = 0;       // num_hidden_layers
  std::uint32_t n_head = 0;        // num_attention_heads
  std::uint32_t n_kv_head = 0;     // num_key_value_heads (default n_head)
  std::uint32_t head_dim = 0;      // head_dim, else hidden_size / n_head
  std::uint32_t v_head_dim = 0;    // value length (default head_dim)
  std::uint32_t hidden_size = 0;
  std::uint32_t intermediate_size = 0;
  std::uint32_t vocab_size = 0;
  std::uint32_t max_position_embeddings = 0;
  std::uint32_t sliding_window = 0;        // tokens, 0 = none
  std::vector<LayerAttention> layers;      // n_layer entries

  // Multi-head latent attention (DeepSeek-V2/V3 and kin).
  bool mla = false;
  std::uint32_t kv_lora_rank = 0;
  std::uint32_t qk_rope_head_dim = 0;

  // Mixture of experts.
  std::uint32_t n_experts = 0;
  std::uint32_t n_experts_per_tok = 0;
  std::uint32_t moe_intermediate_size = 0;

  // Bytes of state one linear-attention/Mamba layer keeps per sequence (0 when unknown).
  std::uint64_t recurrent_state_bytes_per_layer = 0;

  std::string torch_dtype;         // "bfloat16", "float16", "float32" ("" when absent)
  std::string quant_method;        // quantization_config.quant_method ("fp8", "awq", "gptq" ...)
  std::uint32_t quant_bits = 0;    // quantization_config.bits (0 when not given)

  std::uint32_t n_kv_layers() const;         // full + sliding layers
  std::uint32_t n_recurrent_layers() const;  // linear + mamba layers
};

struct DtypeTotal {
  std::uint64_t params = 0;
  std::uint64_t bytes = 0;
};

struct WeightSummary {
  std::map<std::string, DtypeTotal> by_dtype;  // "BF16" -> totals
  std::uint64_t total_params = 0;
  std::uint64_t total_bytes = 0;               // tensor data bytes (headers not counted)
  std::uint64_t tensors = 0;
  // "BF16", or "BF16 97% + F32 3%" by bytes ("<1%" and ">99%" at the ends; empty dtypes left out).
  std::string dtype_mix() const;
  // The dtype holding the most bytes ("" when empty).
  std::string main_dtype() const;
};

// vLLM's --kv-cache-dtype: auto (the model's dtype), fp8 (= fp8_e4m3), fp8_e5m2, or a float type.
enum class VllmKvDtype { auto_dtype, fp8, fp8_e5m2, f16, bf16, f32 };
util::Result<VllmKvDtype> parse_vllm_kv_dtype(std::string_view text);
std::string_view to_string(VllmKvDtype dtype);

// Not measured: vLLM V1 on CUDA, documented in docs/huggingface.md.
inline constexpr double k_vllm_runtime_overhead_mib = 1024.0;  // CUDA context, cuBLAS, NCCL, ...
inline constexpr double k_vllm_cuda_graph_mib = 512.0;         // graphs captured at startup
inline constexpr std::uint32_t k_vllm_block_size = 16;         // tokens per KV page

struct VllmEstimateOptions {
  std::uint32_t context_size = 8192;             // max_model_len; 0 = max_position_embeddings
  VllmKvDtype kv_cache_dtype = VllmKvDtype::auto_dtype;
  std::uint32_t max_num_seqs = 256;              // vLLM default: the sampler's dummy batch
  std::uint32_t max_num_batched_tokens = 2048;   // vLLM V1 API server default below 70 GiB GPUs
  std::uint32_t sequences = 1;                   // full-length sequences the cache must hold
  bool cuda_graphs = true;                       // false: --enforce-eager
  double runtime_overhead_mib = k_vllm_runtime_overhead_mib;
};

struct VllmEstimate {
  double weights_mib = 0;
  double kv_mib = 0;
  double recurrent_state_mib = 0;
  double activation_mib = 0;   // the profile run's peak (forward at max_num_batched_tokens + sampler)
  double cuda_graph_mib = 0;
  double overhead_mib = 0;
  double total_mib = 0;
  std::uint32_t context_size = 0;        // tokens, as asked (0 resolved)
  std::uint32_t kv_dtype_bytes = 0;      // per element
  std::uint64_t kv_bytes_per_token = 0;  // full-attention layers, one token
  std::vector<std::string> notes;
  // The smallest --gpu-memory-utilization that holds this estimate on a GPU of that size.
  double min_gpu_memory_utilization(double gpu_total_mib) const;
};

// Bytes of KV one token takes in every full-attention layer (sliding layers included when
// `with_sliding`), at `kv_bytes` per element.
std::uint64_t vllm_kv_bytes_per_token(const HfModelConfig& config, std::uint32_t kv_bytes, bool with_sliding = true);

VllmEstimate estimate_vllm(const HfModelConfig& config, const WeightSummary& weights,
                           const VllmEstimateOptions& options);

// The largest context (a multiple of 16, at most max_position_embeddings when known, else
// 1,048,576) whose total fits `budget_mib`; nullopt when not even 16 tokens fit.
std::optional<std::uint32_t> fit_vllm_context(const HfModelConfig& config, const WeightSummary& weights,
                                              const VllmEstimateOptions& options, double budget_mib);

}  // namespace gpumod::core
