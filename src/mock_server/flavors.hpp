// The three behaviours of gpumod-mock-server. Each runs until SIGTERM/SIGINT (handled by main,
// which calls the stop hook) or a fault, and returns the process exit code.
// Thread-safety: call once, from main.
#pragma once

#include <string>

#include "mock_server/options.hpp"

namespace gpumod::mock {

// llama-server: router mode (--models-dir) or single-model mode (--model).
int run_llama(const Options& options, const std::string& argv0);
// vLLM `serve MODEL` with sleep mode.
int run_vllm(const Options& options);
// A plain HTTP app with a health endpoint.
int run_http(const Options& options);

}  // namespace gpumod::mock
