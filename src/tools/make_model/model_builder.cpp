#include "tools/make_model/model_builder.hpp"

#include <cstdio>

#include "gpumod/core/ggml_types.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::tools {

namespace gg = infra::gguf;
using core::ggml_id::f32;

namespace {

util::Error bad(const std::string& what) { return {util::ErrorCode::invalid_argument, what}; }

// llama_ftype of a uniform file (general.file_type).
std::uint32_t file_type_of(std::uint32_t type) {
  switch (type) {
    case core::ggml_id::f32: return 0;
    case core::ggml_id::f16: return 1;
    case core::ggml_id::q4_0: return 2;
    case core::ggml_id::q8_0: return 7;
    case core::ggml_id::bf16: return 32;
    default: return 1;
  }
}

// The synthetic SPM vocab: <unk> <s> </s>, <0x00>..<0xFF>, then "▁p<i>" filler pieces.
void add_vocab(std::vector<gg::MetadataEntry>& meta, std::uint32_t n_vocab) {
  std::vector<std::string> tokens;
  std::vector<double> scores;
  std::vector<std::int64_t> types;  // llama_token_type: 1 normal, 2 unknown, 3 control, 6 byte
  tokens.reserve(n_vocab);
  tokens.push_back("<unk>");
  types.push_back(2);
  tokens.push_back("<s>");
  types.push_back(3);
  tokens.push_back("</s>");
  types.push_back(3);
  scores.assign(3, 0.0);
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    tokens.emplace_back(buf);
    scores.push_back(0.0);
    types.push_back(6);
  }
  // Single printable letters first (so plain text tokenizes without bytes), then longer pieces.
  std::uint32_t i = 0;
  while (tokens.size() < n_vocab) {
    std::string piece;
    if (i < 26) {
      piece = std::string(1, static_cast<char>('a' + i));
    } else if (i < 52) {
      piece = "\xE2\x96\x81" + std::string(1, static_cast<char>('a' + (i - 26)));  // "▁a"
    } else {
      piece = "\xE2\x96\x81p" + std::to_string(i);
    }
    tokens.push_back(std::move(piece));
    scores.push_back(-static_cast<double>(i + 1));
    types.push_back(1);
    ++i;
  }
  meta.push_back(gg::meta_string("tokenizer.ggml.model", "llama"));
  meta.push_back(gg::meta_string("tokenizer.ggml.pre", "default"));
  meta.push_back(gg::meta_array_strings("tokenizer.ggml.tokens", std::move(tokens)));
  meta.push_back(gg::meta_array_f32("tokenizer.ggml.scores", std::move(scores)));
  meta.push_back(gg::meta_array("tokenizer.ggml.token_type", gg::ValueType::i32, std::move(types)));
  meta.push_back(gg::meta_u32("tokenizer.ggml.unknown_token_id", 0));
  meta.push_back(gg::meta_u32("tokenizer.ggml.bos_token_id", 1));
  meta.push_back(gg::meta_u32("tokenizer.ggml.eos_token_id", 2));
  meta.push_back(gg::meta_bool("tokenizer.ggml.add_bos_token", true));
  meta.push_back(gg::meta_bool("tokenizer.ggml.add_eos_token", false));
}

struct Builder {
  const ModelSpec& s;
  std::uint32_t wtype;
  ModelDefinition def;

