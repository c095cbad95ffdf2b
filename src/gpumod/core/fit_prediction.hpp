// Predicts what llama-server's `--fit on` (llama.cpp f535774, common/fit.cpp
// common_params_fit_impl, one GPU) picks for the memory free at start, and the memory the
// server then uses. Fit measures test allocations (weights + KV + recurrent state + compute, no
// runtime) against the free memory the CUDA runtime reports once the process's context exists,
// and keeps a margin (--fit-target, default 1,024 MiB) free:
//   1. nothing changes when the full configuration fits;
//   2. with no -c, the context shrinks (never below --fit-ctx, default 4,096) by linear
//      interpolation between the minimum and the training context, rounded down to 256; done if
//      the interpolation lands above the minimum;
//   3. otherwise, at the minimum (or the user's) context: a dense model gets the most layers
//      (n_layer + 1 counts the output) that fit; a MoE model first its dense weights layer by
//      layer (experts on the host), then, if all dense weights fit, the experts of the front
//      layers, then part of one more layer (ffn_up, then ffn_gate too).
// Our estimator stands in for fit's test allocations. See docs/estimator.md.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "gpumod/core/model_shape.hpp"
#include "gpumod/core/vram_estimator.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::core {

// The CUDA context a llama-server process holds before fit queries the free memory: nvidia-smi's
// free memory minus fit's "free device memory" (H200, driver 580, CUDA 13: 527 MiB; 567 MiB for
// the hybrid nemotron_h_moe), bench/accuracy/fit_measurements.csv.
inline constexpr double k_fit_cuda_context_mib = 527.0;
inline constexpr double k_fit_cuda_context_hybrid_extra_mib = 40.0;
inline constexpr double k_fit_default_margin_mib = 1024.0;    // --fit-target default
inline constexpr std::uint32_t k_fit_default_min_context = 4096;  // --fit-ctx default
inline constexpr std::uint32_t k_fit_context_step = 256;     // fit rounds the context down to it

struct FitOptions {
  double free_mib = 0;                   // free on the GPU before the server starts (nvidia-smi)
  double margin_mib = k_fit_default_margin_mib;
  std::uint32_t min_context = k_fit_default_min_context;
  bool context_set_by_user = false;      // -c given (-c 0 too): fit keeps the context
  bool gpu_layers_set_by_user = false;   // -ngl given: fit stops before moving layers
};

struct FitPrediction {
  bool changed = false;              // fit changed the context or the placement
  bool context_reduced = false;
  bool layers_reduced = false;       // fewer than all layers, or experts on the host
  std::uint32_t context_size = 0;    // the context the server runs with
  int gpu_layers = 0;                // n_gpu_layers as llama.cpp counts (n_layer + 1: all)
  int overflow_layers = 0;           // fit's "N layers (K overflowing)" K (MoE; 0 for dense)
  double host_expert_layers = 0;     // layers' worth of routed experts left on the host
  double fit_free_mib = 0;           // what fit sees free (free_mib minus the CUDA context)
  double fit_budget_mib = 0;         // fit_free_mib - margin: what its test allocations may use
  double fit_projected_mib = 0;      // our test-allocation figure for the chosen configuration
  EstimateOptions options;           // the configuration, for estimate_vram
  Estimate estimate;                 // memory at that configuration (at load, after use)
};

// The sum fit's test allocation reports for a configuration: the GPU buffers without runtime.
double fit_test_allocation_mib(const Estimate& estimate);

// `base` holds the server's other settings (cache types, slots, flash attention, batch sizes;
// context_size when context_set_by_user). Errors: free_mib not positive, margin negative, no
// layers in the shape.
util::Result<FitPrediction> predict_fit(const ModelShape& shape, const EstimateOptions& base,
                                        const FitOptions& fit);

}  // namespace gpumod::core
