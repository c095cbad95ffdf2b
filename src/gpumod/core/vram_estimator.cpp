#include "gpumod/core/vram_estimator.hpp"

#include <algorithm>
#include <array>

#include "gpumod/core/ggml_types.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::core {
namespace {

constexpr double k_mib = 1024.0 * 1024.0;
constexpr std::uint64_t k_cell_pad = 256;          // llama_context pads n_ctx to 256
constexpr std::uint32_t k_max_context = 1u << 20;  // fit_context's cap when n_ctx_train is unknown

struct CacheTypeName {
  KvCacheType type;
  std::string_view name;
  std::uint32_t ggml_id;
};

constexpr std::array k_cache_types{
    CacheTypeName{KvCacheType::f32, "f32", ggml_id::f32},
    CacheTypeName{KvCacheType::f16, "f16", ggml_id::f16},
    CacheTypeName{KvCacheType::bf16, "bf16", ggml_id::bf16},
    CacheTypeName{KvCacheType::q8_0, "q8_0", ggml_id::q8_0},
    CacheTypeName{KvCacheType::q5_1, "q5_1", ggml_id::q5_1},
    CacheTypeName{KvCacheType::q5_0, "q5_0", ggml_id::q5_0},
    CacheTypeName{KvCacheType::q4_1, "q4_1", ggml_id::q4_1},
    CacheTypeName{KvCacheType::q4_0, "q4_0", ggml_id::q4_0},
    CacheTypeName{KvCacheType::iq4_nl, "iq4_nl", ggml_id::iq4_nl},
};

std::uint32_t cache_ggml_id(KvCacheType t) {
  for (const auto& c : k_cache_types) {
    if (c.type == t) return c.ggml_id;
  }
  return ggml_id::f16;
}

std::uint64_t pad_up(std::uint64_t v, std::uint64_t to) { return (v + to - 1) / to * to; }

// Bytes of `cells` rows of `width` elements of a cache type (rounding partial blocks up, where
// llama.cpp would refuse the combination).
double cache_bytes(KvCacheType type, std::uint64_t width, std::uint64_t cells) {
  const auto info = ggml_type(cache_ggml_id(type));
  const std::uint64_t blocks = (width + info->block_size - 1) / info->block_size;
  return static_cast<double>(blocks * info->type_size) * static_cast<double>(cells);
}

struct Placement {
  std::uint32_t n_layer = 0;
  int i_gpu_start = 0;  // first repeating layer on the GPU
  bool output_on_gpu = false;
  bool on_gpu(std::uint32_t il) const { return static_cast<int>(il) >= i_gpu_start; }
};

// llama_model::load_tensors: i_gpu_start = max(n_layer + 1 - n_gpu_layers, 0); the output is
// "layer" n_layer.
Placement place(const ModelShape& shape, int n_gpu_layers) {
  Placement p;
  p.n_layer = shape.n_layer;
  const int total = static_cast<int>(shape.n_layer) + 1;
  const int ngl = n_gpu_layers < 0 ? total : std::min(n_gpu_layers, total);
  p.i_gpu_start = std::max(total - ngl, 0);
  p.output_on_gpu = ngl >= 1;
  return p;
}

}  // namespace

double load_overhead_adjust_mib(const RuntimeTerms& t) {
  double mib = 0;
  if (t.quantized_kv) mib += 98.0;       // H200: 686.6 vs 588.5 MiB at load, every family
  if (t.nothing_offloaded) mib -= 70.0;  // H200: 518-523 vs 588.5 MiB with -ngl 0
  return mib;
}

double first_request_workspace_mib(const RuntimeTerms& t) {
  // Process memory after a 3000-token prompt minus after load, H200 rows (bench/accuracy).
  if (t.nothing_offloaded) return t.hybrid ? 190.0 : t.moe ? 140.0 : 90.0;  // 190, 140, 82-88
  if (!t.flash_attn) return 150.0;                                           // 94-152
  if (t.quantized_kv) return 30.0;                                           // 12-30
  if (t.hybrid && t.host_recurrent) return 120.0;                            // 108-118
  if (t.moe) return 76.0;                                                    // 76
  return 20.0;                                                               // 14-20
}

util::Result<KvCacheType> parse_kv_cache_type(std::string_view text) {
  const std::string lower = util::to_lower(util::trim(text));
  std::vector<std::string> names;
  for (const auto& c : k_cache_types) {
    if (c.name == lower) return c.type;
    names.emplace_back(c.name);
  }
  return util::fail(util::ErrorCode::invalid_argument,
                    "unknown KV cache type '" + std::string(text) + "'" +
                        util::did_you_mean(lower, names) +
                        " (expected f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0 or iq4_nl)");
}

