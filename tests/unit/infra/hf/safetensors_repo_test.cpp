// infra/hf/safetensors_repo: safetensors header parsing (hostile headers are errors naming the
// file), config.json parsing (GQA, sliding windows, hybrid layouts, MLA, quantization,
// multimodal nesting), the weight-file listing, and reading a real-shaped repo over Range
// requests from the loopback FakeHub (a tiny share of the bytes; the cache serves a second read).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gpumod/infra/hf/hub_api.hpp"
#include "gpumod/infra/hf/safetensors_repo.hpp"
#include "support/fake_hub.hpp"

namespace gpumod::infra::hf {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test_support::FakeHub;
using test_support::FakeHubRepo;
using test_support::SafetensorsTensorSpec;

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/gpumod-st-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

// Parses a header given as JSON text for a file with `data` bytes after it.
util::Result<SafetensorsHeader> parse(const std::string& text, std::uint64_t data) {
  return parse_safetensors_header(text, 8 + text.size() + data, "x.safetensors");
}

void expect_corrupt(const util::Result<SafetensorsHeader>& r, const std::string& words) {
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, util::ErrorCode::corrupt);
  EXPECT_NE(r.error().message.find("x.safetensors"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
}

TEST(SafetensorsHeader, SumsParamsAndBytesPerDtypeAndKeepsMetadata) {
  const std::vector<SafetensorsTensorSpec> t{{"a", "BF16", {4, 8}}, {"b", "F32", {8}}, {"c", "F8_E4M3", {16, 2}},
                                             {"d", "I64", {3}}, {"e", "BOOL", {5}}, {"f", "BF16", {2, 2}}};
  std::uint64_t data = 0;
  const std::string bytes = test_support::safetensors_header_bytes(t, {{"format", "pt"}}, &data);
  EXPECT_EQ(data, 4u * 8 * 2 + 8 * 4 + 32 + 3 * 8 + 5 + 4 * 2);
  const std::uint64_t file = bytes.size() + data;
  auto len = parse_safetensors_header_length(bytes.substr(0, 8), file, "x.safetensors");
  ASSERT_TRUE(len.has_value()) << len.error().message;
  EXPECT_EQ(*len, bytes.size() - 8);
  EXPECT_EQ(*len % 8, 0u);  // padded with spaces, as the safetensors library writes
  auto h = parse_safetensors_header(bytes.substr(8), file, "x.safetensors");
  ASSERT_TRUE(h.has_value()) << h.error().message;
  EXPECT_EQ(h->weights.tensors, 6u);
  EXPECT_EQ(h->weights.by_dtype.at("BF16").params, 36u);
  EXPECT_EQ(h->weights.by_dtype.at("BF16").bytes, 72u);
  EXPECT_EQ(h->weights.by_dtype.at("F32").bytes, 32u);
  EXPECT_EQ(h->weights.by_dtype.at("F8_E4M3").params, 32u);
  EXPECT_EQ(h->weights.by_dtype.at("F8_E4M3").bytes, 32u);
  EXPECT_EQ(h->weights.by_dtype.at("I64").bytes, 24u);
  EXPECT_EQ(h->weights.total_params, 36u + 8 + 32 + 3 + 5);
  EXPECT_EQ(h->weights.total_bytes, data);
  EXPECT_EQ(h->metadata.at("format"), "pt");
  EXPECT_EQ(h->weights.main_dtype(), "BF16");
}

TEST(SafetensorsHeader, LengthIsBounded) {
  auto huge = parse_safetensors_header_length(le64(100'000'001), 1ULL << 40, "x.safetensors");
  ASSERT_FALSE(huge.has_value());
  EXPECT_NE(huge.error().message.find("limit"), std::string::npos) << huge.error().message;
  EXPECT_NE(huge.error().message.find("x.safetensors"), std::string::npos);
  auto past = parse_safetensors_header_length(le64(5000), 4000, "x.safetensors");
  ASSERT_FALSE(past.has_value());
  EXPECT_NE(past.error().message.find("past the end"), std::string::npos) << past.error().message;
  auto all_ones = parse_safetensors_header_length(std::string(8, '\xff'), 1ULL << 40, "x.safetensors");
  EXPECT_FALSE(all_ones.has_value());
  EXPECT_FALSE(parse_safetensors_header_length("abc", 3, "x.safetensors").has_value());
  auto ok = parse_safetensors_header_length(le64(4000), 4008, "x.safetensors");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(*ok, 4000u);
}

TEST(SafetensorsHeader, HostileHeadersAreErrorsNotCrashes) {
  expect_corrupt(parse(R"({"a": {"dtype": "BF16", "shape": [2], "data_off)", 4), "not JSON");
  expect_corrupt(parse(R"([1, 2])", 0), "not a JSON object");
  expect_corrupt(parse(R"({"a": {"dtype": "Q4_K", "shape": [2], "data_offsets": [0, 4]}})", 4), "unknown dtype 'Q4_K'");
  expect_corrupt(parse(R"({"a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4096]}})", 4), "outside");
  expect_corrupt(parse(R"({"a": {"dtype": "BF16", "shape": [2], "data_offsets": [4, 0]}})", 4), "outside");
  expect_corrupt(parse(R"({"a": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 4]}})", 8), "make 6");
  expect_corrupt(parse(R"({"a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]},
                           "b": {"dtype": "BF16", "shape": [2], "data_offsets": [2, 6]}})", 8), "overlap");
  expect_corrupt(parse(R"({"a": {"dtype": "BF16", "shape": [-2], "data_offsets": [0, 4]}})", 4), "shape");
  expect_corrupt(parse(R"({"a": {"dtype": "BF16", "shape": [4294967296, 4294967296, 64], "data_offsets": [0, 4]}})", 4),
                 "too large");
  expect_corrupt(parse(R"({"a": {"dtype": "BF16", "shape": [2]}})", 4), "data_offsets");
  expect_corrupt(parse(R"({"a": {"shape": [2], "data_offsets": [0, 4]}})", 4), "no dtype");
  expect_corrupt(parse(R"({"a": 7})", 4), "not an object");
  expect_corrupt(parse(R"({"__metadata__": [1]})", 0), "__metadata__");
  // A header longer than the file it claims to be in.
  auto r = parse_safetensors_header(R"({"a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}})", 10,
                                    "x.safetensors");
  expect_corrupt(r, "longer than the file");
  // An empty tensor is legal (0 bytes), and an empty header is a file with no tensors.
  auto empty = parse(R"({"a": {"dtype": "F32", "shape": [0, 5], "data_offsets": [0, 0]}})", 0);
  ASSERT_TRUE(empty.has_value()) << empty.error().message;
  EXPECT_EQ(empty->weights.total_params, 0u);
}

