#include "gpumod/engine/hf_models.hpp"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "gpumod/engine/model_registry.hpp"
#include "gpumod/infra/gguf/model_info.hpp"
#include "gpumod/infra/hf/sha256.hpp"
#include "gpumod/infra/hf/validate.hpp"
#include "gpumod/util/ids.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::engine {

namespace fs = std::filesystem;
namespace hf = infra::hf;

namespace {

constexpr double k_mib = 1024.0 * 1024.0;

std::string base_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string quant_names(const hf::GgufListing& l) {
  std::vector<std::string> names;
  for (const auto& q : l.quants) names.push_back(q.label.empty() ? q.name : q.label);
  return util::join(names, ", ");
}

util::Result<const hf::GgufQuant*> pick_quant(const hf::GgufListing& listing, std::string_view repo,
                                              std::string_view quant) {
  if (listing.quants.empty()) {
    return util::fail(util::ErrorCode::not_found, std::string(repo) + " has no GGUF model files");
  }
  if (quant.empty()) {
    if (listing.quants.size() == 1) return &listing.quants.front();
    return util::fail(util::ErrorCode::invalid_argument,
                      std::string(repo) + " has " + std::to_string(listing.quants.size()) +
                          " quants; choose one with --quant: " + quant_names(listing));
  }
  const auto* q = hf::find_quant(listing, quant);
  if (q == nullptr) {
    return util::fail(util::ErrorCode::not_found, std::string(repo) + " has no quant '" + std::string(quant) +
                                                      "'; it has: " + quant_names(listing));
  }
  return q;
}

std::string strip_gguf_suffix(std::string s) {
  if (s.size() > 5 && util::to_lower(s.substr(s.size() - 5)) == ".gguf") s.resize(s.size() - 5);
  return s;
}

}  // namespace

void run_bounded(std::size_t n, std::size_t parallel, const std::function<void(std::size_t)>& fn) {
  if (n == 0) return;
  const std::size_t workers = std::clamp<std::size_t>(parallel, 1, n);
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> threads;
  for (std::size_t w = 0; w + 1 < workers; ++w) {
    threads.emplace_back([&] {
      for (std::size_t i = next++; i < n; i = next++) fn(i);
    });
  }
  for (std::size_t i = next++; i < n; i = next++) fn(i);
  for (auto& t : threads) t.join();
}

util::Result<HfGgufModel> fetch_hf_model(hf::HubClient& hub, std::string_view repo, std::string_view quant,
                                         std::string_view revision_in) {
  const std::string revision = revision_in.empty() ? "main" : std::string(revision_in);
  auto info = hf::fetch_repo_info(hub, repo, revision);
  if (!info) return std::unexpected(info.error());
  if (info->sha.empty()) {
    return util::fail(util::ErrorCode::corrupt, "model info of " + std::string(repo) + " names no commit");
  }
  const auto listing = hf::list_gguf_files(info->files);
  auto q = pick_quant(listing, repo, quant);
  if (!q) return std::unexpected(q.error());
  auto remote = hf::read_remote_gguf(hub, repo, info->sha, **q);
  if (!remote) return std::unexpected(remote.error());
  auto shape = infra::gguf::model_shape_from_gguf(remote->file);
  if (!shape) return std::unexpected(util::with_context(shape.error(), std::string(repo) + "/" + (*q)->name));
  HfGgufModel m;
  m.repo = std::string(repo);
  m.revision = revision;
  m.commit = info->sha;
  m.quant = **q;
  m.quant_label = infra::gguf::quant_label(remote->file, base_name((*q)->name));
  m.location = "hf://" + m.repo + "@" + m.commit + "/" + (*q)->name;
  m.bytes_fetched = remote->bytes_fetched;
  m.file = std::move(remote->file);
  m.shape = std::move(*shape);
  return m;
}

