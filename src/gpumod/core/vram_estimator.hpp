// The VRAM estimator: from a ModelShape and llama-server options to the memory one llama-server
// process takes, per GPU and on the host. It models what llama.cpp (f535774) allocates:
//   - weights: every tensor except token_embd (always in host memory) on the GPU for the
//     offloaded layers; the output layer on the GPU unless n_gpu_layers is 0; when the output is
//     tied to token_embd, llama.cpp loads a duplicate of it on the output device; the routed
//     experts of the first n_cpu_moe layers stay on the host;
//   - KV cache: per attention layer (n_head_kv > 0), n_head_kv x (key_length + value_length) x
//     cells x bytes(cache type); cells = context padded to 256 (unified cache shared by the
//     n_parallel slots); sliding-window layers hold min(ctx, n_swa x n_seq + n_ubatch) padded to
//     256 cells; MLA layers hold one (kv_lora_rank + n_rot) K row and no V;
//   - recurrent state (Mamba2 layers): f32 conv + SSM state per layer per sequence (n_parallel);
//   - compute buffer: the largest of the scheduler's worst-case graph stages (output logits,
//     attention with its mask, feed-forward, MoE, SSM) at n_ubatch tokens;
//   - runtime overhead: the CUDA context and libraries (measured per GPU/driver when known), plus
//     98 MiB more with a quantized KV cache and 70 MiB less with nothing offloaded;
//   - partial offload (issue 18, fitted to bench/accuracy H200 rows): with attention layers or
//     routed experts on the host, the GPU compute buffer also holds what the scheduler copies up
//     for large batches (a host layer's KV, scaled by the cells per stream);
//   - first-request workspace: what the process allocates on its first long prompt (cuBLAS and
//     MoE/SSM kernel workspaces), by family: dense 20, MoE 76, hybrid partly on the host 120,
//     flash attention off 150, nothing offloaded 90/140/190 MiB, quantized KV 30.
// See docs/estimator.md for the formulas and the observed rows they are checked against.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumod/core/model_shape.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::core {

// KV cache element types llama-server accepts for -ctk / -ctv.
enum class KvCacheType { f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0, iq4_nl };

util::Result<KvCacheType> parse_kv_cache_type(std::string_view text);
std::string_view to_string(KvCacheType type);

// Used when the runtime overhead was not measured on this GPU: observed on an H100, driver 580,
// CUDA 13 (llama-server-observed.md).
inline constexpr double k_default_runtime_overhead_mib = 590.0;

struct EstimateOptions {
  std::uint32_t context_size = 4096;  // 0: the model's training context
  KvCacheType cache_type_k = KvCacheType::f16;
  KvCacheType cache_type_v = KvCacheType::f16;
  bool flash_attn = true;             // llama-server "auto" turns it on for CUDA
  int n_gpu_layers = -1;              // -1: all layers and the output
  std::uint32_t n_cpu_moe = 0;        // experts of the first N layers stay on the host
  // --fit on's MoE placement (llama.cpp common/fit.cpp): the routed experts of layers
  // host_experts_from..n_layer-1 stay on the host, of the first of them only the share
  // host_experts_first_share (1/3 per matrix: GATE leaves ffn_down, UP ffn_gate + ffn_down).
  std::uint32_t host_experts_from = UINT32_MAX;
  double host_experts_first_share = 1.0;
  std::uint32_t n_parallel = 4;       // llama-server's default slots (n_seq_max)
  bool kv_unified = true;             // llama-server default: one cache of `context` cells
  bool swa_full = false;              // --swa-full: SWA layers get the full context
  std::uint32_t n_batch = 2048;
  std::uint32_t n_ubatch = 512;
  std::optional<double> runtime_overhead_mib;  // measured for this GPU/driver, if known
};

struct DeviceEstimate {
  double weights_mib = 0;
  double kv_mib = 0;
  double recurrent_state_mib = 0;
  double compute_mib = 0;
  double overhead_mib = 0;          // the runtime at load (CUDA context, libraries)
  double workspace_mib = 0;         // allocated on the first long request
  double total_at_load_mib = 0;     // what nvidia-smi shows once /health answers
  double total_mib = 0;             // after real use: total_at_load_mib + workspace_mib
};

struct Estimate {
  DeviceEstimate gpu;              // the one GPU llama-server runs on
  double host_mib = 0;             // token_embd, CPU layers/experts, their KV, host compute
  double host_weights_mib = 0;
  std::uint32_t context_size = 0;  // effective context (padded to 256)
  std::uint32_t gpu_layers = 0;    // repeating layers on the GPU
  bool output_on_gpu = false;
  bool overhead_measured = false;  // false: k_default_runtime_overhead_mib was used
  std::string source = "header estimate";
  std::vector<std::string> notes;
};

Estimate estimate_vram(const ModelShape& shape, const EstimateOptions& options);

// What the runtime terms depend on (measured on an H200, driver 580, CUDA 13, llama.cpp f535774).
struct RuntimeTerms {
  bool flash_attn = true;
  bool quantized_kv = false;       // K or V cache quantized (q8_0, q4_0, ...)
  bool nothing_offloaded = false;  // -ngl 0
  bool moe = false;                // routed experts
  bool hybrid = false;             // recurrent (Mamba2) layers
  bool host_recurrent = false;     // some recurrent layers on the host
};
// Added to the base runtime overhead at load: +98 MiB with a quantized KV cache (its kernels),
// -70 MiB with nothing offloaded.
double load_overhead_adjust_mib(const RuntimeTerms& terms);
// Allocated by the process on its first long request (more than two ubatches).
double first_request_workspace_mib(const RuntimeTerms& terms);

// The largest context (a multiple of 256, at least 256, at most the training context when
// known, else 1,048,576) whose GPU total fits `budget_mib`; nullopt if even 256 does not fit.
std::optional<std::uint32_t> fit_context(const ModelShape& shape, const EstimateOptions& options,
                                         double budget_mib);

// The most GPU layers (0..n_layer + 1, as llama.cpp counts: n_layer + 1 includes the output)
// whose GPU total fits `budget_mib`; nullopt if not even 0 layers fit.
std::optional<int> fit_gpu_layers(const ModelShape& shape, const EstimateOptions& options,
                                  double budget_mib);

}  // namespace gpumod::core
