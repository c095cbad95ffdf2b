#include "gpumod/core/vram_estimator.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace gpumod::core {
namespace {

constexpr double k_mib = 1024.0 * 1024.0;

// A llama-style dense F16 model with untied output (the shapes of llama-server-observed.md).
ModelShape llama_f16(std::uint32_t n_layer, std::uint32_t n_embd, std::uint32_t n_head,
                     std::uint32_t n_head_kv, std::uint32_t n_ff, std::uint32_t n_vocab) {
  ModelShape s;
  s.architecture = "llama";
  s.n_layer = n_layer;
  s.n_embd = n_embd;
  s.n_head = n_head;
  s.n_embd_head_k = s.n_embd_head_v = n_embd / n_head;
  s.n_ctx_train = 131072;
  s.n_vocab = n_vocab;
  s.n_ff = n_ff;
  const std::uint64_t kv = std::uint64_t{n_embd} / n_head * n_head_kv;
  const std::uint64_t layer_params = 2ULL * n_embd * n_embd + 2ULL * n_embd * kv + 3ULL * n_embd * n_ff;
  for (std::uint32_t i = 0; i < n_layer; ++i) {
    s.layers.push_back(LayerShape{.n_head = n_head, .n_head_kv = n_head_kv, .n_ff = n_ff,
                                  .weight_bytes = layer_params * 2 + 2ULL * n_embd * 4});
  }
  s.token_embd_bytes = std::uint64_t{n_vocab} * n_embd * 2;
  s.output_bytes = s.token_embd_bytes;
  s.other_bytes = std::uint64_t{n_embd} * 4;
  return s;
}

ModelShape observed_1b() { return llama_f16(16, 2048, 32, 8, 8192, 32064); }
ModelShape observed_3b() { return llama_f16(28, 3072, 24, 8, 8192, 32064); }

// Within 5 % or 256 MiB, as the brief asks; the tests below also pin each part tighter.
void expect_near_observed(double estimate, double observed) {
  EXPECT_LE(std::abs(estimate - observed), std::max(observed * 0.05, 256.0))
      << "estimate " << estimate << " vs observed " << observed;
}

TEST(VramEstimator, Observed1BF16At4k) {
  EstimateOptions o;
  o.context_size = 4096;
  const Estimate e = estimate_vram(observed_1b(), o);
  EXPECT_NEAR(e.gpu.weights_mib, 1981.5, 1.0);      // "GPU model buffer"
  EXPECT_NEAR(e.gpu.kv_mib, 128.0, 0.01);
  EXPECT_NEAR(e.gpu.compute_mib, 66.6, 1.0);
  EXPECT_NEAR(e.host_weights_mib, 125.3, 0.1);      // token_embd on host
  EXPECT_FALSE(e.overhead_measured);
  EXPECT_DOUBLE_EQ(e.gpu.overhead_mib, 590.0);
  EXPECT_EQ(e.source, "header estimate");
  expect_near_observed(e.gpu.total_at_load_mib, 2764);
  EXPECT_NEAR(e.gpu.total_at_load_mib, 2764, 10);
  // After the first request: + 20 MiB of workspaces for a dense model (observed 2,830 on the H100).
  EXPECT_DOUBLE_EQ(e.gpu.total_mib, e.gpu.total_at_load_mib + 20.0);
}

TEST(VramEstimator, Observed3BF16At4kAnd32k) {
  EstimateOptions o;
  o.context_size = 4096;
  Estimate e = estimate_vram(observed_3b(), o);
  EXPECT_NEAR(e.gpu.weights_mib, 5564.5, 1.0);
  EXPECT_NEAR(e.gpu.kv_mib, 448.0, 0.01);
  EXPECT_NEAR(e.gpu.compute_mib, 68.6, 1.0);
  EXPECT_NEAR(e.host_weights_mib, 187.9, 0.1);
  expect_near_observed(e.gpu.total_at_load_mib, 6670);
  EXPECT_NEAR(e.gpu.total_at_load_mib, 6670, 10);

  o.context_size = 32768;
  e = estimate_vram(observed_3b(), o);
  EXPECT_NEAR(e.gpu.kv_mib, 3584.0, 0.01);
  EXPECT_NEAR(e.gpu.compute_mib, 122.6, 3.0);
  expect_near_observed(e.gpu.total_at_load_mib, 9860);
  EXPECT_NEAR(e.gpu.total_at_load_mib, 9860, 10);
}

TEST(VramEstimator, MeasuredOverheadReplacesTheDefault) {
  EstimateOptions o;
  o.runtime_overhead_mib = 310.0;
  const Estimate e = estimate_vram(observed_1b(), o);
  EXPECT_TRUE(e.overhead_measured);
  EXPECT_DOUBLE_EQ(e.gpu.overhead_mib, 310.0);
}

TEST(VramEstimator, ContextIsPaddedTo256AndZeroMeansTraining) {
  EstimateOptions o;
  o.context_size = 4000;
  EXPECT_EQ(estimate_vram(observed_1b(), o).context_size, 4096u);
  o.context_size = 0;
  EXPECT_EQ(estimate_vram(observed_1b(), o).context_size, 131072u);
}

TEST(VramEstimator, QuantizedCacheTypes) {
  EstimateOptions o;
  o.context_size = 4096;
  o.cache_type_k = KvCacheType::q8_0;
  o.cache_type_v = KvCacheType::q4_0;
  const Estimate e = estimate_vram(observed_1b(), o);
  // 16 layers x 4096 cells x 512 wide: K q8_0 34/32 B, V q4_0 18/32 B per element.
  const double expected = 16.0 * 4096 * (512.0 / 32 * 34 + 512.0 / 32 * 18) / k_mib;
  EXPECT_NEAR(e.gpu.kv_mib, expected, 1e-6);
  EXPECT_EQ(parse_kv_cache_type("Q8_0").value(), KvCacheType::q8_0);
  EXPECT_EQ(parse_kv_cache_type("iq4_nl").value(), KvCacheType::iq4_nl);
  const auto bad = parse_kv_cache_type("q8");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, util::ErrorCode::invalid_argument);
}