namespace {

bool has_safetensors(const std::vector<hf::RepoFile>& files) {
  const auto l = hf::list_safetensors_files(files);
  return !l.shards.empty() || !l.index.empty();
}

std::string safetensors_label(const hf::RemoteSafetensors& r) {
  std::string label = r.weights.main_dtype();
  if (!r.config.quant_method.empty()) label += " " + r.config.quant_method;
  return label;
}

// One row for a safetensors repo: its weights and the vLLM estimate at the context.
util::Result<QuantTable> safetensors_table(hf::HubClient& hub, const hf::RepoInfo& info, std::string_view repo,
                                           const QuantTableOptions& options) {
  auto remote = hf::read_remote_safetensors(hub, repo, info.sha, info.files, options.parallel);
  if (!remote) return std::unexpected(remote.error());
  QuantTable t;
  t.repo = info.id;
  t.commit = info.sha;
  t.budget_mib = options.budget_mib;
  t.format = "safetensors";
  t.config = remote->config;
  t.notes = remote->notes;
  QuantRow row;
  row.format = "safetensors";
  row.label = safetensors_label(*remote);
  row.file = remote->headers.empty() ? std::string() : remote->headers.front().file;
  row.file_bytes = remote->file_bytes;
  row.parts = static_cast<std::uint32_t>(remote->headers.size());
  row.params = remote->weights.total_params;
  row.dtypes = remote->weights.dtype_mix();
  core::VllmEstimateOptions o = options.vllm;
  o.context_size = options.estimate.context_size;
  row.vllm = core::estimate_vllm(remote->config, remote->weights, o);
  if (options.budget_mib) {
    row.fits = row.vllm->total_mib <= *options.budget_mib;
    row.max_context = core::fit_vllm_context(remote->config, remote->weights, o, *options.budget_mib);
    if (row.fits) t.best = 0;
  }
  t.rows.push_back(std::move(row));
  return t;
}

}  // namespace

util::Result<HfSafetensorsModel> fetch_hf_safetensors(hf::HubClient& hub, std::string_view repo,
                                                      std::string_view revision_in) {
  const std::string revision = revision_in.empty() ? "main" : std::string(revision_in);
  auto info = hf::fetch_repo_info(hub, repo, revision);
  if (!info) return std::unexpected(info.error());
  if (info->sha.empty()) {
    return util::fail(util::ErrorCode::corrupt, "model info of " + std::string(repo) + " names no commit");
  }
  if (!has_safetensors(info->files)) {
    if (!hf::list_gguf_files(info->files).quants.empty()) {
      return util::fail(util::ErrorCode::invalid_argument,
                        std::string(repo) + " is a GGUF repo; choose a quant with --quant (see: gpumod model quants " +
                            std::string(repo) + ")");
    }
    return util::fail(util::ErrorCode::not_found, std::string(repo) + " has no safetensors or GGUF model files");
  }
  auto remote = hf::read_remote_safetensors(hub, repo, info->sha, info->files);
  if (!remote) return std::unexpected(remote.error());
  HfSafetensorsModel m;
  m.repo = info->id.empty() ? std::string(repo) : info->id;
  m.revision = revision;
  m.commit = info->sha;
  m.remote = std::move(*remote);
  m.location = "hf://" + m.repo + "@" + m.commit;
  return m;
}

