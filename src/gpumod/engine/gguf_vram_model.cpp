#include "gpumod/engine/gguf_vram_model.hpp"

#include <sys/stat.h>

#include <cmath>
#include <filesystem>

#include "gpumod/infra/gguf/model_info.hpp"
#include "gpumod/infra/gguf/reader.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::engine {

namespace fs = std::filesystem;
using util::ErrorCode;

namespace {

util::Error bad_var(const core::Service& s, std::string_view key, const std::string& value, std::string_view want) {
  return {ErrorCode::invalid_argument,
          "service '" + s.id + "': unit_vars." + std::string(key) + " '" + value + "' " + std::string(want)};
}

util::Result<std::optional<std::int64_t>> int_var(const core::Service& s, std::string_view key, std::int64_t lo,
                                                  std::int64_t hi) {
  auto v = s.var(key);
  if (!v) return std::optional<std::int64_t>{};
  const std::string t(util::trim(*v));
  std::int64_t n = 0;
  std::size_t used = 0;
  try {
    n = std::stoll(t, &used);
  } catch (...) {
    used = 0;
  }
  if (t.empty() || used != t.size() || n < lo || n > hi) {
    return std::unexpected(bad_var(s, key, *v, "is not a whole number in " + std::to_string(lo) + ".." + std::to_string(hi)));
  }
  return std::optional<std::int64_t>{n};
}

}  // namespace

util::Result<core::EstimateOptions> estimate_options_for(const core::Service& s) {
  core::EstimateOptions o;
  for (auto [key, field] : {std::pair{"cache_type_k", &o.cache_type_k}, std::pair{"cache_type_v", &o.cache_type_v}}) {
    if (auto v = s.var(key)) {
      auto t = core::parse_kv_cache_type(util::trim(*v));
      if (!t) return std::unexpected(bad_var(s, key, *v, "is not a KV cache type"));
      *field = *t;
    }
  }
  if (auto v = s.var("flash_attn")) {
    const std::string t = util::to_lower(util::trim(*v));
    if (t == "on" || t == "true" || t == "1" || t == "auto") o.flash_attn = true;
    else if (t == "off" || t == "false" || t == "0") o.flash_attn = false;
    else return std::unexpected(bad_var(s, "flash_attn", *v, "must be on, off or auto"));
  }
  if (auto v = s.var("n_gpu_layers")) {
    const std::string t = util::to_lower(util::trim(*v));
    if (t == "all" || t == "auto") {
      o.n_gpu_layers = -1;
    } else {
      auto n = int_var(s, "n_gpu_layers", -1, 100000);
      if (!n) return std::unexpected(n.error());
      // llama-server's 999 means "all"; the estimator counts n_layer + 1 at most.
      o.n_gpu_layers = static_cast<int>(**n);
    }
  }
  auto moe = int_var(s, "n_cpu_moe", 0, 100000);
  if (!moe) return std::unexpected(moe.error());
  if (*moe) o.n_cpu_moe = static_cast<std::uint32_t>(**moe);
  auto par = int_var(s, "parallel", 1, 4096);
  if (!par) return std::unexpected(par.error());
  if (*par) o.n_parallel = static_cast<std::uint32_t>(**par);
  auto batch = int_var(s, "batch_size", 1, 1 << 20);
  if (!batch) return std::unexpected(batch.error());
  if (*batch) o.n_batch = static_cast<std::uint32_t>(**batch);
  auto ubatch = int_var(s, "ubatch_size", 1, 1 << 20);
  if (!ubatch) return std::unexpected(ubatch.error());
  if (*ubatch) o.n_ubatch = static_cast<std::uint32_t>(**ubatch);
  return o;
}

std::optional<std::string> service_model_file(const core::Service& s) {
  if (s.driver != core::DriverKind::llamacpp) return std::nullopt;
  std::error_code ec;
  auto is_gguf_file = [&](const fs::path& p) {
    return util::to_lower(p.extension().string()) == ".gguf" && fs::is_regular_file(p, ec);
  };
  if (auto dir = s.var("models_dir"); dir && !util::trim(*dir).empty()) {
    auto m = s.var("default_model");
    if (!m || util::trim(*m).empty()) return std::nullopt;
    const fs::path base = fs::path(std::string(util::trim(*dir)));
    const std::string id(util::trim(*m));
    if (id.find('/') != std::string::npos || id == "..") return std::nullopt;
    for (const fs::path& p : {base / (id + ".gguf"), base / id}) {
      if (is_gguf_file(p)) return p.string();
    }
    return std::nullopt;
  }
  if (!s.model_path.empty() && is_gguf_file(s.model_path)) return s.model_path;
  return std::nullopt;
}

util::Result<std::shared_ptr<const core::ModelShape>> GgufVramModel::shape(const std::string& path) const {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return util::fail(ErrorCode::not_found, "no such model file: " + path);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  const std::int64_t mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  {
    std::lock_guard lock(m_mutex);
    auto it = m_cache.find(path);
    if (it != m_cache.end() && it->second.size == size && it->second.mtime_ns == mtime_ns) return it->second.shape;
  }
  auto f = infra::gguf::read_gguf_model(path);
  if (!f) return std::unexpected(f.error());
  auto s = infra::gguf::model_shape_from_gguf(*f);
  if (!s) return std::unexpected(s.error());
  auto ptr = std::make_shared<const core::ModelShape>(std::move(*s));
  std::lock_guard lock(m_mutex);
  ++m_parses;
  m_cache[path] = Entry{size, mtime_ns, ptr};
  return ptr;
}

int GgufVramModel::parse_count() const {
  std::lock_guard lock(m_mutex);
  return m_parses;
}

std::optional<std::int64_t> GgufVramModel::vram_at_context(const core::Service& service, std::int64_t context) const {
  if (context < 1 || context > k_max_context_tokens) return std::nullopt;
  const auto path = service_model_file(service);
  if (!path) return std::nullopt;
  auto opts = estimate_options_for(service);
  if (!opts) return std::nullopt;
  auto sh = shape(*path);
  if (!sh) return std::nullopt;
  opts->context_size = static_cast<std::uint32_t>(context);
  const auto e = core::estimate_vram(**sh, *opts);
  return static_cast<std::int64_t>(std::ceil(e.gpu.total_mib));
}

}  // namespace gpumod::engine
