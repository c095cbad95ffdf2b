#include "gpumod/infra/hf/safetensors_repo.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <thread>

#include "gpumod/infra/hf/http_byte_source.hpp"
#include "gpumod/infra/hf/validate.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::infra::hf {

using nlohmann::json;

namespace {

util::Error corrupt(std::string_view file, const std::string& what) {
  return util::Error{util::ErrorCode::corrupt, std::string(file) + ": " + what};
}

bool is_top_level(std::string_view path) { return path.find('/') == std::string_view::npos; }

std::string lower(std::string_view s) { return util::to_lower(s); }

// A non-negative integer that fits 32 bits, else nullopt (absent, null, negative, fractional).
std::optional<std::uint32_t> get_u32(const json& o, std::string_view key) {
  const auto it = o.find(std::string(key));
  if (it == o.end() || !it->is_number_integer()) return std::nullopt;
  if (it->is_number_unsigned()) {
    const auto v = it->get<std::uint64_t>();
    if (v > 0xFFFFFFFFULL) return std::nullopt;
    return static_cast<std::uint32_t>(v);
  }
  const auto v = it->get<std::int64_t>();
  if (v < 0 || v > 0xFFFFFFFFLL) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

std::optional<std::uint32_t> first_u32(const json& o, std::initializer_list<std::string_view> keys) {
  for (auto k : keys) {
    if (auto v = get_u32(o, k)) return v;
  }
  return std::nullopt;
}

std::string get_string(const json& o, std::string_view key) {
  const auto it = o.find(std::string(key));
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

core::LayerAttention attention_kind(std::string_view type) {
  const std::string t = lower(type);
  if (t.find("sliding") != std::string::npos || t == "local_attention" || t == "chunked_attention") {
    return core::LayerAttention::sliding;
  }
  if (t.find("linear") != std::string::npos || t.find("conv") != std::string::npos) return core::LayerAttention::linear;
  if (t.find("mamba") != std::string::npos || t.find("ssm") != std::string::npos) return core::LayerAttention::mamba;
  if (t.find("attention") != std::string::npos || t == "full" || t == "global") return core::LayerAttention::full;
  if (t == "mlp" || t == "moe" || t == "ffn") return core::LayerAttention::none;
  return core::LayerAttention::full;  // unknown: count its KV (an over- rather than underestimate)
}

// The recurrent state one linear-attention or Mamba layer keeps per sequence, in 16-bit elements
// (vLLM's mamba cache dtype "auto" = the model dtype). 0 when the config does not say.
std::uint64_t recurrent_state_bytes(const json& c, const core::HfModelConfig& m) {
  constexpr std::uint64_t k_elem = 2;
  // Gated delta net (Qwen3-Next): conv over q, k, v plus a dk x dv state per value head.
  if (auto nk = get_u32(c, "linear_num_key_heads")) {
    const std::uint64_t nv = get_u32(c, "linear_num_value_heads").value_or(*nk);
    const std::uint64_t dk = get_u32(c, "linear_key_head_dim").value_or(0);
    const std::uint64_t dv = get_u32(c, "linear_value_head_dim").value_or(0);
    const std::uint64_t kernel = get_u32(c, "linear_conv_kernel_dim").value_or(4);
    const std::uint64_t conv = (kernel > 0 ? kernel - 1 : 0) * (2 * *nk * dk + nv * dv);
    return (conv + nv * dk * dv) * k_elem;
  }
  // Mamba2 (Nemotron-H, Zamba2, Granite 4): heads x head_dim x state, conv over x, B, C.
  if (auto heads = first_u32(c, {"mamba_num_heads", "mamba_n_heads"})) {
    const std::uint64_t hd = get_u32(c, "mamba_head_dim").value_or(0);
    const std::uint64_t state = first_u32(c, {"ssm_state_size", "mamba_d_state"}).value_or(0);
    const std::uint64_t groups = first_u32(c, {"n_groups", "mamba_n_groups"}).value_or(1);
    const std::uint64_t kernel = first_u32(c, {"conv_kernel", "mamba_d_conv"}).value_or(4);
    const std::uint64_t inner = *heads * hd;
    return ((kernel > 0 ? kernel - 1 : 0) * (inner + 2 * groups * state) + inner * state) * k_elem;
  }
  // Mamba1 (Jamba): d_inner = expand x hidden; state d_inner x d_state, conv (d_conv - 1) x d_inner.
  if (auto state = get_u32(c, "mamba_d_state")) {
    const std::uint64_t inner = std::uint64_t{get_u32(c, "mamba_expand").value_or(2)} * m.hidden_size;
    const std::uint64_t kernel = get_u32(c, "mamba_d_conv").value_or(4);
    return ((kernel > 0 ? kernel - 1 : 0) * inner + inner * *state) * k_elem;
  }
  return 0;
}

util::Result<std::string> read_whole(HubClient& hub, std::string_view repo, std::string_view commit,
                                     const RepoFile& f, std::uint64_t limit, std::uint64_t& fetched) {
  if (f.size > limit) {
    return util::fail(util::ErrorCode::corrupt, std::string(repo) + "/" + f.path + " is " + std::to_string(f.size) +
                                                    " bytes, more than the " + std::to_string(limit) + " allowed");
  }
  if (f.size == 0) {
    // The Hub gave no size: ask for up to the limit (a shorter answer is the whole file).
    auto text = hub.get_range(repo, commit, f.path, 0, limit + 1);
    if (!text) return std::unexpected(util::with_context(text.error(), std::string(repo) + "/" + f.path));
    fetched += text->size();
    if (text->size() > limit) {
      return util::fail(util::ErrorCode::corrupt, std::string(repo) + "/" + f.path + " is more than the " +
                                                      std::to_string(limit) + " bytes allowed");
    }
    return std::move(*text);
  }
  HttpByteSource src(hub, std::string(repo), std::string(commit), f.path, f.size);
  std::string text(f.size, '\0');
  auto n = src.read_at(0, std::as_writable_bytes(std::span(text.data(), text.size())));
  fetched += src.bytes_fetched();
  if (!n) return std::unexpected(util::with_context(n.error(), std::string(repo) + "/" + f.path));
  text.resize(*n);
  return text;
}

util::Result<SafetensorsHeader> read_shard_header(HubClient& hub, const std::string& repo, std::string_view commit,
                                                  const RepoFile& f, std::uint64_t& fetched) {
  const std::string name = repo + "/" + f.path;
  if (f.size < 8) return util::fail(util::ErrorCode::corrupt, name + ": the Hub lists it with " + std::to_string(f.size) + " bytes");
  HttpByteSource src(hub, repo, std::string(commit), f.path, f.size);
  std::string first(8, '\0');
  auto n = src.read_at(0, std::as_writable_bytes(std::span(first.data(), first.size())));
  if (!n) {
    fetched += src.bytes_fetched();
    return std::unexpected(util::with_context(n.error(), name));
  }
  auto len = parse_safetensors_header_length(std::string_view(first.data(), *n), f.size, name);
  if (!len) {
    fetched += src.bytes_fetched();
    return std::unexpected(len.error());
  }
  std::string header(*len, '\0');
  auto got = src.read_at(8, std::as_writable_bytes(std::span(header.data(), header.size())));
  fetched += src.bytes_fetched();
  if (!got) return std::unexpected(util::with_context(got.error(), name));
  if (*got != *len) return util::fail(util::ErrorCode::corrupt, name + ": the header is cut short");
  auto h = parse_safetensors_header(header, f.size, name);
  if (!h) return std::unexpected(h.error());
  h->file = f.path;
  return h;
}

}  // namespace

util::Result<std::uint64_t> parse_safetensors_header_length(std::string_view first8, std::uint64_t file_bytes,
                                                            std::string_view file) {
  if (first8.size() < 8 || file_bytes < 8) {
    return std::unexpected(corrupt(file, "shorter than the 8-byte safetensors header length"));
  }
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(first8[static_cast<std::size_t>(i)]);
  if (n > k_max_safetensors_header_bytes) {
    return std::unexpected(corrupt(file, "safetensors header length " + std::to_string(n) + " is over the " +
                                             std::to_string(k_max_safetensors_header_bytes) + "-byte limit"));
  }
  if (n > file_bytes - 8) {
    return std::unexpected(corrupt(file, "safetensors header length " + std::to_string(n) +
                                             " runs past the end of the " + std::to_string(file_bytes) + "-byte file"));
  }
  if (n < 2) return std::unexpected(corrupt(file, "empty safetensors header"));
  return n;
}

util::Result<SafetensorsHeader> parse_safetensors_header(std::string_view json_text, std::uint64_t file_bytes,
                                                         std::string_view file) {
  if (file_bytes < 8 + json_text.size()) {
    return std::unexpected(corrupt(file, "the header is longer than the file"));
  }
  const std::uint64_t data_bytes = file_bytes - 8 - json_text.size();
  json root;
  try {
    root = json::parse(json_text);
  } catch (const std::exception& e) {
    return std::unexpected(corrupt(file, std::string("safetensors header is not JSON: ") + e.what()));
  }
  if (!root.is_object()) return std::unexpected(corrupt(file, "safetensors header is not a JSON object"));
  SafetensorsHeader h;
  h.file = std::string(file);
  h.header_bytes = json_text.size();
  h.file_bytes = file_bytes;
  struct Span {
    std::uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Span> spans;
  for (const auto& [name, v] : root.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) return std::unexpected(corrupt(file, "__metadata__ is not an object"));
      for (const auto& [k, mv] : v.items()) h.metadata[k] = mv.is_string() ? mv.get<std::string>() : mv.dump();
      continue;
    }
    const std::string where = "tensor '" + name.substr(0, 200) + "'";
    if (!v.is_object()) return std::unexpected(corrupt(file, where + " is not an object"));
    const auto dt = v.find("dtype");
    const auto shape = v.find("shape");
    const auto offs = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string()) return std::unexpected(corrupt(file, where + " has no dtype"));
    if (shape == v.end() || !shape->is_array()) return std::unexpected(corrupt(file, where + " has no shape"));
    if (offs == v.end() || !offs->is_array() || offs->size() != 2 || !(*offs)[0].is_number_unsigned() ||
        !(*offs)[1].is_number_unsigned()) {
      return std::unexpected(corrupt(file, where + " has no data_offsets [begin, end]"));
    }
    const std::string dtype = dt->get<std::string>();
    const auto bits = core::safetensors_dtype_bits(dtype);
    if (!bits) return std::unexpected(corrupt(file, where + " has unknown dtype '" + dtype.substr(0, 40) + "'"));
    std::uint64_t elements = 1;
    for (const auto& d : *shape) {
      if (!d.is_number_unsigned()) return std::unexpected(corrupt(file, where + " has a shape that is not unsigned integers"));
      const auto dim = d.get<std::uint64_t>();
      if (dim != 0 && elements > (~0ULL / 64) / dim) return std::unexpected(corrupt(file, where + " has a shape too large"));
      elements *= dim;
    }
    const std::uint64_t total_bits = elements * *bits;
    if (total_bits % 8 != 0) {
      return std::unexpected(corrupt(file, where + ": " + std::to_string(elements) + " " + dtype +
                                               " elements are not a whole number of bytes"));
    }
    const std::uint64_t bytes = total_bits / 8;
    const auto begin = (*offs)[0].get<std::uint64_t>();
    const auto end = (*offs)[1].get<std::uint64_t>();
    if (begin > end || end > data_bytes) {
      return std::unexpected(corrupt(file, where + " data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                                               "] lie outside the " + std::to_string(data_bytes) + " data bytes"));
    }
    if (end - begin != bytes) {
      return std::unexpected(corrupt(file, where + " data_offsets span " + std::to_string(end - begin) +
                                               " bytes, but its shape and " + dtype + " make " + std::to_string(bytes)));
    }
    auto& t = h.weights.by_dtype[dtype];
    t.params += elements;
    t.bytes += bytes;
    h.weights.total_params += elements;
    h.weights.total_bytes += bytes;
    ++h.weights.tensors;
    h.tensor_names.push_back(name);
    spans.push_back({begin, end, &h.tensor_names.back()});
  }
  // Names point into tensor_names; rebuild after the vector stopped growing.
  for (std::size_t i = 0; i < spans.size(); ++i) spans[i].name = &h.tensor_names[i];
  std::ranges::sort(spans, [](const Span& a, const Span& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  for (std::size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].begin < spans[i - 1].end) {
      return std::unexpected(corrupt(file, "tensors '" + spans[i - 1].name->substr(0, 200) + "' and '" +
                                               spans[i].name->substr(0, 200) + "' overlap in the data"));
    }
  }
  return h;
}

util::Result<std::vector<std::string>> parse_safetensors_index(std::string_view json_text, std::string_view file) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const std::exception& e) {
    return std::unexpected(corrupt(file, std::string("not JSON: ") + e.what()));
  }
  if (!root.is_object() || !root.contains("weight_map") || !root["weight_map"].is_object()) {
    return std::unexpected(corrupt(file, "no weight_map object"));
  }
  std::set<std::string> shards;
  for (const auto& [tensor, f] : root["weight_map"].items()) {
    if (!f.is_string()) return std::unexpected(corrupt(file, "weight_map entry '" + tensor.substr(0, 200) + "' is not a file name"));
    const auto name = f.get<std::string>();
    if (auto st = validate_repo_file(name); !st) return std::unexpected(corrupt(file, st.error().message));
    shards.insert(name);
  }
  if (shards.empty()) return std::unexpected(corrupt(file, "weight_map names no files"));
  return std::vector<std::string>(shards.begin(), shards.end());
}

