// Command line of gpumod-mock-server: the llama-server flavour (default), the vLLM flavour
// (`serve MODEL ...`) and a plain HTTP app (`--mock-flavor http`), plus the mock-only flags
// (--mock-*, also read from GPUMOD_MOCK_<NAME> environment variables; a flag wins).
// Thread-safety: plain values; parse_options is a pure function of argv and the environment.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gpumod/util/result.hpp"

namespace gpumod::mock {

enum class Flavor { llama, vllm, http };

enum class Fault {
  crash_on_start,     // abort after the start delay, before binding
  crash_during_load,  // a (router) model load fails; single model / vLLM: the process aborts
  hang_on_load,       // a load never finishes (router status stays "loading")
  http_500,           // control endpoints answer 500
  malformed_json,     // /models, /v1/models and the health endpoint answer broken JSON
  refuse_bind,        // exit 1 with a "couldn't bind" message
  unhealthy,          // the health endpoint answers 503 forever
  crash_after,        // abort crash_after_ms after start
  unhealthy_after,    // the health endpoint answers 503 from unhealthy_after ms after start
  error_after_requests,  // generation/embedding requests after the first N answer 500
  die_mid_stream,     // a streamed answer aborts the process after its first half
};

struct Options {
  Flavor flavor = Flavor::llama;
  std::string host = "127.0.0.1";
  int port = 8080;

  // llama-server
  std::string models_dir;        // router mode when set
  std::string model;             // single-model mode when set
  std::string models_preset;     // INI file of presets (router)
  int models_max = 4;
  bool models_autoload = true;
  std::vector<std::string> aliases;
  int ctx_size = 0;              // 0 = the model's default
  int parallel = 4;
  int sleep_idle_seconds = -1;   // -1 = never
  std::vector<std::string> child_args;  // the model-related flags, as the children would get them

  // vLLM
  std::string served_model_name;
  bool enable_sleep_mode = false;
  int max_model_len = 4096;

  // http app
  std::string health_path = "/health";

  // mock-only
  std::optional<std::int64_t> vram_mib;  // unset: 1024 (llama, vLLM) or 0 (http)
  std::map<std::string, std::int64_t> model_vram_mib;
  std::chrono::milliseconds start_delay{0};
  std::chrono::milliseconds load_delay{0};
  std::chrono::milliseconds unload_delay{0};
  std::chrono::milliseconds sleep_delay{0};
  std::chrono::milliseconds wake_delay{0};
  std::optional<std::int64_t> sleep_residue_mib;  // unset: 0 (llama, http) or 500 (vLLM)
  std::set<Fault> faults;
  std::chrono::milliseconds crash_after{0};
  std::chrono::milliseconds unhealthy_after{0};
  int error_after_requests = 0;
  // Generation timing (0 = instant, the default): a fixed delay before the prompt is processed,
  // then prompt tokens at prompt_tps, then generated tokens at gen_tps, one at a time.
  std::chrono::milliseconds ttft{0};
  std::int64_t prompt_tps = 0;
  std::int64_t gen_tps = 0;
  std::filesystem::path ledger_dir;
  std::filesystem::path ready_file;  // written when the server becomes ready (benchmarks)
  std::chrono::milliseconds chunk_delay{0};  // between the chunks of a streamed answer
  int reply_words = 0;                       // words of the reply (0: the fixed sentence)
  int threads = 0;                           // HTTP worker threads (0: httplib's default)

  bool has(Fault f) const { return faults.contains(f); }
  // True when the health endpoint must fail now (fault unhealthy, or unhealthy-after-ms elapsed).
  bool unhealthy_now() const;
  std::int64_t default_vram_mib() const;
  std::int64_t residue_mib() const;
  bool router() const { return flavor == Flavor::llama && !models_dir.empty(); }
};

// How the process should end after a failed parse: the message for stderr and the exit code
// (1 for llama-server and http, 2 for vLLM, as argparse does).
struct UsageError {
  std::string message;
  int exit_code = 1;
};

using GetEnv = std::function<std::optional<std::string>(const std::string&)>;

// Parses argv (argv[0] included). `get_env` looks up GPUMOD_MOCK_* variables.
std::expected<Options, UsageError> parse_options(const std::vector<std::string>& argv,
                                                 const GetEnv& get_env);

std::string_view to_string(Fault f);
std::string_view to_string(Flavor f);

}  // namespace gpumod::mock
