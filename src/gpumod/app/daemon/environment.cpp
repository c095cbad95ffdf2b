#include "gpumod/app/daemon/environment.hpp"

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "gpumod/app/daemon/launch.hpp"

namespace gpumod::app {

using nlohmann::json;

namespace {

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0';
}

void differ(EnvironmentDifference& d, bool explicit_here, const std::string& what, const std::string& served,
            const std::string& mine) {
  if (served == mine) return;
  std::string& into = explicit_here ? d.restart_reason : d.note;
  into += (into.empty() ? "" : "; ") + what + " (the daemon: " + (served.empty() ? "none" : served) +
          ", this command: " + (mine.empty() ? "none" : mine) + ")";
}

}  // namespace

DaemonEnvironment current_environment(const core::Config& config, const std::optional<std::string>& simulate_gpu) {
  const auto launch = resolve_launch(config);
  DaemonEnvironment e;
  e.llama_server_bin = launch.options.llama_server_bin;
  e.vllm_bin = launch.options.vllm_bin;
  e.llama_explicit = env_set("GPUMOD_LLAMA_SERVER_BIN");
  e.vllm_explicit = env_set("GPUMOD_VLLM_BIN");
  e.simulate_gpu = simulate_gpu;
  return e;
}

json to_json(const DaemonEnvironment& e) {
  return {{"llama_server_bin", e.llama_server_bin},
          {"vllm_bin", e.vllm_bin},
          {"simulate_gpu", e.simulate_gpu ? json(*e.simulate_gpu) : json(nullptr)}};
}

EnvironmentDifference compare_environment(const json& served, const DaemonEnvironment& mine) {
  EnvironmentDifference d;
  if (!served.is_object()) return d;
  differ(d, mine.llama_explicit, "the llama-server binary", served.value("llama_server_bin", ""), mine.llama_server_bin);
  differ(d, mine.vllm_explicit, "the vLLM binary", served.value("vllm_bin", ""), mine.vllm_bin);
  const std::string served_sim = served.contains("simulate_gpu") && served["simulate_gpu"].is_string()
                                     ? served["simulate_gpu"].get<std::string>()
                                     : "";
  differ(d, mine.simulate_gpu.has_value(), "the simulated GPU (--simulate-gpu)", served_sim, mine.simulate_gpu.value_or(""));
  return d;
}

}  // namespace gpumod::app
