// gpumod model register|list|show|remove|estimate
#include <CLI/CLI.hpp>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/core/fit_prediction.hpp"
#include "gpumod/core/vram_estimator.hpp"
#include "gpumod/engine/hf_models.hpp"
#include "gpumod/engine/model_registry.hpp"
#include "gpumod/infra/hf/hub_client.hpp"
#include "gpumod/infra/gguf/model_info.hpp"
#include "gpumod/infra/gguf/reader.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/util/ids.hpp"
#include "gpumod/util/strings.hpp"
#include "gpumod/util/subprocess.hpp"
#include "gpumod/util/table.hpp"

namespace gpumod::app {

namespace fs = std::filesystem;
using nlohmann::json;
using util::ErrorCode;

namespace {

std::string fixed(double v, int digits = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  std::string s = buf;
  // group the integer part
  const auto dot = s.find('.');
  std::string ip = s.substr(0, dot), fp = dot == std::string::npos ? "" : s.substr(dot);
  const bool neg = !ip.empty() && ip[0] == '-';
  if (neg) ip.erase(0, 1);
  std::string g;
  for (std::size_t i = 0; i < ip.size(); ++i) {
    if (i > 0 && (ip.size() - i) % 3 == 0) g += ',';
    g += ip[i];
  }
  return (neg ? "-" : "") + g + fp;
}

json record_json(const infra::state::ModelRecord& r) {
  json j = {{"id", r.id},
            {"source", r.source},
            {"location", r.location},
            {"architecture", r.architecture},
            {"quant", r.quant},
            {"file_bytes", r.file_bytes},
            {"notes", r.notes},
            {"registered_at_ms", r.registered_at_ms},
            {"updated_at_ms", r.updated_at_ms}};
  j["parameters_b"] = r.parameters_b ? json(*r.parameters_b) : json(nullptr);
  j["base_vram_mib"] = r.base_vram_mib ? json(*r.base_vram_mib) : json(nullptr);
  j["kv_per_1k_mib"] = r.kv_per_1k_mib ? json(*r.kv_per_1k_mib) : json(nullptr);
  j["summary"] = json::parse(r.metadata_json.empty() ? "{}" : r.metadata_json, nullptr, false);
  if (j["summary"].is_discarded()) j["summary"] = json::object();
  return j;
}

// `reading`: a read-only command (list, show): works with a broken configuration or a read-only
// state directory.
util::Result<engine::ModelRegistry> registry(AppContext& ctx, bool reading = false) {
  auto st = reading ? ctx.state_for_reading() : ctx.state();
  if (!st) return std::unexpected(st.error());
  return engine::ModelRegistry(**st);
}

// ---- register / list / show / remove --------------------------------------------------------

struct RegisterArgs {
  std::string source = "gguf";
  std::string path;
  std::string id;
  std::string vram_mib;
  std::string kv_per_1k;
  std::string architecture;
  std::string quant;
  std::string revision = "main";
  bool json = false;
};

void model_register(AppContext& ctx, const RegisterArgs& a) {
  util::Result<engine::Registration> reg = util::fail(ErrorCode::internal, "unreachable");
  if (a.source == "gguf") {
    if (a.path.empty()) return ctx.fail({ErrorCode::invalid_argument, "--source gguf needs a PATH to a .gguf file"});
    if (!a.vram_mib.empty() || !a.kv_per_1k.empty()) {
      return ctx.fail({ErrorCode::invalid_argument, "--vram-mib and --kv-per-1k-mib are for --source local (a GGUF file is measured from its header)"});
    }
    if (!a.id.empty()) {
      if (auto st = util::validate_id(a.id, "model id"); !st) return ctx.fail(st.error());
    }
    auto r = registry(ctx);
    if (!r) return ctx.fail(r.error());
    reg = r->register_gguf(a.path, a.id.empty() ? std::nullopt : std::optional<std::string>(a.id));
  } else if (a.source == "local") {
    if (!a.path.empty()) return ctx.fail({ErrorCode::invalid_argument, "--source local takes no PATH (use --source gguf for a file)"});
    if (a.id.empty()) return ctx.fail({ErrorCode::invalid_argument, "--source local needs --id"});
    if (a.vram_mib.empty()) return ctx.fail({ErrorCode::invalid_argument, "--source local needs --vram-mib"});
    engine::LocalModel m;
    m.id = a.id;
    auto v = util::parse_int(a.vram_mib, 1, 10'000'000, "--vram-mib");
    if (!v) return ctx.fail(v.error());
    m.vram_mib = *v;
    if (!a.kv_per_1k.empty()) {
      char* end = nullptr;
      const double kv = std::strtod(a.kv_per_1k.c_str(), &end);
      if (end == a.kv_per_1k.c_str() || *end != '\0' || !std::isfinite(kv) || kv < 0 || kv > 1e6) {
        return ctx.fail({ErrorCode::invalid_argument, "--kv-per-1k-mib '" + a.kv_per_1k + "' is not a number in 0..1000000"});
      }
      m.kv_per_1k_mib = kv;
    }
    m.architecture = a.architecture;
    if (auto st = util::validate_id(m.id, "model id"); !st) return ctx.fail(st.error());
    auto r = registry(ctx);
    if (!r) return ctx.fail(r.error());
    reg = r->register_local(m);
  } else if (a.source == "huggingface") {
    // The header and tensor table of the chosen quant, read from the Hub by HTTP Range requests.
    // Without --quant: a safetensors repo (a vLLM model): its headers and config.json.
    if (a.path.empty()) return ctx.fail({ErrorCode::invalid_argument, "--source huggingface needs a REPO (owner/name)"});
    if (!a.id.empty()) {
      if (auto st = util::validate_id(a.id, "model id"); !st) return ctx.fail(st.error());
    }
    auto settings = infra::hf::hub_settings_from_env();
    if (!settings) return ctx.fail(settings.error());
    infra::hf::HubClient hub(std::move(*settings));
    if (a.quant.empty()) {
      auto st_model = engine::fetch_hf_safetensors(hub, a.path, a.revision);
      if (!st_model) return ctx.fail(st_model.error());
      auto rec = engine::record_from_safetensors(*st_model);
      rec.id = a.id.empty() ? engine::model_id_from_filename(st_model->repo.substr(st_model->repo.find('/') + 1)) : a.id;
      if (rec.id.empty()) return ctx.fail({ErrorCode::invalid_argument, "no model id from " + st_model->repo + "; give --id"});
      auto r = registry(ctx);
      if (!r) return ctx.fail(r.error());
      reg = r->register_record(rec);
    } else {
      auto model = engine::fetch_hf_model(hub, a.path, a.quant, a.revision);
      if (!model) return ctx.fail(model.error());
      auto rec = engine::record_from_gguf(model->file, fs::path(model->quant.name).filename().string(), model->location);
      if (!rec) return ctx.fail(rec.error());
      rec->source = "huggingface";
      rec->id = a.id.empty() ? engine::model_id_from_filename(fs::path(model->quant.name).filename().string()) : a.id;
      auto r = registry(ctx);
      if (!r) return ctx.fail(r.error());
      reg = r->register_record(*rec);
    }
  } else {
    return ctx.fail({ErrorCode::invalid_argument, "--source must be gguf, local or huggingface, got '" + a.source + "'"});
  }
  if (!reg) return ctx.fail(reg.error());
  const auto& rec = reg->record;
  if (a.json) {
    json j = record_json(rec);
    j["refreshed"] = reg->refreshed;
    ctx.out() << j.dump(2) << "\n";
    return;
  }
  ctx.out() << (reg->refreshed ? "Refreshed model " : "Registered model ") << rec.id << " (" << rec.source;
  if (!rec.architecture.empty()) ctx.out() << ", " << rec.architecture;
  if (!rec.quant.empty()) ctx.out() << ", " << rec.quant;
  ctx.out() << ")";
  if (rec.base_vram_mib) ctx.out() << ": " << util::group_thousands(*rec.base_vram_mib) << " MiB";
  if (rec.kv_per_1k_mib) ctx.out() << ", +" << fixed(*rec.kv_per_1k_mib, 2) << " MiB per 1k tokens";
  ctx.out() << "\n";
}

void model_list(AppContext& ctx, bool as_json) {
  auto r = registry(ctx, true);
  if (!r) return ctx.fail(r.error());
  auto models = r->list();
  if (!models) return ctx.fail(models.error());
  if (as_json) {
    json arr = json::array();
    for (const auto& m : *models) arr.push_back(record_json(m));
    ctx.out() << json{{"models", arr}}.dump(2) << "\n";
    return;
  }
  if (models->empty()) {
    ctx.out() << "No models registered (gpumod model register --source gguf FILE).\n";
    return;
  }
  util::TextTable t({{"ID"}, {"SOURCE"}, {"ARCH"}, {"QUANT"}, {"PARAMS B", true}, {"FILE MiB", true},
                     {"BASE MiB", true}, {"KV/1k MiB", true}});
  for (const auto& m : *models) {
    t.add_row({m.id, m.source, m.architecture.empty() ? "-" : m.architecture, m.quant.empty() ? "-" : m.quant,
               m.parameters_b ? fixed(*m.parameters_b, 2) : "-",
               m.file_bytes > 0 ? fixed(static_cast<double>(m.file_bytes) / 1048576.0) : "-",
               m.base_vram_mib ? util::group_thousands(*m.base_vram_mib) : "-",
               m.kv_per_1k_mib ? fixed(*m.kv_per_1k_mib, 2) : "-"});
  }
  ctx.out() << t.render();
}

util::Result<infra::state::ModelRecord> lookup(AppContext& ctx, const std::string& id) {
  if (auto st = util::validate_id(id, "model id"); !st) return std::unexpected(st.error());
  auto r = registry(ctx);
  if (!r) return std::unexpected(r.error());
  auto m = r->get(id);
  if (!m) return std::unexpected(m.error());
  if (!*m) {
    std::vector<std::string> ids;
    if (auto all = r->list()) {
      for (const auto& x : *all) ids.push_back(x.id);
    }
    return util::fail(ErrorCode::not_found, "no model '" + id + "'" + util::did_you_mean(id, ids));
  }
  return **m;
}

void model_show(AppContext& ctx, const std::string& id, bool as_json) {
  auto m = lookup(ctx, id);
  if (!m) return ctx.fail(m.error());
  if (as_json) {
    ctx.out() << record_json(*m).dump(2) << "\n";
    return;
  }
  auto& o = ctx.out();
  o << "Model " << m->id << "\n";
  o << "Source:        " << m->source << "\n";
  if (!m->location.empty()) o << "Location:      " << m->location << "\n";
  o << "Architecture:  " << (m->architecture.empty() ? "-" : m->architecture) << "\n";
  o << "Quant:         " << (m->quant.empty() ? "-" : m->quant) << "\n";
  if (m->parameters_b) o << "Parameters:    " << fixed(*m->parameters_b, 3) << " B\n";
  if (m->file_bytes > 0) o << "File size:     " << fixed(static_cast<double>(m->file_bytes) / 1048576.0) << " MiB\n";
  o << "Base VRAM:     " << (m->base_vram_mib ? util::group_thousands(*m->base_vram_mib) + " MiB" : "-") << "\n";
  o << "KV per 1k:     " << (m->kv_per_1k_mib ? fixed(*m->kv_per_1k_mib, 2) + " MiB" : "-") << "\n";
  if (!m->notes.empty()) o << "Notes:         " << m->notes << "\n";
  const json summary = json::parse(m->metadata_json.empty() ? "{}" : m->metadata_json, nullptr, false);
  if (summary.is_object() && !summary.empty()) {
    for (const char* k : {"n_layer", "n_embd", "n_head", "n_head_kv", "n_ctx_train", "n_expert", "n_expert_used", "n_swa"}) {
      if (summary.contains(k) && summary[k].is_number() && summary[k].get<double>() != 0) {
        o << "  " << k << ": " << summary[k].dump() << "\n";
      }
    }
  }
}

void model_remove(AppContext& ctx, const std::string& id, bool as_json) {
  auto r = registry(ctx);
  if (!r) return ctx.fail(r.error());
  auto removed = r->remove(id);
  if (!removed) return ctx.fail(removed.error());
  if (as_json) {
    ctx.out() << json{{"id", id}, {"removed", *removed}}.dump(2) << "\n";
    return;
  }
  ctx.out() << (*removed ? "Removed model " + id : "Model " + id + " was not registered") << "\n";
}

// ---- estimate -------------------------------------------------------------------------------

struct EstimateArgs {
  std::string target;
  std::string ctx_size, ctk = "f16", ctv = "f16", flash_attn = "on", ngl = "all", n_cpu_moe, parallel, batch,
                        ubatch, overhead, fit, kv_unified, fit_target;
  bool swa_full = false;
  bool json = false;
};

struct FitParamsFigures {
  std::string device;
  double gpu_model = 0, gpu_context = 0, gpu_compute = 0;
  double host_model = 0, host_context = 0, host_compute = 0;
  std::string command;
};

// llama-fit-params --fit-print on: "<dev> model context compute" per device, then "Host ...".
std::optional<FitParamsFigures> run_fit_params(const std::string& path, const core::EstimateOptions& o) {
  const std::string bin = util::find_program("llama-fit-params");
  if (bin.empty()) return std::nullopt;
  std::vector<std::string> argv{bin, "-m", path, "-c", std::to_string(o.context_size),
                                "-ngl", o.n_gpu_layers < 0 ? "999" : std::to_string(o.n_gpu_layers),
                                "-ctk", std::string(core::to_string(o.cache_type_k)),
                                "-ctv", std::string(core::to_string(o.cache_type_v)),
                                "-fa", o.flash_attn ? "on" : "off", "-np", std::to_string(o.n_parallel),
                                "-b", std::to_string(o.n_batch), "-ub", std::to_string(o.n_ubatch),
                                "--fit-print", "on"};
  if (o.swa_full) argv.emplace_back("--swa-full");
  if (o.n_cpu_moe > 0) {
    argv.push_back("--n-cpu-moe");
    argv.push_back(std::to_string(o.n_cpu_moe));
  }
  util::CaptureOptions co;
  co.deadline = std::chrono::seconds(60);
  auto r = util::run_capture(argv, co);
  if (!r || r->exit_code != 0) return std::nullopt;
  FitParamsFigures f;
  bool gpu = false, host = false;
  for (const auto& line : util::split(r->out, '\n')) {
    std::vector<std::string> w;
    for (auto& x : util::split(util::trim(line), ' ')) {
      if (!x.empty()) w.push_back(x);
    }
    if (w.size() != 4) continue;
    double v[3];
    bool ok = true;
    for (int i = 0; i < 3; ++i) {
      char* end = nullptr;
      v[i] = std::strtod(w[1 + i].c_str(), &end);
      ok = ok && end && *end == '\0' && end != w[1 + i].c_str();
    }
    if (!ok) continue;
    if (w[0] == "Host") {
      f.host_model = v[0], f.host_context = v[1], f.host_compute = v[2];
      host = true;
    } else if (!gpu) {
      f.device = w[0];
      f.gpu_model = v[0], f.gpu_context = v[1], f.gpu_compute = v[2];
      gpu = true;
    }
  }
  if (!gpu && !host) return std::nullopt;
  f.command = util::join(argv, " ");
  return f;
}

util::Result<std::optional<std::int64_t>> opt_int(const std::string& text, std::int64_t lo, std::int64_t hi,
                                                  std::string_view what) {
  if (text.empty()) return std::optional<std::int64_t>{};
  auto v = util::parse_int(util::trim(text), lo, hi, what);
  if (!v) return std::unexpected(v.error());
  return std::optional<std::int64_t>{*v};
}

void model_estimate(AppContext& ctx, const EstimateArgs& a) {
  // Validate every option before touching files.
  core::EstimateOptions o;
  auto ctx_size = opt_int(a.ctx_size, 0, 1'048'576, "--ctx");
  if (!ctx_size) return ctx.fail(ctx_size.error());
  auto ctk = core::parse_kv_cache_type(a.ctk);
  if (!ctk || *ctk == core::KvCacheType::f32) {
    return ctx.fail({ErrorCode::invalid_argument, "--cache-type-k '" + a.ctk + "' is not one of f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0, iq4_nl"});
  }
  auto ctv = core::parse_kv_cache_type(a.ctv);
  if (!ctv || *ctv == core::KvCacheType::f32) {
    return ctx.fail({ErrorCode::invalid_argument, "--cache-type-v '" + a.ctv + "' is not one of f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0, iq4_nl"});
  }
  o.cache_type_k = *ctk;
  o.cache_type_v = *ctv;
  const std::string fa = util::to_lower(a.flash_attn);
  if (fa == "on" || fa == "auto") o.flash_attn = true;
  else if (fa == "off") o.flash_attn = false;
  else return ctx.fail({ErrorCode::invalid_argument, "--flash-attn must be on, off or auto, got '" + a.flash_attn + "'"});
  const std::string ngl = util::to_lower(a.ngl);
  const bool fit_layers = ngl == "fit";
  if (ngl == "all" || ngl == "auto" || fit_layers) {
    o.n_gpu_layers = -1;
  } else {
    auto n = util::parse_int(ngl, -1, 100000, "--n-gpu-layers");
    if (!n) return ctx.fail(n.error());
    o.n_gpu_layers = static_cast<int>(*n);
  }
  auto moe = opt_int(a.n_cpu_moe, 0, 100000, "--n-cpu-moe");
  if (!moe) return ctx.fail(moe.error());
  auto par = opt_int(a.parallel, 1, 4096, "--parallel");
  if (!par) return ctx.fail(par.error());
  auto batch = opt_int(a.batch, 1, 1 << 20, "--batch");
  if (!batch) return ctx.fail(batch.error());
  auto ubatch = opt_int(a.ubatch, 1, 1 << 20, "--ubatch");
  if (!ubatch) return ctx.fail(ubatch.error());
  auto overhead = opt_int(a.overhead, 0, 100000, "--overhead-mib");
  if (!overhead) return ctx.fail(overhead.error());
  auto budget = opt_int(a.fit, 1, 100'000'000, "--fit");
  if (!budget) return ctx.fail(budget.error());
  if (fit_layers && !*budget) return ctx.fail({ErrorCode::invalid_argument, "--n-gpu-layers fit needs --fit BUDGET_MIB"});
  auto fit_free = opt_int(a.fit_target, 1, 100'000'000, "--fit-target-mib");
  if (!fit_free) return ctx.fail(fit_free.error());
  if (*ctx_size) o.context_size = static_cast<std::uint32_t>(**ctx_size);
  if (*moe) o.n_cpu_moe = static_cast<std::uint32_t>(**moe);
  if (*par) o.n_parallel = static_cast<std::uint32_t>(**par);
  if (*batch) o.n_batch = static_cast<std::uint32_t>(**batch);
  if (*ubatch) o.n_ubatch = static_cast<std::uint32_t>(**ubatch);
  if (o.n_ubatch > o.n_batch) return ctx.fail({ErrorCode::invalid_argument, "--ubatch must not exceed --batch"});
  if (*overhead) o.runtime_overhead_mib = static_cast<double>(**overhead);
  o.swa_full = a.swa_full;
  // llama-server keeps one unified cache only when the slot count is left to it (-np unset).
  const std::string kvu = util::to_lower(a.kv_unified);
  if (kvu.empty()) o.kv_unified = !*par;
  else if (kvu == "on") o.kv_unified = true;
  else if (kvu == "off") o.kv_unified = false;
  else return ctx.fail({ErrorCode::invalid_argument, "--kv-unified must be on or off, got '" + a.kv_unified + "'"});

  // The model: a file, or a registered id.
  std::string path, model_id;
  std::optional<infra::state::ModelRecord> record;
  std::error_code ec;
  const bool looks_like_file = a.target.find('/') != std::string::npos || util::to_lower(a.target).ends_with(".gguf") ||
                               fs::is_regular_file(a.target, ec);
  if (looks_like_file) {
    if (!fs::exists(a.target, ec)) return ctx.fail({ErrorCode::not_found, "no such file: " + a.target});
    path = a.target;
    model_id = engine::model_id_from_filename(fs::path(path).filename().string());
  } else {
    auto m = lookup(ctx, a.target);
    if (!m) return ctx.fail(m.error());
    record = *m;
    model_id = m->id;
    if ((m->source == "gguf" || m->source == "huggingface") && !m->location.empty() && fs::is_regular_file(m->location, ec)) {
      path = m->location;
    }
  }

  // Layer 1: the header estimate (or the registered figure for a hand-entered model).
  std::optional<core::ModelShape> shape;
  std::string quant;
  if (!path.empty()) {
    auto f = infra::gguf::read_gguf_model(path);
    if (!f) return ctx.fail(f.error());
    auto s = infra::gguf::model_shape_from_gguf(*f);
    if (!s) return ctx.fail(s.error());
    shape = std::move(*s);
    quant = infra::gguf::quant_label(*f, fs::path(path).filename().string());
  } else if (!record || !record->base_vram_mib) {
    return ctx.fail({ErrorCode::invalid_argument, "model '" + a.target + "' has no readable GGUF file and no registered VRAM figure"});
  }
  if (*budget && !shape) return ctx.fail({ErrorCode::invalid_argument, "--fit needs a GGUF file (model '" + a.target + "' has none)"});
  if (*fit_free && !shape) {
    return ctx.fail({ErrorCode::invalid_argument, "--fit-target-mib needs a GGUF file (model '" + a.target + "' has none)"});
  }

  core::Estimate est;
  if (shape) {
    est = core::estimate_vram(*shape, o);
  } else {
    const std::int64_t ctx_tokens = o.context_size ? o.context_size : engine::k_registry_base_context;
    const double kv = record->kv_per_1k_mib.value_or(0.0) *
                      static_cast<double>(ctx_tokens - static_cast<std::int64_t>(engine::k_registry_base_context)) / 1024.0;
    est.gpu.weights_mib = static_cast<double>(*record->base_vram_mib);
    est.gpu.kv_mib = kv;
    est.gpu.total_mib = std::max(0.0, static_cast<double>(*record->base_vram_mib) + kv);
    est.gpu.total_at_load_mib = est.gpu.total_mib;
    est.context_size = static_cast<std::uint32_t>(ctx_tokens);
    est.source = "registered figure";
    // A Hugging Face safetensors record holds gpumod's vLLM estimate (engine::record_from_safetensors).
    const bool vllm = record->source == "huggingface" && record->metadata_json.find("\"safetensors\"") != std::string::npos;
    est.notes.push_back(std::string(vllm ? "vLLM model (safetensors, estimated from its headers)" : "hand-entered model") +
                        ": base " + util::group_thousands(*record->base_vram_mib) + " MiB at " +
                        std::to_string(engine::k_registry_base_context) + " tokens + kv_per_1k");
  }

  // Layer 3: measurements recorded for this model and these settings.
  std::optional<infra::state::ModelMeasurement> measured;
  if (!model_id.empty() && util::is_valid_id(model_id)) {
    auto st = ctx.state();
    if (st) {
      core::EstimateOptions key_opts = o;
      key_opts.context_size = est.context_size ? est.context_size : o.context_size;
      if (auto ms = (*st)->list_measurements(model_id, engine::measurement_settings_key(key_opts)); ms && !ms->empty()) {
        measured = ms->back();
      }
    }
  }

  // Authority: llama.cpp's own llama-fit-params, when installed.
  std::optional<FitParamsFigures> authority;
  if (!path.empty()) {
    core::EstimateOptions fo = o;
    fo.context_size = est.context_size;
    authority = run_fit_params(path, fo);
  }

  // --fit BUDGET
  std::optional<std::uint32_t> fit_ctx;
  std::optional<int> fit_ngl;
  if (*budget) {
    if (fit_layers) fit_ngl = core::fit_gpu_layers(*shape, o, static_cast<double>(**budget));
    else fit_ctx = core::fit_context(*shape, o, static_cast<double>(**budget));
  }

  // --fit-target-mib FREE: what llama-server --fit on picks with FREE MiB free at start.
  std::optional<core::FitPrediction> fit_on;
  if (*fit_free) {
    core::FitOptions fo;
    fo.free_mib = static_cast<double>(**fit_free);
    fo.context_set_by_user = !a.ctx_size.empty();
    fo.gpu_layers_set_by_user = !(ngl == "all" || ngl == "auto" || fit_layers);
    auto p = core::predict_fit(*shape, o, fo);
    if (!p) return ctx.fail(p.error());
    fit_on = std::move(*p);
  }

  if (a.json) {
    json j;
    j["model"] = {{"target", a.target}, {"file", path}, {"id", model_id}};
    if (shape) {
      j["model"]["architecture"] = shape->architecture;
      j["model"]["quant"] = quant;
      j["model"]["n_layer"] = shape->n_layer;
      j["model"]["n_ctx_train"] = shape->n_ctx_train;
      j["model"]["n_params"] = shape->n_params;
    }
    j["settings"] = {{"ctx", o.context_size},
                     {"cache_type_k", core::to_string(o.cache_type_k)},
                     {"cache_type_v", core::to_string(o.cache_type_v)},
                     {"flash_attn", o.flash_attn},
                     {"n_gpu_layers", o.n_gpu_layers},
                     {"n_cpu_moe", o.n_cpu_moe},
                     {"parallel", o.n_parallel},
                     {"batch", o.n_batch},
                     {"ubatch", o.n_ubatch},
                     {"swa_full", o.swa_full},
                     {"kv_unified", o.kv_unified}};
    j["settings"]["overhead_mib"] = o.runtime_overhead_mib ? json(*o.runtime_overhead_mib) : json(nullptr);
    j["estimate"] = {{"source", est.source},
                     {"context_size", est.context_size},
                     {"gpu_layers", est.gpu_layers},
                     {"output_on_gpu", est.output_on_gpu},
                     {"overhead_measured", est.overhead_measured},
                     {"gpu", {{"weights_mib", est.gpu.weights_mib}, {"kv_mib", est.gpu.kv_mib},
                              {"recurrent_state_mib", est.gpu.recurrent_state_mib}, {"compute_mib", est.gpu.compute_mib},
                              {"overhead_mib", est.gpu.overhead_mib}, {"workspace_mib", est.gpu.workspace_mib},
                              {"total_at_load_mib", est.gpu.total_at_load_mib}, {"total_mib", est.gpu.total_mib}}},
                     {"host_mib", est.host_mib},
                     {"notes", est.notes}};
    if (measured) {
      j["measured"] = {{"source", "measured"}, {"settings_key", measured->settings_key},
                       {"device", measured->device}, {"model_mib", measured->model_mib},
                       {"kv_mib", measured->kv_mib}, {"compute_mib", measured->compute_mib},
                       {"measured_at_ms", measured->measured_at_ms}};
      j["measured"]["process_mib"] = measured->process_mib ? json(*measured->process_mib) : json(nullptr);
    } else {
      j["measured"] = nullptr;
    }
    if (authority) {
      j["llama_fit_params"] = {{"source", "llama-fit-params"}, {"device", authority->device},
                               {"gpu", {{"model_mib", authority->gpu_model}, {"context_mib", authority->gpu_context},
                                        {"compute_mib", authority->gpu_compute},
                                        {"total_mib", authority->gpu_model + authority->gpu_context + authority->gpu_compute}}},
                               {"host", {{"model_mib", authority->host_model}, {"context_mib", authority->host_context},
                                         {"compute_mib", authority->host_compute}}}};
    } else {
      j["llama_fit_params"] = nullptr;
    }
    if (*budget) {
      j["fit"] = {{"budget_mib", **budget}, {"what", fit_layers ? "n_gpu_layers" : "context"}};
      if (fit_layers) j["fit"]["n_gpu_layers"] = fit_ngl ? json(*fit_ngl) : json(nullptr);
      else j["fit"]["context_size"] = fit_ctx ? json(*fit_ctx) : json(nullptr);
      j["fit"]["fits"] = fit_layers ? fit_ngl.has_value() : fit_ctx.has_value();
    } else {
      j["fit"] = nullptr;
    }
    if (fit_on) {
      const auto& g = fit_on->estimate.gpu;
      j["fit_on"] = {{"free_mib", **fit_free},
                     {"llama_free_mib", fit_on->fit_free_mib},
                     {"budget_mib", fit_on->fit_budget_mib},
                     {"changed", fit_on->changed},
                     {"context_reduced", fit_on->context_reduced},
                     {"context_size", fit_on->context_size},
                     {"n_gpu_layers", fit_on->gpu_layers},
                     {"host_expert_layers", fit_on->host_expert_layers},
                     {"projected_mib", fit_on->fit_projected_mib},
                     {"gpu", {{"weights_mib", g.weights_mib}, {"kv_mib", g.kv_mib},
                              {"recurrent_state_mib", g.recurrent_state_mib}, {"compute_mib", g.compute_mib},
                              {"overhead_mib", g.overhead_mib}, {"workspace_mib", g.workspace_mib},
                              {"total_at_load_mib", g.total_at_load_mib}, {"total_mib", g.total_mib}}}};
    } else {
      j["fit_on"] = nullptr;
    }
    ctx.out() << j.dump(2) << "\n";
  } else {
    auto& out = ctx.out();
    out << "Model:    " << (path.empty() ? a.target : path);
    if (shape) {
      out << " (" << shape->architecture;
      if (!quant.empty()) out << ", " << quant;
      out << ", " << fixed(static_cast<double>(shape->n_params) / 1e9, 2) << " B parameters, " << shape->n_layer << " layers)";
    }
    out << "\n";
    out << "Settings: ctx " << util::group_thousands(est.context_size) << ", K " << core::to_string(o.cache_type_k)
        << ", V " << core::to_string(o.cache_type_v) << ", flash attention " << (o.flash_attn ? "on" : "off")
        << ", GPU layers " << (o.n_gpu_layers < 0 ? std::string("all") : std::to_string(o.n_gpu_layers));
    if (shape) out << " (" << est.gpu_layers << "/" << shape->n_layer << (est.output_on_gpu ? " + output" : "") << ")";
    out << ", CPU MoE " << o.n_cpu_moe << ", parallel " << o.n_parallel << ", batch " << o.n_batch << "/" << o.n_ubatch << "\n\n";
    std::vector<util::TextTable::Column> cols{{"MiB"}, {est.source == "header estimate" ? "HEADER ESTIMATE" : "REGISTERED", true}};
    if (measured) cols.push_back({"MEASURED", true});
    if (authority) cols.push_back({"LLAMA-FIT-PARAMS", true});
    util::TextTable t(cols);
    auto row = [&](const std::string& name, double ours, std::optional<double> meas, std::optional<double> auth) {
      std::vector<std::string> r{name, fixed(ours)};
      if (measured) r.push_back(meas ? fixed(*meas) : "-");
      if (authority) r.push_back(auth ? fixed(*auth) : "-");
      t.add_row(std::move(r));
    };
    const auto m = measured;
    const auto au = authority;
    row("GPU weights", est.gpu.weights_mib, m ? std::optional<double>(m->model_mib) : std::nullopt,
        au ? std::optional<double>(au->gpu_model) : std::nullopt);
    row("GPU KV cache", est.gpu.kv_mib, m ? std::optional<double>(m->kv_mib) : std::nullopt,
        au ? std::optional<double>(au->gpu_context) : std::nullopt);
    row("GPU recurrent state", est.gpu.recurrent_state_mib, std::nullopt, std::nullopt);
    row("GPU compute", est.gpu.compute_mib, m ? std::optional<double>(m->compute_mib) : std::nullopt,
        au ? std::optional<double>(au->gpu_compute) : std::nullopt);
    row(std::string("GPU runtime overhead (") + (est.overhead_measured ? "measured" : "default") + ")",
        est.gpu.overhead_mib, std::nullopt, std::nullopt);
    row("GPU total at load", est.gpu.total_at_load_mib, std::nullopt, std::nullopt);
    row("GPU first-request workspace", est.gpu.workspace_mib, std::nullopt, std::nullopt);
    std::optional<double> m_total;
    if (m) m_total = m->process_mib ? static_cast<double>(*m->process_mib) : static_cast<double>(m->model_mib + m->kv_mib + m->compute_mib);
    row("GPU total after use", est.gpu.total_mib, m_total,
        au ? std::optional<double>(au->gpu_model + au->gpu_context + au->gpu_compute) : std::nullopt);
    row("Host", est.host_mib, std::nullopt,
        au ? std::optional<double>(au->host_model + au->host_context + au->host_compute) : std::nullopt);
    out << t.render();
    if (measured) {
      out << "Measured: " << measured->device << " (" << measured->settings_key << ")"
          << (measured->process_mib ? "; GPU total is the process as nvidia-smi saw it" : "") << ".\n";
    }
    if (authority) out << "llama-fit-params (" << authority->device << ") is llama.cpp's own figure; it excludes the runtime overhead.\n";
    if (!est.notes.empty()) out << "\n";
    for (const auto& n : est.notes) out << "Note: " << n << "\n";
    if (shape && !est.overhead_measured) out << "Pass --overhead-mib with the runtime overhead measured on your GPU.\n";
    if (*budget) {
      if (fit_layers) {
        if (fit_ngl) out << "\nMost GPU layers within " << util::group_thousands(**budget) << " MiB: " << *fit_ngl
                         << " (of " << shape->n_layer + 1 << ", counting the output)\n";
      } else if (fit_ctx) {
        out << "\nLargest context within " << util::group_thousands(**budget) << " MiB: " << util::group_thousands(*fit_ctx)
            << " tokens\n";
      }
    }
    if (fit_on) {
      const auto& p = *fit_on;
      out << "\nllama-server --fit on with " << util::group_thousands(**fit_free) << " MiB free ("
          << util::group_thousands(static_cast<std::int64_t>(p.fit_free_mib)) << " as llama.cpp sees it, "
          << util::group_thousands(static_cast<std::int64_t>(p.fit_budget_mib)) << " to use): ";
      if (!p.changed) out << "no change\n";
      else out << (p.context_reduced ? "context reduced" : "context kept") << (p.layers_reduced ? ", layers moved to the host" : "") << "\n";
      out << "  context " << util::group_thousands(p.context_size) << ", GPU layers " << p.gpu_layers << "/"
          << shape->n_layer + 1;
      if (p.host_expert_layers > 0) out << ", experts of " << fixed(p.host_expert_layers, 2) << " layers on the host";
      out << "\n  GPU total at load " << fixed(p.estimate.gpu.total_at_load_mib) << " MiB, after use "
          << fixed(p.estimate.gpu.total_mib) << " MiB\n";
    }
  }
  if (*budget && !(fit_layers ? fit_ngl.has_value() : fit_ctx.has_value())) {
    ctx.fail({ErrorCode::insufficient_vram,
              fit_layers ? "not even 0 GPU layers fit in " + util::group_thousands(**budget) + " MiB"
                         : "not even 256 tokens of context fit in " + util::group_thousands(**budget) + " MiB"});
  }
}

}  // namespace

void register_model_commands(CLI::App& root, AppContext& ctx) {
  auto* model = root.add_subcommand("model", "The model registry and VRAM estimates");
  model->require_subcommand(1);
  {
    auto* reg = model->add_subcommand("register", "Register (or refresh) a model: a GGUF file, or hand-entered figures");
    auto a = std::make_shared<RegisterArgs>();
    reg->add_option("--source", a->source, "gguf (a file), local (hand-entered) or huggingface (a Hub repo)");
    reg->add_option("PATH", a->path, "The .gguf file (--source gguf) or the repo owner/name (--source huggingface)");
    reg->add_option("--quant", a->quant, "The quant to register (--source huggingface, GGUF repos), e.g. UD-Q4_K_XL; none for a safetensors (vLLM) repo");
    reg->add_option("--revision", a->revision, "Branch, tag or commit (--source huggingface; default main)");
    reg->add_option("--id", a->id, "Model id (default: from the file name)");
    reg->add_option("--vram-mib", a->vram_mib, "VRAM at 4096 tokens (--source local)");
    reg->add_option("--kv-per-1k-mib", a->kv_per_1k, "MiB per 1,024 more tokens (--source local)");
    reg->add_option("--architecture", a->architecture, "Architecture (--source local)");
    reg->add_flag("--json", a->json, "Print JSON");
    reg->callback([&ctx, a] { ctx.set_action([&ctx, a] { model_register(ctx, *a); }); });
  }
  {
    auto* list = model->add_subcommand("list", "List the registered models");
    auto as_json = std::make_shared<bool>(false);
    list->add_flag("--json", *as_json, "Print JSON");
    list->callback([&ctx, as_json] { ctx.set_action([&ctx, as_json] { model_list(ctx, *as_json); }); });
  }
  for (const char* name : {"show", "remove"}) {
    const bool show = std::string(name) == "show";
    auto* cmd = model->add_subcommand(name, show ? "Show one registered model" : "Remove a registered model (idempotent)");
    auto as_json = std::make_shared<bool>(false);
    auto id = std::make_shared<std::string>();
    cmd->add_option("ID", *id, "Model id")->required();
    cmd->add_flag("--json", *as_json, "Print JSON");
    cmd->callback([&ctx, as_json, id, show] {
      ctx.set_action([&ctx, as_json, id, show] {
        if (show) model_show(ctx, *id, *as_json);
        else model_remove(ctx, *id, *as_json);
      });
    });
  }
  {
    auto* est = model->add_subcommand("estimate", "Estimate a model's VRAM for llama-server settings");
    auto a = std::make_shared<EstimateArgs>();
    est->add_option("MODEL", a->target, "A registered model id or a .gguf file")->required();
    est->add_option("--ctx", a->ctx_size, "Context size in tokens (0: the training context; default 4096)");
    est->add_option("--cache-type-k", a->ctk, "K cache type (f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0, iq4_nl)");
    est->add_option("--cache-type-v", a->ctv, "V cache type");
    est->add_option("--flash-attn", a->flash_attn, "on | off (auto = on)");
    est->add_option("--n-gpu-layers", a->ngl, "Layers on the GPU: N, all, or fit (with --fit)");
    est->add_option("--n-cpu-moe", a->n_cpu_moe, "Keep the experts of the first N layers on the host");
    est->add_option("--parallel", a->parallel, "Slots (llama-server -np; default 4)");
    est->add_option("--batch", a->batch, "Logical batch (-b; default 2048)");
    est->add_option("--ubatch", a->ubatch, "Physical batch (-ub; default 512)");
    est->add_option("--overhead-mib", a->overhead, "Measured runtime overhead of this GPU/driver (default 590)");
    est->add_flag("--swa-full", a->swa_full, "Sliding-window layers keep the full context (llama-server --swa-full)");
    est->add_option("--kv-unified", a->kv_unified, "on | off: one KV cache for all slots (default: on unless --parallel is given, as llama-server)");
    est->add_option("--fit", a->fit, "Budget in MiB: print the largest context (or, with --n-gpu-layers fit, the most layers) that fits");
    est->add_option("--fit-target-mib", a->fit_target,
                    "MiB free on the GPU at start: predict the context and layers llama-server --fit on picks (margin 1024 MiB) and the memory it then uses");
    est->add_flag("--json", a->json, "Print JSON");
    est->callback([&ctx, a] { ctx.set_action([&ctx, a] { model_estimate(ctx, *a); }); });
  }
}

}  // namespace gpumod::app