TEST(VramEstimator, PerLayerHeadCountsAndExplicitKeyLengths) {
  ModelShape s = observed_1b();
  s.n_embd_head_k = 192;
  s.n_embd_head_v = 128;
  s.layers[0].n_head_kv = 0;  // no KV for this layer
  s.layers[1].n_head_kv = 2;
  EstimateOptions o;
  o.context_size = 1024;
  const Estimate e = estimate_vram(s, o);
  const double per_head = (192.0 + 128.0) * 2 * 1024;  // bytes per head per layer (f16)
  EXPECT_NEAR(e.gpu.kv_mib, (14 * 8 + 2) * per_head / k_mib, 1e-6);
}

TEST(VramEstimator, SlidingWindowLayersHoldTheWindowOnly) {
  ModelShape s = observed_1b();
  s.n_swa = 1024;
  for (std::uint32_t i = 0; i < s.n_layer; ++i) s.layers[i].swa = (i % 4) != 3;  // 12 SWA, 4 full
  EstimateOptions o;
  o.context_size = 32768;
  const Estimate e = estimate_vram(s, o);
  // SWA cells: pad256(min(32768, 1024 * 4 seqs + 512)) = 4608.
  const double row = 512.0 * 2 * 2;  // K+V bytes per cell per layer
  EXPECT_NEAR(e.gpu.kv_mib, (4 * 32768.0 + 12 * 4608.0) * row / k_mib, 1e-6);
  o.swa_full = true;
  EXPECT_NEAR(estimate_vram(s, o).gpu.kv_mib, 16 * 32768.0 * row / k_mib, 1e-6);
}

TEST(VramEstimator, MlaCachesLatentPlusRopeAndNoV) {
  ModelShape s = observed_1b();
  s.mla = true;
  s.kv_lora_rank = 512;
  s.n_rot = 64;
  for (auto& l : s.layers) l.n_head_kv = 1;
  EstimateOptions o;
  o.context_size = 8192;
  EXPECT_NEAR(estimate_vram(s, o).gpu.kv_mib, 16 * 8192.0 * 576 * 2 / k_mib, 1e-6);
}

