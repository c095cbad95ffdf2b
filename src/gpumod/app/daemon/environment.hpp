// The parts of a process's environment that decide what the daemon does: the server binaries it
// launches (resolve_launch: $GPUMOD_LLAMA_SERVER_BIN / $GPUMOD_VLLM_BIN, PATH, the bundled mock)
// and the simulated GPU (--simulate-gpu). The daemon reports its own in /v1/ping ("environment")
// and `gpumod daemon status`; a client compares its own with it (DaemonClient::connect): a value
// the client gives explicitly (the variable set, --simulate-gpu) that differs makes a mutating
// command restart the daemon (services re-adopted, as after a config edit); a difference the
// client did not ask for is only noted.
// Thread-safety: pure over the process environment and PATH.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "gpumod/core/config.hpp"

namespace gpumod::app {

struct DaemonEnvironment {
  std::string llama_server_bin;        // as the drivers get it
  std::string vllm_bin;
  bool llama_explicit = false;         // from $GPUMOD_LLAMA_SERVER_BIN
  bool vllm_explicit = false;          // from $GPUMOD_VLLM_BIN
  std::optional<std::string> simulate_gpu;  // --simulate-gpu NAME:MiB as given
};

// This process's: `config` decides whether the bundled mock may stand in (resolve_launch).
DaemonEnvironment current_environment(const core::Config& config, const std::optional<std::string>& simulate_gpu);
nlohmann::json to_json(const DaemonEnvironment& env);

struct EnvironmentDifference {
  std::string restart_reason;  // explicit values that differ: the daemon must be restarted
  std::string note;            // differences the client did not ask for
};

// `served`: the daemon's /v1/ping "environment" (absent from an older daemon: no difference).
EnvironmentDifference compare_environment(const nlohmann::json& served, const DaemonEnvironment& mine);

}  // namespace gpumod::app
