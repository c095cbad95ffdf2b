#include "gpumod/engine/model_registry.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <filesystem>

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
    std::string tmpl = (fs::temp_directory_path() / "gpumod-registry-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
  std::string path;
};

// A small llama-style model: 4 layers, n_embd 256, 4 heads / 2 KV heads of 64, vocab 512.
void write_small_llama(const std::string& path, std::uint32_t layers = 4) {
  const std::uint64_t e = 256, kv = 128, ff = 512, vocab = 512;
  std::vector<gg::MetadataEntry> meta{
      gg::meta_string("general.architecture", "llama"), gg::meta_string("general.name", "small"),
      gg::meta_u32("llama.block_count", layers),        gg::meta_u32("llama.embedding_length", 256),
      gg::meta_u32("llama.feed_forward_length", 512),   gg::meta_u32("llama.attention.head_count", 4),
      gg::meta_u32("llama.attention.head_count_kv", 2), gg::meta_u32("llama.context_length", 2048),
      gg::meta_u32("llama.vocab_size", 512)};
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

struct RegistryTest : ::testing::Test {
  void SetUp() override {
    std::int64_t* clock = &now;
    infra::state::OpenOptions o;
    o.now_ms = [clock] { return *clock; };
    auto s = infra::state::StateStore::open(dir / "gpumod.db", o);
    ASSERT_TRUE(s) << s.error().message;
    store.emplace(std::move(*s));
  }
  TempDir dir;
  std::int64_t now = 1000;
  std::optional<infra::state::StateStore> store;
};

TEST(ModelIdFromFilename, StripsExtensionSplitSuffixAndOddCharacters) {
  EXPECT_EQ(model_id_from_filename("Qwen3-30B-A3B-UD-Q4_K_XL.gguf"), "Qwen3-30B-A3B-UD-Q4_K_XL");
  EXPECT_EQ(model_id_from_filename("/m/Llama-3.1-8B-Q8_0-00001-of-00003.gguf"), "Llama-3-1-8B-Q8_0");
  EXPECT_EQ(model_id_from_filename("..gguf"), "");
  EXPECT_EQ(model_id_from_filename(std::string(100, 'a') + ".gguf").size(), 64u);
}

TEST(MeasurementSettingsKey, NamesEverySetting) {
  core::EstimateOptions o;
  o.context_size = 8192;
  o.cache_type_k = core::KvCacheType::q8_0;
  o.flash_attn = false;
  EXPECT_EQ(measurement_settings_key(o), "ctx=8192;ctk=q8_0;ctv=f16;fa=off;ngl=-1;ncmoe=0;np=4;ub=512");
}

TEST_F(RegistryTest, RegistersAGgufFileFromItsHeader) {
  const std::string path = dir / "small-F16.gguf";
  write_small_llama(path);
  ModelRegistry reg(*store);
  auto r = reg.register_gguf(path);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->refreshed);
  const auto& m = r->record;
  EXPECT_EQ(m.id, "small-F16");
  EXPECT_EQ(m.source, "gguf");
  EXPECT_EQ(m.architecture, "llama");
  EXPECT_EQ(m.quant, "F16");
  EXPECT_EQ(m.location, fs::absolute(path).lexically_normal().string());
  EXPECT_EQ(m.file_bytes, static_cast<std::int64_t>(fs::file_size(path)));
  ASSERT_TRUE(m.parameters_b);
  EXPECT_GT(*m.parameters_b, 0.0);
  ASSERT_TRUE(m.base_vram_mib);
  // Weights are tiny: the base is the runtime overhead plus a little.
  EXPECT_GT(*m.base_vram_mib, 590);
  EXPECT_LT(*m.base_vram_mib, 700);
  ASSERT_TRUE(m.kv_per_1k_mib);
  // KV: 4 layers x 2 KV heads x (64 + 64) x 2 bytes x 1024 tokens = 2 MiB; the flash-attention
  // mask of the compute buffer grows too: 512 ubatch x 6 bytes x 1024 cells = 3 MiB.
  EXPECT_NEAR(*m.kv_per_1k_mib, 5.0, 0.01);
  const auto j = nlohmann::json::parse(m.metadata_json);
  EXPECT_EQ(j["n_layer"], 4);
  EXPECT_EQ(j["n_head_kv"], 2);
  EXPECT_EQ(j["base_context"], 2048);  // the training context is below 4096
  EXPECT_TRUE(j["quant_mix_bytes"].contains("f16"));
}

