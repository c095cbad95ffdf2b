// Hugging Face commands: gpumod model quants, gpumod model download, gpumod discover,
// gpumod preset generate (model quants also shows a safetensors repo: one vLLM row). (model register --source huggingface is the model group's command; it
// calls engine::fetch_hf_model.) Hub settings come from HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <optional>
#include <unistd.h>
#include <fstream>
#include <ostream>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/engine/hf_models.hpp"
#include "gpumod/infra/hf/hub_client.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/util/strings.hpp"
#include "gpumod/util/table.hpp"

namespace gpumod::app {

using nlohmann::json;
using util::group_thousands;

namespace {

constexpr double k_mib = 1024.0 * 1024.0;

CLI::App* group(CLI::App& root, const std::string& name, const std::string& help) {
  try {
    return root.get_subcommand(name);
  } catch (const CLI::OptionNotFound&) {
    auto* g = root.add_subcommand(name, help);
    g->require_subcommand(1);
    return g;
  }
}

util::Result<std::unique_ptr<infra::hf::HubClient>> make_hub() {
  auto s = infra::hf::hub_settings_from_env();
  if (!s) return std::unexpected(s.error());
  return std::make_unique<infra::hf::HubClient>(std::move(*s));
}

std::string gb(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GB", static_cast<double>(bytes) / 1e9);
  return buf;
}

std::int64_t ceil_mib(double v) { return static_cast<std::int64_t>(std::ceil(v)); }

// The budget: --vram or the GPU's total, minus the services of --mode (W26: not what is free now).
struct Budget {
  std::optional<double> mib;
  std::string how;
  std::optional<double> gpu_total_mib;  // before --mode is subtracted
};

// `flag`: the option the figure came from (--vram, or --budget for discover), named in errors.
util::Result<Budget> resolve_budget(AppContext& ctx, std::optional<std::int64_t> vram, const std::string& mode,
                                    const std::string& flag = "--vram") {
  Budget b;
  double total = 0;
  if (vram) {
    if (*vram < 256 || *vram > 10'000'000) {
      return util::fail(util::ErrorCode::invalid_argument, flag + " " + std::to_string(*vram) + " is not in 256..10,000,000 MiB");
    }
    total = static_cast<double>(*vram);
    b.how = flag + " " + group_thousands(*vram) + " MiB";
  } else {
    auto gpu = ctx.gpu();
    if (!gpu || (*gpu)->devices.empty()) {
      if (!mode.empty()) return util::fail(util::ErrorCode::unavailable, "no GPU to size --mode against; give " + flag + " MiB");
      return b;  // no fit column
    }
    total = static_cast<double>((*gpu)->devices.front().total_mib);
    b.how = (*gpu)->devices.front().name + " " + group_thousands((*gpu)->devices.front().total_mib) + " MiB";
  }
  b.gpu_total_mib = total;
  if (!mode.empty()) {
    auto cfg = ctx.config();
    if (!cfg) return std::unexpected(cfg.error());
    auto left = engine::budget_for_mode(**cfg, total, mode);
    if (!left) return std::unexpected(left.error());
    b.how += " minus mode " + mode + " (" + group_thousands(static_cast<std::int64_t>(total - *left)) + " MiB)";
    total = *left;
  }
  b.mib = total;
  return b;
}

struct QuantsArgs {
  std::string repo;
  std::string revision = "main";
  std::uint32_t ctx = 8192;
  std::optional<std::int64_t> vram;
  std::string mode;
  std::string cache_type = "f16";
  std::string kv_cache_dtype = "auto";
  std::size_t parallel = 4;
  bool json = false;
};

std::string fixed2(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string billions(std::uint64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f B", static_cast<double>(n) / 1e9);
  return buf;
}

// A safetensors repo: one row (a vLLM model), with the estimate's breakdown.
void print_safetensors(AppContext& ctx, const QuantsArgs& a, const engine::QuantTable& t, const Budget& budget) {
  const auto& r = t.rows.front();
  const auto& e = *r.vllm;
  const auto& c = *t.config;
  // The least --gpu-memory-utilization that holds the estimate (-1: no GPU size known).
  const double min_util = budget.gpu_total_mib ? e.min_gpu_memory_utilization(*budget.gpu_total_mib) : -1.0;
  if (a.json) {
    json dtypes = json::object();
    json j{{"quant", r.label}, {"format", "safetensors"}, {"runtime", "vllm"}, {"file", r.file},
           {"file_bytes", r.file_bytes}, {"parts", r.parts}, {"params", r.params}, {"dtypes", r.dtypes},
           {"vram_mib", ceil_mib(e.total_mib)}, {"weights_mib", ceil_mib(e.weights_mib)},
           {"kv_mib", ceil_mib(e.kv_mib)}, {"recurrent_state_mib", ceil_mib(e.recurrent_state_mib)},
           {"activation_mib", ceil_mib(e.activation_mib)}, {"cuda_graph_mib", ceil_mib(e.cuda_graph_mib)},
           {"overhead_mib", ceil_mib(e.overhead_mib)}, {"kv_bytes_per_token", e.kv_bytes_per_token},
           {"kv_cache_dtype", a.kv_cache_dtype}, {"best", t.best.has_value()}, {"notes", e.notes}};
    j["fits"] = t.budget_mib ? json(r.fits) : json(nullptr);
    j["max_context"] = r.max_context ? json(*r.max_context) : json(nullptr);
    j["min_gpu_memory_utilization"] = min_util >= 0 ? json(min_util) : json(nullptr);
    json shape{{"model_type", c.model_type}, {"architecture", c.architecture}, {"n_layer", c.n_layer},
               {"n_head", c.n_head}, {"n_head_kv", c.n_kv_head}, {"head_dim", c.head_dim},
               {"kv_layers", c.n_kv_layers()}, {"recurrent_layers", c.n_recurrent_layers()},
               {"sliding_window", c.sliding_window}, {"max_position_embeddings", c.max_position_embeddings},
               {"torch_dtype", c.torch_dtype}, {"quant_method", c.quant_method}};
    ctx.out() << json{{"repo", t.repo}, {"commit", t.commit}, {"format", "safetensors"}, {"context_size", a.ctx},
                      {"budget_mib", t.budget_mib ? json(*t.budget_mib) : json(nullptr)},
                      {"budget_from", budget.how}, {"shape", shape}, {"quants", json::array({j})},
                      {"notes", t.notes}, {"mmproj", json::array()}, {"imatrix", json::array()}}
                         .dump(2)
              << "\n";
    return;
  }
  ctx.out() << t.repo << " @ " << t.commit.substr(0, 12) << ", context " << group_thousands(a.ctx) << "\n";
  ctx.out() << "A vLLM model (safetensors, no GGUF files): " << billions(r.params) << " parameters, " << r.dtypes
            << ", " << r.parts << (r.parts == 1 ? " file" : " files") << "\n";
  if (t.budget_mib) ctx.out() << "Budget: " << group_thousands(static_cast<std::int64_t>(*t.budget_mib)) << " MiB (" << budget.how << ")\n";
  util::TextTable tab({{"WEIGHTS"}, {"PARAMS", true}, {"SIZE", true}, {"VRAM MiB", true}, {"FITS"}, {"MAX CTX", true}, {"FILE"}});
  tab.add_row({r.label, billions(r.params), gb(r.file_bytes), group_thousands(ceil_mib(e.total_mib)),
               t.budget_mib ? (r.fits ? "yes" : "no") : "-", r.max_context ? group_thousands(*r.max_context) : "-",
               r.file + (r.parts > 1 ? " (+" + std::to_string(r.parts - 1) + " parts)" : "")});
  ctx.out() << tab.render();
  ctx.out() << "VRAM: weights " << group_thousands(ceil_mib(e.weights_mib)) << " + KV " << group_thousands(ceil_mib(e.kv_mib))
            << " (" << group_thousands(static_cast<std::int64_t>(e.kv_bytes_per_token / 1024)) << " KiB/token, "
            << a.kv_cache_dtype << ")";
  if (e.recurrent_state_mib > 0) ctx.out() << " + state " << group_thousands(ceil_mib(e.recurrent_state_mib));
  ctx.out() << " + activations " << group_thousands(ceil_mib(e.activation_mib)) << " + CUDA graphs "
            << group_thousands(ceil_mib(e.cuda_graph_mib)) << " + CUDA context " << group_thousands(ceil_mib(e.overhead_mib))
            << " MiB\n";
  for (const auto& n : e.notes) ctx.out() << "  " << n << "\n";
  for (const auto& n : t.notes) ctx.out() << "  " << n << "\n";
  if (min_util >= 0) {
    ctx.out() << "vLLM takes --gpu-memory-utilization x the GPU whatever the model needs; the least that fits this model: "
              << fixed2(min_util) << "\n";
  } else {
    ctx.out() << "vLLM takes --gpu-memory-utilization x the GPU whatever the model needs; this is the model's own need.\n";
  }
}

void model_quants(AppContext& ctx, const QuantsArgs& a) {
  auto hub = make_hub();
  if (!hub) return ctx.fail(hub.error());
  auto budget = resolve_budget(ctx, a.vram, a.mode);
  if (!budget) return ctx.fail(budget.error());
  engine::QuantTableOptions o;
  o.estimate.context_size = a.ctx;
  auto kv = core::parse_kv_cache_type(a.cache_type);
  if (!kv) return ctx.fail(kv.error());
  o.estimate.cache_type_k = o.estimate.cache_type_v = *kv;
  auto kvd = core::parse_vllm_kv_dtype(a.kv_cache_dtype);
  if (!kvd) return ctx.fail(kvd.error());
  o.vllm.kv_cache_dtype = *kvd;
  o.budget_mib = budget->mib;
  o.parallel = a.parallel;
  auto t = engine::quant_table(**hub, a.repo, a.revision, o);
  if (!t) return ctx.fail(t.error());
  if (t->format == "safetensors") return print_safetensors(ctx, a, *t, *budget);
  if (a.json) {
    json rows = json::array();
    for (std::size_t i = 0; i < t->rows.size(); ++i) {
      const auto& r = t->rows[i];
      json j{{"quant", r.label}, {"file", r.file}, {"file_bytes", r.file_bytes}, {"parts", r.parts},
             {"quality_rank", r.quality}, {"best", t->best == i}};
      if (r.estimate) {
        j["vram_mib"] = ceil_mib(r.estimate->gpu.total_mib);
        j["weights_mib"] = ceil_mib(r.estimate->gpu.weights_mib);
        j["kv_mib"] = ceil_mib(r.estimate->gpu.kv_mib);
      } else {
        j["vram_mib"] = nullptr;
      }
      j["fits"] = t->budget_mib ? json(r.fits) : json(nullptr);
      j["max_context"] = r.max_context ? json(*r.max_context) : json(nullptr);
      if (!r.error.empty()) j["error"] = r.error;
      rows.push_back(j);
    }
    ctx.out() << json{{"repo", t->repo}, {"commit", t->commit}, {"context_size", a.ctx},
                      {"budget_mib", t->budget_mib ? json(*t->budget_mib) : json(nullptr)},
                      {"budget_from", budget->how}, {"quants", rows}, {"mmproj", t->mmproj},
                      {"imatrix", t->imatrix}}
                         .dump(2)
              << "\n";
    return;
  }
  ctx.out() << t->repo << " @ " << t->commit.substr(0, 12) << ", context " << group_thousands(a.ctx) << "\n";
  if (t->budget_mib) ctx.out() << "Budget: " << group_thousands(static_cast<std::int64_t>(*t->budget_mib)) << " MiB (" << budget->how << ")\n";
  util::TextTable tab({{"QUANT"}, {"SIZE", true}, {"VRAM MiB", true}, {"FITS"}, {"MAX CTX", true}, {"FILE"}});
  for (std::size_t i = 0; i < t->rows.size(); ++i) {
    const auto& r = t->rows[i];
    std::string fits = "-";
    if (t->budget_mib && r.estimate) fits = r.fits ? (t->best == i ? "yes (best)" : "yes") : "no";
    tab.add_row({r.label, gb(r.file_bytes), r.estimate ? group_thousands(ceil_mib(r.estimate->gpu.total_mib)) : "error",
                 fits, r.max_context ? group_thousands(*r.max_context) : "-",
                 r.file + (r.parts > 1 ? " (+" + std::to_string(r.parts - 1) + " parts)" : "")});
  }
  ctx.out() << tab.render();
  for (const auto& r : t->rows) {
    if (!r.error.empty()) ctx.out() << "  " << r.label << ": " << r.error << "\n";
  }
  if (!t->mmproj.empty()) ctx.out() << "Vision projectors: " << util::join(t->mmproj, ", ") << "\n";
  if (!t->imatrix.empty()) ctx.out() << "Importance matrices: " << util::join(t->imatrix, ", ") << "\n";
  ctx.out() << "VRAM: llama-server at this context (f16 KV unless --cache-type, 4 slots, flash attention), from each file's header.\n";
}

struct DiscoverArgs {
  std::string query;
  std::string author;
  std::string task;
  std::optional<std::int64_t> budget;
  std::string mode;
  std::uint32_t limit = 10;
  bool json = false;
};

void discover_cmd(AppContext& ctx, const DiscoverArgs& a) {
  auto hub = make_hub();
  if (!hub) return ctx.fail(hub.error());
  auto budget = resolve_budget(ctx, a.budget, a.mode, "--budget");
  if (!budget) return ctx.fail(budget.error());
  engine::DiscoverOptions o;
  o.query = a.query;
  o.author = a.author;
  o.task = a.task;
  o.limit = a.limit;
  o.budget_mib = budget->mib;
  auto hits = engine::discover(**hub, o);
  if (!hits) return ctx.fail(hits.error());
  if (a.json) {
    json arr = json::array();
    for (const auto& h : *hits) {
      json j{{"repo", h.model.id}, {"downloads", h.model.downloads}, {"likes", h.model.likes},
             {"quants", h.quant_count}};
      if (h.best) {
        j["best"] = {{"quant", h.best->label}, {"file", h.best->name}, {"file_bytes", h.best->total_bytes}};
      } else {
        j["best"] = nullptr;
      }
      if (!h.error.empty()) j["error"] = h.error;
      arr.push_back(j);
    }
    ctx.out() << json{{"budget_mib", budget->mib ? json(*budget->mib) : json(nullptr)}, {"results", arr}}.dump(2) << "\n";
    return;
  }
  if (budget->mib) ctx.out() << "Budget: " << group_thousands(static_cast<std::int64_t>(*budget->mib)) << " MiB (" << budget->how << ")\n";
  util::TextTable tab({{"REPO"}, {"DOWNLOADS", true}, {"QUANTS", true}, {"BEST THAT FITS"}, {"SIZE", true}});
  for (const auto& h : *hits) {
    tab.add_row({h.model.id, group_thousands(static_cast<std::int64_t>(h.model.downloads)), std::to_string(h.quant_count),
                 h.best ? h.best->label : (h.error.empty() ? "none" : "error"), h.best ? gb(h.best->total_bytes) : "-"});
  }
  ctx.out() << tab.render();
  ctx.out() << "Fit by file size + 1.5 GiB; exact figures: gpumod model quants REPO --ctx N\n";
}

struct PresetArgs {
  std::string repo;
  std::string quant;
  std::string revision = "main";
  std::uint32_t ctx = 0;
  std::optional<int> port;
  std::string id;
  std::string out;
  std::optional<std::int64_t> vram;
  std::string mode;
  std::string models_dir = "$HOME/models";
  bool json = false;
};

void preset_generate(AppContext& ctx, const PresetArgs& a) {
  auto hub = make_hub();
  if (!hub) return ctx.fail(hub.error());
  auto budget = resolve_budget(ctx, a.vram, a.mode);
  if (!budget) return ctx.fail(budget.error());
  if (!budget->mib) return ctx.fail({util::ErrorCode::unavailable, "no GPU found to size the preset; give --vram MiB"});
  auto cfg = ctx.config();
  engine::PresetRequest r;
  r.repo = a.repo;
  r.quant = a.quant;
  r.revision = a.revision;
  r.context_size = a.ctx;
  r.port = a.port;
  r.id = a.id;
  r.models_dir = a.models_dir;
  r.budget_mib = *budget->mib;
  auto p = engine::generate_preset(**hub, r, cfg ? *cfg : nullptr);
  if (!p) return ctx.fail(p.error());
  if (!a.out.empty()) {
    if (std::filesystem::exists(a.out)) {
      return ctx.fail({util::ErrorCode::conflict, a.out + " exists; not overwriting it"});
    }
    std::ofstream f(a.out);
    f << p->yaml;
    if (!f) return ctx.fail({util::ErrorCode::io, "cannot write " + a.out});
  }
  if (a.json) {
    ctx.out() << json{{"id", p->id}, {"port", p->port}, {"vram_mib", p->vram_mib}, {"context_size", p->context_size},
                      {"n_cpu_moe", p->n_cpu_moe}, {"notes", p->notes}, {"yaml", p->yaml},
                      {"written_to", a.out.empty() ? json(nullptr) : json(a.out)}}
                         .dump(2)
              << "\n";
    return;
  }
  if (a.out.empty()) {
    ctx.out() << p->yaml;
  } else {
    ctx.out() << "Wrote " << a.out << " (id " << p->id << ", port " << p->port << ", " << group_thousands(p->vram_mib)
              << " MiB at context " << group_thousands(p->context_size) << "). Check it with: gpumod config check\n";
  }
}

struct DownloadArgs {
  std::string repo;
  std::string quant;
  std::string revision = "main";
  std::string dir;
  bool json = false;
};

void model_download(AppContext& ctx, const DownloadArgs& a) {
  auto hub = make_hub();
  if (!hub) return ctx.fail(hub.error());
  std::string dir = a.dir;
  if (dir.empty()) {
    const char* home = std::getenv("HOME");
    if (home == nullptr) return ctx.fail({util::ErrorCode::invalid_argument, "no --dir and no HOME"});
    dir = std::string(home) + "/models";
  }
  auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  const auto start = std::chrono::steady_clock::now();
  bool drew = false;
  // Progress only for a person: a terminal, no --json.
  const bool show_progress = !a.json && ::isatty(STDERR_FILENO);
  std::optional<std::uint64_t> first_bytes;  // bytes already there when this run began (a resume)
  auto progress = [&](const engine::DownloadProgress& p) {
    if (!show_progress) return;
    if (!first_bytes) first_bytes = p.done_bytes;
    const auto now = std::chrono::steady_clock::now();
    if (now - last < std::chrono::milliseconds(200) && p.done_bytes < p.total_bytes) return;
    last = now;
    const double frac = p.total_bytes ? static_cast<double>(p.done_bytes) / static_cast<double>(p.total_bytes) : 1.0;
    const int width = 30;
    const int filled = static_cast<int>(frac * width);
    const double secs = std::chrono::duration<double>(now - start).count();
    char line[256];
    std::snprintf(line, sizeof line, "\r[%s%s] %3d%% %.2f/%.2f GB %s", std::string(static_cast<std::size_t>(filled), '#').c_str(),
                  std::string(static_cast<std::size_t>(width - filled), ' ').c_str(), static_cast<int>(frac * 100),
                  static_cast<double>(p.done_bytes) / 1e9, static_cast<double>(p.total_bytes) / 1e9, p.file.c_str());
    ctx.err() << line;
    if (secs > 0.5 && p.done_bytes > *first_bytes) {
      const double rate = static_cast<double>(p.done_bytes - *first_bytes) / secs;  // bytes/s this run
      ctx.err() << " " << static_cast<long long>(rate / k_mib) << " MiB/s";
      if (p.total_bytes > p.done_bytes) {
        const auto eta = static_cast<long long>(static_cast<double>(p.total_bytes - p.done_bytes) / rate);
        ctx.err() << " ETA " << eta / 60 << "m" << (eta % 60 < 10 ? "0" : "") << eta % 60 << "s";
      }
    }
    ctx.err() << "\033[K";
    ctx.err().flush();
    drew = true;
  };
  auto r = engine::download_quant(**hub, a.repo, a.quant, a.revision, dir, progress);
  if (drew) ctx.err() << "\n";
  if (!r) return ctx.fail(r.error());
  if (a.json) {
    json files = json::array();
    for (const auto& f : r->files) files.push_back(f.string());
    ctx.out() << json{{"files", files}, {"downloaded_bytes", r->downloaded_bytes}, {"sha256_verified", r->verified}}.dump(2) << "\n";
    return;
  }
  for (const auto& f : r->files) ctx.out() << f.string() << "\n";
  ctx.out() << (r->verified ? "SHA-256 verified against the Hub.\n" : "Not verified: the Hub gave no SHA-256 for a file.\n");
}

}  // namespace

void register_hf_commands(CLI::App& root, AppContext& ctx) {
  auto* model = group(root, "model", "Models (registry, Hugging Face)");
  {
    auto a = std::make_shared<QuantsArgs>();
    auto* c = model->add_subcommand("quants", "Every quant of a Hugging Face GGUF repo (or a safetensors repo's weights for vLLM): size, estimated VRAM, fit");
    c->add_option("repo", a->repo, "OWNER/NAME")->required();
    c->add_option("--revision", a->revision, "Branch, tag or commit");
    c->add_option("--ctx", a->ctx, "Context size")->check(CLI::Range(256, 1048576));
    c->add_option("--vram", a->vram, "GPU memory in MiB (default: this GPU's total)");
    c->add_option("--mode", a->mode, "Subtract the services of this mode from the budget");
    c->add_option("--cache-type", a->cache_type, "KV cache type (f16, q8_0, ...) for GGUF repos");
    c->add_option("--kv-cache-dtype", a->kv_cache_dtype, "vLLM KV cache dtype for safetensors repos (auto, fp8, ...)");
    c->add_option("--parallel", a->parallel, "Headers read at once")->check(CLI::Range(1, 16));
    c->add_flag("--json", a->json, "Print JSON");
    c->callback([&ctx, a] { ctx.set_action([&ctx, a] { model_quants(ctx, *a); }); });
  }
  {
    auto a = std::make_shared<DownloadArgs>();
    auto* c = model->add_subcommand("download", "Download a quant (resumable, SHA-256 verified)");
    c->add_option("repo", a->repo, "OWNER/NAME")->required();
    c->add_option("--quant", a->quant, "Quant label or file name")->required();
    c->add_option("--revision", a->revision, "Branch, tag or commit");
    c->add_option("--dir", a->dir, "Target folder (default: ~/models)");
    c->add_flag("--json", a->json, "Print JSON");
    c->callback([&ctx, a] { ctx.set_action([&ctx, a] { model_download(ctx, *a); }); });
  }
  {
    auto a = std::make_shared<DiscoverArgs>();
    auto* c = root.add_subcommand("discover", "Search Hugging Face for GGUF models that fit");
    c->add_option("query", a->query, "Search text");
    c->add_option("--author", a->author, "Hub user or organisation (e.g. unsloth)");
    c->add_option("--task", a->task, "code, chat, embed or reasoning");
    c->add_option("--budget", a->budget, "VRAM budget in MiB (default: this GPU's total)");
    c->add_option("--mode", a->mode, "Subtract the services of this mode from the budget");
    c->add_option("--limit", a->limit, "Repos to show (1-50)");
    c->add_flag("--json", a->json, "Print JSON");
    c->callback([&ctx, a] { ctx.set_action([&ctx, a] { discover_cmd(ctx, *a); }); });
  }
  {
    auto* preset = group(root, "preset", "Presets");
    auto a = std::make_shared<PresetArgs>();
    auto* c = preset->add_subcommand("generate", "Generate a llama.cpp router preset for a Hugging Face GGUF quant");
    c->add_option("repo", a->repo, "OWNER/NAME")->required();
    c->add_option("--quant", a->quant, "Quant label or file name")->required();
    c->add_option("--revision", a->revision, "Branch, tag or commit");
    c->add_option("--ctx", a->ctx, "Context size (default: the largest that fits, up to 32,768)");
    c->add_option("--port", a->port, "Port (default: the first free one from 7071)");
    c->add_option("--id", a->id, "Preset id (default: from the repo name)");
    c->add_option("--out", a->out, "Write the YAML here (default: print it)");
    c->add_option("--vram", a->vram, "GPU memory in MiB (default: this GPU's total)");
    c->add_option("--mode", a->mode, "Subtract the services of this mode from the budget");
    c->add_option("--models-dir", a->models_dir, "unit_vars.models_dir");
    c->add_flag("--json", a->json, "Print JSON");
    c->callback([&ctx, a] { ctx.set_action([&ctx, a] { preset_generate(ctx, *a); }); });
  }
}

}  // namespace gpumod::app