infra::state::ModelRecord record_from_safetensors(const HfSafetensorsModel& model) {
  const auto& c = model.remote.config;
  const auto& w = model.remote.weights;
  infra::state::ModelRecord r;
  r.source = "huggingface";
  r.location = model.location;
  r.architecture = c.architecture.empty() ? c.model_type : c.architecture;
  r.quant = safetensors_label(model.remote);
  r.file_bytes = static_cast<std::int64_t>(model.remote.file_bytes);
  r.parameters_b = static_cast<double>(w.total_params) / 1e9;
  core::VllmEstimateOptions o;
  o.context_size = k_registry_base_context;
  if (c.max_position_embeddings > 0) o.context_size = std::min(o.context_size, c.max_position_embeddings);
  const auto base = core::estimate_vllm(c, w, o);
  r.base_vram_mib = static_cast<std::int64_t>(std::ceil(base.total_mib));
  r.kv_per_1k_mib = static_cast<double>(base.kv_bytes_per_token) * 1024.0 / k_mib;
  nlohmann::json by = nlohmann::json::object();
  for (const auto& [d, t] : w.by_dtype) by[d] = {{"params", t.params}, {"bytes", t.bytes}};
  std::uint32_t swa_layers = 0;
  for (auto k : c.layers) swa_layers += k == core::LayerAttention::sliding ? 1 : 0;
  nlohmann::json j{{"format", "safetensors"},
                   {"runtime", "vllm"},
                   {"commit", model.commit},
                   {"model_type", c.model_type},
                   {"n_layer", c.n_layer},
                   {"n_embd", c.hidden_size},
                   {"n_head", c.n_head},
                   {"n_head_kv", c.n_kv_head},
                   {"head_dim", c.head_dim},
                   {"n_ctx_train", c.max_position_embeddings},
                   {"n_swa", c.sliding_window},
                   {"n_swa_layers", swa_layers},
                   {"n_kv_layers", c.n_kv_layers()},
                   {"n_recurrent_layers", c.n_recurrent_layers()},
                   {"n_expert", c.n_experts},
                   {"n_expert_used", c.n_experts_per_tok},
                   {"mla", c.mla},
                   {"torch_dtype", c.torch_dtype},
                   {"quant_method", c.quant_method},
                   {"n_params", w.total_params},
                   {"weight_bytes", w.total_bytes},
                   {"shards", model.remote.headers.size()},
                   {"weights_by_dtype", by},
                   {"kv_bytes_per_token", base.kv_bytes_per_token}};
  r.metadata_json = j.dump();
  r.notes = "vLLM model (safetensors); base VRAM = weights + KV at " + std::to_string(base.context_size) +
            " tokens + activations, CUDA graphs and context; vLLM itself takes gpu_memory_utilization of the GPU";
  return r;
}

util::Result<QuantTable> quant_table(hf::HubClient& hub, std::string_view repo, std::string_view revision,
                                     const QuantTableOptions& options) {
  auto info = hf::fetch_repo_info(hub, repo, revision.empty() ? "main" : revision);
  if (!info) return std::unexpected(info.error());
  const auto listing = hf::list_gguf_files(info->files);
  if (listing.quants.empty()) {
    if (has_safetensors(info->files)) return safetensors_table(hub, *info, repo, options);
    return util::fail(util::ErrorCode::not_found, std::string(repo) + " has no GGUF or safetensors model files");
  }
  QuantTable t;
  t.repo = info->id;
  t.commit = info->sha;
  t.budget_mib = options.budget_mib;
  for (const auto& f : listing.mmproj) t.mmproj.push_back(f.path);
  for (const auto& f : listing.imatrix) t.imatrix.push_back(f.path);
  t.rows.resize(listing.quants.size());
  run_bounded(listing.quants.size(), options.parallel, [&](std::size_t i) {
    const auto& q = listing.quants[i];
    QuantRow& row = t.rows[i];
    row.label = q.label.empty() ? base_name(q.name) : q.label;
    row.file = q.name;
    row.file_bytes = q.total_bytes;
    row.parts = static_cast<std::uint32_t>(q.parts.size());
    row.quality = hf::quant_quality_rank(q.label);
    auto remote = hf::read_remote_gguf(hub, repo, t.commit, q);
    if (!remote) {
      row.error = remote.error().message;
      return;
    }
    auto shape = infra::gguf::model_shape_from_gguf(remote->file);
    if (!shape) {
      row.error = shape.error().message;
      return;
    }
    row.estimate = core::estimate_vram(*shape, options.estimate);
    if (options.budget_mib) {
      row.fits = row.estimate->gpu.total_mib <= *options.budget_mib;
      row.max_context = core::fit_context(*shape, options.estimate, *options.budget_mib);
    }
  });
  if (options.budget_mib) {
    for (std::size_t i = 0; i < t.rows.size(); ++i) {
      const auto& r = t.rows[i];
      if (!r.fits) continue;
      if (!t.best || r.quality > t.rows[*t.best].quality ||
          (r.quality == t.rows[*t.best].quality && r.file_bytes > t.rows[*t.best].file_bytes)) {
        t.best = i;
      }
    }
  }
  return t;
}