util::Result<core::HfModelConfig> parse_model_config(std::string_view json_text) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const std::exception& e) {
    return util::fail(util::ErrorCode::corrupt, std::string("config.json is not JSON: ") + e.what());
  }
  if (!root.is_object()) return util::fail(util::ErrorCode::corrupt, "config.json is not a JSON object");
  const json* text = &root;
  for (const char* k : {"text_config", "llm_config", "language_config"}) {
    const auto it = root.find(k);
    if (it != root.end() && it->is_object() && it->contains("num_hidden_layers")) {
      text = &*it;
      break;
    }
  }
  const json& c = *text;
  core::HfModelConfig m;
  m.model_type = get_string(c, "model_type");
  if (m.model_type.empty()) m.model_type = get_string(root, "model_type");
  if (const auto a = root.find("architectures"); a != root.end() && a->is_array() && !a->empty() && (*a)[0].is_string()) {
    m.architecture = (*a)[0].get<std::string>();
  }
  const auto n_layer = first_u32(c, {"num_hidden_layers", "n_layer", "num_layers"});
  const auto n_head = first_u32(c, {"num_attention_heads", "n_head"});
  if (!n_layer || *n_layer == 0 || *n_layer > 10000) {
    return util::fail(util::ErrorCode::corrupt, "config.json: no valid num_hidden_layers");
  }
  if (!n_head || *n_head == 0 || *n_head > 100000) {
    return util::fail(util::ErrorCode::corrupt, "config.json: no valid num_attention_heads");
  }
  m.n_layer = *n_layer;
  m.n_head = *n_head;
  m.n_kv_head = first_u32(c, {"num_key_value_heads", "multi_query_group_num"}).value_or(m.n_head);
  if (m.n_kv_head == 0 || m.n_kv_head > m.n_head) m.n_kv_head = m.n_head;
  m.hidden_size = first_u32(c, {"hidden_size", "n_embd", "d_model"}).value_or(0);
  m.head_dim = get_u32(c, "head_dim").value_or(0);
  if (m.head_dim == 0) m.head_dim = m.hidden_size / m.n_head;
  m.v_head_dim = get_u32(c, "v_head_dim").value_or(0);
  m.intermediate_size = first_u32(c, {"intermediate_size", "ffn_hidden_size", "n_inner"}).value_or(0);
  m.vocab_size = first_u32(c, {"vocab_size", "padded_vocab_size"}).value_or(0);
  m.max_position_embeddings =
      first_u32(c, {"max_position_embeddings", "n_positions", "seq_length", "max_sequence_length"}).value_or(0);

  // MLA (DeepSeek-V2/V3, Kimi K2 ...): a compressed latent of kv_lora_rank + the rope part.
  if (auto r = get_u32(c, "kv_lora_rank"); r && *r > 0) {
    m.mla = true;
    m.kv_lora_rank = *r;
    m.qk_rope_head_dim = get_u32(c, "qk_rope_head_dim").value_or(0);
    const auto nope = get_u32(c, "qk_nope_head_dim").value_or(0);
    if (nope + m.qk_rope_head_dim > 0) m.head_dim = nope + m.qk_rope_head_dim;
  }

  m.n_experts = first_u32(c, {"num_experts", "n_routed_experts", "num_local_experts"}).value_or(0);
  m.n_experts_per_tok = first_u32(c, {"num_experts_per_tok", "moe_topk", "num_experts_per_token"}).value_or(0);
  m.moe_intermediate_size = first_u32(c, {"moe_intermediate_size", "expert_intermediate_size"}).value_or(0);

  // Sliding window: null, or disabled by use_sliding_window: false (Qwen2), means none.
  m.sliding_window = get_u32(c, "sliding_window").value_or(0);
  if (const auto u = c.find("use_sliding_window"); u != c.end() && u->is_boolean() && !u->get<bool>()) {
    m.sliding_window = 0;
  }

  // Per-layer kinds: layer_types, else the older encodings of hybrid layouts.
  m.layers.assign(m.n_layer, core::LayerAttention::full);
  bool typed = false;
  if (const auto lt = c.find("layer_types"); lt != c.end() && lt->is_array() && lt->size() == m.n_layer) {
    for (std::size_t i = 0; i < m.n_layer; ++i) {
      if ((*lt)[i].is_string()) m.layers[i] = attention_kind((*lt)[i].get<std::string>());
    }
    typed = true;
  } else if (const auto pat = get_string(c, "hybrid_override_pattern"); pat.size() == m.n_layer) {
    // Nemotron-H: M = Mamba2, * = attention, - = MLP, E = MoE.
    for (std::size_t i = 0; i < m.n_layer; ++i) {
      m.layers[i] = pat[i] == '*' ? core::LayerAttention::full
                    : pat[i] == 'M' ? core::LayerAttention::mamba
                                    : core::LayerAttention::none;
    }
    typed = true;
  } else if (auto every = get_u32(c, "full_attention_interval"); every && *every > 0) {
    for (std::size_t i = 0; i < m.n_layer; ++i) {
      m.layers[i] = (i + 1) % *every == 0 ? core::LayerAttention::full : core::LayerAttention::linear;
    }
    typed = true;
  } else if (auto period = get_u32(c, "attn_layer_period"); period && *period > 0) {
    const auto offset = get_u32(c, "attn_layer_offset").value_or(0);
    for (std::size_t i = 0; i < m.n_layer; ++i) {
      m.layers[i] = i % *period == offset ? core::LayerAttention::full : core::LayerAttention::mamba;
    }
    typed = true;
  }
  if (!typed && m.sliding_window > 0) {
    if (auto every = get_u32(c, "sliding_window_pattern"); every && *every > 0) {
      // Gemma 3: every Nth layer is global, the others slide.
      for (std::size_t i = 0; i < m.n_layer; ++i) {
        m.layers[i] = (i + 1) % *every == 0 ? core::LayerAttention::full : core::LayerAttention::sliding;
      }
    } else if (m.model_type == "gemma2") {
      for (std::size_t i = 0; i < m.n_layer; ++i) {
        m.layers[i] = i % 2 == 0 ? core::LayerAttention::sliding : core::LayerAttention::full;
      }
    } else {
      m.layers.assign(m.n_layer, core::LayerAttention::sliding);  // Mistral v0.1 style: every layer
    }
  }
  if (m.n_recurrent_layers() > 0) m.recurrent_state_bytes_per_layer = recurrent_state_bytes(c, m);

  m.torch_dtype = get_string(c, "torch_dtype");
  if (m.torch_dtype.empty()) m.torch_dtype = get_string(c, "dtype");
  if (m.torch_dtype.empty()) m.torch_dtype = get_string(root, "torch_dtype");
  if (m.torch_dtype.empty()) m.torch_dtype = get_string(root, "dtype");
  const json* q = nullptr;
  if (const auto it = root.find("quantization_config"); it != root.end() && it->is_object()) q = &*it;
  if (const auto it = c.find("quantization_config"); q == nullptr && it != c.end() && it->is_object()) q = &*it;
  if (q != nullptr) {
    m.quant_method = get_string(*q, "quant_method");
    m.quant_bits = first_u32(*q, {"bits", "w_bit", "weight_bits"}).value_or(0);
    if (m.quant_bits == 0 && lower(m.quant_method).starts_with("fp8")) m.quant_bits = 8;
  }
  return m;
}