TEST(SafetensorsIndex, ShardsAreUniqueSortedAndChecked) {
  auto s = parse_safetensors_index(
      R"({"metadata": {"total_size": 10}, "weight_map": {"a": "m-00002.safetensors", "b": "m-00001.safetensors", "c": "m-00002.safetensors"}})",
      "idx");
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(*s, (std::vector<std::string>{"m-00001.safetensors", "m-00002.safetensors"}));
  EXPECT_FALSE(parse_safetensors_index(R"({"weight_map": {"a": "../../etc/passwd"}})", "idx").has_value());
  EXPECT_FALSE(parse_safetensors_index(R"({"weight_map": {}})", "idx").has_value());
  EXPECT_FALSE(parse_safetensors_index(R"({"metadata": {}})", "idx").has_value());
  EXPECT_FALSE(parse_safetensors_index("{", "idx").has_value());
}

TEST(SafetensorsConfig, LlamaGqa) {
  auto c = parse_model_config(R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
      "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
      "vocab_size": 128256, "max_position_embeddings": 131072, "torch_dtype": "bfloat16"})");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->architecture, "LlamaForCausalLM");
  EXPECT_EQ(c->n_layer, 32u);
  EXPECT_EQ(c->n_kv_head, 8u);
  EXPECT_EQ(c->head_dim, 128u);  // hidden_size / heads
  EXPECT_EQ(c->n_kv_layers(), 32u);
  EXPECT_EQ(c->sliding_window, 0u);
  EXPECT_EQ(c->max_position_embeddings, 131072u);
  EXPECT_EQ(c->torch_dtype, "bfloat16");
}