util::Result<double> budget_for_mode(const core::Config& config, double gpu_total_mib, std::string_view mode_id,
                                     std::string_view except_service) {
  double budget = gpu_total_mib;
  if (mode_id.empty()) return budget;
  const auto* mode = config.find_mode(mode_id);
  if (mode == nullptr) {
    const auto ids = config.mode_ids();
    return util::fail(util::ErrorCode::not_found,
                      "no mode '" + std::string(mode_id) + "'" + util::did_you_mean(mode_id, ids));
  }
  for (const auto& sid : mode->services) {
    if (sid == except_service) continue;
    if (const auto* s = config.find_service(sid)) budget -= static_cast<double>(s->vram_mib);
  }
  return budget;
}

bool matches_task(const hf::ModelSummary& model, std::string_view task) {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> k_words{
      {"code", {"code", "coder", "coding", "starcoder", "codellama"}},
      {"chat", {"chat", "instruct", "assistant"}},
      {"embed", {"embed", "embedding", "bge", "e5"}},
      {"reasoning", {"reason", "math", "r1", "deepseek", "thinking"}}};
  if (task.empty()) return true;
  const std::string name = util::to_lower(model.id);
  for (const auto& [t, words] : k_words) {
    if (t != task) continue;
    for (const auto& w : words) {
      if (name.find(w) != std::string::npos) return true;
      for (const auto& tag : model.tags) {
        if (util::to_lower(tag) == w) return true;
      }
    }
    return false;
  }
  return true;
}

util::Result<std::vector<DiscoverHit>> discover(hf::HubClient& hub, const DiscoverOptions& o) {
  if (o.limit < 1 || o.limit > 50) {
    return util::fail(util::ErrorCode::invalid_argument, "--limit " + std::to_string(o.limit) + " is not in 1..50");
  }
  if (!o.task.empty() && o.task != "code" && o.task != "chat" && o.task != "embed" && o.task != "reasoning") {
    return util::fail(util::ErrorCode::invalid_argument,
                      "--task '" + o.task + "' is not one of code, chat, embed, reasoning");
  }
  hf::SearchQuery q;
  q.search = o.query;
  q.author = o.author;
  q.filter = "gguf";
  q.limit = std::min<std::uint32_t>(100, o.task.empty() ? o.limit : o.limit * 4);
  auto found = hf::search_models(hub, q);
  if (!found) return std::unexpected(found.error());
  std::vector<DiscoverHit> hits;
  for (auto& m : *found) {
    if (hits.size() >= o.limit) break;
    if (!matches_task(m, o.task)) continue;
    hits.push_back(DiscoverHit{std::move(m), 0, std::nullopt, ""});
  }
  run_bounded(hits.size(), o.parallel, [&](std::size_t i) {
    auto& h = hits[i];
    auto info = hf::fetch_repo_info(hub, h.model.id, "main");
    if (!info) {
      h.error = info.error().message;
      return;
    }
    const auto listing = hf::list_gguf_files(info->files);
    h.quant_count = listing.quants.size();
    for (const auto& qq : listing.quants) {
      if (qq.missing_parts > 0 || qq.total_bytes == 0) continue;
      const double need = static_cast<double>(qq.total_bytes) / k_mib + o.headroom_mib;
      if (o.budget_mib && need > *o.budget_mib) continue;
      const int rank = hf::quant_quality_rank(qq.label);
      if (!h.best || rank > hf::quant_quality_rank(h.best->label) ||
          (rank == hf::quant_quality_rank(h.best->label) && qq.total_bytes > h.best->total_bytes)) {
        h.best = qq;
      }
    }
  });
  return hits;
}

std::string preset_id_from_repo(std::string_view repo) {
  std::string name(repo.substr(repo.find('/') == std::string_view::npos ? 0 : repo.find('/') + 1));
  for (const char* suffix : {"-GGUF", "_GGUF", "-gguf", "_gguf"}) {
    if (name.size() > 5 && name.ends_with(suffix)) name.resize(name.size() - 5);
  }
  std::string out;
  for (char c : util::to_lower(name)) {
    if (c == '_' || c == '.') c = '-';
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
      if (c == '-' && (out.empty() || out.back() == '-')) continue;
      out += c;
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.size() > 48) out.resize(48);
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "model" : out;
}

