#include "mock_server/options.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <set>

#include "gpumod/util/strings.hpp"

namespace gpumod::mock {
namespace {

using Err = std::unexpected<UsageError>;

constexpr std::int64_t k_max_mib = 16LL * 1024 * 1024;  // 16 TiB: far beyond any GPU
constexpr std::int64_t k_max_ms = 24LL * 3600 * 1000;

// The mock-only flags; each also reads GPUMOD_MOCK_<NAME> (upper snake case of the part after
// "--mock-"). Repeatable ones accept a comma-separated list in the environment.
constexpr std::array<std::string_view, 22> k_mock_flags = {
    "--mock-flavor",         "--mock-health-path",   "--mock-vram-mib",
    "--mock-model-vram",     "--mock-start-delay-ms", "--mock-load-delay-ms",
    "--mock-unload-delay-ms", "--mock-sleep-delay-ms", "--mock-wake-delay-ms",
    "--mock-sleep-residue-mib", "--mock-fault",       "--mock-ledger-dir",
    "--mock-crash-after-ms", "--mock-model-vram-mib", "--mock-faults",
    "--mock-ready-file", "--mock-ttft-ms", "--mock-prompt-tps", "--mock-gen-tps", "--mock-chunk-delay-ms",
    "--mock-reply-words", "--mock-threads"};

bool is_repeatable(std::string_view flag) {
  return flag == "--mock-model-vram" || flag == "--mock-fault";
}

std::string env_name(std::string_view flag) {
  std::string out = "GPUMOD_MOCK_";
  for (char c : flag.substr(7)) out += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return out;
}

std::optional<std::string> parse_fault(std::string_view text, Options& o) {
  const std::string t = util::to_lower(util::trim(text));
  static const std::map<std::string, Fault, std::less<>> names = {
      {"crash-on-start", Fault::crash_on_start}, {"crash-during-load", Fault::crash_during_load},
      {"hang-on-load", Fault::hang_on_load},     {"http-500", Fault::http_500},
      {"malformed-json", Fault::malformed_json}, {"refuse-bind", Fault::refuse_bind},
      {"unhealthy", Fault::unhealthy},           {"die-mid-stream", Fault::die_mid_stream}};
  if (auto it = names.find(t); it != names.end()) {
    o.faults.insert(it->second);
    return std::nullopt;
  }
  if (util::starts_with(t, "crash-after-ms=")) {
    auto ms = util::parse_int(std::string_view(t).substr(15), 0, k_max_ms, "crash-after-ms");
    if (!ms) return ms.error().message;
    o.faults.insert(Fault::crash_after);
    o.crash_after = std::chrono::milliseconds(*ms);
    return std::nullopt;
  }
  if (util::starts_with(t, "unhealthy-after-ms=")) {
    auto ms = util::parse_int(std::string_view(t).substr(19), 0, k_max_ms, "unhealthy-after-ms");
    if (!ms) return ms.error().message;
    o.faults.insert(Fault::unhealthy_after);
    o.unhealthy_after = std::chrono::milliseconds(*ms);
    return std::nullopt;
  }
  if (util::starts_with(t, "error-after-requests=")) {
    auto n = util::parse_int(std::string_view(t).substr(21), 0, 1000000, "error-after-requests");
    if (!n) return n.error().message;
    o.faults.insert(Fault::error_after_requests);
    o.error_after_requests = static_cast<int>(*n);
    return std::nullopt;
  }
  return "unknown fault '" + t +
         "' (known: crash-on-start, crash-during-load, hang-on-load, http-500, malformed-json, "
         "refuse-bind, unhealthy, die-mid-stream, crash-after-ms=N, unhealthy-after-ms=N, error-after-requests=N)";
}

// Applies one mock flag; returns an error message on bad input.
std::optional<std::string> apply_mock(std::string_view flag, const std::string& value, Options& o) {
  auto int_value = [&](std::int64_t max) { return util::parse_int(value, 0, max, flag); };
  auto ms_value = [&](std::chrono::milliseconds& out) -> std::optional<std::string> {
    auto v = int_value(k_max_ms);
    if (!v) return v.error().message;
    out = std::chrono::milliseconds(*v);
    return std::nullopt;
  };
  if (flag == "--mock-flavor") {
    if (value == "llama" || value == "llama-server") o.flavor = Flavor::llama;
    else if (value == "vllm") o.flavor = Flavor::vllm;
    else if (value == "http") o.flavor = Flavor::http;
    else return "--mock-flavor: expected llama, vllm or http, got '" + value + "'";
    return std::nullopt;
  }
  if (flag == "--mock-health-path") {
    if (value.empty() || value[0] != '/') return "--mock-health-path: must start with '/'";
    o.health_path = value;
    return std::nullopt;
  }
  if (flag == "--mock-vram-mib") {
    auto v = int_value(k_max_mib);
    if (!v) return v.error().message;
    o.vram_mib = *v;
    return std::nullopt;
  }
  if (flag == "--mock-sleep-residue-mib") {
    auto v = int_value(k_max_mib);
    if (!v) return v.error().message;
    o.sleep_residue_mib = *v;
    return std::nullopt;
  }
  if (flag == "--mock-model-vram" || flag == "--mock-model-vram-mib") {
    for (const auto& item : util::split(value, ',')) {
      const auto t = std::string(util::trim(item));
      if (t.empty()) continue;
      const auto eq = t.rfind('=');
      if (eq == std::string::npos || eq == 0)
        return std::string(flag) + ": expected NAME=MiB, got '" + t + "'";
      auto v = util::parse_int(std::string_view(t).substr(eq + 1), 0, k_max_mib, flag);
      if (!v) return v.error().message;
      o.model_vram_mib[t.substr(0, eq)] = *v;
    }
    return std::nullopt;
  }
  if (flag == "--mock-fault" || flag == "--mock-faults") {
    for (const auto& item : util::split(value, ',')) {
      if (util::trim(item).empty()) continue;
      if (auto e = parse_fault(item, o)) return "--mock-fault: " + *e;
    }
    return std::nullopt;
  }
  if (flag == "--mock-crash-after-ms") {
    auto e = ms_value(o.crash_after);
    if (!e) o.faults.insert(Fault::crash_after);
    return e;
  }
  if (flag == "--mock-start-delay-ms") return ms_value(o.start_delay);
  if (flag == "--mock-load-delay-ms") return ms_value(o.load_delay);
  if (flag == "--mock-unload-delay-ms") return ms_value(o.unload_delay);
  if (flag == "--mock-sleep-delay-ms") return ms_value(o.sleep_delay);
  if (flag == "--mock-wake-delay-ms") return ms_value(o.wake_delay);
  if (flag == "--mock-ttft-ms") return ms_value(o.ttft);
  if (flag == "--mock-prompt-tps" || flag == "--mock-gen-tps") {
    auto v = int_value(100000000);
    if (!v) return v.error().message;
    (flag == "--mock-prompt-tps" ? o.prompt_tps : o.gen_tps) = *v;
    return std::nullopt;
  }
  if (flag == "--mock-chunk-delay-ms") return ms_value(o.chunk_delay);
  if (flag == "--mock-threads") {
    auto v = int_value(4096);
    if (!v) return v.error().message;
    o.threads = static_cast<int>(*v);
    return std::nullopt;
  }
  if (flag == "--mock-reply-words") {
    auto v = int_value(100000);
    if (!v) return v.error().message;
    o.reply_words = static_cast<int>(*v);
    return std::nullopt;
  }
  if (flag == "--mock-ready-file") {
    if (value.empty()) return "--mock-ready-file: empty path";
    o.ready_file = value;
    return std::nullopt;
  }
  if (flag == "--mock-ledger-dir") {
    if (value.empty()) return "--mock-ledger-dir: empty path";
    o.ledger_dir = value;
    return std::nullopt;
  }
  return "unknown mock flag " + std::string(flag);
}

bool is_mock_flag(std::string_view a) {
  return std::find(k_mock_flags.begin(), k_mock_flags.end(), a) != k_mock_flags.end();
}

// llama-server flags that take a value / that do not.
const std::set<std::string, std::less<>>& llama_value_flags() {
  static const std::set<std::string, std::less<>> s = {
      "--host", "--port", "--models-dir", "--model", "-m", "--models-max", "--models-preset",
      "--ctx-size", "-c", "--n-gpu-layers", "-ngl", "--gpu-layers", "--flash-attn", "-fa",
      "--cache-type-k", "-ctk", "--cache-type-v", "-ctv", "--n-cpu-moe", "-ncmoe", "--fit",
      "--alias", "-a", "--parallel", "-np", "--batch-size", "-b", "--ubatch-size", "-ub",
      "--threads", "-t", "--sleep-idle-seconds", "--api-key", "--chat-template",
      "--temp", "--top-k", "--top-p", "--min-p", "--seed", "--n-predict", "-n"};
  return s;
}
const std::set<std::string, std::less<>>& llama_switch_flags() {
  static const std::set<std::string, std::less<>> s = {
      "--no-models-autoload", "--models-autoload", "--jinja", "--no-jinja", "--mmap", "--no-mmap",
      "--no-warmup", "--metrics", "--no-webui", "--verbose", "-v", "--log-timestamps", "--cont-batching",
      "--no-cont-batching", "--embedding", "--embeddings", "--mlock"};
  return s;
}

std::expected<Options, UsageError> parse_llama(const std::vector<std::string>& args, Options o) {
  auto bad = [](std::string msg) {
    return Err(UsageError{util::starts_with(msg, "error") ? std::move(msg) : "error: " + msg, 1});
  };
  std::set<std::string> repeat_seen;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= args.size()) return std::nullopt;
      return args[++i];
    };
    if (is_mock_flag(a)) {
      auto v = value();
      if (!v) return bad("error while handling argument \"" + a + "\": expected value for argument");
      if (is_repeatable(a) && repeat_seen.insert(a).second) {
        if (a == "--mock-fault") o.faults.clear();
        else o.model_vram_mib.clear();
      }
      if (auto e = apply_mock(a, *v, o)) return bad(*e);
      continue;
    }
    if (llama_switch_flags().contains(a)) {
      if (a == "--no-models-autoload") o.models_autoload = false;
      else if (a == "--models-autoload") o.models_autoload = true;
      else o.child_args.push_back(a);
      continue;
    }
    if (!llama_value_flags().contains(a)) return bad("invalid argument: " + a);
    auto v = value();
    if (!v) return bad("error while handling argument \"" + a + "\": expected value for argument");
    auto int_arg = [&](std::int64_t min, std::int64_t max) -> std::expected<int, UsageError> {
      auto n = util::parse_int(*v, min, max, a);
      if (!n) return Err(UsageError{"error while handling argument \"" + a + "\": " + n.error().message, 1});
      return static_cast<int>(*n);
    };
    if (a == "--host") { o.host = *v; continue; }
    if (a == "--port") {
      auto n = int_arg(0, 65535);
      if (!n) return Err(n.error());
      o.port = *n;
      continue;
    }
    if (a == "--models-dir") { o.models_dir = *v; continue; }
    if (a == "--model" || a == "-m") { o.model = *v; continue; }
    if (a == "--models-preset") { o.models_preset = *v; continue; }
    if (a == "--models-max") {
      auto n = int_arg(0, 1024);
      if (!n) return Err(n.error());
      o.models_max = *n;
      continue;
    }
    if (a == "--alias" || a == "-a") {
      for (const auto& s : util::split(*v, ',')) o.aliases.emplace_back(util::trim(s));
      continue;
    }
    if (a == "--sleep-idle-seconds") {
      auto n = int_arg(-1, 1'000'000);
      if (!n) return Err(n.error());
      o.sleep_idle_seconds = *n;
    } else if (a == "--ctx-size" || a == "-c") {
      auto n = int_arg(0, 1 << 24);
      if (!n) return Err(n.error());
      o.ctx_size = *n;
    } else if (a == "--parallel" || a == "-np") {
      auto n = int_arg(-1, 4096);
      if (!n) return Err(n.error());
      if (*n > 0) o.parallel = *n;
    } else if (a == "--flash-attn" || a == "-fa") {
      if (*v != "on" && *v != "off" && *v != "auto")
        return bad("error while handling argument \"" + a + "\": unknown value for --flash-attn: '" + *v + "'");
    } else if (a == "--fit") {
      if (*v != "on" && *v != "off")
        return bad("error while handling argument \"--fit\": unknown value for --fit: '" + *v + "'");
    } else if (a == "--n-gpu-layers" || a == "-ngl" || a == "--gpu-layers" || a == "--n-cpu-moe" ||
               a == "-ncmoe" || a == "--batch-size" || a == "-b" || a == "--ubatch-size" ||
               a == "-ub" || a == "--threads" || a == "-t") {
      if (*v != "auto" && *v != "all") {
        auto n = int_arg(-1, 1 << 24);
        if (!n) return Err(n.error());
      }
    }
    o.child_args.push_back(a);
    o.child_args.push_back(*v);
  }
  if (!o.models_dir.empty() && !o.model.empty())
    return bad("--models-dir and --model cannot be used together");
  return o;
}