TEST(SafetensorsConfig, SlidingWindowsAndMultimodalNesting) {
  // Gemma 3: text_config, head_dim given, every 6th layer global.
  auto g = parse_model_config(R"({"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
      "torch_dtype": "bfloat16", "text_config": {"model_type": "gemma3_text", "hidden_size": 2560,
      "num_hidden_layers": 12, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
      "sliding_window": 1024, "sliding_window_pattern": 6, "max_position_embeddings": 131072}})");
  ASSERT_TRUE(g.has_value()) << g.error().message;
  EXPECT_EQ(g->model_type, "gemma3_text");
  EXPECT_EQ(g->head_dim, 256u);
  EXPECT_EQ(g->sliding_window, 1024u);
  EXPECT_EQ(g->torch_dtype, "bfloat16");  // from the outer config
  std::uint32_t sliding = 0;
  for (auto k : g->layers) sliding += k == core::LayerAttention::sliding ? 1 : 0;
  EXPECT_EQ(sliding, 10u);
  EXPECT_EQ(g->layers[5], core::LayerAttention::full);
  EXPECT_EQ(g->layers[11], core::LayerAttention::full);
  // layer_types wins over the pattern.
  auto t = parse_model_config(R"({"hidden_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4,
      "sliding_window": 128, "layer_types": ["sliding_attention", "full_attention", "sliding_attention"]})");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->layers[0], core::LayerAttention::sliding);
  EXPECT_EQ(t->layers[1], core::LayerAttention::full);
  // Qwen2: a sliding_window figure with use_sliding_window false is no window at all.
  auto q = parse_model_config(R"({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
      "sliding_window": 32768, "use_sliding_window": false})");
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->sliding_window, 0u);
  EXPECT_EQ(q->layers[0], core::LayerAttention::full);
  // Mistral v0.1: a window and nothing else: every layer slides.
  auto m = parse_model_config(R"({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "sliding_window": 4096})");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->layers[1], core::LayerAttention::sliding);
}

TEST(SafetensorsConfig, HybridMlaAndQuantization) {
  // Nemotron-H: M = Mamba2, * = attention, - = MLP; Mamba2 state from its sizes.
  auto n = parse_model_config(R"({"model_type": "nemotron_h", "hidden_size": 64, "num_hidden_layers": 4,
      "num_attention_heads": 4, "num_key_value_heads": 2, "hybrid_override_pattern": "M-*M",
      "mamba_num_heads": 8, "mamba_head_dim": 16, "ssm_state_size": 32, "n_groups": 2, "conv_kernel": 4})");
  ASSERT_TRUE(n.has_value()) << n.error().message;
  EXPECT_EQ(n->layers[0], core::LayerAttention::mamba);
  EXPECT_EQ(n->layers[1], core::LayerAttention::none);
  EXPECT_EQ(n->layers[2], core::LayerAttention::full);
  EXPECT_EQ(n->n_kv_layers(), 1u);
  EXPECT_EQ(n->n_recurrent_layers(), 2u);
  // conv (4-1) x (128 + 2*2*32) + state 128*32, 2 bytes each
  EXPECT_EQ(n->recurrent_state_bytes_per_layer, (3u * (128 + 128) + 128 * 32) * 2u);
  // DeepSeek-V3 MLA with fp8 weights.
  auto d = parse_model_config(R"({"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
      "hidden_size": 7168, "num_hidden_layers": 61, "num_attention_heads": 128, "num_key_value_heads": 128,
      "kv_lora_rank": 512, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128,
      "n_routed_experts": 256, "num_experts_per_tok": 8, "moe_intermediate_size": 2048,
      "quantization_config": {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]}})");
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_TRUE(d->mla);
  EXPECT_EQ(d->kv_lora_rank, 512u);
  EXPECT_EQ(d->qk_rope_head_dim, 64u);
  EXPECT_EQ(d->n_experts, 256u);
  EXPECT_EQ(d->quant_method, "fp8");
  EXPECT_EQ(d->quant_bits, 8u);
  auto awq = parse_model_config(R"({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
      "quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 128}})");
  ASSERT_TRUE(awq.has_value());
  EXPECT_EQ(awq->quant_bits, 4u);
  // What the estimator cannot do without is an error; nonsense values are not trusted.
  EXPECT_FALSE(parse_model_config(R"({"hidden_size": 64, "num_attention_heads": 4})").has_value());
  EXPECT_FALSE(parse_model_config(R"({"num_hidden_layers": -3, "num_attention_heads": 4})").has_value());
  EXPECT_FALSE(parse_model_config(R"({"num_hidden_layers": 2})").has_value());
  EXPECT_FALSE(parse_model_config("not json").has_value());
  auto weird = parse_model_config(R"({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
      "num_key_value_heads": 99, "head_dim": null, "sliding_window": -5})");
  ASSERT_TRUE(weird.has_value());
  EXPECT_EQ(weird->n_kv_head, 4u);
  EXPECT_EQ(weird->head_dim, 16u);
  EXPECT_EQ(weird->sliding_window, 0u);
}