util::Result<GeneratedPreset> generate_preset(hf::HubClient& hub, const PresetRequest& req, const core::Config* existing) {
  if (req.quant.empty()) return util::fail(util::ErrorCode::invalid_argument, "preset generate needs --quant");
  if (req.budget_mib <= 0) return util::fail(util::ErrorCode::invalid_argument, "no VRAM budget for the preset");
  if (req.port && (*req.port < 1024 || *req.port > 65535)) {
    return util::fail(util::ErrorCode::invalid_argument, "--port " + std::to_string(*req.port) + " is not in 1024..65535");
  }
  std::set<int> ports;
  std::set<std::string> ids;
  if (existing != nullptr) {
    for (const auto& s : existing->services) {
      if (s.port) ports.insert(*s.port);
      ids.insert(s.id);
    }
  }
  GeneratedPreset out;
  out.id = req.id.empty() ? preset_id_from_repo(req.repo) : req.id;
  if (auto st = util::validate_id(out.id, "preset id"); !st) return std::unexpected(st.error());
  if (ids.contains(out.id)) {
    return util::fail(util::ErrorCode::conflict, "a preset with id '" + out.id + "' exists; choose another with --id");
  }
  if (req.port) {
    if (ports.contains(*req.port)) {
      return util::fail(util::ErrorCode::conflict, "port " + std::to_string(*req.port) + " is used by another preset");
    }
    out.port = *req.port;
  } else {
    out.port = 7071;
    while (ports.contains(out.port)) ++out.port;
  }

  auto model = fetch_hf_model(hub, req.repo, req.quant, req.revision);
  if (!model) return std::unexpected(model.error());
  core::EstimateOptions opt = req.estimate;
  constexpr std::uint32_t k_auto_ctx_cap = 32768;
  auto fits_with = [&](std::uint32_t ncmoe, std::uint32_t ctx) {
    auto o = opt;
    o.n_cpu_moe = ncmoe;
    o.context_size = ctx;
    return core::estimate_vram(model->shape, o).gpu.total_mib <= req.budget_mib;
  };
  std::uint32_t ncmoe = 0;
  std::uint32_t ctx = req.context_size;
  const std::uint32_t want_ctx = ctx != 0 ? ctx : 8192;
  if (!fits_with(0, want_ctx)) {
    if (!model->shape.has_experts()) {
      auto o = opt;
      o.context_size = want_ctx;
      const auto e = core::estimate_vram(model->shape, o);
      return util::fail(util::ErrorCode::insufficient_vram,
                        req.repo + " " + model->quant.label + " needs about " +
                            std::to_string(static_cast<long long>(std::ceil(e.gpu.total_mib))) + " MiB at context " +
                            std::to_string(want_ctx) + ", more than the " +
                            std::to_string(static_cast<long long>(req.budget_mib)) + " MiB budget; pick a smaller quant");
    }
    for (ncmoe = 1; ncmoe <= model->shape.n_layer && !fits_with(ncmoe, want_ctx); ++ncmoe) {
    }
    if (ncmoe > model->shape.n_layer) {
      return util::fail(util::ErrorCode::insufficient_vram,
                        req.repo + " " + model->quant.label + " does not fit " +
                            std::to_string(static_cast<long long>(req.budget_mib)) +
                            " MiB even with every expert on the host");
    }
    out.notes.push_back("MoE experts of the first " + std::to_string(ncmoe) +
                        " layers stay in host memory (n_cpu_moe) so the model fits");
  }
  opt.n_cpu_moe = ncmoe;
  if (ctx == 0) {
    const auto fit = core::fit_context(model->shape, opt, req.budget_mib);
    ctx = std::min<std::uint32_t>(fit.value_or(want_ctx), k_auto_ctx_cap);
    if (model->shape.n_ctx_train > 0) ctx = std::min(ctx, model->shape.n_ctx_train);
  }
  opt.context_size = ctx;
  const auto est = core::estimate_vram(model->shape, opt);
  out.context_size = ctx;
  out.n_cpu_moe = ncmoe;
  out.vram_mib = static_cast<std::int64_t>(std::ceil(est.gpu.total_mib));
  const std::string default_model = strip_gguf_suffix(base_name(model->quant.name));
  auto quote = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    return q + "\"";
  };
  std::string y;
  y += "# Generated by gpumod preset generate from " + req.repo + "@" + model->commit.substr(0, 12) + " (" +
       model->quant_label + ").\n";
  y += "# Estimated GPU memory at context " + std::to_string(ctx) + ": " + std::to_string(out.vram_mib) +
       " MiB (weights " + std::to_string(static_cast<long long>(est.gpu.weights_mib)) + ", KV " +
       std::to_string(static_cast<long long>(est.gpu.kv_mib)) + ", compute " +
       std::to_string(static_cast<long long>(est.gpu.compute_mib)) + ", runtime " +
       std::to_string(static_cast<long long>(est.gpu.overhead_mib)) + ").\n";
  y += "# Put the file(s) in models_dir: gpumod model download " + req.repo + " --quant " + req.quant + "\n";
  for (const auto& n : out.notes) y += "# " + n + "\n";
  y += "id: " + out.id + "\n";
  std::string display = req.repo.substr(req.repo.find('/') + 1);
  for (const char* suffix : {"-GGUF", "_GGUF", "-gguf", "_gguf"}) {
    if (display.size() > 5 && display.ends_with(suffix)) display.resize(display.size() - 5);
  }
  y += "name: " + quote(display + " (" + model->quant.label + ")") + "\n";
  y += "driver: llamacpp\n";
  y += "port: " + std::to_string(out.port) + "\n";
  y += "vram_mb: " + std::to_string(out.vram_mib) + "\n";
  y += "context_size: " + std::to_string(ctx) + "\n";
  y += "model_id: " + req.repo + "\n";
  y += "supports_sleep: true\n";
  y += "sleep_mode: router\n";
  y += "startup_timeout: 300\n";
  y += "unit_vars:\n";
  y += "  models_dir: " + quote(req.models_dir) + "\n";
  y += "  models_max: 1\n";
  y += "  no_models_autoload: true\n";
  y += "  default_model: " + quote(default_model) + "\n";
  y += "  ctx_size: " + std::to_string(ctx) + "\n";
  y += "  flash_attn: true\n";
  y += "  jinja: true\n";
  if (ncmoe > 0) y += "  n_cpu_moe: " + std::to_string(ncmoe) + "\n";
  out.yaml = std::move(y);
  return out;
}

