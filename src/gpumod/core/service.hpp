// Service: one inference server gpumod manages (a llama-server, a vLLM, an HTTP app, a container),
// as configured by one preset file. Pure data; no I/O.
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumod/core/serve.hpp"

namespace gpumod::core {

enum class DriverKind { llamacpp, vllm, http, docker };       // "fastapi" in YAML reads as http
enum class SleepMode { none, l1, l2, router };
enum class SupervisorKind { process, systemd };
enum class RestartPolicy { never, on_failure, always };

std::string_view to_string(DriverKind kind);
std::string_view to_string(SleepMode mode);
std::string_view to_string(SupervisorKind kind);
std::optional<DriverKind> parse_driver_kind(std::string_view text);   // accepts "fastapi"
std::optional<SleepMode> parse_sleep_mode(std::string_view text);
std::optional<SupervisorKind> parse_supervisor_kind(std::string_view text);
std::string_view to_string(RestartPolicy policy);
std::optional<RestartPolicy> parse_restart_policy(std::string_view text);  // no|never, on-failure, always

// Runtime state of a service, as observed. The reason says why (shown to people).
enum class ServiceState { stopped, starting, running, loading, sleeping, unhealthy, failed, unknown };
std::string_view to_string(ServiceState state);

// Where in a file something was defined; line and column are 1-based (0 = unknown).
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
  std::string to_string() const;  // "file:line:col"
};

struct Service {
  std::string id;
  std::string name;
  DriverKind driver = DriverKind::llamacpp;
  std::optional<int> port;
  std::int64_t vram_mib = 0;                 // the preset's vram_mb (MiB, as nvidia-smi counts)
  std::optional<std::int64_t> context_size;  // tokens
  std::optional<double> kv_cache_per_1k_mib; // MiB per 1,024 tokens of context
  std::string model_id;                      // Hugging Face repo id, or a model registry id
  std::string model_path;                    // a GGUF file or directory ($VAR expanded)
  std::string health_endpoint = "/health";
  std::chrono::seconds startup_timeout{60};
  bool supports_sleep = false;
  SleepMode sleep_mode = SleepMode::none;
  std::string unit_template;
  // unit_vars: scalar values as text ("true", "1", "/models"); nested values as JSON text.
  std::map<std::string, std::string> unit_vars;
  std::vector<std::string> depends_on;
  SupervisorKind supervisor = SupervisorKind::process;
  std::chrono::seconds stop_timeout{30};     // SIGTERM, then SIGKILL after this
  RestartPolicy restart = RestartPolicy::on_failure;
  int max_restarts = 3;                      // restart budget within restart_window
  std::chrono::seconds restart_window{600};
  std::vector<std::string> command;          // explicit argv (http driver, or an override)
  std::map<std::string, std::string> env;    // extra environment for the process
  std::string gpu;                           // GPU UUID or index the service runs on ("" = default)
  ServiceServing serving;                    // aliases, virtual models, ttl_s, pin, ... (serve.hpp)
  SourceLocation defined_at;

  // True when the service can sleep: the driver supports it and sleep_mode is not none.
  bool can_sleep() const;
  // The unit_vars value, if present.
  std::optional<std::string> var(std::string_view key) const;
};

}  // namespace gpumod::core
