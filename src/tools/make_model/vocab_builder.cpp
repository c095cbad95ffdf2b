#include "tools/make_model/vocab_builder.hpp"

#include "gpumod/infra/gguf/writer.hpp"

namespace gpumod::tools {

namespace gg = infra::gguf;

namespace {

// A token text that looks like a vocab's: short ASCII pieces, the SPM "▁" word marker, the byte
// tokens <0x00>..<0xFF>, and some longer multi-byte pieces so string lengths vary.
std::string token_text(std::uint32_t i, const std::string& tokenizer) {
  if (i < 3) {
    static const char* special[] = {"<unk>", "<s>", "</s>"};
    static const char* wpm[] = {"[PAD]", "[CLS]", "[SEP]"};
    return tokenizer == "bert" ? wpm[i] : special[i];
  }
  if (i < 259 && tokenizer == "llama") {
    static const char* hex = "0123456789ABCDEF";
    const auto b = i - 3;
    return std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
  }
  std::string s = tokenizer == "llama" ? "\xE2\x96\x81" : (tokenizer == "bert" && i % 3 == 0 ? "##" : "");
  std::uint32_t v = i * 2654435761u;
  const std::uint32_t len = 1 + (v >> 28) % 9;
  for (std::uint32_t k = 0; k < len; ++k) {
    s.push_back(static_cast<char>('a' + (v % 26)));
    v = v * 1103515245u + 12345u;
  }
  if (i % 97 == 0) s += "\xC3\xA9\xE4\xB8\xAD";  // é中: multi-byte UTF-8
  return s;
}

}  // namespace

std::vector<gg::MetadataEntry> vocab_metadata(const VocabSpec& spec) {
  std::vector<gg::MetadataEntry> meta;
  const std::string& a = spec.arch;
  meta.push_back(gg::meta_string("general.architecture", a));
  meta.push_back(gg::meta_string("general.name", a + "-vocab"));
  meta.push_back(gg::meta_u32(a + ".context_length", 4096));
  meta.push_back(gg::meta_u32(a + ".embedding_length", 4096));
  meta.push_back(gg::meta_u32(a + ".block_count", 32));
  meta.push_back(gg::meta_u32(a + ".feed_forward_length", 11008));
  meta.push_back(gg::meta_u32(a + ".attention.head_count", 32));
  meta.push_back(gg::meta_f32(a + ".attention.layer_norm_rms_epsilon", 1e-5f));
  meta.push_back(gg::meta_string("tokenizer.ggml.model", spec.tokenizer));
  std::vector<std::string> tokens;
  std::vector<double> scores;
  std::vector<std::int64_t> types;
  tokens.reserve(spec.tokens);
  for (std::uint32_t i = 0; i < spec.tokens; ++i) {
    tokens.push_back(token_text(i, spec.tokenizer));
    scores.push_back(-static_cast<double>(i) / 16.0);
    types.push_back(i < 3 ? 3 : (i < 259 && spec.tokenizer == "llama" ? 6 : 1));
  }
  meta.push_back(gg::meta_array_strings("tokenizer.ggml.tokens", std::move(tokens)));
  meta.push_back(gg::meta_array_f32("tokenizer.ggml.scores", std::move(scores)));
  meta.push_back(gg::meta_array("tokenizer.ggml.token_type", gg::ValueType::i32, std::move(types)));
  if (spec.merges > 0) {
    std::vector<std::string> merges;
    for (std::uint32_t i = 0; i < spec.merges; ++i) merges.push_back(token_text(i + 300, "gpt2") + " " + token_text(i + 7, "gpt2"));
    meta.push_back(gg::meta_array_strings("tokenizer.ggml.merges", std::move(merges)));
  }
  meta.push_back(gg::meta_u32("tokenizer.ggml.unknown_token_id", 0));
  meta.push_back(gg::meta_u32("tokenizer.ggml.bos_token_id", 1));
  meta.push_back(gg::meta_u32("tokenizer.ggml.eos_token_id", 2));
  meta.push_back(gg::meta_bool("tokenizer.ggml.add_bos_token", true));
  meta.push_back(gg::meta_bool("tokenizer.ggml.add_eos_token", false));
  return meta;
}

util::Status write_vocab_gguf(const std::string& path, const VocabSpec& spec) {
  if (spec.tokens < 3) return util::fail(util::ErrorCode::invalid_argument, "a vocab needs at least 3 tokens");
  gg::WriteOptions o;
  o.alignment = spec.alignment;
  o.version = spec.version;
  const auto meta = vocab_metadata(spec);
  return gg::write_gguf(path, meta, {}, o);
}

VocabSpec known_vocab(const std::string& name) {
  VocabSpec s;
  if (name == "phi-3") {
    s.arch = "phi3";
    s.tokens = 32064;
    s.alignment = 64;
  } else if (name == "bert-bge") {
    s.arch = "bert";
    s.tokenizer = "bert";
    s.tokens = 30522;
  } else if (name == "gpt2-bpe") {
    s.arch = "gpt2";
    s.tokenizer = "gpt2";
    s.tokens = 50257;
    s.merges = 50000;
  }
  return s;
}

}  // namespace gpumod::tools
