// engine/hf_models against the loopback FakeHub: the Nemotron quant table at 24,564 MiB next
// to a 2,500 MiB embedding service, register (fetch_hf_model), discover, preset generation
// (the YAML loads with infra::config), and the resumable verified download.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gpumod/engine/hf_models.hpp"
#include "gpumod/infra/config/config_loader.hpp"
#include "gpumod/infra/gguf/model_info.hpp"
#include "support/fake_hub.hpp"

namespace gpumod::engine {
namespace {

namespace fs = std::filesystem;
using test_support::FakeHub;
using test_support::FakeHubRepo;

constexpr const char* k_nemotron = "unsloth/Nemotron-3-Nano-30B-A3B-GGUF";

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/gpumod-hfm-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// A config: a 2,500 MiB embedding service on 7071 and a chat model on 7070, two modes.
fs::path write_config(const fs::path& root) {
  write(root / "gpumod.yaml", "");
  write(root / "presets" / "embed.yaml",
        "id: embed\nname: Embeddings\ndriver: vllm\nport: 7071\nvram_mb: 2500\nmodel_id: BAAI/bge-m3\n"
        "sleep_mode: l1\nsupports_sleep: true\n");
  write(root / "presets" / "chat.yaml",
        "id: chat\nname: Chat\ndriver: llamacpp\nport: 7070\nvram_mb: 20000\nmodel_path: /models/chat.gguf\n");
  write(root / "modes" / "code.yaml", "id: code\nname: Code\nservices:\n  - embed\n");
  write(root / "modes" / "chat.yaml", "id: chat\nname: Chat\nservices:\n  - chat\n  - embed\n");
  return root;
}

class HfModels : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_files = new TempDir();
    s_nemotron = new FakeHubRepo(test_support::nemotron_repo(s_files->path / "nemotron"));
  }
  static void TearDownTestSuite() {
    delete s_nemotron;
    delete s_files;
  }
  void SetUp() override {
    hub.add_repo(*s_nemotron);
    small = test_support::write_small_gguf(tmp.path / "small", "tiny-Q8_0.gguf");
    FakeHubRepo r;
    r.id = "acme/tiny-coder-GGUF";
    r.sha = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    r.downloads = 10;
    r.files.push_back({"tiny-Q8_0.gguf", small, "", test_support::sha256_of_file(small), true});
    hub.add_repo(r);
  }
  infra::hf::HubSettings settings() const {
    infra::hf::HubSettings s;
    s.endpoint = hub.endpoint();
    s.cache_dir = tmp.path / "cache";
    s.backoff = std::chrono::milliseconds(1);
    return s;
  }
  static TempDir* s_files;
  static FakeHubRepo* s_nemotron;
  FakeHub hub;
  TempDir tmp;
  fs::path small;
};
TempDir* HfModels::s_files = nullptr;
FakeHubRepo* HfModels::s_nemotron = nullptr;

TEST_F(HfModels, NemotronQuantsNextToEmbeddingsOn24GiB) {
  auto cfg = infra::config::load_config_or_error(write_config(tmp.path / "config"));
  ASSERT_TRUE(cfg) << cfg.error().message;
  auto budget = budget_for_mode(*cfg, 24564, "code");
  ASSERT_TRUE(budget);
  EXPECT_DOUBLE_EQ(*budget, 24564 - 2500);
  EXPECT_FALSE(budget_for_mode(*cfg, 24564, "nope"));

  infra::hf::HubClient c(settings());
  QuantTableOptions o;
  o.estimate.context_size = 8192;
  o.budget_mib = *budget;
  auto t = quant_table(c, k_nemotron, "main", o);
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_EQ(t->rows.size(), 5u);
  std::map<std::string, const QuantRow*> by;
  for (const auto& r : t->rows) {
    ASSERT_TRUE(r.error.empty()) << r.label << ": " << r.error;
    ASSERT_TRUE(r.estimate);
    by[r.label] = &r;
  }
  // 22,064 MiB left: UD-Q4_K_XL (21.3 GB) fits, Q4_K_M (22.9 GB, 21,839 MiB of file) does not.
  EXPECT_TRUE(by.at("UD-Q4_K_XL")->fits) << by.at("UD-Q4_K_XL")->estimate->gpu.total_mib;
  EXPECT_FALSE(by.at("Q4_K_M")->fits) << by.at("Q4_K_M")->estimate->gpu.total_mib;
  EXPECT_TRUE(by.at("IQ4_NL")->fits);
  EXPECT_TRUE(by.at("IQ4_XS")->fits);
  EXPECT_TRUE(by.at("Q3_K_M")->fits);
  EXPECT_EQ(by.at("Q4_K_M")->parts, 2u);
  // The estimate is more than the file on the GPU minus the host-side token_embd.
  EXPECT_GT(by.at("UD-Q4_K_XL")->estimate->gpu.total_mib, 19000.0);
  ASSERT_TRUE(t->best);
  EXPECT_EQ(t->rows[*t->best].label, "UD-Q4_K_XL");  // best quality that fits, not the smallest
  EXPECT_EQ(t->mmproj.size(), 1u);
  EXPECT_EQ(t->imatrix.size(), 1u);
}