TEST(SafetensorsListing, PicksTheWeightFiles) {
  std::vector<RepoFile> with_index{{"config.json", 10, ""},
                                   {"model.safetensors.index.json", 100, ""},
                                   {"model-00001-of-00002.safetensors", 1000, "x"},
                                   {"model-00002-of-00002.safetensors", 500, "y"},
                                   {"consolidated.safetensors", 1500, "z"}};
  auto l = list_safetensors_files(with_index);
  EXPECT_EQ(l.index, "model.safetensors.index.json");
  EXPECT_TRUE(l.has_config);
  EXPECT_TRUE(l.shards.empty());  // they come from the index
  std::vector<RepoFile> mistral{{"config.json", 10, ""},
                                {"model-00001-of-00002.safetensors", 1000, "x"},
                                {"model-00002-of-00002.safetensors", 500, "y"},
                                {"consolidated.safetensors", 1500, "z"},
                                {"adapter_model.safetensors", 5, "a"},
                                {"sub/model.safetensors", 5, "b"}};
  l = list_safetensors_files(mistral);
  ASSERT_EQ(l.shards.size(), 2u);
  EXPECT_EQ(l.shards[0].path, "model-00001-of-00002.safetensors");
  EXPECT_EQ(l.total_bytes, 1500u);
  std::vector<RepoFile> single{{"model.safetensors", 10, ""}, {"consolidated.safetensors", 10, ""}};
  l = list_safetensors_files(single);
  ASSERT_EQ(l.shards.size(), 1u);
  EXPECT_EQ(l.shards[0].path, "model.safetensors");
  EXPECT_FALSE(l.has_config);
  std::vector<RepoFile> gguf{{"m-Q4_K_M.gguf", 10, ""}, {"sub/model.safetensors", 5, ""}};
  EXPECT_TRUE(list_safetensors_files(gguf).shards.empty());
}

class SafetensorsRemote : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_files = new TempDir();
    s_llama = new FakeHubRepo(test_support::llama_safetensors_repo(s_files->path / "llama"));
  }
  static void TearDownTestSuite() {
    delete s_llama;
    delete s_files;
  }
  void SetUp() override { hub.add_repo(*s_llama); }
  HubSettings settings() const {
    HubSettings s;
    s.endpoint = hub.endpoint();
    s.cache_dir = tmp.path / "cache";
    s.backoff = std::chrono::milliseconds(1);
    return s;
  }
  // A one-file repo whose model.safetensors starts with `head` and has `size` bytes.
  FakeHubRepo repo_with(const std::string& id, const std::string& head, std::uint64_t size) {
    const fs::path p = tmp.path / (id.substr(id.find('/') + 1) + ".safetensors");
    {
      std::ofstream out(p, std::ios::binary);
      out << head;
    }
    fs::resize_file(p, size);
    FakeHubRepo r;
    r.id = id;
    r.sha = "cccccccccccccccccccccccccccccccccccccccc";
    r.files.push_back({"config.json", {}, R"({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4})", "", false});
    r.files.push_back({"model.safetensors", p, "", "", true});
    return r;
  }
  static TempDir* s_files;
  static FakeHubRepo* s_llama;
  FakeHub hub;
  TempDir tmp;
};
TempDir* SafetensorsRemote::s_files = nullptr;
FakeHubRepo* SafetensorsRemote::s_llama = nullptr;

