// The settings a llama-server actually ran with, for the estimator's ground truth: load
// measurements are stored under them (context, KV cache types, flash attention, parallel slots,
// GPU layers, experts on the host, micro-batch), read from the server's argv and then its log
// (which wins: `--fit` or a preset can change what the argv asked for).
// Thread-safety: pure functions.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "gpumod/core/vram_estimator.hpp"

namespace gpumod::core {

// Applies the llama-server flags of `argv` (`--ctx-size N`, `-c N`, `--flag=value`, -ctk, -ctv,
// -fa, -ngl, -np, -ncmoe, -ub) to `o`; unknown flags and bad values are ignored (the server
// already accepted them or refused to start).
void apply_llama_argv(EstimateOptions& o, std::span<const std::string> argv);

// Applies what a llama-server log says it ran with: `n_ctx = N`, `n_seq_max = N`, `flash_attn =
// enabled|disabled|1|0` and the KV types of `llama_kv_cache: ... K (q8_0): ..., V (f16): ...`.
// The last load in the text counts. `model` (non-empty: a router's log) keeps only the lines of
// that model's child, which the router prefixes with "[model] ".
void apply_llama_log(EstimateOptions& o, std::string_view log_text, std::string_view model = {});

}  // namespace gpumod::core
