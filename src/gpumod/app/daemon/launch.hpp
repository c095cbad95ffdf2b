// Which server binaries the daemon launches: $GPUMOD_LLAMA_SERVER_BIN / $GPUMOD_VLLM_BIN, else
// llama-server / vllm on PATH; for the bundled example (or with GPUMOD_USE_MOCK_SERVERS=1) the
// bundled gpumod-mock-server stands in for whichever is missing, so the demo runs anywhere.
// A preset's unit_vars llamacpp_bin / vllm_bin still win (the driver applies them).
// Thread-safety: pure over the environment and PATH.
#pragma once

#include "gpumod/core/config.hpp"
#include "gpumod/drivers/driver.hpp"

namespace gpumod::app {

struct ResolvedLaunch {
  drivers::LaunchOptions options;
  bool llama_is_mock = false;
  bool vllm_is_mock = false;
};

ResolvedLaunch resolve_launch(const core::Config& config);
drivers::LaunchOptions resolve_launch_options(const core::Config& config);

}  // namespace gpumod::app
