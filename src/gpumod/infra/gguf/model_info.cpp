#include "gpumod/infra/gguf/model_info.hpp"

#include <algorithm>
#include <regex>

#include "gpumod/core/ggml_types.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::infra::gguf {
namespace {

util::Error corrupt(const GgufFile& f, const std::string& what) {
  const std::string where = f.part_paths.empty() ? std::string("GGUF") : "GGUF " + f.part_paths.front();
  return util::Error{util::ErrorCode::corrupt, where + ": " + what};
}

// A per-layer value: an array of n_layer elements, or one scalar for every layer.
util::Result<std::vector<std::uint32_t>> per_layer(const GgufFile& f, const std::string& key,
                                                   std::uint32_t n_layer, std::uint32_t fallback) {
  std::vector<std::uint32_t> out(n_layer, fallback);
  if (const auto* a = f.get_array(key)) {
    if (!a->kept || a->ints.size() != n_layer) {
      return std::unexpected(corrupt(f, key + " has " + std::to_string(a->count) +
                                            " elements, expected block_count " + std::to_string(n_layer)));
    }
    for (std::uint32_t i = 0; i < n_layer; ++i) out[i] = static_cast<std::uint32_t>(std::max<std::int64_t>(0, a->ints[i]));
  } else if (auto v = f.get_uint(key)) {
    std::fill(out.begin(), out.end(), static_cast<std::uint32_t>(*v));
  }
  return out;
}

std::uint32_t get_u32(const GgufFile& f, const std::string& key, std::uint32_t fallback = 0) {
  const auto v = f.get_uint(key);
  return v ? static_cast<std::uint32_t>(std::min<std::uint64_t>(*v, UINT32_MAX)) : fallback;
}

// Architectures whose llama.cpp loader sets a sliding-window pattern without a GGUF key
// (llama_hparams::set_swa_pattern(n): layer il is SWA when il % n < n - 1).
std::uint32_t default_swa_pattern(const std::string& arch) {
  if (arch == "gemma2" || arch == "gpt-oss") return 2;
  if (arch == "gemma3") return 6;
  if (arch == "cohere2") return 4;
  return 0;
}

// blk.N.<rest> -> N, or -1.
int layer_index(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  int n = 0;
  std::size_t i = 4;
  if (i >= name.size() || !std::isdigit(static_cast<unsigned char>(name[i]))) return -1;
  while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i]))) {
    n = n * 10 + (name[i] - '0');
    if (n > 1'000'000) return -1;
    ++i;
  }
  return (i < name.size() && name[i] == '.') ? n : -1;
}

}  // namespace

