#include "gpumod/drivers/unit_var_keys.hpp"

#include <vector>

namespace gpumod::drivers {

std::span<const std::string> known_unit_var_keys(core::DriverKind kind) {
  // llamacpp_driver.cpp (launch_spec, model_settings, static_model_id) and
  // engine/gguf_vram_model.cpp (batch_size, ubatch_size for the estimate).
  static const std::vector<std::string> llamacpp = {
      "alias",       "batch_size",   "cache_type_k",   "cache_type_v",       "context_size",
      "ctx_size",    "cuda_devices", "default_model",  "extra_args",         "fit",
      "flash_attn",  "jinja",        "llamacpp_bin",   "mmap",               "models_autoload",
      "models_dir",  "models_max",   "models_preset",  "n_cpu_moe",          "n_gpu_layers",
      "no_mmap",     "no_models_autoload", "parallel", "preset_file",        "threads",
      "ubatch_size"};
  // vllm_driver.cpp.
  static const std::vector<std::string> vllm = {
      "cuda_devices", "dtype",        "enable_sleep_mode", "enforce_eager", "extra_args",
      "gpu_mem_util", "gpu_memory_utilization", "hf_home", "hf_overrides", "max_model_len",
      "max_num_seqs", "quantization", "runner",       "served_model_name", "task",
      "trust_remote_code", "vllm_bin"};
  // docker_driver.cpp.
  static const std::vector<std::string> docker = {"container_port", "gpus", "image", "mem_limit", "ports",
                                                  "volumes"};
  // http_driver.cpp.
  static const std::vector<std::string> http = {"extra_args"};
  switch (kind) {
    case core::DriverKind::llamacpp: return llamacpp;
    case core::DriverKind::vllm: return vllm;
    case core::DriverKind::docker: return docker;
    default: return http;
  }
}

}  // namespace gpumod::drivers
