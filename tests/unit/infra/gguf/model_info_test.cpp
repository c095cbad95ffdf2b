#include "gpumod/infra/gguf/model_info.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "gpumod/core/ggml_types.hpp"
#include "gpumod/core/vram_estimator.hpp"
#include "gpumod/infra/gguf/writer.hpp"

namespace gpumod::infra::gguf {
namespace {

namespace fs = std::filesystem;
using core::ggml_id::f16;
using core::ggml_id::f32;

struct TempFile {
  TempFile() {
    std::string tmpl = (fs::temp_directory_path() / "gpumod-gguf-XXXXXX").string();
    dir = ::mkdtemp(tmpl.data());
  }
  ~TempFile() { std::error_code ec; fs::remove_all(dir, ec); }
  std::string path(const std::string& name) const { return dir + "/" + name; }
  std::string dir;
};

// The 1.1 B F16 model of llama-server-observed.md, as a sparse zero-filled GGUF (~2 GiB
// apparent size, a few KiB on disk).
void write_llama_1b(const std::string& path) {
  const std::uint64_t n_embd = 2048, kv = 512, n_ff = 8192, vocab = 32064;
  std::vector<MetadataEntry> meta{
      meta_string("general.architecture", "llama"), meta_u32("llama.block_count", 16),
      meta_u32("llama.embedding_length", 2048),     meta_u32("llama.feed_forward_length", 8192),
      meta_u32("llama.attention.head_count", 32),   meta_u32("llama.attention.head_count_kv", 8),
      meta_u32("llama.context_length", 131072),     meta_u32("llama.vocab_size", 32064)};
  std::vector<TensorSpec> t{{"token_embd.weight", f16, {n_embd, vocab}},
                            {"output.weight", f16, {n_embd, vocab}},
                            {"output_norm.weight", f32, {n_embd}}};
  for (int i = 0; i < 16; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    t.push_back({b + "attn_norm.weight", f32, {n_embd}});
    t.push_back({b + "attn_q.weight", f16, {n_embd, n_embd}});
    t.push_back({b + "attn_k.weight", f16, {n_embd, kv}});
    t.push_back({b + "attn_v.weight", f16, {n_embd, kv}});
    t.push_back({b + "attn_output.weight", f16, {n_embd, n_embd}});
    t.push_back({b + "ffn_norm.weight", f32, {n_embd}});
    t.push_back({b + "ffn_gate.weight", f16, {n_embd, n_ff}});
    t.push_back({b + "ffn_up.weight", f16, {n_embd, n_ff}});
    t.push_back({b + "ffn_down.weight", f16, {n_ff, n_embd}});
  }
  ASSERT_TRUE(write_gguf(path, meta, t));
}

TEST(GgufModelInfo, ObservedLlama1BFromAFile) {
  TempFile tmp;
  const std::string path = tmp.path("tiny-1b-F16.gguf");
  write_llama_1b(path);
  auto f = read_gguf_model(path);
  ASSERT_TRUE(f) << f.error().message;
  auto shape = model_shape_from_gguf(*f);
  ASSERT_TRUE(shape) << shape.error().message;
  EXPECT_EQ(shape->n_layer, 16u);
  EXPECT_EQ(shape->n_embd_head_k, 64u);
  EXPECT_EQ(shape->layers[3].n_head_kv, 8u);
  EXPECT_EQ(shape->n_vocab, 32064u);
  EXPECT_FALSE(shape->output_tied);
  EXPECT_EQ(shape->token_embd_bytes, 2048ull * 32064 * 2);
  EXPECT_NEAR(static_cast<double>(shape->n_params) / 1e9, 1.105, 0.01);
  core::EstimateOptions o;
  const auto e = core::estimate_vram(*shape, o);
  EXPECT_NEAR(e.gpu.weights_mib, 1981.5, 1.0);
  EXPECT_NEAR(e.gpu.kv_mib, 128.0, 0.01);
  EXPECT_NEAR(e.gpu.total_at_load_mib, 2764.0, 10.0);  // nvidia-smi at /health
  EXPECT_NEAR(e.gpu.total_mib - e.gpu.total_at_load_mib, 20.0, 0.01);  // a dense model's first-request workspace
  EXPECT_EQ(quant_label(*f, "tiny-1b-F16.gguf"), "F16");
}

TEST(GgufModelInfo, NemotronHybridLayersFromPerLayerArrays) {
  // A miniature nemotron_h_moe: M E * M E (recurrent: head_count_kv 0 and ff 0).
  TempFile tmp;
  const std::string path = tmp.path("mini-nemotron-UD-Q4_K_XL.gguf");
  std::vector<MetadataEntry> meta{
      meta_string("general.architecture", "nemotron_h_moe"),
      meta_u32("nemotron_h_moe.block_count", 5),
      meta_u32("nemotron_h_moe.embedding_length", 256),
      meta_u32("nemotron_h_moe.attention.head_count", 8),
      meta_array("nemotron_h_moe.attention.head_count_kv", ValueType::i32, {0, 0, 2, 0, 0}),
      meta_array("nemotron_h_moe.feed_forward_length", ValueType::i32, {0, 64, 0, 0, 64}),
      meta_u32("nemotron_h_moe.attention.key_length", 32),
      meta_u32("nemotron_h_moe.attention.value_length", 32),
      meta_u32("nemotron_h_moe.expert_count", 8),
      meta_u32("nemotron_h_moe.expert_used_count", 2),
      meta_u32("nemotron_h_moe.expert_feed_forward_length", 64),
      meta_u32("nemotron_h_moe.ssm.conv_kernel", 4),
      meta_u32("nemotron_h_moe.ssm.inner_size", 512),
      meta_u32("nemotron_h_moe.ssm.state_size", 16),
      meta_u32("nemotron_h_moe.ssm.group_count", 2),
      meta_u32("nemotron_h_moe.ssm.time_step_rank", 8),
      meta_array_strings("tokenizer.ggml.tokens", std::vector<std::string>(300, "t"))};
  const std::vector<TensorSpec> t{
      {"token_embd.weight", core::ggml_id::q4_k, {256, 300}},
      {"blk.0.ssm_in.weight", core::ggml_id::q4_k, {256, 1064}},
      {"blk.1.ffn_up_exps.weight", core::ggml_id::q4_k, {256, 64, 8}},
      {"blk.1.ffn_down_exps.weight", core::ggml_id::q6_k, {256, 256, 8}},
      {"blk.1.ffn_gate_inp.weight", f32, {256, 8}},
      {"blk.2.attn_q.weight", core::ggml_id::q8_0, {256, 256}},
      {"output_norm.weight", f32, {256}}};
  WriteOptions opt;
  opt.data = DataMode::random;
  ASSERT_TRUE(write_gguf(path, meta, t, opt));
  auto f = read_gguf_model(path);
  ASSERT_TRUE(f) << f.error().message;
  auto s = model_shape_from_gguf(*f);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->n_recurrent_layers(), 2u);  // layers 0 and 3
  EXPECT_EQ(s->n_attention_layers(), 1u);  // layer 2
  EXPECT_TRUE(s->layers[0].recurrent);
  EXPECT_FALSE(s->layers[1].recurrent);
  EXPECT_TRUE(s->layers[3].recurrent);
  EXPECT_EQ(s->n_vocab, 300u);
  EXPECT_TRUE(s->output_tied);
  EXPECT_EQ(s->layers[1].expert_bytes, 256u * 64 * 8 / 256 * 144 + 256u * 256 * 8 / 256 * 210);
  EXPECT_EQ(s->layers[1].weight_bytes, 256u * 8 * 4);
  EXPECT_EQ(s->n_expert, 8u);
  EXPECT_EQ(s->recurrent_state_floats(), 3u * (512 + 2 * 2 * 16) + 16u * 512);
  EXPECT_EQ(quant_label(*f, "mini-nemotron-UD-Q4_K_XL.gguf"), "UD-Q4_K_XL (Q6_K)");
  const auto mix = quant_mix(*f);
  EXPECT_EQ(mix.at("q6_K"), 256u * 256 * 8 / 256 * 210);
  EXPECT_EQ(mix.size(), 4u);
}

TEST(GgufModelInfo, MissingArchitectureIsCorrupt) {
  GgufFile f;
  auto s = model_shape_from_gguf(f);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, util::ErrorCode::corrupt);
}