TEST(VramEstimator, PartialOffloadKeepsFirstLayersOnHost) {
  const ModelShape s = observed_1b();
  EstimateOptions o;
  o.n_gpu_layers = 8;  // the last 7 layers plus the output (llama.cpp counts the output)
  const Estimate e = estimate_vram(s, o);
  EXPECT_EQ(e.gpu_layers, 7u);
  EXPECT_TRUE(e.output_on_gpu);
  EXPECT_NEAR(e.gpu.kv_mib, 128.0 * 7 / 16, 1e-6);
  o.n_gpu_layers = 0;
  const Estimate none = estimate_vram(s, o);
  EXPECT_EQ(none.gpu_layers, 0u);
  EXPECT_FALSE(none.output_on_gpu);
  // Nothing offloaded still takes the CUDA runtime and a compute buffer for the batches the
  // scheduler runs on the GPU (H200: 652 MiB at load for this shape at 32k, 4 slots).
  EXPECT_DOUBLE_EQ(none.gpu.weights_mib, 0.0);
  EXPECT_DOUBLE_EQ(none.gpu.kv_mib, 0.0);
  EXPECT_GT(none.gpu.compute_mib, 60.0);
  EXPECT_DOUBLE_EQ(none.gpu.overhead_mib, 590.0 - 70.0);
  EXPECT_GT(none.host_mib, 2000.0);
}

TEST(VramEstimator, TiedOutputLoadsACopyOnTheGpu) {
  ModelShape s = observed_1b();
  s.output_bytes = 0;
  s.output_tied = true;
  const Estimate e = estimate_vram(s, EstimateOptions{});
  EXPECT_NEAR(e.gpu.weights_mib, 1981.5, 1.0);
  EXPECT_NEAR(e.host_weights_mib, 125.25, 0.01);
}

// Nemotron-3-Nano-30B-A3B (nemotron_h_moe), hyperparameters from its config.json:
// 52 layers "MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME" (23 Mamba2, 23 MoE,
// 6 attention), n_embd 2688, 32 heads of 128, 2 KV heads, 128 experts (6 used) of 1856 plus a
// shared expert of 3712, Mamba2: 64 heads x 64, state 128, 8 groups, conv 4; vocab 131072.
// Bytes: the UD-Q4_K_XL file is 21.3 GB over 31.57 B parameters; spread at that average rate.
ModelShape nemotron_nano() {
  const std::string pattern = "MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME";
  ModelShape s;
  s.architecture = "nemotron_h_moe";
  s.n_layer = 52;
  s.n_embd = 2688;
  s.n_head = 32;
  s.n_embd_head_k = s.n_embd_head_v = 128;
  s.n_ctx_train = 262144;
  s.n_vocab = 131072;
  s.n_ff = 1856;
  s.n_expert = 128;
  s.n_expert_used = 6;
  s.n_ff_exp = 1856;
  s.ssm_d_conv = 4;
  s.ssm_d_inner = 4096;
  s.ssm_d_state = 128;
  s.ssm_n_group = 8;
  s.ssm_dt_rank = 64;
  const double d_in_proj = 2 * 4096 + 2 * 8 * 128 + 64;
  const double mamba = 2688 * d_in_proj + 4 * 6144 + 4096 * 2688.0;
  const double attn = 2688 * 4096 * 2.0 + 2688 * 256 * 2.0;
  const double experts = 2.0 * 2688 * 1856 * 128;
  const double moe_rest = 2.0 * 2688 * 3712 + 2688 * 128.0;
  const double embd = 131072.0 * 2688;
  const double params = 23 * mamba + 6 * attn + 23 * (experts + moe_rest) + 2 * embd;
  const double rate = 21.3e9 / params;  // bytes per parameter
  for (char c : pattern) {
    LayerShape l;
    if (c == 'M') {
      l.recurrent = true;
      l.weight_bytes = static_cast<std::uint64_t>(mamba * rate);
    } else if (c == '*') {
      l.n_head = 32;
      l.n_head_kv = 2;
      l.weight_bytes = static_cast<std::uint64_t>(attn * rate);
    } else {
      l.n_ff = 1856;
      l.weight_bytes = static_cast<std::uint64_t>(moe_rest * rate);
      l.expert_bytes = static_cast<std::uint64_t>(experts * rate);
    }
    s.layers.push_back(l);
  }
  s.token_embd_bytes = s.output_bytes = static_cast<std::uint64_t>(embd * rate);
  return s;
}