TEST_F(HfModels, FetchForRegisterMatchesLocalFile) {
  infra::hf::HubClient c(settings());
  auto m = fetch_hf_model(c, k_nemotron, "IQ4_XS");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->commit, s_nemotron->sha);
  EXPECT_EQ(m->location, std::string("hf://") + k_nemotron + "@" + s_nemotron->sha + "/Nemotron-3-Nano-30B-A3B-IQ4_XS.gguf");
  EXPECT_LT(m->bytes_fetched * 100, m->quant.total_bytes);
  EXPECT_EQ(m->quant_label.substr(0, 6), "IQ4_XS");
  auto local = infra::gguf::read_gguf_model((s_files->path / "nemotron" / "Nemotron-3-Nano-30B-A3B-IQ4_XS.gguf").string());
  ASSERT_TRUE(local);
  auto shape = infra::gguf::model_shape_from_gguf(*local);
  ASSERT_TRUE(shape);
  EXPECT_EQ(m->shape.total_weight_bytes, shape->total_weight_bytes);
  auto ambiguous = fetch_hf_model(c, k_nemotron, "");
  ASSERT_FALSE(ambiguous);
  EXPECT_EQ(ambiguous.error().code, util::ErrorCode::invalid_argument);
  EXPECT_NE(ambiguous.error().message.find("Q3_K_M"), std::string::npos);
  auto missing = fetch_hf_model(c, k_nemotron, "Q2_K");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, util::ErrorCode::not_found);
}

TEST_F(HfModels, DiscoverPicksBestQuantThatFits) {
  infra::hf::HubClient c(settings());
  DiscoverOptions o;
  o.budget_mib = 22064;
  auto hits = discover(c, o);
  ASSERT_TRUE(hits) << hits.error().message;
  ASSERT_EQ(hits->size(), 2u);
  EXPECT_EQ((*hits)[0].model.id, k_nemotron);  // sorted by downloads
  ASSERT_TRUE((*hits)[0].best);
  EXPECT_EQ((*hits)[0].best->label, "UD-Q4_K_XL");
  EXPECT_EQ((*hits)[0].quant_count, 5u);
  o.budget_mib = 17000;  // 16.9 GB files need ~17,650 MiB with headroom: only Q3_K_M fits
  hits = discover(c, o);
  ASSERT_TRUE(hits);
  ASSERT_TRUE((*hits)[0].best);
  EXPECT_EQ((*hits)[0].best->label, "Q3_K_M");
  o.task = "code";
  hits = discover(c, o);
  ASSERT_TRUE(hits);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].model.id, "acme/tiny-coder-GGUF");
  o.task = "poetry";
  EXPECT_FALSE(discover(c, o));
}