  void tensor(const std::string& name, std::uint32_t type, std::vector<std::uint64_t> shape) {
    def.tensors.push_back({name, type, std::move(shape)});
  }
  // A weight matrix: the chosen type when its rows fit the type's block, else f16.
  void matrix(const std::string& name, std::vector<std::uint64_t> shape) {
    std::uint32_t type = wtype;
    if (auto info = core::ggml_type(type); !info || shape[0] % info->block_size != 0) type = core::ggml_id::f16;
    tensor(name, type, std::move(shape));
  }
  void norm(const std::string& name, std::uint64_t n) { tensor(name, f32, {n}); }
  std::string blk(std::uint32_t i, const std::string& rest) const {
    return "blk." + std::to_string(i) + "." + rest;
  }
  void embeddings(bool output) {
    matrix("token_embd.weight", {s.embd, s.vocab});
    norm("output_norm.weight", s.embd);
    if (output) matrix("output.weight", {s.embd, s.vocab});
  }
  void attention(std::uint32_t i, std::uint32_t head_dim) {
    const std::uint64_t q = std::uint64_t{head_dim} * s.heads, kv = std::uint64_t{head_dim} * s.kv_heads;
    matrix(blk(i, "attn_q.weight"), {s.embd, q});
    matrix(blk(i, "attn_k.weight"), {s.embd, kv});
    matrix(blk(i, "attn_v.weight"), {s.embd, kv});
    matrix(blk(i, "attn_output.weight"), {q, s.embd});
  }
  void dense_ffn(std::uint32_t i, bool gate) {
    if (gate) matrix(blk(i, "ffn_gate.weight"), {s.embd, s.ff});
    matrix(blk(i, "ffn_up.weight"), {s.embd, s.ff});
    matrix(blk(i, "ffn_down.weight"), {s.ff, s.embd});
  }
};

}  // namespace

std::string default_hybrid_pattern(std::uint32_t layers) {
  // Nemotron-H style: Mamba2 and MoE layers alternate; every fourth MoE slot is attention.
  std::string p;
  for (std::uint32_t i = 0; i < layers; ++i) {
    if (i % 2 == 0) {
      p += 'M';
    } else {
      p += ((i / 2) % 4 == 1) ? '*' : 'E';
    }
  }
  return p;
}

util::Result<std::uint32_t> parse_weight_type(const std::string& text) {
  const std::string t = util::to_lower(text);
  if (t == "f16") return core::ggml_id::f16;
  if (t == "f32") return core::ggml_id::f32;
  if (t == "bf16") return core::ggml_id::bf16;
  if (t == "q8_0") return core::ggml_id::q8_0;
  if (t == "q4_0") return core::ggml_id::q4_0;
  return std::unexpected(bad("weight type '" + text + "' is not one of f16, bf16, f32, q8_0, q4_0"));
}

