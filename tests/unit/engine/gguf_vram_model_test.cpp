#include "gpumod/engine/gguf_vram_model.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "gpumod/core/ggml_types.hpp"
#include "gpumod/infra/gguf/writer.hpp"

namespace gpumod::engine {
namespace {

namespace fs = std::filesystem;
namespace gg = infra::gguf;
using core::ggml_id::f16;
using core::ggml_id::f32;

struct TempDir {
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "gpumod-ggufvram-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
  std::string path;
};

// The observed 1.1 B F16 llama of llama-server-observed.md, as a sparse zero file.
void write_llama_1b(const std::string& path, std::uint32_t layers = 16) {
  const std::uint64_t e = 2048, kv = 512, ff = 8192, vocab = 32064;
  std::vector<gg::MetadataEntry> meta{
      gg::meta_string("general.architecture", "llama"), gg::meta_u32("llama.block_count", layers),
      gg::meta_u32("llama.embedding_length", 2048),     gg::meta_u32("llama.feed_forward_length", 8192),
      gg::meta_u32("llama.attention.head_count", 32),   gg::meta_u32("llama.attention.head_count_kv", 8),
      gg::meta_u32("llama.context_length", 131072),     gg::meta_u32("llama.vocab_size", 32064)};
  std::vector<gg::TensorSpec> t{{"token_embd.weight", f16, {e, vocab}},
                                {"output.weight", f16, {e, vocab}},
                                {"output_norm.weight", f32, {e}}};
  for (std::uint32_t i = 0; i < layers; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    t.push_back({b + "attn_norm.weight", f32, {e}});
    t.push_back({b + "attn_q.weight", f16, {e, e}});
    t.push_back({b + "attn_k.weight", f16, {e, kv}});
    t.push_back({b + "attn_v.weight", f16, {e, kv}});
    t.push_back({b + "attn_output.weight", f16, {e, e}});
    t.push_back({b + "ffn_norm.weight", f32, {e}});
    t.push_back({b + "ffn_gate.weight", f16, {e, ff}});
    t.push_back({b + "ffn_up.weight", f16, {e, ff}});
    t.push_back({b + "ffn_down.weight", f16, {ff, e}});
  }
  ASSERT_TRUE(gg::write_gguf(path, meta, t));
}

core::Service llama_service(const std::string& model_path) {
  core::Service s;
  s.id = "chat";
  s.driver = core::DriverKind::llamacpp;
  s.vram_mib = 3000;
  s.context_size = 4096;
  s.model_path = model_path;
  return s;
}

TEST(GgufVramModel, MatchesTheObservedRowsAtTheirContexts) {
  TempDir dir;
  const std::string path = dir / "tiny-1b-F16.gguf";
  write_llama_1b(path);
  GgufVramModel m;
  const auto s = llama_service(path);
  auto at4k = m.vram_at_context(s, 4096);
  ASSERT_TRUE(at4k);
  // nvidia-smi saw 2,764 MiB at load; admission plans for after the first request (+20 MiB, dense).
  EXPECT_NEAR(static_cast<double>(*at4k), 2764.0 + 20.0, 10.0);
  auto at32k = m.vram_at_context(s, 32768);
  ASSERT_TRUE(at32k);
  // KV grows 8x (128 -> 1,024 MiB), plus the attention mask in the compute buffer.
  EXPECT_GT(*at32k - *at4k, 896);
  EXPECT_LT(*at32k - *at4k, 1000);
  EXPECT_EQ(m.parse_count(), 1);  // read once for both questions
  EXPECT_EQ(m.source(), "estimated from model file");
}

TEST(GgufVramModel, UsesTheServiceSettings) {
  TempDir dir;
  const std::string path = dir / "m.gguf";
  write_llama_1b(path);
  GgufVramModel m;
  auto s = llama_service(path);
  const auto f16 = *m.vram_at_context(s, 32768);
  s.unit_vars["cache_type_k"] = "q8_0";
  s.unit_vars["cache_type_v"] = "q8_0";
  const auto q8 = *m.vram_at_context(s, 32768);
  // q8_0 holds 34 bytes per 32 values instead of 64: the 1,024 MiB KV becomes 544 MiB.
  // A quantized KV cache also costs 98 MiB more runtime at load and 10 MiB more first-request
  // workspace (H200 measurements, bench/accuracy).
  EXPECT_NEAR(static_cast<double>(f16 - q8), 1024.0 - 544.0 - 98.0 - 10.0, 2.0);
  s.unit_vars["n_gpu_layers"] = "0";
  const auto cpu = *m.vram_at_context(s, 32768);
  EXPECT_LT(cpu, 1000);  // only the runtime and a compute buffer stay on the GPU
  s.unit_vars["cache_type_k"] = "q9_9";
  EXPECT_FALSE(m.vram_at_context(s, 32768));  // an invalid unit_var: cannot tell
}

TEST(GgufVramModel, OptionsFromUnitVars) {
  core::Service s;
  s.id = "x";
  s.unit_vars = {{"flash_attn", "off"}, {"n_gpu_layers", "all"}, {"n_cpu_moe", "3"}, {"parallel", "2"},
                 {"ubatch_size", "256"}};
  auto o = estimate_options_for(s);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_FALSE(o->flash_attn);
  EXPECT_EQ(o->n_gpu_layers, -1);
  EXPECT_EQ(o->n_cpu_moe, 3u);
  EXPECT_EQ(o->n_parallel, 2u);
  EXPECT_EQ(o->n_ubatch, 256u);
  s.unit_vars["parallel"] = "0";
  auto bad = estimate_options_for(s);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("unit_vars.parallel"), std::string::npos);
}

TEST(GgufVramModel, FindsTheRouterDefaultModel) {
  TempDir dir;
  write_llama_1b(dir / "tiny.gguf", 2);
  core::Service s;
  s.id = "router";
  s.driver = core::DriverKind::llamacpp;
  s.unit_vars = {{"models_dir", dir.path}, {"default_model", "tiny"}};
  EXPECT_EQ(service_model_file(s), dir / "tiny.gguf");
  GgufVramModel m;
  EXPECT_TRUE(m.vram_at_context(s, 8192));
  s.unit_vars["default_model"] = "../tiny";
  EXPECT_FALSE(service_model_file(s));
  s.unit_vars.erase("default_model");
  EXPECT_FALSE(service_model_file(s));
}

TEST(GgufVramModel, CannotTellWithoutAReadableModelFile) {
  TempDir dir;
  GgufVramModel m;
  auto s = llama_service(dir / "missing.gguf");
  EXPECT_FALSE(m.vram_at_context(s, 4096));
  s.model_path = dir.path;  // a directory
  EXPECT_FALSE(m.vram_at_context(s, 4096));
  {
    std::FILE* f = std::fopen((dir / "junk.gguf").c_str(), "w");
    std::fputs("junk", f);
    std::fclose(f);
  }
  s.model_path = dir / "junk.gguf";
  EXPECT_FALSE(m.vram_at_context(s, 4096));
  auto v = llama_service(dir / "m.gguf");
  v.driver = core::DriverKind::vllm;
  EXPECT_FALSE(m.vram_at_context(v, 4096));
  EXPECT_FALSE(m.vram_at_context(llama_service(dir / "junk.gguf"), 0));
}

TEST(GgufVramModel, RereadsAChangedFile) {
  TempDir dir;
  const std::string path = dir / "m.gguf";
  write_llama_1b(path, 4);
  GgufVramModel m;
  const auto s = llama_service(path);
  const auto small = *m.vram_at_context(s, 4096);
  EXPECT_EQ(*m.vram_at_context(s, 4096), small);
  EXPECT_EQ(m.parse_count(), 1);
  write_llama_1b(path, 16);  // a different size: the cache key changes
  const auto big = *m.vram_at_context(s, 4096);
  EXPECT_EQ(m.parse_count(), 2);
  EXPECT_GT(big, small + 1000);
}

}  // namespace
}  // namespace gpumod::engine
