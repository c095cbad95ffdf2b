#include "gpumod/engine/model_registry.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "gpumod/core/vram_estimator.hpp"
#include "gpumod/infra/gguf/model_info.hpp"
#include "gpumod/util/ids.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::engine {

namespace fs = std::filesystem;
using infra::state::ModelRecord;
using nlohmann::json;

namespace {

util::Status validate_local(const LocalModel& m) {
  if (auto st = util::validate_id(m.id, "model id"); !st) return st;
  if (m.vram_mib < 1 || m.vram_mib > 10'000'000) {
    return util::fail(util::ErrorCode::invalid_argument,
                      "--vram-mib " + std::to_string(m.vram_mib) + " is out of range (1..10000000)");
  }
  if (m.kv_per_1k_mib && (!std::isfinite(*m.kv_per_1k_mib) || *m.kv_per_1k_mib < 0 || *m.kv_per_1k_mib > 1e6)) {
    return util::fail(util::ErrorCode::invalid_argument, "--kv-per-1k-mib is out of range (0..1000000)");
  }
  if (m.architecture.size() > 64) {
    return util::fail(util::ErrorCode::invalid_argument, "--architecture is longer than 64 characters");
  }
  for (unsigned char c : m.architecture) {
    if (c < 0x20 || c == 0x7f) return util::fail(util::ErrorCode::invalid_argument, "--architecture has a control character");
  }
  return {};
}

}  // namespace

std::string measurement_settings_key(const core::EstimateOptions& o) {
  return "ctx=" + std::to_string(o.context_size) + ";ctk=" + std::string(core::to_string(o.cache_type_k)) +
         ";ctv=" + std::string(core::to_string(o.cache_type_v)) + ";fa=" + (o.flash_attn ? "on" : "off") +
         ";ngl=" + std::to_string(o.n_gpu_layers) + ";ncmoe=" + std::to_string(o.n_cpu_moe) +
         ";np=" + std::to_string(o.n_parallel) + ";ub=" + std::to_string(o.n_ubatch);
}

std::string model_id_from_filename(std::string_view filename) {
  std::string name(fs::path(std::string(filename)).filename().string());
  if (name.size() > 5 && util::to_lower(name.substr(name.size() - 5)) == ".gguf") name.resize(name.size() - 5);
  static const std::regex split_suffix(R"(-\d{5}-of-\d{5}$)");
  name = std::regex_replace(name, split_suffix, "");
  for (auto& c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) c = '-';
  }
  const auto first = name.find_first_not_of("-_");
  if (first == std::string::npos) return "";
  name = name.substr(first);
  if (name.size() > 64) name.resize(64);
  return name;
}

util::Result<ModelRecord> record_from_gguf(const infra::gguf::GgufFile& file, std::string_view filename,
                                           std::string_view location) {
  auto shape = infra::gguf::model_shape_from_gguf(file);
  if (!shape) return std::unexpected(shape.error());
  ModelRecord r;
  r.source = "gguf";
  r.location = std::string(location);
  r.architecture = shape->architecture;
  r.quant = infra::gguf::quant_label(file, filename);
  r.file_bytes = static_cast<std::int64_t>(file.file_bytes);
  if (shape->n_params > 0) r.parameters_b = static_cast<double>(shape->n_params) / 1e9;

  const std::uint32_t base_ctx = shape->n_ctx_train > 0 ? std::min(shape->n_ctx_train, k_registry_base_context)
                                                        : k_registry_base_context;
  core::EstimateOptions o;
  o.context_size = base_ctx;
  const auto base = core::estimate_vram(*shape, o);
  o.context_size = base_ctx + 4096;
  const auto more = core::estimate_vram(*shape, o);
  r.base_vram_mib = static_cast<std::int64_t>(std::ceil(base.gpu.total_mib));
  r.kv_per_1k_mib = std::round((more.gpu.total_mib - base.gpu.total_mib) / 4.0 * 100.0) / 100.0;

  std::uint32_t max_kv = 0;
  for (const auto& l : shape->layers) max_kv = std::max(max_kv, l.n_head_kv);
  json mix = json::object();
  for (const auto& [type, bytes] : infra::gguf::quant_mix(file)) mix[type] = bytes;
  json j = {{"architecture", shape->architecture},
            {"name", file.get_string("general.name").value_or("")},
            {"gguf_version", file.version},
            {"n_layer", shape->n_layer},
            {"n_embd", shape->n_embd},
            {"n_head", shape->n_head},
            {"n_head_kv", max_kv},
            {"head_dim_k", shape->n_embd_head_k},
            {"head_dim_v", shape->n_embd_head_v},
            {"n_ctx_train", shape->n_ctx_train},
            {"n_vocab", shape->n_vocab},
            {"n_ff", shape->n_ff},
            {"n_swa", shape->n_swa},
            {"n_expert", shape->n_expert},
            {"n_expert_used", shape->n_expert_used},
            {"attention_layers", shape->n_attention_layers()},
            {"recurrent_layers", shape->n_recurrent_layers()},
            {"n_params", shape->n_params},
            {"tensors", file.tensors.size()},
            {"split_count", file.split_count},
            {"quant_mix_bytes", mix},
            {"base_context", base_ctx},
            {"base_estimate", {{"weights_mib", base.gpu.weights_mib}, {"kv_mib", base.gpu.kv_mib},
                               {"recurrent_state_mib", base.gpu.recurrent_state_mib},
                               {"compute_mib", base.gpu.compute_mib}, {"overhead_mib", base.gpu.overhead_mib},
                               {"total_mib", base.gpu.total_mib}, {"host_mib", base.host_mib}}}};
  r.metadata_json = j.dump();
  r.notes = "header estimate at " + std::to_string(base_ctx) +
            " tokens (f16 KV, flash attention, 4 slots, all layers on the GPU); kv_per_1k is the "
            "marginal cost of 1,024 more tokens";
  return r;
}