util::Result<ModelDefinition> build_model(const ModelSpec& s) {
  const bool llama = s.arch == "llama", moe = s.arch == "qwen3moe", gemma = s.arch == "gemma2",
             hybrid = s.arch == "nemotron_h_moe";
  if (!llama && !moe && !gemma && !hybrid) {
    return std::unexpected(bad("architecture '" + s.arch + "' is not one of llama, qwen3moe, gemma2, nemotron_h_moe"));
  }
  if (s.layers < 1 || s.layers > 512) return std::unexpected(bad("--layers must be 1..512"));
  if (s.embd < 32 || s.embd > 65536 || s.embd % 32 != 0) return std::unexpected(bad("--embd must be a multiple of 32 in 32..65536"));
  if (s.heads < 1 || s.heads > 1024) return std::unexpected(bad("--heads must be 1..1024"));
  if (s.kv_heads < 1 || s.kv_heads > s.heads || s.heads % s.kv_heads != 0) {
    return std::unexpected(bad("--kv-heads must divide --heads"));
  }
  if (s.vocab < 259 || s.vocab > 1'000'000) return std::unexpected(bad("--vocab must be 259..1000000 (3 specials + 256 bytes)"));
  if (s.ctx_train < 256 || s.ctx_train > 16'777'216) return std::unexpected(bad("--ctx-train must be 256..16777216"));
  if (s.ff < 32 || s.ff > 1'048'576 || s.ff % 32 != 0) return std::unexpected(bad("--ff must be a multiple of 32 in 32..1048576"));
  if (!core::ggml_type(s.type)) return std::unexpected(bad("unknown weight type id " + std::to_string(s.type)));
  const std::uint32_t head_dim = s.head_dim ? s.head_dim : s.embd / s.heads;
  if (head_dim == 0 || head_dim % 2 != 0 || head_dim > 1024) return std::unexpected(bad("head dim must be even and 2..1024"));
  if (llama && head_dim * s.heads != s.embd) return std::unexpected(bad("llama needs --embd = --heads x head dim"));
  if (moe || hybrid) {
    if (s.experts < 1 || s.experts > 512) return std::unexpected(bad("--experts must be 1..512"));
    if (s.experts_used < 1 || s.experts_used > s.experts) return std::unexpected(bad("--experts-used must be 1..--experts"));
    if (s.ff_exp < 32 || s.ff_exp % 32 != 0) return std::unexpected(bad("--ff-exp must be a multiple of 32, at least 32"));
  }

  Builder b{s, s.type, {}};
  auto& meta = b.def.metadata;
  const std::string p = s.arch + ".";
  meta.push_back(gg::meta_string("general.architecture", s.arch));
  meta.push_back(gg::meta_string("general.name", s.name));
  meta.push_back(gg::meta_u32("general.file_type", file_type_of(s.type)));
  meta.push_back(gg::meta_u32(p + "block_count", s.layers));
  meta.push_back(gg::meta_u32(p + "context_length", s.ctx_train));
  meta.push_back(gg::meta_u32(p + "embedding_length", s.embd));
  meta.push_back(gg::meta_u32(p + "vocab_size", s.vocab));
  meta.push_back(gg::meta_f32(p + "attention.layer_norm_rms_epsilon", 1e-5f));
  meta.push_back(gg::meta_f32(p + "rope.freq_base", 10000.0f));

  if (llama || moe || gemma) {
    meta.push_back(gg::meta_u32(p + "feed_forward_length", s.ff));
    meta.push_back(gg::meta_u32(p + "attention.head_count", s.heads));
    meta.push_back(gg::meta_u32(p + "attention.head_count_kv", s.kv_heads));
    if (!llama) {
      meta.push_back(gg::meta_u32(p + "attention.key_length", head_dim));
      meta.push_back(gg::meta_u32(p + "attention.value_length", head_dim));
    }
  }
  if (moe) {
    meta.push_back(gg::meta_u32(p + "expert_count", s.experts));
    meta.push_back(gg::meta_u32(p + "expert_used_count", s.experts_used));
    meta.push_back(gg::meta_u32(p + "expert_feed_forward_length", s.ff_exp));
  }
  if (gemma) {
    meta.push_back(gg::meta_u32(p + "attention.sliding_window", s.swa_window ? s.swa_window : 4096));
    meta.push_back(gg::meta_f32(p + "attn_logit_softcapping", 50.0f));
    meta.push_back(gg::meta_f32(p + "final_logit_softcapping", 30.0f));
  }

  if (llama || moe || gemma) {
    b.embeddings(!gemma && !s.tied_output);  // gemma2 always duplicates token_embd
    for (std::uint32_t i = 0; i < s.layers; ++i) {
      b.norm(b.blk(i, "attn_norm.weight"), s.embd);
      b.attention(i, head_dim);
      if (moe) {
        b.norm(b.blk(i, "attn_q_norm.weight"), head_dim);
        b.norm(b.blk(i, "attn_k_norm.weight"), head_dim);
      }
      if (gemma) b.norm(b.blk(i, "post_attention_norm.weight"), s.embd);
      b.norm(b.blk(i, "ffn_norm.weight"), s.embd);
      if (moe) {
        b.tensor(b.blk(i, "ffn_gate_inp.weight"), f32, {s.embd, s.experts});
        b.matrix(b.blk(i, "ffn_gate_exps.weight"), {s.embd, s.ff_exp, s.experts});
        b.matrix(b.blk(i, "ffn_down_exps.weight"), {s.ff_exp, s.embd, s.experts});
        b.matrix(b.blk(i, "ffn_up_exps.weight"), {s.embd, s.ff_exp, s.experts});
      } else {
        b.dense_ffn(i, true);
      }
      if (gemma) b.norm(b.blk(i, "post_ffw_norm.weight"), s.embd);
    }
    add_vocab(meta, s.vocab);
    return std::move(b.def);
  }

  // nemotron_h_moe
  const std::string pattern = s.pattern.empty() ? default_hybrid_pattern(s.layers) : s.pattern;
  if (pattern.size() != s.layers || pattern.find_first_not_of("M*E") != std::string::npos) {
    return std::unexpected(bad("--pattern must have one of M, *, E per layer (" + std::to_string(s.layers) + ")"));
  }
  const std::uint32_t d_inner = s.ssm_d_inner ? s.ssm_d_inner : 2 * s.embd;
  const std::uint32_t dt_rank = s.ssm_dt_rank ? s.ssm_dt_rank : std::max(1u, d_inner / 64);
  const std::uint32_t ff_shexp = s.ff_shexp ? s.ff_shexp : s.ff_exp;
  if (s.ssm_n_group < 1 || d_inner % s.ssm_n_group != 0 || d_inner % dt_rank != 0 || s.ssm_d_state < 1 ||
      s.ssm_d_conv < 2 || s.ssm_d_conv > 16) {
    return std::unexpected(bad("Mamba2 sizes: d_inner must be divisible by the group count and time_step_rank"));
  }
  std::vector<std::int64_t> kv_arr, ff_arr;
  for (char c : pattern) {
    kv_arr.push_back(c == '*' ? s.kv_heads : 0);
    ff_arr.push_back(c == 'E' ? s.ff : 0);
  }
  meta.push_back(gg::meta_u32(p + "attention.head_count", s.heads));
  meta.push_back(gg::meta_array(p + "attention.head_count_kv", gg::ValueType::i32, kv_arr));
  meta.push_back(gg::meta_array(p + "feed_forward_length", gg::ValueType::i32, ff_arr));
  meta.push_back(gg::meta_u32(p + "attention.key_length", head_dim));
  meta.push_back(gg::meta_u32(p + "attention.value_length", head_dim));
  meta.push_back(gg::meta_u32(p + "ssm.conv_kernel", s.ssm_d_conv));
  meta.push_back(gg::meta_u32(p + "ssm.inner_size", d_inner));
  meta.push_back(gg::meta_u32(p + "ssm.state_size", s.ssm_d_state));
  meta.push_back(gg::meta_u32(p + "ssm.time_step_rank", dt_rank));
  meta.push_back(gg::meta_u32(p + "ssm.group_count", s.ssm_n_group));
  meta.push_back(gg::meta_u32(p + "expert_count", s.experts));
  meta.push_back(gg::meta_u32(p + "expert_used_count", s.experts_used));
  meta.push_back(gg::meta_u32(p + "expert_feed_forward_length", s.ff_exp));
  meta.push_back(gg::meta_u32(p + "expert_shared_feed_forward_length", ff_shexp));
  meta.push_back(gg::meta_u32(p + "expert_shared_count", 1));
  meta.push_back(gg::meta_bool(p + "expert_weights_norm", true));
  meta.push_back(gg::meta_f32(p + "expert_weights_scale", 1.0f));

  b.embeddings(!s.tied_output);
  const std::uint64_t conv_ch = d_inner + 2ull * s.ssm_n_group * s.ssm_d_state;
  const std::uint64_t d_in_proj = 2ull * d_inner + 2ull * s.ssm_n_group * s.ssm_d_state + dt_rank;
  for (std::uint32_t i = 0; i < s.layers; ++i) {
    b.norm(b.blk(i, "attn_norm.weight"), s.embd);
    const char c = pattern[i];
    if (c == 'M') {
      b.matrix(b.blk(i, "ssm_in.weight"), {s.embd, d_in_proj});
      b.tensor(b.blk(i, "ssm_conv1d.weight"), f32, {s.ssm_d_conv, conv_ch});
      b.tensor(b.blk(i, "ssm_conv1d.bias"), f32, {conv_ch});
      b.tensor(b.blk(i, "ssm_dt.bias"), f32, {dt_rank});
      b.tensor(b.blk(i, "ssm_a"), f32, {1, dt_rank});
      b.tensor(b.blk(i, "ssm_d"), f32, {1, dt_rank});
      b.tensor(b.blk(i, "ssm_norm.weight"), f32, {d_inner / s.ssm_n_group, s.ssm_n_group});
      b.matrix(b.blk(i, "ssm_out.weight"), {d_inner, s.embd});
    } else if (c == '*') {
      b.attention(i, head_dim);
    } else {
      b.tensor(b.blk(i, "ffn_gate_inp.weight"), f32, {s.embd, s.experts});
      b.tensor(b.blk(i, "exp_probs_b.bias"), f32, {s.experts});
      b.matrix(b.blk(i, "ffn_down_exps.weight"), {s.ff_exp, s.embd, s.experts});
      b.matrix(b.blk(i, "ffn_up_exps.weight"), {s.embd, s.ff_exp, s.experts});
      b.matrix(b.blk(i, "ffn_down_shexp.weight"), {ff_shexp, s.embd});
      b.matrix(b.blk(i, "ffn_up_shexp.weight"), {s.embd, ff_shexp});
    }
  }
  add_vocab(meta, s.vocab);
  return std::move(b.def);
}