util::Result<DownloadResult> download_quant(hf::HubClient& hub, std::string_view repo, std::string_view quant,
                                            std::string_view revision, const fs::path& dir, const ProgressFn& progress) {
  auto info = hf::fetch_repo_info(hub, repo, revision.empty() ? "main" : revision);
  if (!info) return std::unexpected(info.error());
  const auto listing = hf::list_gguf_files(info->files);
  auto picked = pick_quant(listing, repo, quant);
  if (!picked) return std::unexpected(picked.error());
  const hf::GgufQuant& q = **picked;
  if (q.missing_parts > 0) {
    return util::fail(util::ErrorCode::corrupt, std::string(repo) + ": " + q.name + " lacks split parts");
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return util::fail(util::ErrorCode::io, "cannot create " + dir.string() + ": " + ec.message());
  // Free space: what is still missing, plus a margin.
  std::uint64_t missing = 0;
  for (const auto& p : q.parts) {
    const fs::path dest = dir / base_name(p.path);
    if (fs::exists(dest, ec) && fs::file_size(dest, ec) == p.size) continue;
    const fs::path part = dest.string() + ".part";
    const std::uint64_t have = fs::exists(part, ec) ? fs::file_size(part, ec) : 0;
    missing += p.size > have ? p.size - have : 0;
  }
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) == 0) {
    const std::uint64_t free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    const std::uint64_t margin = 256ULL << 20;
    if (missing + margin > free_bytes) {
      return util::fail(util::ErrorCode::io, "not enough space in " + dir.string() + ": " +
                                                 std::to_string(missing >> 20) + " MiB to download, " +
                                                 std::to_string(free_bytes >> 20) + " MiB free");
    }
  }
  DownloadResult result;
  result.verified = true;
  DownloadProgress prog;
  prog.total_bytes = q.total_bytes;
  for (const auto& p : q.parts) {
    const fs::path dest = dir / base_name(p.path);
    const fs::path part = dest.string() + ".part";
    prog.file = base_name(p.path);
    hf::Sha256 sha;
    std::uint64_t have = 0;
    if (fs::exists(dest, ec) && fs::file_size(dest, ec) == p.size) {
      // Already there: verify it rather than trust its size.
      const int fd = ::open(dest.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return util::fail(util::ErrorCode::io, "cannot read " + dest.string());
      std::vector<char> buf(1 << 20);
      ssize_t n = 0;
      while ((n = ::read(fd, buf.data(), buf.size())) > 0) sha.update(buf.data(), static_cast<std::size_t>(n));
      ::close(fd);
      if (!p.lfs_sha256.empty() && sha.hex_digest() != p.lfs_sha256) {
        return util::fail(util::ErrorCode::corrupt, dest.string() + " exists but its SHA-256 differs from the Hub's; remove it");
      }
      prog.done_bytes += p.size;
      if (progress) progress(prog);
      result.files.push_back(dest);
      continue;
    }
    const int fd = ::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return util::fail(util::ErrorCode::io, "cannot open " + part.string() + ": " + std::strerror(errno));
    {
      // Hash what a previous run left, then append to it.
      std::vector<char> buf(1 << 20);
      ssize_t n = 0;
      while ((n = ::read(fd, buf.data(), buf.size())) > 0) {
        const auto take = static_cast<std::uint64_t>(n);
        if (have + take > p.size) break;
        sha.update(buf.data(), static_cast<std::size_t>(n));
        have += take;
      }
      if (::ftruncate(fd, static_cast<off_t>(have)) != 0 || ::lseek(fd, static_cast<off_t>(have), SEEK_SET) < 0) {
        ::close(fd);
        return util::fail(util::ErrorCode::io, "cannot resume " + part.string());
      }
    }
    prog.done_bytes += have;
    if (progress) progress(prog);
    bool write_failed = false;
    if (have < p.size) {
      auto r = hub.download(repo, info->sha, p.path, have, [&](std::string_view piece) {
        const char* d = piece.data();
        std::size_t left = piece.size();
        while (left > 0) {
          const ssize_t w = ::write(fd, d, left);
          if (w < 0) {
            if (errno == EINTR) continue;
            write_failed = true;
            return false;
          }
          d += w;
          left -= static_cast<std::size_t>(w);
        }
        sha.update(piece);
        result.downloaded_bytes += piece.size();
        prog.done_bytes += piece.size();
        if (progress) progress(prog);
        return true;
      });
      if (write_failed) {
        ::close(fd);
        return util::fail(util::ErrorCode::io, "writing " + part.string() + " failed: " + std::strerror(errno));
      }
      if (!r) {
        ::close(fd);
        return std::unexpected(util::with_context(r.error(), "partial file kept at " + part.string() + " (run again to resume)"));
      }
    }
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!synced) return util::fail(util::ErrorCode::io, "cannot flush " + part.string());
    const auto size_now = fs::file_size(part, ec);
    if (size_now != p.size) {
      return util::fail(util::ErrorCode::failed, part.string() + " has " + std::to_string(size_now) + " bytes, expected " +
                                                     std::to_string(p.size) + " (run again to resume)");
    }
    if (p.lfs_sha256.empty()) {
      result.verified = false;
    } else if (const auto got = sha.hex_digest(); got != p.lfs_sha256) {
      fs::remove(part, ec);
      return util::fail(util::ErrorCode::corrupt, base_name(p.path) + ": SHA-256 " + got + " differs from the Hub's " +
                                                      p.lfs_sha256 + "; the partial file was removed");
    }
    fs::rename(part, dest, ec);
    if (ec) return util::fail(util::ErrorCode::io, "cannot rename " + part.string() + ": " + ec.message());
    result.files.push_back(dest);
  }
  return result;
}

}  // namespace gpumod::engine
