// The checks `gpumod config check` adds to the loader's (infra/config), which need the drivers:
//   - every service's launch is built with the driver's own launch_spec (the code a start runs),
//     so a value the start would refuse (ctx_size: abc, n_gpu_layers: -5, cache_type_k: q3) is an
//     error now, with the driver's message;
//   - unit_vars keys no code reads for the service's driver are warnings with a suggestion
//     ("jinjja" -> did you mean 'jinja');
//   - llama.cpp router-mates (one llama-server: same port and models_dir) whose router command
//     lines differ (models_max, flash_attn, ...) are warnings: the router runs with the values of
//     whichever service starts it;
//   - a router's models_dir or a model file that does not exist is a warning (it may appear
//     before the service starts; the switch's preflight refuses it then).
// Thread-safety: pure over the config and the file system (stat only).
#pragma once

#include <string>
#include <vector>

#include "gpumod/core/config.hpp"

namespace gpumod::engine {

struct ReviewFinding {
  core::SourceLocation where;  // the service's preset
  std::string message;
  bool error = false;          // false: a warning
};

std::vector<ReviewFinding> review_config(const core::Config& config);

}  // namespace gpumod::engine