std::string_view to_string(KvCacheType type) {
  for (const auto& c : k_cache_types) {
    if (c.type == type) return c.name;
  }
  return "f16";
}

Estimate estimate_vram(const ModelShape& shape, const EstimateOptions& options) {
  Estimate est;
  const Placement placement = place(shape, options.n_gpu_layers);
  est.output_on_gpu = placement.output_on_gpu;

  // Context: 0 means the training context; llama.cpp pads n_ctx to 256 cells.
  std::uint64_t ctx = options.context_size;
  if (ctx == 0) ctx = shape.n_ctx_train > 0 ? shape.n_ctx_train : 4096;
  const std::uint64_t n_seq = std::max<std::uint32_t>(1, options.n_parallel);
  std::uint64_t cells = pad_up(ctx, k_cell_pad);
  std::uint64_t n_stream = 1;
  if (!options.kv_unified) {
    n_stream = n_seq;
    cells = pad_up(std::max<std::uint64_t>(1, cells / n_seq), k_cell_pad);  // per stream
  }
  est.context_size = static_cast<std::uint32_t>(cells * n_stream);
  if (shape.n_ctx_train > 0 && est.context_size / n_stream > shape.n_ctx_train) {
    est.notes.push_back("context above the training context " +
                        std::to_string(shape.n_ctx_train) +
                        ": llama.cpp allocates it but caps each slot");
  }
  const std::uint64_t n_ubatch = std::max<std::uint32_t>(1, std::min(options.n_ubatch, options.n_batch));
  std::uint64_t swa_cells = cells;
  if (shape.n_swa > 0 && !options.swa_full) {
    const std::uint64_t want = std::uint64_t{shape.n_swa} * (options.kv_unified ? n_seq : 1) + n_ubatch;
    swa_cells = pad_up(std::min(cells, want), k_cell_pad);
  }

  double gpu_weights = 0, host_weights = 0, gpu_kv = 0, host_kv = 0, gpu_rs = 0, host_rs = 0;
  double max_host_layer_kv = 0;  // the largest KV of one attention layer on the host (all streams)
  bool host_experts = false;  // routed experts of GPU layers kept on the host (--n-cpu-moe)
  bool host_ssm = false, any_moe = false, any_ssm = false;
  std::uint64_t max_kv_width = 0;
  bool gpu_attention = false, gpu_moe = false, gpu_ssm = false, gpu_swa_and_full = false;
  bool gpu_swa = false, gpu_full = false;
  for (std::uint32_t il = 0; il < shape.layers.size(); ++il) {
    const LayerShape& layer = shape.layers[il];
    const bool gpu = placement.on_gpu(il);
    if (gpu) ++est.gpu_layers;
    double& weights = gpu ? gpu_weights : host_weights;
    weights += static_cast<double>(layer.weight_bytes);
    if (layer.expert_bytes > 0) any_moe = true;
    double host_share = 0.0;  // of this layer's routed experts kept on the host
    if (il < options.n_cpu_moe) {
      host_share = 1.0;
    } else if (il >= options.host_experts_from) {
      host_share = il == options.host_experts_from
                       ? std::clamp(options.host_experts_first_share, 0.0, 1.0)
                       : 1.0;
    }
    if (gpu && host_share > 0.0 && layer.expert_bytes > 0) host_experts = true;
    host_weights += host_share * static_cast<double>(layer.expert_bytes);
    weights += (1.0 - host_share) * static_cast<double>(layer.expert_bytes);
    if (gpu && host_share < 1.0 && layer.expert_bytes > 0) gpu_moe = true;

    if (layer.recurrent) {
      const double rs = static_cast<double>(shape.recurrent_state_floats()) * 4.0 * static_cast<double>(n_seq);
      (gpu ? gpu_rs : host_rs) += rs;
      gpu_ssm = gpu_ssm || gpu;
      any_ssm = true;
      host_ssm = host_ssm || !gpu;
      continue;
    }
    if (layer.n_head_kv == 0) continue;
    const std::uint64_t layer_cells = (layer.swa ? swa_cells : cells) * n_stream;
    double kv = 0;
    std::uint64_t width = 0;
    if (shape.mla) {
      width = std::uint64_t{shape.kv_lora_rank + shape.n_rot} * layer.n_head_kv;
      kv = cache_bytes(options.cache_type_k, width, layer_cells);
    } else {
      width = std::uint64_t{shape.n_embd_head_k} * layer.n_head_kv;
      const std::uint64_t v_width = std::uint64_t{shape.n_embd_head_v} * layer.n_head_kv;
      kv = cache_bytes(options.cache_type_k, width, layer_cells) +
           cache_bytes(options.cache_type_v, v_width, layer_cells);
      width += v_width;
    }
    (gpu ? gpu_kv : host_kv) += kv;
    if (!gpu) max_host_layer_kv = std::max(max_host_layer_kv, kv);
    if (gpu) {
      gpu_attention = true;
      max_kv_width = std::max(max_kv_width, width);
      (layer.swa ? gpu_swa : gpu_full) = true;
    }
  }
  gpu_swa_and_full = gpu_swa && gpu_full;

  // Output layer (and output_norm etc.) on the output device; token_embd always on the host, plus
  // a duplicate on the output device when the output is tied to it.
  const double output_bytes = static_cast<double>(
      (shape.output_tied ? shape.token_embd_bytes : shape.output_bytes) + shape.other_bytes);
  (placement.output_on_gpu ? gpu_weights : host_weights) += output_bytes;
  host_weights += static_cast<double>(shape.token_embd_bytes);
  if (shape.output_tied) {
    est.notes.push_back("output tied to token_embd: llama.cpp loads a copy on the output device");
  }

  // Compute buffer: the largest stage of the worst-case graph at n_ubatch tokens (f32
  // activations). Calibrated against llama-server-observed.md: see docs/estimator.md.
  const double ub = static_cast<double>(n_ubatch);
  const double n_embd = shape.n_embd;
  const double out_stage = ub * 4.0 * (static_cast<double>(shape.n_vocab) + n_embd);
  double attn_stage = 0;
  if (gpu_attention) {
    const double q_width = static_cast<double>(shape.n_head) * shape.n_embd_head_k;
    const double act = ub * 4.0 * (3.0 * n_embd + q_width + static_cast<double>(max_kv_width));
    // The graph attends over one stream's cells (all of them when the cache is unified).
    const double kv_cells = static_cast<double>(cells);
    const double swa_kv_cells = static_cast<double>(swa_cells);
    if (options.flash_attn) {
      // f32 mask [n_kv, n_ubatch] and its f16 copy; a second pair when SWA and full layers mix.
      attn_stage = act + ub * 6.0 * (gpu_swa && !gpu_full ? swa_kv_cells : kv_cells) +
                   (gpu_swa_and_full ? ub * 6.0 * swa_kv_cells : 0.0);
    } else {
      // f32 KQ scores per head plus the f32 mask.
      attn_stage = act + ub * 4.0 * kv_cells * (static_cast<double>(shape.n_head) + 1.0);
    }
  }
  const double ffn_stage = ub * 4.0 * (3.0 * shape.n_ff + 2.0 * n_embd);
  double moe_stage = 0;
  if (gpu_moe) {
    moe_stage = ub * 4.0 *
                (static_cast<double>(shape.n_expert) +
                 3.0 * shape.n_expert_used * static_cast<double>(shape.n_ff_exp) +
                 (shape.n_expert_used + 2.0) * n_embd);
  }
  double ssm_stage = 0;
  if (gpu_ssm) {
    const double conv_ch = shape.ssm_d_inner + 2.0 * shape.ssm_n_group * shape.ssm_d_state;
    const double d_in_proj = 2.0 * shape.ssm_d_inner + 2.0 * shape.ssm_n_group * shape.ssm_d_state +
                             shape.ssm_dt_rank;
    ssm_stage = ub * 4.0 * (d_in_proj + 2.0 * conv_ch + 2.0 * shape.ssm_d_inner + n_embd);
  }
  // With several streams (llama-server -np N without --kv-unified) the flash-attention mask of
  // one stream stays allocated through the output stage (H200 rows: 90.6 MiB = output 66.6 +
  // mask 24 at 8,192 cells per stream).
  const double mask_bytes = ub * 6.0 * static_cast<double>(cells);
  const double out_with_mask =
      out_stage + (n_stream > 1 && options.flash_attn && gpu_attention ? mask_bytes : 0.0);
  double gpu_compute = std::max({placement.output_on_gpu ? out_with_mask : 0.0, attn_stage,
                                 ffn_stage, moe_stage, ssm_stage});
  // Partial offload: for ubatches the scheduler runs host layers' work on the GPU and copies
  // their operands into the compute buffer. Fitted to the H200 rows (bench/accuracy): a host
  // attention layer costs 2.1x its KV (f16) or 1.0x (quantized K) at 32,768 cells per stream,
  // proportionally less below; routed experts kept on the host for GPU layers (--n-cpu-moe)
  // cost 3 masks; the larger of the two counts.
  const double cell_scale = std::min(1.0, static_cast<double>(cells) / 32768.0);
  const bool quantized_k = ggml_type(cache_ggml_id(options.cache_type_k))->block_size > 1;
  const double partial_attn = max_host_layer_kv * (quantized_k ? 1.0 : 2.1) * cell_scale;
  const double partial_moe = host_experts ? 3.0 * mask_bytes : 0.0;
  const bool nothing_offloaded = est.gpu_layers == 0 && !placement.output_on_gpu;
  if (nothing_offloaded) {
    // -ngl 0: no weights on the GPU, but the scheduler still offloads large batches.
    gpu_compute = std::max(out_stage + mask_bytes, attn_stage) + partial_attn;
  } else {
    gpu_compute += std::max(partial_attn, partial_moe);
  }
  // Host: the logits buffer (n_vocab f32 per output, n_seq outputs reserved) and, with layers or
  // the output on the host, a compute buffer of the same kind.
  double host_compute = static_cast<double>(shape.n_vocab) * 4.0 * static_cast<double>(n_seq);
  if (!placement.output_on_gpu) host_compute += out_stage;
  if (est.gpu_layers < shape.n_layer) host_compute += std::max(ffn_stage, moe_stage);

  est.overhead_measured = options.runtime_overhead_mib.has_value();
  const double overhead_mib = options.runtime_overhead_mib.value_or(k_default_runtime_overhead_mib);
  if (!est.overhead_measured) {
    est.notes.push_back("runtime overhead not measured on this GPU: default 590 MiB");
  }

  const bool quantized_kv =
      quantized_k || ggml_type(cache_ggml_id(options.cache_type_v))->block_size > 1;
  RuntimeTerms rt{};
  rt.flash_attn = options.flash_attn;
  rt.quantized_kv = quantized_kv;
  rt.nothing_offloaded = nothing_offloaded;
  rt.moe = any_moe;
  rt.hybrid = any_ssm;
  rt.host_recurrent = host_ssm;
  DeviceEstimate& g = est.gpu;
  g.weights_mib = gpu_weights / k_mib;
  g.kv_mib = gpu_kv / k_mib;
  g.recurrent_state_mib = gpu_rs / k_mib;
  g.compute_mib = gpu_compute / k_mib;
  g.overhead_mib = overhead_mib + load_overhead_adjust_mib(rt);
  g.workspace_mib = first_request_workspace_mib(rt);
  g.total_at_load_mib = g.weights_mib + g.kv_mib + g.recurrent_state_mib + g.compute_mib + g.overhead_mib;
  g.total_mib = g.total_at_load_mib + g.workspace_mib;
  est.host_weights_mib = host_weights / k_mib;
  est.host_mib = (host_weights + host_kv + host_rs + host_compute) / k_mib;
  return est;
}

std::optional<std::uint32_t> fit_context(const ModelShape& shape, const EstimateOptions& options,
                                         double budget_mib) {
  EstimateOptions opt = options;
  const std::uint32_t max_ctx = shape.n_ctx_train > 0 ? shape.n_ctx_train : k_max_context;
  std::uint32_t lo = 1;                                    // in units of 256
  std::uint32_t hi = std::max<std::uint32_t>(1, max_ctx / 256);
  opt.context_size = 256;
  if (estimate_vram(shape, opt).gpu.total_mib > budget_mib) return std::nullopt;
  while (lo < hi) {
    const std::uint32_t mid = lo + (hi - lo + 1) / 2;
    opt.context_size = mid * 256;
    if (estimate_vram(shape, opt).gpu.total_mib <= budget_mib) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo * 256;
}

std::optional<int> fit_gpu_layers(const ModelShape& shape, const EstimateOptions& options,
                                  double budget_mib) {
  EstimateOptions opt = options;
  for (int n = static_cast<int>(shape.n_layer) + 1; n >= 0; --n) {
    opt.n_gpu_layers = n;
    if (estimate_vram(shape, opt).gpu.total_mib <= budget_mib) return n;
  }
  return std::nullopt;
}

}  // namespace gpumod::core