util::Result<core::ModelShape> model_shape_from_gguf(const GgufFile& f) {
  core::ModelShape s;
  auto arch = f.get_string("general.architecture");
  if (!arch || arch->empty()) return std::unexpected(corrupt(f, "no general.architecture"));
  s.architecture = *arch;
  const std::string p = *arch + ".";
  s.n_layer = get_u32(f, p + "block_count");
  s.n_embd = get_u32(f, p + "embedding_length");
  if (s.n_layer == 0 || s.n_embd == 0) {
    return std::unexpected(corrupt(f, "missing " + p + "block_count or " + p + "embedding_length"));
  }
  if (s.n_layer > 4096) return std::unexpected(corrupt(f, p + "block_count " + std::to_string(s.n_layer) + " is implausible"));
  s.n_ctx_train = get_u32(f, p + "context_length");

  auto heads = per_layer(f, p + "attention.head_count", s.n_layer, 0);
  if (!heads) return std::unexpected(heads.error());
  auto heads_kv = per_layer(f, p + "attention.head_count_kv", s.n_layer, 0);
  if (!heads_kv) return std::unexpected(heads_kv.error());
  const bool kv_given = f.find(p + "attention.head_count_kv") != nullptr;
  auto ff = per_layer(f, p + "feed_forward_length", s.n_layer, 0);
  if (!ff) return std::unexpected(ff.error());

  s.n_head = heads->empty() ? 0 : *std::max_element(heads->begin(), heads->end());
  s.n_ff = ff->empty() ? 0 : *std::max_element(ff->begin(), ff->end());
  const std::uint32_t head_dim = s.n_head > 0 ? s.n_embd / s.n_head : 0;
  s.n_embd_head_k = get_u32(f, p + "attention.key_length", head_dim);
  s.n_embd_head_v = get_u32(f, p + "attention.value_length", head_dim);

  // Sliding window.
  s.n_swa = get_u32(f, p + "attention.sliding_window");
  std::vector<bool> swa(s.n_layer, false);
  if (s.n_swa > 0) {
    if (const auto* a = f.get_array(p + "attention.sliding_window_pattern"); a && a->kept && a->ints.size() == s.n_layer) {
      for (std::uint32_t i = 0; i < s.n_layer; ++i) swa[i] = a->ints[i] != 0;
    } else {
      const std::uint32_t n = get_u32(f, p + "attention.sliding_window_pattern", default_swa_pattern(s.architecture));
      // No pattern at all: every layer uses the window (mistral-style).
      for (std::uint32_t i = 0; i < s.n_layer; ++i) swa[i] = n == 0 || (i % n < n - 1);
    }
  }

  // MoE.
  s.n_expert = get_u32(f, p + "expert_count");
  s.n_expert_used = get_u32(f, p + "expert_used_count");
  s.n_ff_exp = get_u32(f, p + "expert_feed_forward_length");

  // MLA (llama_hparams::is_mla: key_length_mla and value_length_mla both set).
  s.kv_lora_rank = get_u32(f, p + "attention.kv_lora_rank");
  s.n_rot = get_u32(f, p + "rope.dimension_count", s.n_embd_head_k);
  s.mla = s.kv_lora_rank > 0 && f.find(p + "attention.key_length_mla") && f.find(p + "attention.value_length_mla");

  // SSM / Mamba2.
  s.ssm_d_conv = get_u32(f, p + "ssm.conv_kernel");
  s.ssm_d_inner = get_u32(f, p + "ssm.inner_size");
  s.ssm_d_state = get_u32(f, p + "ssm.state_size");
  s.ssm_n_group = get_u32(f, p + "ssm.group_count");
  s.ssm_dt_rank = get_u32(f, p + "ssm.time_step_rank");
  const bool has_ssm = s.ssm_d_state > 0 && s.ssm_d_inner > 0;
  const bool all_recurrent = s.architecture == "mamba" || s.architecture == "mamba2";
  const bool nemotron_h = s.architecture == "nemotron_h" || s.architecture == "nemotron_h_moe";

  s.layers.resize(s.n_layer);
  for (std::uint32_t i = 0; i < s.n_layer; ++i) {
    auto& l = s.layers[i];
    l.n_head = (*heads)[i];
    l.n_head_kv = kv_given ? (*heads_kv)[i] : l.n_head;
    l.n_ff = (*ff)[i];
    l.swa = swa[i];
    if (all_recurrent) {
      l.recurrent = true;
    } else if (nemotron_h) {
      // llama-model.cpp: recurrent iff n_head_kv(i) == 0 and n_ff(i) == 0.
      l.recurrent = l.n_head_kv == 0 && l.n_ff == 0;
    } else if (has_ssm) {
      l.recurrent = l.n_head_kv == 0;  // jamba, granitehybrid, falcon-h1 style
    }
    if (l.recurrent) l.n_head_kv = 0;
  }

  // Vocabulary.
  if (const auto* tokens = f.get_array("tokenizer.ggml.tokens")) {
    s.n_vocab = static_cast<std::uint32_t>(std::min<std::uint64_t>(tokens->count, UINT32_MAX));
  }
  if (s.n_vocab == 0) s.n_vocab = get_u32(f, p + "vocab_size");

  // Weights by placement.
  bool has_output = false;
  for (const auto& t : f.tensors) {
    std::uint64_t elems = 1;
    for (auto d : t.shape) elems *= d;
    s.n_params += elems;
    s.total_weight_bytes += t.bytes;
    if (const auto info = core::ggml_type(t.type)) s.bytes_by_type[std::string(info->name)] += t.bytes;
    if (t.name == "token_embd.weight") {
      s.token_embd_bytes += t.bytes;
      if (s.n_vocab == 0 && t.shape.size() >= 2) s.n_vocab = static_cast<std::uint32_t>(t.shape[1]);
      continue;
    }
    if (t.name == "output.weight") {
      has_output = true;
      s.output_bytes += t.bytes;
      continue;
    }
    const int il = layer_index(t.name);
    if (il >= 0 && static_cast<std::uint32_t>(il) < s.n_layer) {
      if (t.name.find("_exps") != std::string::npos) {
        s.layers[il].expert_bytes += t.bytes;
      } else {
        s.layers[il].weight_bytes += t.bytes;
      }
    } else {
      s.other_bytes += t.bytes;
    }
  }
  s.output_tied = !has_output && s.token_embd_bytes > 0;
  return s;
}

std::map<std::string, std::uint64_t> quant_mix(const GgufFile& file) {
  std::map<std::string, std::uint64_t> mix;
  for (const auto& t : file.tensors) {
    if (const auto info = core::ggml_type(t.type)) mix[std::string(info->name)] += t.bytes;
  }
  return mix;
}

std::string filename_quant_label(std::string_view filename) {
  static const std::regex k_label(
      R"((?:^|[-_.])((?:UD-)?(?:IQ[1-4]_(?:XXS|XS|NL|S|M)|I?Q[1-8]_K(?:_(?:XXS|XS|XL|S|M|L))?|Q[1-8]_[01](?:_L)?|TQ[12]_0|MXFP4(?:_MOE)?|BF16|F16|F32))(?=$|[-_.]))");
  std::string name = util::to_lower(filename);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (name.size() > 5 && name.ends_with(".GGUF")) name.resize(name.size() - 5);
  std::smatch m;
  if (std::regex_search(name, m, k_label)) return m[1].str();
  return "";
}

std::string quant_label(const GgufFile& file, std::string_view filename) {
  // The type with the most bytes among 2-D+ weights (norms and biases are f32 everywhere).
  std::map<std::string, std::uint64_t> mix;
  for (const auto& t : file.tensors) {
    if (t.shape.size() < 2) continue;
    if (const auto info = core::ggml_type(t.type)) mix[std::string(info->name)] += t.bytes;
  }
  std::string dominant;
  std::uint64_t best = 0;
  for (const auto& [name, bytes] : mix) {
    if (bytes > best) {
      best = bytes;
      dominant = name;
    }
  }
  std::transform(dominant.begin(), dominant.end(), dominant.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  const std::string label = filename_quant_label(filename);
  if (label.empty()) return dominant;
  if (dominant.empty() || dominant == label) return label;
  return label + " (" + dominant + ")";
}

}  // namespace gpumod::infra::gguf