std::expected<Options, UsageError> parse_vllm(const std::vector<std::string>& args, Options o) {
  auto bad = [](std::string msg) {
    return Err(UsageError{"usage: vllm serve [model_tag] [options]\nvllm serve: error: " + std::move(msg), 2});
  };
  o.port = 8000;
  static const std::set<std::string, std::less<>> value_flags = {
      "--host", "--port", "--gpu-memory-utilization", "--max-model-len", "--max-num-seqs", "--dtype",
      "--task", "--runner", "--served-model-name", "--tensor-parallel-size", "-tp", "--quantization",
      "--kv-cache-dtype", "--api-key", "--seed", "--max-num-batched-tokens", "--model", "--tokenizer",
      "--download-dir", "--swap-space", "--uvicorn-log-level", "--convert", "--hf-overrides"};
  static const std::set<std::string, std::less<>> switch_flags = {
      "--enable-sleep-mode", "--enforce-eager", "--trust-remote-code", "--disable-log-requests",
      "--enable-prefix-caching", "--no-enable-prefix-caching", "--enable-chunked-prefill",
      "--disable-log-stats", "--enable-auto-tool-choice"};
  std::set<std::string> repeat_seen;
  std::string positional;
  for (std::size_t i = 2; i < args.size(); ++i) {
    std::string a = args[i];
    std::optional<std::string> inline_value;
    if (util::starts_with(a, "--")) {
      if (auto eq = a.find('='); eq != std::string::npos) {
        inline_value = a.substr(eq + 1);
        a = a.substr(0, eq);
      }
    } else if (a.empty() || a[0] != '-') {
      if (!positional.empty()) return bad("unrecognized arguments: " + a);
      positional = a;
      continue;
    }
    auto value = [&]() -> std::optional<std::string> {
      if (inline_value) return inline_value;
      if (i + 1 >= args.size()) return std::nullopt;
      return args[++i];
    };
    if (is_mock_flag(a)) {
      auto v = value();
      if (!v) return bad("argument " + a + ": expected one argument");
      if (is_repeatable(a) && repeat_seen.insert(a).second) {
        if (a == "--mock-fault") o.faults.clear();
        else o.model_vram_mib.clear();
      }
      if (auto e = apply_mock(a, *v, o)) return bad(*e);
      continue;
    }
    if (switch_flags.contains(a)) {
      if (a == "--enable-sleep-mode") o.enable_sleep_mode = true;
      continue;
    }
    if (!value_flags.contains(a)) return bad("unrecognized arguments: " + a);
    auto v = value();
    if (!v) return bad("argument " + a + ": expected one argument");
    if (a == "--host") {
      o.host = *v;
    } else if (a == "--port") {
      auto n = util::parse_int(*v, 0, 65535, "--port");
      if (!n) return bad("argument --port: invalid int value: '" + *v + "'");
      o.port = static_cast<int>(*n);
    } else if (a == "--max-model-len") {
      auto n = util::parse_int(*v, 1, 1 << 26, "--max-model-len");
      if (!n) return bad("argument --max-model-len: invalid int value: '" + *v + "'");
      o.max_model_len = static_cast<int>(*n);
    } else if (a == "--served-model-name") {
      o.served_model_name = *v;
    } else if (a == "--model") {
      positional = *v;
    } else if (a == "--gpu-memory-utilization") {
      char* end = nullptr;
      const double d = std::strtod(v->c_str(), &end);
      if (v->empty() || *end != '\0' || d <= 0.0 || d > 1.0)
        return bad("argument --gpu-memory-utilization: invalid float value: '" + *v + "'");
    }
  }
  if (positional.empty()) return bad("the following arguments are required: model_tag");
  o.model = positional;
  if (o.served_model_name.empty()) o.served_model_name = o.model;
  return o;
}