TEST(VramEstimator, NemotronNanoHybridMoe) {
  const ModelShape s = nemotron_nano();
  EXPECT_EQ(s.n_attention_layers(), 6u);
  EXPECT_EQ(s.n_recurrent_layers(), 23u);
  EstimateOptions o;
  o.context_size = 8192;
  const Estimate e = estimate_vram(s, o);
  // KV: 6 layers x 8192 x 2 heads x (128 + 128) x 2 bytes = 48 MiB.
  EXPECT_NEAR(e.gpu.kv_mib, 48.0, 1e-6);
  // Recurrent state: 23 layers x 4 sequences x 542,720 floats x 4 bytes.
  EXPECT_NEAR(e.gpu.recurrent_state_mib, 23.0 * 4 * 542720 * 4 / k_mib, 1e-6);
  // Measured on an RTX 4090: 20,008 MiB. The estimate is ~5.8 % above (see docs/estimator.md:
  // the weights alone, spread from the 21.3 GB file, are ~20,086 MiB).
  EXPECT_LE(std::abs(e.gpu.total_mib - 20008.0), 20008.0 * 0.07) << e.gpu.total_mib;

  // Keeping the experts of all layers on the host moves ~19 GiB off the GPU.
  o.n_cpu_moe = 52;
  const Estimate cpu_moe = estimate_vram(s, o);
  EXPECT_LT(cpu_moe.gpu.weights_mib, 1500.0);
  EXPECT_GT(cpu_moe.host_weights_mib, 18000.0);
}

TEST(VramEstimator, FitContextFindsTheLargestMultipleOf256) {
  const ModelShape s = observed_3b();
  EstimateOptions o;
  const auto ctx = fit_context(s, o, 9860.0);
  ASSERT_TRUE(ctx);
  EXPECT_EQ(*ctx % 256, 0u);
  o.context_size = *ctx;
  EXPECT_LE(estimate_vram(s, o).gpu.total_mib, 9860.0);
  o.context_size = *ctx + 256;
  EXPECT_GT(estimate_vram(s, o).gpu.total_mib, 9860.0);
  EXPECT_NEAR(static_cast<double>(*ctx), 32768.0, 512.0);
  EXPECT_FALSE(fit_context(s, EstimateOptions{}, 5000.0));
  // A budget above everything returns the training context.
  EXPECT_EQ(fit_context(s, EstimateOptions{}, 1e9), 131072u);
}

TEST(VramEstimator, FitGpuLayersFindsTheMostThatFit) {
  const ModelShape s = observed_3b();
  EstimateOptions o;
  EXPECT_EQ(fit_gpu_layers(s, o, 1e9), 29);  // all 28 layers and the output
  const auto n = fit_gpu_layers(s, o, 4000.0);
  ASSERT_TRUE(n);
  EXPECT_GT(*n, 0);
  EXPECT_LT(*n, 29);
  o.n_gpu_layers = *n;
  EXPECT_LE(estimate_vram(s, o).gpu.total_mib, 4000.0);
  o.n_gpu_layers = *n + 1;
  EXPECT_GT(estimate_vram(s, o).gpu.total_mib, 4000.0);
}

// The H200 rows of bench/accuracy/measurements.csv (llama.cpp f535774, -np 4 given, so one KV
// stream per slot): the 1.1 B llama shape in q8_0 (16 layers, n_embd 2048, 32/8 heads, n_ff 8192).
ModelShape h200_llama_q8() {
  ModelShape s = observed_1b();
  for (auto& l : s.layers) l.weight_bytes = l.weight_bytes / 2 / 32 * 34;
  s.output_bytes = s.output_bytes / 2 / 32 * 34;
  s.token_embd_bytes = s.token_embd_bytes / 2 / 32 * 34;
  return s;
}

struct H200Row {
  std::uint32_t ctx;
  KvCacheType kv;
  bool fa;
  int ngl;
  std::uint32_t parallel;
  double compute_mib;      // the server's CUDA0 compute buffer
  double at_load_mib;      // nvidia-smi, process, at /health
  double after_prompt_mib; // after a 3000-token prompt
};

// Issue 18's bar: within 3 % or 128 MiB of the memory after a long prompt, never low by > 64 MiB.
void expect_within_issue_18(double estimate, double measured) {
  const double d = estimate - measured;
  EXPECT_TRUE(std::abs(d) <= std::max(128.0, 0.03 * measured)) << estimate << " vs " << measured;
  EXPECT_GE(d, -64.0) << estimate << " vs " << measured;
}