TEST_F(SafetensorsRemote, LlamaShardsReadExactlyFromATinyShareOfTheBytes) {
  HubClient client(settings());
  auto info = fetch_repo_info(client, "meta-llama/Llama-3.1-8B-Instruct", "main");
  ASSERT_TRUE(info.has_value()) << info.error().message;
  auto r = read_remote_safetensors(client, info->id, info->sha, info->files);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->headers.size(), 2u);
  EXPECT_EQ(r->headers[0].file, "model-00001-of-00002.safetensors");
  EXPECT_EQ(r->weights.total_params, 8'030'261'248ULL);  // Llama-3.1-8B's published count
  EXPECT_EQ(r->weights.by_dtype.size(), 1u);
  EXPECT_EQ(r->weights.by_dtype.at("BF16").bytes, 16'060'522'496ULL);
  EXPECT_EQ(r->weights.tensors, 291u);
  EXPECT_EQ(r->config.n_kv_head, 8u);
  EXPECT_TRUE(r->notes.empty());
  EXPECT_GT(r->file_bytes, r->weights.total_bytes);  // + the two headers
  // Headers, config and index: a few MiB of a 16 GB model.
  EXPECT_LT(r->bytes_fetched, 4ULL << 20);
  EXPECT_LT(hub.file_bytes_served() * 1000, r->file_bytes);
  // Again: everything from the cache (commit-pinned), no request.
  const auto before = hub.requests();
  HubClient again(settings());
  auto r2 = read_remote_safetensors(again, info->id, info->sha, info->files);
  ASSERT_TRUE(r2.has_value()) << r2.error().message;
  EXPECT_EQ(r2->weights.total_params, r->weights.total_params);
  EXPECT_EQ(r2->bytes_fetched, 0u);
  EXPECT_EQ(hub.requests(), before);
}

TEST_F(SafetensorsRemote, HostileRemoteHeadersNameTheFile) {
  HubClient client(settings());
  // A header length of 200 MB in a 1 MiB file: refused before any big read.
  auto r = repo_with("acme/huge-len", le64(200'000'000), 1 << 20);
  hub.add_repo(r);
  auto got = read_remote_safetensors(client, r.id, r.sha, [&] {
    std::vector<RepoFile> files;
    for (const auto& f : r.files) files.push_back({f.path, f.disk.empty() ? f.content.size() : fs::file_size(f.disk), ""});
    return files;
  }());
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, util::ErrorCode::corrupt);
  EXPECT_NE(got.error().message.find("acme/huge-len/model.safetensors"), std::string::npos) << got.error().message;
  EXPECT_LT(hub.file_bytes_served(), (1u << 20) + 4096);

  // A valid-looking header whose tensor runs past the end of the file.
  const std::string text = R"({"w": {"dtype": "BF16", "shape": [1048576], "data_offsets": [0, 2097152]}})";
  auto past = repo_with("acme/past-end", le64(text.size()) + text, 4096);
  hub.add_repo(past);
  auto info = fetch_repo_info(client, past.id, "main");
  ASSERT_TRUE(info.has_value());
  auto bad = read_remote_safetensors(client, past.id, past.sha, info->files);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("acme/past-end/model.safetensors"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("outside"), std::string::npos) << bad.error().message;
}

TEST_F(SafetensorsRemote, IndexNamingAMissingShardIsAnError) {
  FakeHubRepo r = *s_llama;
  r.id = "acme/broken-index";
  std::erase_if(r.files, [](const test_support::FakeHubFile& f) { return f.path == "model-00002-of-00002.safetensors"; });
  hub.add_repo(r);
  HubClient client(settings());
  auto info = fetch_repo_info(client, r.id, "main");
  ASSERT_TRUE(info.has_value());
  auto got = read_remote_safetensors(client, r.id, info->sha, info->files);
  ASSERT_FALSE(got.has_value());
  EXPECT_NE(got.error().message.find("model-00002-of-00002.safetensors"), std::string::npos) << got.error().message;
  // No config.json: a clear not_found.
  FakeHubRepo nc = *s_llama;
  nc.id = "acme/no-config";
  std::erase_if(nc.files, [](const test_support::FakeHubFile& f) { return f.path == "config.json"; });
  hub.add_repo(nc);
  info = fetch_repo_info(client, nc.id, "main");
  ASSERT_TRUE(info.has_value());
  got = read_remote_safetensors(client, nc.id, info->sha, info->files);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, util::ErrorCode::not_found);
  EXPECT_NE(got.error().message.find("config.json"), std::string::npos);
}

TEST_F(SafetensorsRemote, ABadSecondShardFailsNamingIt) {
  // The Llama repo with shard 2 replaced by one whose tensor claims twice its bytes.
  FakeHubRepo r = *s_llama;
  r.id = "acme/bad-shard";
  const std::string text =
      R"({"model.norm.weight": {"dtype": "BF16", "shape": [4096], "data_offsets": [0, 16384]}})";
  const fs::path p = tmp.path / "bad-00002.safetensors";
  {
    std::ofstream out(p, std::ios::binary);
    out << le64(text.size()) << text;
  }
  fs::resize_file(p, 8 + text.size() + 16384);
  for (auto& f : r.files) {
    if (f.path == "model-00002-of-00002.safetensors") f.disk = p;
  }
  hub.add_repo(r);
  HubClient client(settings());
  auto info = fetch_repo_info(client, r.id, "main");
  ASSERT_TRUE(info.has_value());
  for (std::size_t parallel : {1u, 4u}) {
    auto got = read_remote_safetensors(client, r.id, info->sha, info->files, parallel);
    ASSERT_FALSE(got.has_value());
    EXPECT_NE(got.error().message.find("acme/bad-shard/model-00002-of-00002.safetensors"), std::string::npos)
        << got.error().message;
    EXPECT_NE(got.error().message.find("make 8192"), std::string::npos) << got.error().message;
  }
}

}  // namespace
}  // namespace gpumod::infra::hf