util::Status write_model(const std::string& path, const ModelSpec& spec,
                         const infra::gguf::WriteOptions& options) {
  auto def = build_model(spec);
  if (!def) return std::unexpected(def.error());
  return infra::gguf::write_gguf(path, def->metadata, def->tensors, options);
}

util::Result<ModelSpec> parse_spec_items(const std::string& text) {
  ModelSpec s;
  s.ctx_train = 131072;
  for (const auto& kv : util::split(text, ';')) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) return util::fail(util::ErrorCode::invalid_argument, "spec item '" + kv + "' has no '='");
    const std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
    auto u = [&](std::uint32_t& out) -> util::Status {
      auto n = util::parse_int(v, 0, 1LL << 31, k);
      if (!n) return std::unexpected(n.error());
      out = static_cast<std::uint32_t>(*n);
      return {};
    };
    util::Status st;
    if (k == "arch") s.arch = v;
    else if (k == "type") {
      auto t = parse_weight_type(v);
      if (!t) return std::unexpected(t.error());
      s.type = *t;
    } else if (k == "layers") st = u(s.layers);
    else if (k == "embd") st = u(s.embd);
    else if (k == "heads") st = u(s.heads);
    else if (k == "kv-heads") st = u(s.kv_heads);
    else if (k == "head-dim") st = u(s.head_dim);
    else if (k == "ff") st = u(s.ff);
    else if (k == "vocab") st = u(s.vocab);
    else if (k == "ctx-train") st = u(s.ctx_train);
    else if (k == "experts") st = u(s.experts);
    else if (k == "experts-used") st = u(s.experts_used);
    else if (k == "ff-exp") st = u(s.ff_exp);
    else if (k == "swa-window") st = u(s.swa_window);
    else if (k == "ff-shexp") st = u(s.ff_shexp);
    else if (k == "ssm-d-inner") st = u(s.ssm_d_inner);
    else if (k == "ssm-d-state") st = u(s.ssm_d_state);
    else if (k == "ssm-groups") st = u(s.ssm_n_group);
    else if (k == "ssm-dt-rank") st = u(s.ssm_dt_rank);
    else if (k == "pattern") s.pattern = v;
    else return util::fail(util::ErrorCode::invalid_argument, "unknown spec key '" + k + "'");
    if (!st) return std::unexpected(st.error());
  }
  return s;
}

}  // namespace gpumod::tools