SafetensorsListing list_safetensors_files(const std::vector<RepoFile>& files) {
  SafetensorsListing out;
  std::vector<RepoFile> top;
  const RepoFile* single = nullptr;
  for (const auto& f : files) {
    if (!is_top_level(f.path)) continue;
    if (f.path == "config.json") out.has_config = true;
    if (f.path == "model.safetensors.index.json") out.index = f.path;
    const std::string l = lower(f.path);
    if (!l.ends_with(".safetensors") || l.starts_with("adapter_model")) continue;
    if (f.path == "model.safetensors") single = &f;
    top.push_back(f);
  }
  if (!out.index.empty()) return out;  // the shards come from the index (read_remote_safetensors)
  if (single != nullptr) {
    out.shards.push_back(*single);
  } else {
    const bool has_hf = std::ranges::any_of(top, [](const RepoFile& f) { return !lower(f.path).starts_with("consolidated"); });
    for (const auto& f : top) {
      if (has_hf && lower(f.path).starts_with("consolidated")) continue;
      out.shards.push_back(f);
    }
    std::ranges::sort(out.shards, {}, &RepoFile::path);
  }
  for (const auto& f : out.shards) out.total_bytes += f.size;
  return out;
}

util::Result<RemoteSafetensors> read_remote_safetensors(HubClient& hub, std::string_view repo, std::string_view commit,
                                                        const std::vector<RepoFile>& files, std::size_t parallel) {
  SafetensorsListing listing = list_safetensors_files(files);
  const std::string r(repo);
  auto find_file = [&](std::string_view name) -> const RepoFile* {
    for (const auto& f : files) {
      if (f.path == name) return &f;
    }
    return nullptr;
  };
  RemoteSafetensors out;
  if (!listing.has_config) {
    return util::fail(util::ErrorCode::not_found, r + " has no config.json (needed for layers and heads)");
  }
  auto cfg_text = read_whole(hub, repo, commit, *find_file("config.json"), k_max_config_bytes, out.bytes_fetched);
  if (!cfg_text) return std::unexpected(cfg_text.error());
  auto cfg = parse_model_config(*cfg_text);
  if (!cfg) return std::unexpected(util::with_context(cfg.error(), r));
  out.config = std::move(*cfg);

  std::map<std::string, std::string> index_map;  // tensor -> shard, when there is an index
  if (!listing.index.empty()) {
    auto text = read_whole(hub, repo, commit, *find_file(listing.index), k_max_index_bytes, out.bytes_fetched);
    if (!text) return std::unexpected(text.error());
    auto shards = parse_safetensors_index(*text, r + "/" + listing.index);
    if (!shards) return std::unexpected(shards.error());
    for (const auto& s : *shards) {
      const RepoFile* f = find_file(s);
      if (f == nullptr) {
        return util::fail(util::ErrorCode::corrupt, r + "/" + listing.index + " names " + s + ", which the repo lacks");
      }
      listing.shards.push_back(*f);
      listing.total_bytes += f->size;
    }
    try {
      for (const auto& [t, s] : json::parse(*text)["weight_map"].items()) index_map[t] = s.get<std::string>();
    } catch (const std::exception&) {
    }
  }
  if (listing.shards.empty()) return util::fail(util::ErrorCode::not_found, r + " has no safetensors weight files");

  // Every shard's header, `parallel` at a time; the first failure (in shard order) is the answer.
  const std::size_t n = listing.shards.size();
  std::vector<util::Result<SafetensorsHeader>> headers(
      n, util::Result<SafetensorsHeader>(util::fail(util::ErrorCode::internal, "not read")));
  std::vector<std::uint64_t> fetched(n, 0);
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) headers[i] = read_shard_header(hub, r, commit, listing.shards[i], fetched[i]);
  };
  std::vector<std::thread> threads;
  for (std::size_t w = 1; w < std::clamp<std::size_t>(parallel, 1, n); ++w) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  for (auto b : fetched) out.bytes_fetched += b;
  for (std::size_t i = 0; i < n; ++i) {
    if (!headers[i]) return std::unexpected(headers[i].error());
    auto& h = *headers[i];
    for (const auto& [d, t] : h.weights.by_dtype) {
      auto& all = out.weights.by_dtype[d];
      all.params += t.params;
      all.bytes += t.bytes;
    }
    out.weights.total_params += h.weights.total_params;
    out.weights.total_bytes += h.weights.total_bytes;
    out.weights.tensors += h.weights.tensors;
    out.file_bytes += h.file_bytes;
    out.headers.push_back(std::move(h));
  }
  if (!index_map.empty()) {
    std::map<std::string, std::set<std::string>> names;
    for (const auto& h : out.headers) names[h.file].insert(h.tensor_names.begin(), h.tensor_names.end());
    std::size_t missing = 0;
    std::string example;
    for (const auto& [t, s] : index_map) {
      if (!names[s].contains(t)) {
        if (missing++ == 0) example = t + " in " + s;
      }
    }
    if (missing > 0) {
      out.notes.push_back(listing.index + " names " + std::to_string(missing) +
                          " tensors their shard's header lacks (e.g. " + example.substr(0, 200) + ")");
    }
  }
  return out;
}

}  // namespace gpumod::infra::hf