TEST(VramEstimator, H200DenseRowsAfterALongPrompt) {
  const ModelShape s = h200_llama_q8();
  const std::vector<H200Row> rows{
      {32768, KvCacheType::f16, true, -1, 4, 90.64, 2756, 2770},
      {131072, KvCacheType::f16, true, -1, 4, 118.62, 5856, 5870},
      {32768, KvCacheType::f16, true, -1, 1, 118.62, 2784, 2798},
      {32768, KvCacheType::q8_0, true, -1, 4, 70.62, 2354, 2368},
      {32768, KvCacheType::f16, false, -1, 4, 546.01, 3212, 3364},
      {32768, KvCacheType::f16, true, 8, 4, 100.25, 1636, 1650},
      {131072, KvCacheType::q8_0, true, 8, 4, 248.27, 2386, 2404},
      {32768, KvCacheType::f16, true, 0, 4, 133.16, 652, 734},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE("ctx " + std::to_string(r.ctx) + " ngl " + std::to_string(r.ngl) + " np " +
                 std::to_string(r.parallel) + (r.fa ? " fa on" : " fa off"));
    EstimateOptions o;
    o.context_size = r.ctx;
    o.cache_type_k = o.cache_type_v = r.kv;
    o.flash_attn = r.fa;
    o.n_gpu_layers = r.ngl;
    o.n_parallel = r.parallel;
    o.kv_unified = false;
    const Estimate e = estimate_vram(s, o);
    EXPECT_NEAR(e.gpu.compute_mib, r.compute_mib, 64.0);
    EXPECT_NEAR(e.gpu.total_at_load_mib, r.at_load_mib, std::max(128.0, 0.03 * r.at_load_mib));
    expect_within_issue_18(e.gpu.total_mib, r.after_prompt_mib);
  }
}

TEST(VramEstimator, PartialOffloadGrowsTheComputeBuffer) {
  // 131,072 cells with f16 KV and one layer on the GPU: the server's compute buffer was 652 MiB,
  // against 119 MiB fully offloaded (bench/accuracy/fit_measurements.csv, row 5).
  const ModelShape s = h200_llama_q8();
  EstimateOptions o;
  o.context_size = 131072;
  o.kv_unified = false;
  const double full = estimate_vram(s, o).gpu.compute_mib;
  o.n_gpu_layers = 2;
  const double partial = estimate_vram(s, o).gpu.compute_mib;
  EXPECT_NEAR(full, 118.62, 64.0);
  EXPECT_NEAR(partial, 652.25, 64.0);
  // A quantized K cache halves what is copied up (248 MiB measured with q8_0 at ngl 8).
  o.cache_type_k = o.cache_type_v = KvCacheType::q8_0;
  o.n_gpu_layers = 8;
  EXPECT_NEAR(estimate_vram(s, o).gpu.compute_mib, 248.27, 64.0);
}

TEST(VramEstimator, NonUnifiedSlotsSplitTheCache) {
  // -np 4 given: four streams of ctx / 4 cells; the KV total is the same, the compute buffer
  // attends over one stream.
  const ModelShape s = h200_llama_q8();
  EstimateOptions o;
  o.context_size = 131072;
  const Estimate unified = estimate_vram(s, o);
  o.kv_unified = false;
  const Estimate split = estimate_vram(s, o);
  EXPECT_DOUBLE_EQ(unified.gpu.kv_mib, split.gpu.kv_mib);
  EXPECT_LT(split.gpu.compute_mib, unified.gpu.compute_mib);
}

TEST(VramEstimator, RuntimeTermsByFamily) {
  RuntimeTerms t;
  EXPECT_DOUBLE_EQ(first_request_workspace_mib(t), 20.0);   // dense, flash attention
  t.moe = true;
  EXPECT_DOUBLE_EQ(first_request_workspace_mib(t), 76.0);
  t.hybrid = t.host_recurrent = true;
  EXPECT_DOUBLE_EQ(first_request_workspace_mib(t), 120.0);
  t.quantized_kv = true;
  EXPECT_DOUBLE_EQ(first_request_workspace_mib(t), 30.0);
  EXPECT_DOUBLE_EQ(load_overhead_adjust_mib(t), 98.0);
  t.flash_attn = false;
  EXPECT_DOUBLE_EQ(first_request_workspace_mib(t), 150.0);
  t.nothing_offloaded = true;
  EXPECT_DOUBLE_EQ(first_request_workspace_mib(t), 190.0);
  EXPECT_DOUBLE_EQ(load_overhead_adjust_mib(t), 98.0 - 70.0);
}

}  // namespace
}  // namespace gpumod::core
