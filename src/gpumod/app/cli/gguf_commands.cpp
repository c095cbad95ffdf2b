// gpumod gguf inspect FILE [--json] [--tensors]
#include <CLI/CLI.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/core/ggml_types.hpp"
#include "gpumod/infra/gguf/model_info.hpp"
#include "gpumod/infra/gguf/reader.hpp"
#include "gpumod/infra/state/state_store.hpp"  // AppContext owns a StateStore
#include "gpumod/util/strings.hpp"
#include "gpumod/util/table.hpp"

namespace gpumod::app {

using nlohmann::json;

namespace {

std::string fmt_mib(std::uint64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / 1048576.0);
  return buf;
}

std::string type_name(std::uint32_t id) {
  if (auto t = core::ggml_type(id)) return std::string(t->name);
  return "type" + std::to_string(id);
}

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::vector<std::string> parts;
  for (auto d : shape) parts.push_back(std::to_string(d));
  return util::join(parts, " x ");
}

void gguf_inspect(AppContext& ctx, const std::string& path, bool as_json, bool tensors) {
  std::error_code ec;
  if (path.empty()) return ctx.fail({util::ErrorCode::invalid_argument, "empty file path"});
  if (!std::filesystem::exists(path, ec)) return ctx.fail({util::ErrorCode::not_found, "no such file: " + path});
  auto f = infra::gguf::read_gguf_model(path);
  if (!f) return ctx.fail(f.error());
  const std::string filename = std::filesystem::path(path).filename().string();
  auto shape = infra::gguf::model_shape_from_gguf(*f);
  const auto mix = infra::gguf::quant_mix(*f);
  const std::string quant = infra::gguf::quant_label(*f, filename);
  const std::string arch = f->get_string("general.architecture").value_or("");
  const std::string name = f->get_string("general.name").value_or("");

  std::uint32_t max_kv = 0;
  if (shape) {
    for (const auto& l : shape->layers) max_kv = std::max(max_kv, l.n_head_kv);
  }
  if (as_json) {
    json j = {{"file", path},
              {"gguf_version", f->version},
              {"architecture", arch},
              {"name", name},
              {"quant", quant},
              {"file_bytes", f->file_bytes},
              {"weight_bytes", f->weight_bytes()},
              {"tensor_count", f->tensors.size()},
              {"metadata_count", f->metadata.size()},
              {"split_count", f->split_count},
              {"parts", f->part_paths}};
    json m = json::object();
    for (const auto& [type, bytes] : mix) m[type] = bytes;
    j["quant_mix_bytes"] = m;
    if (shape) {
      j["model"] = {{"n_params", shape->n_params},        {"n_layer", shape->n_layer},
                    {"n_embd", shape->n_embd},            {"n_head", shape->n_head},
                    {"n_head_kv", max_kv},                {"head_dim_k", shape->n_embd_head_k},
                    {"head_dim_v", shape->n_embd_head_v}, {"n_ctx_train", shape->n_ctx_train},
                    {"n_vocab", shape->n_vocab},          {"n_ff", shape->n_ff},
                    {"n_expert", shape->n_expert},        {"n_expert_used", shape->n_expert_used},
                    {"n_ff_exp", shape->n_ff_exp},        {"n_swa", shape->n_swa},
                    {"attention_layers", shape->n_attention_layers()},
                    {"recurrent_layers", shape->n_recurrent_layers()},
                    {"output_tied", shape->output_tied}};
    } else {
      j["model"] = nullptr;
      j["model_error"] = shape.error().message;
    }
    if (tensors) {
      json arr = json::array();
      for (const auto& t : f->tensors) {
        arr.push_back({{"name", t.name}, {"type", type_name(t.type)}, {"shape", t.shape},
                       {"bytes", t.bytes}, {"offset", t.offset}, {"split", t.split_index}});
      }
      j["tensors"] = arr;
    }
    ctx.out() << j.dump(2) << "\n";
    return;
  }
  auto& o = ctx.out();
  o << "File:          " << path << "\n";
  o << "GGUF version:  " << f->version << "\n";
  o << "Architecture:  " << (arch.empty() ? "-" : arch) << "\n";
  if (!name.empty()) o << "Name:          " << name << "\n";
  o << "Quant:         " << (quant.empty() ? "-" : quant) << "\n";
  o << "File size:     " << util::group_thousands(static_cast<std::int64_t>(f->file_bytes)) << " bytes ("
    << fmt_mib(f->file_bytes) << ")\n";
  o << "Split parts:   " << f->split_count << "\n";
  o << "Tensors:       " << f->tensors.size() << "\n";
  if (shape) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f B", static_cast<double>(shape->n_params) / 1e9);
    o << "Parameters:    " << buf << " (" << util::group_thousands(static_cast<std::int64_t>(shape->n_params)) << ")\n";
    o << "Layers:        " << shape->n_layer;
    if (shape->n_recurrent_layers() > 0) {
      o << " (" << shape->n_attention_layers() << " attention, " << shape->n_recurrent_layers() << " recurrent)";
    }
    o << "\n";
    o << "Heads:         " << shape->n_head << " (KV heads " << max_kv << ", head dim " << shape->n_embd_head_k;
    if (shape->n_embd_head_v != shape->n_embd_head_k) o << "/" << shape->n_embd_head_v;
    o << ")\n";
    o << "Embedding:     " << shape->n_embd << "\n";
    o << "Context:       " << util::group_thousands(shape->n_ctx_train) << " tokens (training)\n";
    if (shape->n_swa > 0) o << "Sliding win.:  " << shape->n_swa << " tokens\n";
    o << "Vocabulary:    " << util::group_thousands(shape->n_vocab) << "\n";
    if (shape->n_expert > 0) {
      o << "Experts:       " << shape->n_expert << " (" << shape->n_expert_used << " used per token)\n";
    } else {
      o << "Experts:       -\n";
    }
  } else {
    o << "Model:         not a model this estimator reads (" << shape.error().message << ")\n";
  }
  if (!mix.empty()) {
    o << "\nQuant mix:\n";
    util::TextTable t({{"TYPE"}, {"BYTES", true}, {"MiB", true}, {"SHARE", true}});
    const double total = static_cast<double>(std::max<std::uint64_t>(1, f->weight_bytes()));
    for (const auto& [type, bytes] : mix) {
      char mibs[32], share[32];
      std::snprintf(mibs, sizeof mibs, "%.1f", static_cast<double>(bytes) / 1048576.0);
      std::snprintf(share, sizeof share, "%.1f%%", 100.0 * static_cast<double>(bytes) / total);
      t.add_row({type, util::group_thousands(static_cast<std::int64_t>(bytes)), mibs, share});
    }
    o << t.render();
  }
  if (tensors) {
    o << "\nTensors:\n";
    util::TextTable t({{"NAME"}, {"TYPE"}, {"SHAPE"}, {"BYTES", true}, {"OFFSET", true}});
    for (const auto& ti : f->tensors) {
      t.add_row({ti.name, type_name(ti.type), shape_text(ti.shape),
                 util::group_thousands(static_cast<std::int64_t>(ti.bytes)),
                 (f->split_count > 1 ? std::to_string(ti.split_index) + ":" : std::string()) + std::to_string(ti.offset)});
    }
    o << t.render();
  }
}

}  // namespace

void register_gguf_commands(CLI::App& root, AppContext& ctx) {
  auto* gguf = root.add_subcommand("gguf", "GGUF model files");
  gguf->require_subcommand(1);
  auto* inspect = gguf->add_subcommand("inspect", "Show a GGUF file's header: shape, quant mix, tensors");
  auto file = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  auto tensors = std::make_shared<bool>(false);
  inspect->add_option("FILE", *file, "A .gguf file (any part of a split model)")->required();
  inspect->add_flag("--json", *as_json, "Print JSON");
  inspect->add_flag("--tensors", *tensors, "List every tensor (name, type, shape, bytes, offset)");
  inspect->callback([&ctx, file, as_json, tensors] {
    ctx.set_action([&ctx, file, as_json, tensors] { gguf_inspect(ctx, *file, *as_json, *tensors); });
  });
}

}  // namespace gpumod::app
