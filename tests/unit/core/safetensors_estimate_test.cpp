// core/safetensors_estimate: the vLLM estimate's parts worked out by hand for known configs
// (Llama-3-8B: 128 KiB of bf16 KV per token), sliding-window caps, hybrid and MLA layouts, the
// agreement of the KV math with the llama.cpp estimator, and the context fit.
#include <gtest/gtest.h>

#include "gpumod/core/model_shape.hpp"
#include "gpumod/core/safetensors_estimate.hpp"
#include "gpumod/core/vram_estimator.hpp"

namespace gpumod::core {
namespace {

constexpr double k_mib = 1024.0 * 1024.0;

HfModelConfig llama3_8b() {
  HfModelConfig c;
  c.model_type = "llama";
  c.n_layer = 32;
  c.n_head = 32;
  c.n_kv_head = 8;
  c.head_dim = 128;
  c.hidden_size = 4096;
  c.intermediate_size = 14336;
  c.vocab_size = 128256;
  c.max_position_embeddings = 131072;
  c.torch_dtype = "bfloat16";
  c.layers.assign(32, LayerAttention::full);
  return c;
}

WeightSummary bf16_weights(std::uint64_t params) {
  WeightSummary w;
  w.by_dtype["BF16"] = {params, params * 2};
  w.total_params = params;
  w.total_bytes = params * 2;
  return w;
}

TEST(SafetensorsDtype, Bits) {
  EXPECT_EQ(safetensors_dtype_bits("BF16"), 16u);
  EXPECT_EQ(safetensors_dtype_bits("F8_E4M3"), 8u);
  EXPECT_EQ(safetensors_dtype_bits("F8_E5M2"), 8u);
  EXPECT_EQ(safetensors_dtype_bits("I64"), 64u);
  EXPECT_EQ(safetensors_dtype_bits("BOOL"), 8u);
  EXPECT_EQ(safetensors_dtype_bits("F4"), 4u);
  EXPECT_FALSE(safetensors_dtype_bits("bf16").has_value());  // the format spells them upper-case
  EXPECT_FALSE(safetensors_dtype_bits("Q4_K").has_value());
}

TEST(SafetensorsEstimate, Llama3KvIs128KiBPerTokenInBf16) {
  const auto c = llama3_8b();
  EXPECT_EQ(vllm_kv_bytes_per_token(c, 2), 32u * 8 * (128 + 128) * 2);
  EXPECT_EQ(vllm_kv_bytes_per_token(c, 2), 128u * 1024);
  VllmEstimateOptions o;
  o.context_size = 8192;
  const auto w = bf16_weights(8'030'261'248ULL);
  auto e = estimate_vllm(c, w, o);
  EXPECT_EQ(e.kv_bytes_per_token, 131072u);
  EXPECT_EQ(e.kv_dtype_bytes, 2u);
  EXPECT_DOUBLE_EQ(e.kv_mib, 1024.0);  // 8,192 tokens x 128 KiB
  EXPECT_DOUBLE_EQ(e.weights_mib, 16'060'522'496.0 / k_mib);
  // Profile run: 2,048 tokens x 2 bytes x (4x4096 + 4096 + 2048 + 3x14336) = 256 MiB, plus the
  // sampler's f32 logits and probabilities for 256 requests x 128,256 tokens.
  EXPECT_DOUBLE_EQ(e.activation_mib, 256.0 + 256.0 * 128256 * 8 / k_mib);
  EXPECT_DOUBLE_EQ(e.cuda_graph_mib, k_vllm_cuda_graph_mib);
  EXPECT_DOUBLE_EQ(e.overhead_mib, k_vllm_runtime_overhead_mib);
  EXPECT_DOUBLE_EQ(e.total_mib, e.weights_mib + e.kv_mib + e.activation_mib + e.cuda_graph_mib + e.overhead_mib);
  EXPECT_DOUBLE_EQ(e.min_gpu_memory_utilization(24564.0), e.total_mib / 24564.0);
  // fp8 KV halves the cache; a context off the 16-token page rounds up to a page.
  o.kv_cache_dtype = VllmKvDtype::fp8;
  EXPECT_DOUBLE_EQ(estimate_vllm(c, w, o).kv_mib, 512.0);
  o.kv_cache_dtype = VllmKvDtype::auto_dtype;
  o.context_size = 8193;
  EXPECT_DOUBLE_EQ(estimate_vllm(c, w, o).kv_mib, (8192.0 + 16.0) * 131072 / k_mib);
  // Enforce-eager: no CUDA graphs.
  o.cuda_graphs = false;
  EXPECT_DOUBLE_EQ(estimate_vllm(c, w, o).cuda_graph_mib, 0.0);
}

TEST(SafetensorsEstimate, KvAgreesWithTheLlamaCppEstimator) {
  // The same model as a ModelShape: llama.cpp's f16 KV at a context on its 256-cell padding.
  ModelShape s;
  s.architecture = "llama";
  s.n_layer = 32;
  s.n_embd = 4096;
  s.n_head = 32;
  s.n_embd_head_k = s.n_embd_head_v = 128;
  s.n_vocab = 128256;
  s.n_ff = 14336;
  s.layers.assign(32, LayerShape{32, 8, 14336, false, false, 0, 0});
  EstimateOptions lo;
  lo.context_size = 16384;
  VllmEstimateOptions vo;
  vo.context_size = 16384;
  EXPECT_DOUBLE_EQ(estimate_vram(s, lo).gpu.kv_mib, estimate_vllm(llama3_8b(), bf16_weights(1), vo).kv_mib);
}

TEST(SafetensorsEstimate, SlidingWindowLayersAreCapped) {
  // Gemma-like: 5 sliding layers (window 1,024) and 1 full, 4 KV heads of 256: 4,096 B/token/layer.
  HfModelConfig c;
  c.n_layer = 6;
  c.n_head = 8;
  c.n_kv_head = 4;
  c.head_dim = 256;
  c.hidden_size = 2560;
  c.sliding_window = 1024;
  c.layers = {LayerAttention::sliding, LayerAttention::sliding, LayerAttention::sliding,
              LayerAttention::sliding, LayerAttention::sliding, LayerAttention::full};
  const WeightSummary w = bf16_weights(1000);
  VllmEstimateOptions o;
  o.context_size = 32768;
  auto e = estimate_vllm(c, w, o);
  EXPECT_EQ(e.kv_bytes_per_token, 4096u);  // the full layer only
  // Sliding: min(1024 - 1 + 2048, 32768) = 3,071 tokens -> 192 pages + 1 = 3,088 tokens.
  EXPECT_DOUBLE_EQ(e.kv_mib, (32768.0 * 4096 + 5.0 * 4096 * 3088) / k_mib);
  // Below the window the sliding layers hold the context (+ one page).
  o.context_size = 512;
  e = estimate_vllm(c, w, o);
  EXPECT_DOUBLE_EQ(e.kv_mib, (512.0 * 4096 + 5.0 * 4096 * 528) / k_mib);
  // Without the cap the KV would grow with every sliding layer: doubling the context only grows
  // the full layer's share once past the window.
  o.context_size = 65536;
  const auto e64 = estimate_vllm(c, w, o);
  o.context_size = 131072;
  const auto e128 = estimate_vllm(c, w, o);
  EXPECT_DOUBLE_EQ(e128.kv_mib - e64.kv_mib, 65536.0 * 4096 / k_mib);
}

TEST(SafetensorsEstimate, HybridLayersKeepStateNotKv) {
  HfModelConfig c;
  c.n_layer = 8;
  c.n_head = 8;
  c.n_kv_head = 2;
  c.head_dim = 128;
  c.hidden_size = 1024;
  for (int i = 0; i < 8; ++i) c.layers.push_back((i + 1) % 4 == 0 ? LayerAttention::full : LayerAttention::linear);
  c.recurrent_state_bytes_per_layer = 143360;
  VllmEstimateOptions o;
  o.context_size = 4096;
  auto e = estimate_vllm(c, bf16_weights(1000), o);
  EXPECT_EQ(e.kv_bytes_per_token, 2u * 2 * 256 * 2);  // 2 full layers
  EXPECT_DOUBLE_EQ(e.kv_mib, 4096.0 * 2048 / k_mib);
  EXPECT_DOUBLE_EQ(e.recurrent_state_mib, 6.0 * 143360 / k_mib);
  EXPECT_TRUE(e.notes.empty());
  c.recurrent_state_bytes_per_layer = 0;
  e = estimate_vllm(c, bf16_weights(1000), o);
  ASSERT_FALSE(e.notes.empty());
  EXPECT_NE(e.notes.front().find("state size unknown"), std::string::npos);
}

TEST(SafetensorsEstimate, MlaCachesTheLatentOnly) {
  HfModelConfig c;
  c.n_layer = 61;
  c.n_head = 128;
  c.n_kv_head = 128;
  c.head_dim = 192;
  c.v_head_dim = 128;
  c.hidden_size = 7168;
  c.mla = true;
  c.kv_lora_rank = 512;
  c.qk_rope_head_dim = 64;
  c.layers.assign(61, LayerAttention::full);
  EXPECT_EQ(vllm_kv_bytes_per_token(c, 2), 61u * 576 * 2);
  EXPECT_EQ(vllm_kv_bytes_per_token(c, 1), 61u * 576);
}

TEST(SafetensorsEstimate, Float32CheckpointsRunIn16Bits) {
  HfModelConfig c = llama3_8b();
  c.torch_dtype = "float32";
  WeightSummary w;
  w.by_dtype["F32"] = {1000, 4000};
  w.total_params = 1000;
  w.total_bytes = 4000;
  auto e = estimate_vllm(c, w, {});
  EXPECT_DOUBLE_EQ(e.weights_mib, 2000.0 / k_mib);
  EXPECT_FALSE(e.notes.empty());
}

TEST(SafetensorsEstimate, FitContextIsTheLargestThatFits) {
  const auto c = llama3_8b();
  const auto w = bf16_weights(8'030'261'248ULL);
  VllmEstimateOptions o;
  const double budget = 24564;
  auto fit = fit_vllm_context(c, w, o, budget);
  ASSERT_TRUE(fit.has_value());
  EXPECT_EQ(*fit % 16, 0u);
  o.context_size = *fit;
  EXPECT_LE(estimate_vllm(c, w, o).total_mib, budget);
  o.context_size = *fit + 16;
  EXPECT_GT(estimate_vllm(c, w, o).total_mib, budget);
  // About (24,564 - 15,317 - 506.5 - 512 - 1,024) MiB / 128 KiB = 57,6xx tokens.
  EXPECT_GT(*fit, 57000u);
  EXPECT_LT(*fit, 58500u);
  EXPECT_FALSE(fit_vllm_context(c, w, {}, 10000).has_value());  // the weights alone do not fit
  // Capped at the training context.
  auto big = fit_vllm_context(c, bf16_weights(1000), {}, 1e9);
  ASSERT_TRUE(big.has_value());
  EXPECT_EQ(*big, 131072u);
}

TEST(SafetensorsEstimate, DtypeMixAndKvDtypeNames) {
  WeightSummary w;
  w.by_dtype["BF16"] = {970, 1940};
  w.by_dtype["F32"] = {15, 60};
  w.by_dtype["I64"] = {0, 0};
  w.total_bytes = 2000;
  EXPECT_EQ(w.dtype_mix(), "BF16 97% + F32 3%");
  EXPECT_EQ(w.main_dtype(), "BF16");
  EXPECT_EQ(bf16_weights(5).dtype_mix(), "BF16");
  w.by_dtype["BF16"] = {999'000, 1'998'000};
  w.by_dtype["F32"] = {500, 2000};
  w.total_bytes = 2'000'000;
  EXPECT_EQ(w.dtype_mix(), "BF16 >99% + F32 <1%");
  EXPECT_EQ(parse_vllm_kv_dtype("fp8").value(), VllmKvDtype::fp8);
  EXPECT_EQ(parse_vllm_kv_dtype("fp8_e4m3").value(), VllmKvDtype::fp8);
  EXPECT_EQ(parse_vllm_kv_dtype("AUTO").value(), VllmKvDtype::auto_dtype);
  EXPECT_EQ(parse_vllm_kv_dtype("bfloat16").value(), VllmKvDtype::bf16);
  EXPECT_FALSE(parse_vllm_kv_dtype("q4_0").has_value());
  EXPECT_EQ(to_string(VllmKvDtype::fp8_e5m2), "fp8_e5m2");
}

}  // namespace
}  // namespace gpumod::core
