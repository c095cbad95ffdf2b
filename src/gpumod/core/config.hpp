// Config: everything read from a configuration root (presets, modes, settings), validated.
// Built by infra/config; consumed by every layer above. Pure data.
// Thread-safety: plain values; share as const.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "gpumod/core/mode.hpp"
#include "gpumod/core/serve.hpp"
#include "gpumod/core/service.hpp"

namespace gpumod::core {

// `gpu: {simulate: {name: ..., total_mib: ...}}` in settings, or --simulate-gpu NAME:MiB.
struct SimulatedGpu {
  std::string name;
  std::int64_t total_mib = 0;
  bool only_without_gpu = true;  // false: simulate even when a real GPU is present
};

struct Settings {
  std::optional<SimulatedGpu> simulate_gpu;
  std::int64_t vram_margin_mib = 512;       // admission margin on top of a service's need
  std::string gpu_uuid;                     // pick a device by UUID (empty = index 0)
  // How often the daemon's health monitor looks at running services (100..600000 ms).
  std::chrono::milliseconds health_interval{5000};
  ServeSettings serve;                      // the OpenAI-compatible endpoint (serve.hpp)
};

struct Config {
  std::filesystem::path root;     // the configuration directory
  bool bundled_example = false;   // true when no user config existed and the example was used
  std::vector<Service> services;  // sorted by id
  std::vector<Mode> modes;        // sorted by id
  Settings settings;

  const Service* find_service(std::string_view id) const;
  const Mode* find_mode(std::string_view id) const;
  std::vector<std::string> service_ids() const;
  std::vector<std::string> mode_ids() const;
};

}  // namespace gpumod::core