TEST(GgufModelInfo, FilenameQuantLabels) {
  EXPECT_EQ(filename_quant_label("Nemotron-3-Nano-30B-A3B-UD-Q4_K_XL.gguf"), "UD-Q4_K_XL");
  EXPECT_EQ(filename_quant_label("Qwen3-Coder-30B-A3B-Instruct-Q4_K_M.gguf"), "Q4_K_M");
  EXPECT_EQ(filename_quant_label("model.IQ4_XS.gguf"), "IQ4_XS");
  EXPECT_EQ(filename_quant_label("llama-q8_0.gguf"), "Q8_0");
  EXPECT_EQ(filename_quant_label("x-BF16-00001-of-00002.gguf"), "BF16");
  EXPECT_EQ(filename_quant_label("gpt-oss-20b-MXFP4.gguf"), "MXFP4");
  EXPECT_EQ(filename_quant_label("m-Q6_K_XL.gguf"), "Q6_K_XL");
  EXPECT_EQ(filename_quant_label("m-Q3_K_L.gguf"), "Q3_K_L");
  EXPECT_EQ(filename_quant_label("m-IQ2_XXS.gguf"), "IQ2_XXS");
  EXPECT_EQ(filename_quant_label("m-F16.gguf"), "F16");
  EXPECT_EQ(filename_quant_label("ggml-vocab-phi-3.gguf"), "");
}

}  // namespace
}  // namespace gpumod::infra::gguf
