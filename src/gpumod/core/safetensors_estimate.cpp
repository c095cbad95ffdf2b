#include "gpumod/core/safetensors_estimate.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "gpumod/util/strings.hpp"

namespace gpumod::core {
namespace {

constexpr double k_mib = 1024.0 * 1024.0;
constexpr std::uint32_t k_max_context = 1u << 20;

struct DtypeBits {
  std::string_view name;
  std::uint32_t bits;
};

// The dtypes of the safetensors format (safetensors 0.6: Dtype).
constexpr std::array k_dtypes{
    DtypeBits{"BOOL", 8},     DtypeBits{"U8", 8},       DtypeBits{"I8", 8},        DtypeBits{"F8_E5M2", 8},
    DtypeBits{"F8_E4M3", 8},  DtypeBits{"F8_E8M0", 8},  DtypeBits{"I16", 16},      DtypeBits{"U16", 16},
    DtypeBits{"F16", 16},     DtypeBits{"BF16", 16},    DtypeBits{"I32", 32},      DtypeBits{"U32", 32},
    DtypeBits{"F32", 32},     DtypeBits{"F64", 64},     DtypeBits{"I64", 64},      DtypeBits{"U64", 64},
    DtypeBits{"F4", 4},       DtypeBits{"F6_E2M3", 6},  DtypeBits{"F6_E3M2", 6},   DtypeBits{"C64", 64},
};

std::uint64_t cdiv(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

std::uint32_t kv_element_bytes(VllmKvDtype d) {
  switch (d) {
    case VllmKvDtype::fp8:
    case VllmKvDtype::fp8_e5m2: return 1;
    case VllmKvDtype::f32: return 4;
    case VllmKvDtype::auto_dtype:  // vLLM runs float32 checkpoints in 16 bits: always 2 bytes
    case VllmKvDtype::f16:
    case VllmKvDtype::bf16: return 2;
  }
  return 2;
}

std::string percent(double share) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f%%", share * 100.0);
  return buf;
}

}  // namespace

std::optional<std::uint32_t> safetensors_dtype_bits(std::string_view dtype) {
  for (const auto& d : k_dtypes) {
    if (d.name == dtype) return d.bits;
  }
  return std::nullopt;
}

std::uint32_t HfModelConfig::n_kv_layers() const {
  std::uint32_t n = 0;
  for (auto k : layers) n += (k == LayerAttention::full || k == LayerAttention::sliding) ? 1 : 0;
  return n;
}

std::uint32_t HfModelConfig::n_recurrent_layers() const {
  std::uint32_t n = 0;
  for (auto k : layers) n += (k == LayerAttention::linear || k == LayerAttention::mamba) ? 1 : 0;
  return n;
}

std::string WeightSummary::dtype_mix() const {
  if (total_bytes == 0) return by_dtype.size() == 1 ? by_dtype.begin()->first : std::string();
  std::vector<std::pair<std::string, std::uint64_t>> v;
  for (const auto& [d, t] : by_dtype) v.emplace_back(d, t.bytes);
  std::ranges::stable_sort(v, [](const auto& a, const auto& b) { return a.second > b.second; });
  if (v.size() == 1 || v.front().second == total_bytes) return v.front().first;
  std::vector<std::string> parts;
  for (const auto& [d, b] : v) {
    const double share = static_cast<double>(b) / static_cast<double>(total_bytes);
    if (b == 0) continue;
    parts.push_back(d + (share < 0.005 ? " <1%" : share >= 0.995 ? " >99%" : " " + percent(share)));
  }
  return util::join(parts, " + ");
}

std::string WeightSummary::main_dtype() const {
  std::string best;
  std::uint64_t most = 0;
  for (const auto& [d, t] : by_dtype) {
    if (best.empty() || t.bytes > most) {
      best = d;
      most = t.bytes;
    }
  }
  return best;
}

util::Result<VllmKvDtype> parse_vllm_kv_dtype(std::string_view text) {
  const std::string s = util::to_lower(util::trim(text));
  if (s == "auto") return VllmKvDtype::auto_dtype;
  if (s == "fp8" || s == "fp8_e4m3") return VllmKvDtype::fp8;
  if (s == "fp8_e5m2") return VllmKvDtype::fp8_e5m2;
  if (s == "float16" || s == "half" || s == "f16" || s == "fp16") return VllmKvDtype::f16;
  if (s == "bfloat16" || s == "bf16") return VllmKvDtype::bf16;
  if (s == "float32" || s == "float" || s == "f32" || s == "fp32") return VllmKvDtype::f32;
  return util::fail(util::ErrorCode::invalid_argument,
                    "unknown vLLM KV cache dtype '" + std::string(text) +
                        "' (expected auto, fp8, fp8_e4m3, fp8_e5m2, float16, bfloat16 or float32)");
}

std::string_view to_string(VllmKvDtype dtype) {
  switch (dtype) {
    case VllmKvDtype::auto_dtype: return "auto";
    case VllmKvDtype::fp8: return "fp8";
    case VllmKvDtype::fp8_e5m2: return "fp8_e5m2";
    case VllmKvDtype::f16: return "float16";
    case VllmKvDtype::bf16: return "bfloat16";
    case VllmKvDtype::f32: return "float32";
  }
  return "auto";
}

double VllmEstimate::min_gpu_memory_utilization(double gpu_total_mib) const {
  if (gpu_total_mib <= 0) return 0;
  return total_mib / gpu_total_mib;
}

std::uint64_t vllm_kv_bytes_per_token(const HfModelConfig& c, std::uint32_t kv_bytes, bool with_sliding) {
  std::uint64_t per_layer = 0;
  if (c.mla) {
    per_layer = std::uint64_t{c.kv_lora_rank} + c.qk_rope_head_dim;
  } else {
    const std::uint32_t v_dim = c.v_head_dim > 0 ? c.v_head_dim : c.head_dim;
    per_layer = std::uint64_t{c.n_kv_head} * (std::uint64_t{c.head_dim} + v_dim);
  }
  std::uint64_t layers = 0;
  for (auto k : c.layers) {
    if (k == LayerAttention::full || (with_sliding && k == LayerAttention::sliding)) ++layers;
  }
  return per_layer * kv_bytes * layers;
}

VllmEstimate estimate_vllm(const HfModelConfig& c, const WeightSummary& w, const VllmEstimateOptions& o) {
  VllmEstimate e;
  std::uint64_t ctx = o.context_size;
  if (ctx == 0) ctx = c.max_position_embeddings > 0 ? c.max_position_embeddings : 4096;
  e.context_size = static_cast<std::uint32_t>(ctx);
  if (c.max_position_embeddings > 0 && ctx > c.max_position_embeddings) {
    e.notes.push_back("context above max_position_embeddings " + std::to_string(c.max_position_embeddings) +
                      ": vLLM refuses it unless VLLM_ALLOW_LONG_MAX_MODEL_LEN=1");
  }

  // Weights: exact bytes from the headers. vLLM runs float32 checkpoints in 16 bits (dtype auto).
  double weight_bytes = static_cast<double>(w.total_bytes);
  if (util::to_lower(c.torch_dtype) == "float32") {
    if (const auto it = w.by_dtype.find("F32"); it != w.by_dtype.end()) {
      weight_bytes -= static_cast<double>(it->second.bytes) / 2.0;
      e.notes.push_back("float32 checkpoint: vLLM (dtype auto) loads it in 16 bits");
    }
  }
  if (!c.quant_method.empty()) {
    e.notes.push_back("quantized (" + c.quant_method + (c.quant_bits ? " " + std::to_string(c.quant_bits) + "-bit" : "") +
                      "): weight bytes as stored");
  }

  // KV cache: one (or `sequences`) request of ctx tokens, paged in blocks.
  e.kv_dtype_bytes = kv_element_bytes(o.kv_cache_dtype);
  e.kv_bytes_per_token = vllm_kv_bytes_per_token(c, e.kv_dtype_bytes, false);
  const std::uint64_t seqs = std::max<std::uint32_t>(1, o.sequences);
  const std::uint64_t block = k_vllm_block_size;
  const std::uint64_t full_tokens = cdiv(ctx, block) * block;
  double kv = static_cast<double>(e.kv_bytes_per_token) * static_cast<double>(full_tokens * seqs);
  const std::uint64_t batched = std::max<std::uint32_t>(1, o.max_num_batched_tokens);
  const std::uint64_t swa_per_layer = vllm_kv_bytes_per_token(c, e.kv_dtype_bytes, true) - e.kv_bytes_per_token;
  if (swa_per_layer > 0) {
    if (c.sliding_window == 0) {
      kv += static_cast<double>(swa_per_layer) * static_cast<double>(full_tokens * seqs);
      e.notes.push_back("sliding-window layers without a window size: counted at the full context");
    } else {
      const std::uint64_t want = std::min<std::uint64_t>(std::uint64_t{c.sliding_window} - 1 + batched, ctx);
      const std::uint64_t swa_tokens = (cdiv(want, block) + 1) * block;
      kv += static_cast<double>(swa_per_layer) * static_cast<double>(std::min(swa_tokens, full_tokens + block) * seqs);
    }
  }
  e.kv_mib = kv / k_mib;

  // Linear-attention / Mamba layers: a fixed state per sequence.
  if (c.n_recurrent_layers() > 0) {
    if (c.recurrent_state_bytes_per_layer == 0) {
      e.notes.push_back(std::to_string(c.n_recurrent_layers()) +
                        " linear-attention/Mamba layers: state size unknown, not counted");
    }
    e.recurrent_state_mib = static_cast<double>(c.recurrent_state_bytes_per_layer) *
                            static_cast<double>(c.n_recurrent_layers()) * static_cast<double>(seqs) / k_mib;
  }

  // The profile run's peak: a forward pass of max_num_batched_tokens tokens in 16-bit
  // activations (residual, norms, QKV, attention output, the FFN's gate/up and its product) and
  // the sampler's f32 logits and probabilities for max_num_seqs requests.
  const double t = static_cast<double>(batched);
  const double v_dim = c.v_head_dim > 0 ? c.v_head_dim : c.head_dim;
  const double q_width = static_cast<double>(c.n_head) * c.head_dim;
  const double kv_width = c.mla ? static_cast<double>(c.kv_lora_rank + c.qk_rope_head_dim)
                                : static_cast<double>(c.n_kv_head) * (c.head_dim + v_dim);
  const double ffn = c.n_experts > 0 && c.moe_intermediate_size > 0
                         ? static_cast<double>(c.moe_intermediate_size) * std::max<std::uint32_t>(1, c.n_experts_per_tok)
                         : static_cast<double>(c.intermediate_size);
  const double forward = t * 2.0 * (4.0 * c.hidden_size + q_width + kv_width + 3.0 * ffn) +
                         (c.n_experts > 0 ? t * 4.0 * c.n_experts : 0.0);
  const double sampler = static_cast<double>(std::max<std::uint32_t>(1, o.max_num_seqs)) * c.vocab_size * 4.0 * 2.0;
  e.activation_mib = (forward + sampler) / k_mib;
  e.cuda_graph_mib = o.cuda_graphs ? k_vllm_cuda_graph_mib : 0.0;
  e.overhead_mib = o.runtime_overhead_mib;
  e.weights_mib = weight_bytes / k_mib;
  e.total_mib = e.weights_mib + e.kv_mib + e.recurrent_state_mib + e.activation_mib + e.cuda_graph_mib + e.overhead_mib;
  return e;
}

std::optional<std::uint32_t> fit_vllm_context(const HfModelConfig& c, const WeightSummary& w,
                                              const VllmEstimateOptions& options, double budget_mib) {
  VllmEstimateOptions o = options;
  const std::uint32_t max_ctx = c.max_position_embeddings > 0 ? c.max_position_embeddings : k_max_context;
  std::uint32_t lo = 1;  // in blocks of 16
  std::uint32_t hi = std::max<std::uint32_t>(1, max_ctx / k_vllm_block_size);
  o.context_size = k_vllm_block_size;
  if (estimate_vllm(c, w, o).total_mib > budget_mib) return std::nullopt;
  while (lo < hi) {
    const std::uint32_t mid = lo + (hi - lo + 1) / 2;
    o.context_size = mid * k_vllm_block_size;
    if (estimate_vllm(c, w, o).total_mib <= budget_mib) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo * k_vllm_block_size;
}

}  // namespace gpumod::core