TEST_F(HfModels, PresetLoadsWithTheConfigLoader) {
  const auto root = write_config(tmp.path / "config");
  auto cfg = infra::config::load_config_or_error(root);
  ASSERT_TRUE(cfg) << cfg.error().message;
  infra::hf::HubClient c(settings());
  PresetRequest req;
  req.repo = k_nemotron;
  req.quant = "UD-Q4_K_XL";
  req.budget_mib = 22064;
  auto p = generate_preset(c, req, &*cfg);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->id, "nemotron-3-nano-30b-a3b");
  EXPECT_EQ(p->port, 7072);  // 7070 and 7071 are taken
  EXPECT_EQ(p->n_cpu_moe, 0u);
  EXPECT_LE(p->vram_mib, 22064);
  EXPECT_GE(p->context_size, 8192u);
  write(root / "presets" / "generated.yaml", p->yaml);
  auto again = infra::config::load_config(root);
  ASSERT_TRUE(again.config) << (again.errors.empty() ? "" : infra::config::format_diagnostic(again.errors[0]));
  const auto* s = again.config->find_service(p->id);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->vram_mib, p->vram_mib);
  EXPECT_EQ(s->var("default_model").value_or(""), "Nemotron-3-Nano-30B-A3B-UD-Q4_K_XL");
  EXPECT_EQ(s->var("ctx_size").value_or(""), std::to_string(p->context_size));

  // Q4_K_M does not fit 22,064 MiB at 8k: experts go to the host.
  req.quant = "Q4_K_M";
  req.id = "nemo-q4km";
  req.context_size = 8192;
  auto moe = generate_preset(c, req, &*again.config);
  ASSERT_TRUE(moe) << moe.error().message;
  EXPECT_GT(moe->n_cpu_moe, 0u);
  EXPECT_LE(moe->vram_mib, 22064);
  EXPECT_NE(moe->yaml.find("n_cpu_moe: " + std::to_string(moe->n_cpu_moe)), std::string::npos);
  EXPECT_NE(moe->yaml.find("default_model: \"Nemotron-3-Nano-30B-A3B-Q4_K_M-00001-of-00002\""), std::string::npos);
  write(root / "presets" / "generated2.yaml", moe->yaml);
  EXPECT_TRUE(infra::config::load_config(root).config);

  req.id = "chat";
  auto dup = generate_preset(c, req, &*cfg);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, util::ErrorCode::conflict);
  EXPECT_EQ(preset_id_from_repo("bartowski/Qwen_Qwen3-8B-GGUF"), "qwen-qwen3-8b");
}

TEST_F(HfModels, DownloadResumesAndVerifies) {
  infra::hf::HubClient c(settings());
  const fs::path dir = tmp.path / "models";
  fs::create_directories(dir);
  // A partial file from an earlier run: its first 1,000 bytes.
  {
    std::ifstream in(small, std::ios::binary);
    std::string head(1000, '\0');
    in.read(head.data(), 1000);
    std::ofstream(dir / "tiny-Q8_0.gguf.part", std::ios::binary) << head;
  }
  std::uint64_t last_done = 0;
  hub.reset_counters();
  auto r = download_quant(c, "acme/tiny-coder-GGUF", "Q8_0", "main", dir,
                          [&](const DownloadProgress& p) { last_done = p.done_bytes; });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->verified);
  ASSERT_EQ(r->files.size(), 1u);
  EXPECT_EQ(r->downloaded_bytes, fs::file_size(small) - 1000);
  EXPECT_EQ(hub.file_bytes_served(), fs::file_size(small) - 1000);
  EXPECT_EQ(last_done, fs::file_size(small));
  EXPECT_FALSE(fs::exists(dir / "tiny-Q8_0.gguf.part"));
  EXPECT_EQ(test_support::sha256_of_file(dir / "tiny-Q8_0.gguf"), test_support::sha256_of_file(small));

  // A corrupt partial file fails the checksum and is removed.
  fs::remove(dir / "tiny-Q8_0.gguf");
  std::ofstream(dir / "tiny-Q8_0.gguf.part", std::ios::binary) << std::string(1000, 'x');
  auto bad = download_quant(c, "acme/tiny-coder-GGUF", "Q8_0", "main", dir, {});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, util::ErrorCode::corrupt);
  EXPECT_FALSE(fs::exists(dir / "tiny-Q8_0.gguf.part"));
  // A model larger than the free space is refused before any byte moves (only checked where
  // the disk really is smaller than the 22.9 GB quant: elsewhere it would download it).
  if (fs::space(dir).available < 22'000'000'000ULL) {
    hub.reset_counters();
    auto huge = download_quant(c, k_nemotron, "Q4_K_M", "main", dir, {});
    ASSERT_FALSE(huge);
    EXPECT_EQ(huge.error().code, util::ErrorCode::io);
    EXPECT_NE(huge.error().message.find("not enough space"), std::string::npos);
    EXPECT_EQ(hub.file_bytes_served(), 0u);
  }
}