std::expected<Options, UsageError> parse_http(const std::vector<std::string>& args, Options o) {
  auto bad = [](std::string msg) { return Err(UsageError{"error: " + std::move(msg), 1}); };
  std::set<std::string> repeat_seen;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (i + 1 >= args.size()) return bad("expected a value after " + a);
    const std::string& v = args[++i];
    if (a == "--host") {
      o.host = v;
    } else if (a == "--port") {
      auto n = util::parse_int(v, 0, 65535, "--port");
      if (!n) return bad(n.error().message);
      o.port = static_cast<int>(*n);
    } else if (is_mock_flag(a)) {
      if (is_repeatable(a) && repeat_seen.insert(a).second) {
        if (a == "--mock-fault") o.faults.clear();
        else o.model_vram_mib.clear();
      }
      if (auto e = apply_mock(a, v, o)) return bad(*e);
    } else {
      return bad("invalid argument: " + a);
    }
  }
  return o;
}

}  // namespace

namespace {
// When the process started (static initialization): unhealthy-after-ms counts from here.
const auto k_process_start = std::chrono::steady_clock::now();
}  // namespace

bool Options::unhealthy_now() const {
  if (has(Fault::unhealthy)) return true;
  return has(Fault::unhealthy_after) && std::chrono::steady_clock::now() - k_process_start >= unhealthy_after;
}