TEST_F(RegistryTest, ReRegisteringRefreshesAndKeepsRegisteredAt) {
  const std::string path = dir / "m.gguf";
  write_small_llama(path, 4);
  ModelRegistry reg(*store);
  ASSERT_TRUE(reg.register_gguf(path, "my-model"));
  const auto first = reg.get("my-model");
  ASSERT_TRUE(first && *first);
  const auto base4 = *(*first)->base_vram_mib;

  now = 5000;
  write_small_llama(path, 8);  // the file changed: more layers
  auto again = reg.register_gguf(path, "my-model");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->refreshed);
  EXPECT_EQ(again->record.registered_at_ms, 1000);
  EXPECT_EQ(again->record.updated_at_ms, 5000);
  EXPECT_GT(*again->record.base_vram_mib, base4 - 1);
  EXPECT_EQ(nlohmann::json::parse(again->record.metadata_json)["n_layer"], 8);
  auto all = reg.list();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 1u);
}

TEST_F(RegistryTest, LocalModelsListShowRemove) {
  ModelRegistry reg(*store);
  LocalModel m;
  m.id = "qwen-vllm";
  m.vram_mib = 20000;
  m.kv_per_1k_mib = 12.5;
  m.architecture = "Qwen2ForCausalLM";
  auto r = reg.register_local(m);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->record.source, "local");
  m.id = "another";
  m.kv_per_1k_mib.reset();
  ASSERT_TRUE(reg.register_local(m));

  auto all = reg.list();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, "another");  // by id
  auto got = reg.get("qwen-vllm");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(*(*got)->base_vram_mib, 20000);
  EXPECT_DOUBLE_EQ(*(*got)->kv_per_1k_mib, 12.5);
  EXPECT_EQ((*got)->architecture, "Qwen2ForCausalLM");

  auto removed = reg.remove("qwen-vllm");
  ASSERT_TRUE(removed);
  EXPECT_TRUE(*removed);
  removed = reg.remove("qwen-vllm");
  ASSERT_TRUE(removed);
  EXPECT_FALSE(*removed);  // idempotent
  auto gone = reg.get("qwen-vllm");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
}

TEST_F(RegistryTest, RejectsBadInput) {
  ModelRegistry reg(*store);
  LocalModel m;
  m.id = "../etc";
  m.vram_mib = 100;
  EXPECT_EQ(reg.register_local(m).error().code, util::ErrorCode::invalid_argument);
  m.id = "ok";
  m.vram_mib = 0;
  EXPECT_EQ(reg.register_local(m).error().code, util::ErrorCode::invalid_argument);
  m.vram_mib = 100;
  m.kv_per_1k_mib = -1;
  EXPECT_EQ(reg.register_local(m).error().code, util::ErrorCode::invalid_argument);
  EXPECT_EQ(reg.register_gguf(dir / "missing.gguf").error().code, util::ErrorCode::not_found);
  {
    std::FILE* f = std::fopen((dir / "junk.gguf").c_str(), "w");
    std::fputs("not a gguf file at all, just text", f);
    std::fclose(f);
  }
  EXPECT_EQ(reg.register_gguf(dir / "junk.gguf").error().code, util::ErrorCode::corrupt);
  EXPECT_EQ(reg.get("bad id").error().code, util::ErrorCode::invalid_argument);
  auto all = reg.list();
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());  // nothing half-registered
}

TEST_F(RegistryTest, RemoteSourceSeamReadsThroughAByteSource) {
  const std::string path = dir / "remote-Q8_0.gguf";
  write_small_llama(path);
  auto src = gg::FileByteSource::open(path);
  ASSERT_TRUE(src);
  auto rec = record_from_gguf_source(**src, "remote-Q8_0.gguf", "org/repo:remote-Q8_0.gguf", "huggingface");
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(rec->source, "huggingface");
  EXPECT_EQ(rec->location, "org/repo:remote-Q8_0.gguf");
  EXPECT_EQ(rec->quant, "Q8_0 (F16)");
  rec->id = "remote";
  ModelRegistry reg(*store);
  auto stored = reg.register_record(*rec);
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(stored->record.architecture, "llama");
}

TEST_F(RegistryTest, MeasurementsAreFoundBySettingsKey) {
  ModelRegistry reg(*store);
  LocalModel m{"measured", 1000, std::nullopt, "llama", ""};
  ASSERT_TRUE(reg.register_local(m));
  core::EstimateOptions o;
  infra::state::ModelMeasurement meas;
  meas.model_id = "measured";
  meas.settings_key = measurement_settings_key(o);
  meas.model_mib = 900;
  meas.kv_mib = 128;
  meas.compute_mib = 66;
  meas.device = "H100";
  ASSERT_TRUE(store->add_measurement(meas));
  auto found = reg.measurements("measured", measurement_settings_key(o));
  ASSERT_TRUE(found);
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].model_mib, 900);
  o.context_size = 8192;
  found = reg.measurements("measured", measurement_settings_key(o));
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->empty());
}

}  // namespace
}  // namespace gpumod::engine