TEST_F(HfModels, SafetensorsHybridRepoIsOneVllmRow) {
  hub.add_repo(test_support::hybrid_safetensors_repo(tmp.path / "hybrid"));
  infra::hf::HubClient client(settings());
  QuantTableOptions o;
  o.estimate.context_size = 4096;
  o.budget_mib = 24564;
  auto t = quant_table(client, "acme/Hybrid-Next-ST", "main", o);
  ASSERT_TRUE(t.has_value()) << t.error().message;
  EXPECT_EQ(t->format, "safetensors");
  ASSERT_EQ(t->rows.size(), 1u);
  const auto& r = t->rows[0];
  EXPECT_EQ(r.format, "safetensors");
  EXPECT_EQ(r.label, "BF16");
  EXPECT_EQ(r.file, "model.safetensors");
  EXPECT_EQ(r.parts, 1u);
  // Worked by hand from the tensors of hybrid_safetensors_repo: embeddings and head 65,536,000,
  // 2 attention layers of 2,621,440, 6 linear layers of 4,235,360, 8 MLPs + norms of 8,652,800.
  EXPECT_EQ(r.params, 165'414'464u);
  EXPECT_EQ(r.dtypes, "BF16 >99% + F32 <1%");
  ASSERT_TRUE(r.vllm.has_value());
  EXPECT_FALSE(r.estimate.has_value());  // no llama.cpp estimate for a vLLM model
  // KV only in the 2 full-attention layers: 2 KV heads x 256 x 2 bytes x 4,096 tokens each.
  EXPECT_EQ(r.vllm->kv_bytes_per_token, 2u * 2 * 256 * 2);
  EXPECT_DOUBLE_EQ(r.vllm->kv_mib, 8.0);
  // 6 gated-delta-net layers: conv 3 x 2,048 + state 16 x 64 x 64, in 16 bits.
  EXPECT_DOUBLE_EQ(r.vllm->recurrent_state_mib, 6.0 * 143360 / (1024.0 * 1024.0));
  EXPECT_TRUE(r.fits);
  EXPECT_EQ(t->best, std::optional<std::size_t>(0));
  ASSERT_TRUE(r.max_context.has_value());
  EXPECT_EQ(*r.max_context, 262144u);  // capped at max_position_embeddings
  ASSERT_TRUE(t->config.has_value());
  EXPECT_EQ(t->config->n_recurrent_layers(), 6u);

  auto m = fetch_hf_safetensors(client, "acme/Hybrid-Next-ST");
  ASSERT_TRUE(m.has_value()) << m.error().message;
  const auto rec = record_from_safetensors(*m);
  EXPECT_EQ(rec.source, "huggingface");
  EXPECT_EQ(rec.location, "hf://acme/Hybrid-Next-ST@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  EXPECT_EQ(rec.architecture, "Qwen3NextForCausalLM");
  const auto summary = nlohmann::json::parse(rec.metadata_json);
  EXPECT_EQ(summary["format"], "safetensors");
  EXPECT_EQ(summary["n_kv_layers"], 2);
  EXPECT_EQ(summary["n_recurrent_layers"], 6);
  EXPECT_EQ(summary["weights_by_dtype"]["F32"]["params"], 17984);
  ASSERT_TRUE(rec.kv_per_1k_mib.has_value());
  EXPECT_DOUBLE_EQ(*rec.kv_per_1k_mib, 2048.0 * 1024 / (1024.0 * 1024.0));
}

TEST_F(HfModels, SafetensorsFetchOnAGgufRepoAsksForAQuant) {
  infra::hf::HubClient client(settings());
  auto m = fetch_hf_safetensors(client, k_nemotron);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code, util::ErrorCode::invalid_argument);
  EXPECT_NE(m.error().message.find("--quant"), std::string::npos) << m.error().message;
  // The GGUF table of the same repo is unchanged: 5 quant rows, none safetensors.
  QuantTableOptions o;
  o.estimate.context_size = 4096;
  auto t = quant_table(client, k_nemotron, "main", o);
  ASSERT_TRUE(t.has_value()) << t.error().message;
  EXPECT_EQ(t->format, "gguf");
  EXPECT_EQ(t->rows.size(), 5u);
  EXPECT_TRUE(t->rows[0].estimate.has_value());
  EXPECT_FALSE(t->rows[0].vllm.has_value());
}

}  // namespace
}  // namespace gpumod::engine