std::int64_t Options::default_vram_mib() const {
  if (vram_mib) return *vram_mib;
  return flavor == Flavor::http ? 0 : 1024;
}

std::int64_t Options::residue_mib() const {
  const std::int64_t r = sleep_residue_mib ? *sleep_residue_mib : (flavor == Flavor::vllm ? 500 : 0);
  return std::min(r, default_vram_mib());
}

std::expected<Options, UsageError> parse_options(const std::vector<std::string>& argv,
                                                 const GetEnv& get_env) {
  Options o;
  for (auto flag : k_mock_flags) {
    if (auto v = get_env(env_name(flag)); v && !v->empty()) {
      if (auto e = apply_mock(flag, *v, o))
        return Err(UsageError{"error: " + env_name(flag) + ": " + *e, 1});
    }
  }
  if (argv.size() >= 2 && argv[1] == "serve") {
    o.flavor = Flavor::vllm;
    return parse_vllm(argv, std::move(o));
  }
  for (std::size_t i = 1; i + 1 < argv.size(); ++i) {
    if (argv[i] == "--mock-flavor") {
      if (auto e = apply_mock("--mock-flavor", argv[i + 1], o)) return Err(UsageError{"error: " + *e, 1});
    }
  }
  Options parsed;
  if (o.flavor == Flavor::http) {
    auto r = parse_http(argv, std::move(o));
    if (!r) return r;
    parsed = std::move(*r);
  } else if (o.flavor == Flavor::vllm) {
    return Err(UsageError{"error: the vLLM flavour is selected with `serve MODEL` as the first argument", 1});
  } else {
    auto r = parse_llama(argv, std::move(o));
    if (!r) return r;
    parsed = std::move(*r);
  }
  return parsed;
}

std::string_view to_string(Fault f) {
  switch (f) {
    case Fault::crash_on_start: return "crash-on-start";
    case Fault::crash_during_load: return "crash-during-load";
    case Fault::hang_on_load: return "hang-on-load";
    case Fault::http_500: return "http-500";
    case Fault::malformed_json: return "malformed-json";
    case Fault::refuse_bind: return "refuse-bind";
    case Fault::unhealthy: return "unhealthy";
    case Fault::crash_after: return "crash-after-ms";
    case Fault::die_mid_stream: return "die-mid-stream";
    case Fault::unhealthy_after: return "unhealthy-after-ms";
    case Fault::error_after_requests: return "error-after-requests";
  }
  return "?";
}

std::string_view to_string(Flavor f) {
  switch (f) {
    case Flavor::llama: return "llama-server";
    case Flavor::vllm: return "vllm";
    case Flavor::http: return "http";
  }
  return "?";
}

}  // namespace gpumod::mock
