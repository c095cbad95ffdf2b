#include "gpumod/core/run_settings.hpp"

#include <charconv>
#include <optional>

#include "gpumod/util/strings.hpp"

namespace gpumod::core {

namespace {

std::optional<std::int64_t> number(std::string_view s) {
  s = util::trim(s);
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p == s.data()) return std::nullopt;
  return v;
}

// "on"/"off"/"auto"/"enabled"/"1"...: nullopt when it does not say.
std::optional<bool> on_off(std::string_view s) {
  const std::string t = util::to_lower(util::trim(s));
  if (t == "on" || t == "enabled" || t == "1" || t == "true") return true;
  if (t == "off" || t == "disabled" || t == "0" || t == "false") return false;
  return std::nullopt;
}

void apply_flag(EstimateOptions& o, std::string_view flag, std::string_view value) {
  const auto n = number(value);
  if (flag == "--ctx-size" || flag == "-c") {
    if (n && *n >= 0) o.context_size = static_cast<std::uint32_t>(*n);
  } else if (flag == "--cache-type-k" || flag == "-ctk") {
    if (auto t = parse_kv_cache_type(util::trim(value))) o.cache_type_k = *t;
  } else if (flag == "--cache-type-v" || flag == "-ctv") {
    if (auto t = parse_kv_cache_type(util::trim(value))) o.cache_type_v = *t;
  } else if (flag == "--flash-attn" || flag == "-fa") {
    if (auto b = on_off(value)) o.flash_attn = *b;
  } else if (flag == "--n-gpu-layers" || flag == "-ngl" || flag == "--gpu-layers") {
    const std::string t = util::to_lower(util::trim(value));
    if (t == "all" || t == "auto") o.n_gpu_layers = -1;
    else if (n) o.n_gpu_layers = static_cast<int>(*n);
  } else if (flag == "--parallel" || flag == "-np") {
    if (n && *n > 0) o.n_parallel = static_cast<std::uint32_t>(*n);
  } else if (flag == "--n-cpu-moe" || flag == "-ncmoe") {
    if (n && *n >= 0) o.n_cpu_moe = static_cast<std::uint32_t>(*n);
  } else if (flag == "--ubatch-size" || flag == "-ub") {
    if (n && *n > 0) o.n_ubatch = static_cast<std::uint32_t>(*n);
  } else if (flag == "--batch-size" || flag == "-b") {
    if (n && *n > 0) o.n_batch = static_cast<std::uint32_t>(*n);
  }
}

// The text after "key" and the '=' that follows it, up to the end of the line ("" if absent).
std::optional<std::string_view> value_after(std::string_view line, std::string_view key) {
  const auto at = line.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  auto rest = line.substr(at + key.size());
  const auto eq = rest.find_first_not_of(' ');
  if (eq == std::string_view::npos || rest[eq] != '=') return std::nullopt;
  return util::trim(rest.substr(eq + 1));
}

// "K (q8_0)" in a llama_kv_cache line: the type between the parentheses.
std::optional<KvCacheType> kv_type(std::string_view line, std::string_view which) {
  const auto at = line.find(which);
  if (at == std::string_view::npos) return std::nullopt;
  const auto close = line.find(')', at);
  if (close == std::string_view::npos) return std::nullopt;
  const auto inner = line.substr(at + which.size(), close - at - which.size());
  auto t = parse_kv_cache_type(util::trim(inner));
  if (!t) return std::nullopt;
  return *t;
}

}  // namespace

void apply_llama_argv(EstimateOptions& o, std::span<const std::string> argv) {
  for (std::size_t i = 0; i < argv.size(); ++i) {
    std::string_view a = argv[i];
    if (!a.starts_with('-')) continue;
    if (const auto eq = a.find('='); eq != std::string_view::npos) {
      apply_flag(o, a.substr(0, eq), a.substr(eq + 1));
    } else if (i + 1 < argv.size()) {
      apply_flag(o, a, argv[i + 1]);
    }
  }
}

void apply_llama_log(EstimateOptions& o, std::string_view text, std::string_view model) {
  const std::string prefix = model.empty() ? "" : "[" + std::string(model) + "] ";
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!prefix.empty()) {
      if (!line.starts_with(prefix)) continue;
      line.remove_prefix(prefix.size());
    }
    if (line.find("n_ctx_train") == std::string_view::npos && line.find("n_ctx_seq") == std::string_view::npos &&
        line.find("n_ctx_slot") == std::string_view::npos) {
      if (auto v = value_after(line, "n_ctx")) {
        if (auto n = number(*v); n && *n > 0) o.context_size = static_cast<std::uint32_t>(*n);
      }
    }
    if (auto v = value_after(line, "n_seq_max")) {
      if (auto n = number(*v); n && *n > 0) o.n_parallel = static_cast<std::uint32_t>(*n);
    }
    if (auto v = value_after(line, "flash_attn")) {
      if (auto b = on_off(*v)) o.flash_attn = *b;
    }
    if (line.find("llama_kv_cache") != std::string_view::npos) {
      if (auto t = kv_type(line, "K (")) o.cache_type_k = *t;
      if (auto t = kv_type(line, "V (")) o.cache_type_v = *t;
    }
  }
}

}  // namespace gpumod::core
