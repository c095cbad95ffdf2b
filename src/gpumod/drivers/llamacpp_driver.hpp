// The llama.cpp driver: llama-server in single-model mode (--model FILE) or router mode
// (--models-dir D, one child process per loaded model). Builds the argv and the --models-preset
// INI, observes health and model status separately (W9), awaits router loads and unloads until
// they are done (W8), and reads the buffer sizes llama-server prints when a model loads.
// Router services sleep by unloading their model and wake by loading it, both awaited.
// See docs: predecessor-engine.md §3, llama-server-observed.md.
// Thread-safety: LlamaCppDriver is stateless; the free functions are pure or use only the
// DriverContext they are given.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gpumod/drivers/driver.hpp"

namespace gpumod::drivers {

class LlamaCppDriver final : public Driver {
 public:
  core::DriverKind kind() const override { return core::DriverKind::llamacpp; }
  util::Result<LaunchSpec> launch_spec(const core::Service& service,
                                       const LaunchOptions& options) const override;
  Observation observe(const core::Service& service, DriverContext& ctx) const override;
  // Single model: /health answers 200. Router: /health answers 200, then the service's model
  // is loaded (awaited; already loaded is fine), so that "ready" means "serves its model".
  util::Status await_ready(const core::Service& service, DriverContext& ctx,
                           std::chrono::milliseconds timeout) const override;
  // Router only: unloads the service's model (awaited). `level` is ignored.
  util::Status sleep(const core::Service& service, DriverContext& ctx, int level,
                     std::chrono::milliseconds timeout) const override;
  // Router only: loads the service's model (awaited).
  util::Status wake(const core::Service& service, DriverContext& ctx,
                    std::chrono::milliseconds timeout) const override;
};

// Router mode: unit_vars.models_dir is set.
bool is_router(const core::Service& service);

// One model setting as llama-server takes it: `--key value`, or `--key` alone when `flag`.
struct LlamaSetting {
  std::string key;    // long option name without dashes: "ctx-size"
  std::string value;  // "" for flags
  bool flag = false;
};

// The per-model settings of a service (ctx-size, n-gpu-layers, flash-attn, cache types,
// n-cpu-moe, jinja, no-mmap, threads, parallel, alias, fit), validated. Explicit values are
// always passed (n-gpu-layers 999 and fit off by default, so memory use is predictable).
// `router`: no default ctx-size (4096 otherwise) and no alias (children would all share it).
util::Result<std::vector<LlamaSetting>> model_settings(const core::Service& service, bool router);

// The --models-preset INI for router services: a [*] section with the settings every service
// shares, then one [model-id] section per service (model path, ctx-size, cache types, ...).
// No top-level keys: any key outside a section makes a phantom model named "default".
util::Result<std::string> render_models_preset_ini(const std::vector<core::Service>& services);

// The model id a service uses on a router without asking the server: unit_vars.default_model,
// else the file stem of a model_path ending in .gguf. nullopt when neither applies.
std::optional<std::string> static_model_id(const core::Service& service);
// The same, falling back to model_id's repo name (after the last '/', one -GGUF/-gguf suffix
// stripped) matched against the ids the router offers: an exact match (case-insensitive),
// else the only id that contains it. not_found names the candidates.
util::Result<std::string> resolve_model_id(const core::Service& service,
                                           std::span<const std::string> offered_ids);

// Parses a GET /models body: {"data":[...]} or a bare list. corrupt on anything else.
util::Result<std::vector<ModelStatus>> parse_models(std::string_view body);
// GET /models on the server behind ctx.http.
util::Result<std::vector<ModelStatus>> list_models(DriverContext& ctx,
                                                   std::chrono::milliseconds timeout);

// POST /models/load and wait until the model is `loaded`. "model is already running" is success;
// an unknown model (404) is not_found; a failed load (failed flag, back to `unloaded`, or
// "exiting due to model loading error" in the new log lines) is failed with the log tail; the
// deadline passing is timeout naming the model (a real router leaves a model whose file is
// missing in `loading` forever). Follows /models/sse when offered, else polls /models.
util::Status load_model(DriverContext& ctx, std::string_view id, std::chrono::milliseconds timeout);
// POST /models/unload and wait until the model is `unloaded`. "model is not running" is success.
util::Status unload_model(DriverContext& ctx, std::string_view id, std::chrono::milliseconds timeout);

// Buffer sizes one device got when a model loaded, as llama-server logs them.
struct DeviceBuffers {
  double model_mib = 0;
  double kv_mib = 0;       // KV cache (and recurrent-state "RS" buffers)
  double compute_mib = 0;
  double output_mib = 0;
  double total_mib() const { return model_mib + kv_mib + compute_mib + output_mib; }
};
struct BufferSizes {
  std::map<std::string, DeviceBuffers> devices;  // "CUDA0", "CPU_Mapped", "CUDA_Host", "CPU"
  double model_mib = 0, kv_mib = 0, compute_mib = 0, output_mib = 0;  // sums over devices
  // Sum of the buffers on GPU devices (names starting with CUDA, ROCm, Vulkan, Metal, SYCL;
  // host-pinned "*_Host" buffers excluded).
  double gpu_mib() const;
  bool empty() const { return devices.empty(); }
};
// Reads the "<fn>: <device> model|KV|RS|compute|output buffer size = X MiB" lines. When the log
// holds several loads, the last one wins. The memory-breakdown table is ignored.
BufferSizes parse_buffer_sizes(std::string_view log_text);

}  // namespace gpumod::drivers
