#include "gpumod/core/fit_prediction.hpp"

#include <algorithm>
#include <cmath>

namespace gpumod::core {
namespace {

bool any_recurrent(const ModelShape& shape) {
  return std::any_of(shape.layers.begin(), shape.layers.end(),
                     [](const LayerShape& l) { return l.recurrent; });
}

bool any_experts(const ModelShape& shape) {
  return std::any_of(shape.layers.begin(), shape.layers.end(),
                     [](const LayerShape& l) { return l.expert_bytes > 0; });
}

// A placement as fit.cpp's ngl_t describes it on one GPU: n_layer layers (the output counts as
// one), n_part of them "overflowing" (routed experts on the host). fit.cpp puts the overrides on
// blk indices n_layer_total + 1 - n_part .. n_layer_total, so the first GPU layer keeps its experts
// and the last index (the output "layer") matches nothing.
struct Placement {
  int n_layer = 0;
  int n_part = 0;
  double first_share = 1.0;  // of the first overflowing layer's experts on the host
};

EstimateOptions with_placement(const ModelShape& shape, EstimateOptions opt, const Placement& p) {
  opt.n_gpu_layers = p.n_layer;
  if (p.n_part > 0) {
    opt.host_experts_from = shape.n_layer + 1 - static_cast<std::uint32_t>(p.n_part);
    opt.host_experts_first_share = p.first_share;
  } else {
    opt.host_experts_from = UINT32_MAX;
    opt.host_experts_first_share = 1.0;
  }
  return opt;
}

double host_expert_layers(const ModelShape& shape, const EstimateOptions& opt) {
  double n = 0;
  for (std::uint32_t il = 0; il < shape.layers.size(); ++il) {
    if (shape.layers[il].expert_bytes == 0) continue;
    if (il < opt.n_cpu_moe) {
      n += 1.0;
    } else if (il >= opt.host_experts_from) {
      n += il == opt.host_experts_from ? opt.host_experts_first_share : 1.0;
    }
  }
  return n;
}

}  // namespace

double fit_test_allocation_mib(const Estimate& e) {
  return e.gpu.weights_mib + e.gpu.kv_mib + e.gpu.recurrent_state_mib + e.gpu.compute_mib;
}

util::Result<FitPrediction> predict_fit(const ModelShape& shape, const EstimateOptions& base,
                                        const FitOptions& fit) {
  if (!(fit.free_mib > 0)) {
    return util::fail(util::ErrorCode::invalid_argument,
                      "free memory for --fit must be a positive number of MiB");
  }
  if (!(fit.margin_mib >= 0)) {
    return util::fail(util::ErrorCode::invalid_argument,
                      "the --fit-target margin must not be negative");
  }
  if (shape.n_layer == 0 || shape.layers.size() != shape.n_layer) {
    return util::fail(util::ErrorCode::invalid_argument,
                      "the model shape has no layers: cannot predict --fit");
  }
  FitPrediction out;
  out.fit_free_mib = fit.free_mib - k_fit_cuda_context_mib -
                     (any_recurrent(shape) ? k_fit_cuda_context_hybrid_extra_mib : 0.0);
  out.fit_budget_mib = out.fit_free_mib - fit.margin_mib;
  const double budget = out.fit_budget_mib;

  EstimateOptions opt = base;
  if (!fit.context_set_by_user) opt.context_size = 0;  // -c unset: the training context
  if (!fit.gpu_layers_set_by_user) opt.n_gpu_layers = -1;
  const auto projected = [&](const EstimateOptions& o) {
    return fit_test_allocation_mib(estimate_vram(shape, o));
  };
  int overflow = 0;
  const auto finish = [&](const EstimateOptions& o) -> util::Result<FitPrediction> {
    out.options = o;
    out.overflow_layers = overflow;
    out.estimate = estimate_vram(shape, o);
    out.context_size = out.estimate.context_size;
    const int total = static_cast<int>(shape.n_layer) + 1;
    out.gpu_layers = o.n_gpu_layers < 0 ? total : std::min(o.n_gpu_layers, total);
    out.host_expert_layers = host_expert_layers(shape, o);
    out.layers_reduced = out.gpu_layers < total || out.host_expert_layers > base.n_cpu_moe;
    out.changed = out.context_reduced || out.layers_reduced;
    out.fit_projected_mib = fit_test_allocation_mib(out.estimate);
    return out;
  };

  // Step 1: nothing to do when the configuration leaves the margin free.
  const double used_full = projected(opt);
  if (used_full <= budget) return finish(opt);

  // Step 2: shrink the context (only when the user left it to the model).
  const std::uint32_t n_ctx_train = shape.n_ctx_train > 0 ? shape.n_ctx_train : 4096;
  if (!fit.context_set_by_user && n_ctx_train > fit.min_context) {
    EstimateOptions at_min = opt;
    at_min.context_size = fit.min_context;
    const double used_min = projected(at_min);
    out.context_reduced = true;
    if (budget > used_min && used_full > used_min) {
      const double span = static_cast<double>(n_ctx_train - fit.min_context);
      auto ctx = static_cast<std::uint64_t>(
          fit.min_context + std::floor(span * (budget - used_min) / (used_full - used_min)));
      ctx -= ctx % k_fit_context_step;
      opt.context_size = static_cast<std::uint32_t>(std::max<std::uint64_t>(ctx, fit.min_context));
      return finish(opt);
    }
    opt.context_size = fit.min_context;
  }
  // fit aborts (keeping the context it set) when the user placed layers or tensors.
  if (fit.gpu_layers_set_by_user || base.n_cpu_moe > 0) return finish(opt);

  // Step 3: layers, back to front.
  const int total = static_cast<int>(shape.n_layer) + 1;
  const bool moe = any_experts(shape);
  const auto mem = [&](const Placement& p) { return projected(with_placement(shape, opt, p)); };
  Placement best{0, 0, 1.0};
  for (int n = total; n >= 1; --n) {  // fit's false-position search ends at the largest that fits
    const Placement p{n, moe ? n - 1 : 0, 1.0};
    if (mem(p) <= budget) {
      best = p;
      break;
    }
  }
  overflow = best.n_part;
  if (!moe) return finish(with_placement(shape, opt, best));

  // Step 4 (MoE): only when all dense weights fit with every expert on the host.
  EstimateOptions all_host = opt;
  all_host.n_gpu_layers = -1;
  all_host.n_cpu_moe = shape.n_layer;
  if (budget - projected(all_host) <= 0) return finish(with_placement(shape, opt, best));
  // Convert overflowing layers to full ones, front to back: the fewest overflowing that fit.
  for (int part = 0; part <= best.n_part; ++part) {
    const Placement p{best.n_layer, part, 1.0};
    if (mem(p) <= budget) {
      best = p;
      break;
    }
  }
  overflow = best.n_part;
  if (best.n_part > 0 && best.n_layer > 1) {
    // Part of one more layer: its ffn_up on the GPU (UP), then ffn_gate too (GATE).
    for (const double share : {2.0 / 3.0, 1.0 / 3.0}) {
      const Placement p{best.n_layer, best.n_part, share};
      if (mem(p) < budget) {
        best = p;
      } else {
        break;
      }
    }
  }
  return finish(with_placement(shape, opt, best));
}

}  // namespace gpumod::core