util::Result<ModelRecord> record_from_gguf_source(infra::gguf::ByteSource& bytes, std::string_view filename,
                                                  std::string_view location, std::string_view source) {
  auto f = infra::gguf::read_gguf(bytes);
  if (!f) return std::unexpected(f.error());
  auto r = record_from_gguf(*f, filename, location);
  if (!r) return r;
  r->source = std::string(source);
  return r;
}

util::Result<Registration> ModelRegistry::register_gguf(const std::string& path, std::optional<std::string> id) {
  if (path.empty()) return util::fail(util::ErrorCode::invalid_argument, "empty model path");
  std::error_code ec;
  if (!fs::exists(path, ec)) return util::fail(util::ErrorCode::not_found, "no such file: " + path);
  if (!fs::is_regular_file(path, ec)) return util::fail(util::ErrorCode::invalid_argument, path + " is not a regular file");
  auto f = infra::gguf::read_gguf_model(path);
  if (!f) return std::unexpected(f.error());
  const std::string abs = fs::absolute(path, ec).lexically_normal().string();
  auto r = record_from_gguf(*f, fs::path(path).filename().string(), ec ? path : abs);
  if (!r) return std::unexpected(r.error());
  r->id = id ? *id : model_id_from_filename(fs::path(path).filename().string());
  if (r->id.empty()) {
    return util::fail(util::ErrorCode::invalid_argument, "cannot make a model id from '" + path + "': pass --id");
  }
  return register_record(std::move(*r));
}

util::Result<Registration> ModelRegistry::register_local(const LocalModel& m) {
  if (auto st = validate_local(m); !st) return std::unexpected(st.error());
  ModelRecord r;
  r.id = m.id;
  r.source = "local";
  r.location = "";
  r.architecture = m.architecture;
  r.base_vram_mib = m.vram_mib;
  r.kv_per_1k_mib = m.kv_per_1k_mib;
  r.metadata_json = "{}";
  r.notes = m.notes.empty() ? "entered by hand" : m.notes;
  return register_record(std::move(r));
}

util::Result<Registration> ModelRegistry::register_record(ModelRecord record) {
  if (auto st = util::validate_id(record.id, "model id"); !st) return std::unexpected(st.error());
  auto existing = m_store.get_model(record.id);
  if (!existing) return std::unexpected(existing.error());
  auto stored = m_store.upsert_model(record);
  if (!stored) return std::unexpected(stored.error());
  return Registration{std::move(*stored), existing->has_value()};
}

util::Result<std::optional<ModelRecord>> ModelRegistry::get(std::string_view id) const {
  if (auto st = util::validate_id(id, "model id"); !st) return std::unexpected(st.error());
  return m_store.get_model(id);
}

util::Result<std::vector<ModelRecord>> ModelRegistry::list() const { return m_store.list_models(); }

util::Result<bool> ModelRegistry::remove(std::string_view id) {
  if (auto st = util::validate_id(id, "model id"); !st) return std::unexpected(st.error());
  return m_store.remove_model(id);
}

util::Result<std::vector<infra::state::ModelMeasurement>> ModelRegistry::measurements(
    std::string_view id, std::string_view settings_key) const {
  if (auto st = util::validate_id(id, "model id"); !st) return std::unexpected(st.error());
  return m_store.list_measurements(id, settings_key);
}

}  // namespace gpumod::engine
