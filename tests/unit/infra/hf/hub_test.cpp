// Tests of infra/hf against the loopback FakeHub: validation, API parsing, retries, errors,
// the ETag disk cache, offline mode, and GGUF headers over Range requests.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

#include "gpumod/core/vram_estimator.hpp"
#include "gpumod/infra/gguf/model_info.hpp"
#include "gpumod/infra/hf/gguf_repo.hpp"
#include "gpumod/infra/hf/http_byte_source.hpp"
#include "gpumod/infra/hf/hub_api.hpp"
#include "gpumod/infra/hf/hub_client.hpp"
#include "gpumod/infra/hf/sha256.hpp"
#include "gpumod/infra/hf/validate.hpp"
#include "support/fake_hub.hpp"

namespace gpumod::infra::hf {
namespace {

namespace fs = std::filesystem;
using test_support::FakeHub;
using test_support::FakeHubRepo;

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/gpumod-hf-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// The Nemotron repo is written once for the whole suite (sparse files, ~2 MB of real bytes each).
class HfHub : public ::testing::Test {
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
    const auto small = test_support::write_small_gguf(tmp.path / "small", "tiny-Q8_0.gguf");
    FakeHubRepo r;
    r.id = "acme/tiny-GGUF";
    r.sha = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    r.files.push_back({"tiny-Q8_0.gguf", small, "", test_support::sha256_of_file(small), true});
    hub.add_repo(r);
    FakeHubRepo gated = r;
    gated.id = "meta/gated-GGUF";
    gated.gated = "manual";
    hub.add_repo(gated);
  }
  HubSettings settings() const {
    HubSettings s;
    s.endpoint = hub.endpoint();
    s.cache_dir = tmp.path / "cache";
    s.backoff = std::chrono::milliseconds(1);
    s.connect_timeout = std::chrono::milliseconds(2000);
    s.request_timeout = std::chrono::milliseconds(10000);
    return s;
  }
  static TempDir* s_files;
  static FakeHubRepo* s_nemotron;
  FakeHub hub;
  TempDir tmp;
};
TempDir* HfHub::s_files = nullptr;
FakeHubRepo* HfHub::s_nemotron = nullptr;

TEST(HfValidate, RepoIds) {
  EXPECT_TRUE(validate_repo_id("unsloth/Nemotron-3-Nano-30B-A3B-GGUF"));
  EXPECT_TRUE(validate_repo_id("a/b"));
  EXPECT_FALSE(validate_repo_id("noslash"));
  EXPECT_FALSE(validate_repo_id("a/b/c"));
  EXPECT_FALSE(validate_repo_id("../etc"));
  EXPECT_FALSE(validate_repo_id("a/b..c"));
  EXPECT_FALSE(validate_repo_id("a/.b"));
  EXPECT_FALSE(validate_repo_id("a/b?x=1"));
  EXPECT_FALSE(validate_repo_id("a/" + std::string(97, 'x')));
  EXPECT_FALSE(validate_repo_id(""));
}

TEST(HfValidate, RevisionsAndFiles) {
  EXPECT_TRUE(validate_revision("main"));
  EXPECT_TRUE(validate_revision("refs/pr/1"));
  EXPECT_TRUE(validate_revision("0123456789abcdef0123456789abcdef01234567"));
  EXPECT_FALSE(validate_revision("main/../x"));
  EXPECT_FALSE(validate_revision("/main"));
  EXPECT_FALSE(validate_revision("ma\nin"));
  EXPECT_FALSE(validate_revision(""));
  EXPECT_TRUE(validate_repo_file("BF16/model-BF16-00001-of-00002.gguf"));
  EXPECT_FALSE(validate_repo_file("../secret"));
  EXPECT_FALSE(validate_repo_file("a/../../b"));
  EXPECT_FALSE(validate_repo_file("/etc/passwd"));
  EXPECT_FALSE(validate_repo_file("a//b"));
  EXPECT_FALSE(validate_repo_file("a\\b"));
  EXPECT_FALSE(validate_repo_file("x?y"));
  EXPECT_TRUE(is_commit_sha("0123456789abcdef0123456789abcdef01234567"));
  EXPECT_FALSE(is_commit_sha("main"));
}

TEST(HfSettings, FromEnvironment) {
  TempDir t;
  fs::create_directories(t.path / "hfhome");
  { std::ofstream(t.path / "hfhome" / "token") << "hf_from_file\n"; }
  std::map<std::string, std::string> env{{"HOME", t.path.string()}, {"HF_HOME", (t.path / "hfhome").string()},
                                         {"HF_HUB_OFFLINE", "1"}, {"XDG_CACHE_HOME", (t.path / "xdg").string()}};
  auto lookup = [&](std::string_view k) -> std::optional<std::string> {
    const auto it = env.find(std::string(k));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  auto s = hub_settings_from_env(lookup);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->endpoint, "https://huggingface.co");
  EXPECT_EQ(s->token, "hf_from_file");
  EXPECT_TRUE(s->offline);
  EXPECT_EQ(s->cache_dir, t.path / "xdg" / "gpumod" / "hf");
  env["HF_TOKEN"] = "hf_env";
  env["HF_ENDPOINT"] = "http://127.0.0.1:9/";
  s = hub_settings_from_env(lookup);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->token, "hf_env");
  EXPECT_EQ(s->endpoint, "http://127.0.0.1:9");
  env["HF_ENDPOINT"] = "http://example.com";
  s = hub_settings_from_env(lookup);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, util::ErrorCode::invalid_argument);
}

TEST(HfSha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 h;
  const std::string million(1000000, 'a');
  h.update(million.substr(0, 333333));
  h.update(million.substr(333333));
  EXPECT_EQ(h.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(HfParse, RepoInfoDropsHostileFileNames) {
  auto info = parse_repo_info(R"({"id":"a/b","sha":"0123456789abcdef0123456789abcdef01234567","gated":"manual",
    "siblings":[{"rfilename":"x-Q4_K_M.gguf","size":10,"lfs":{"sha256":"ab","size":10}},
                {"rfilename":"../../evil.gguf","size":1},{"rfilename":"README.md","size":3}]})");
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->gated, "manual");
  ASSERT_EQ(info->files.size(), 2u);
  EXPECT_EQ(info->files[0].lfs_sha256, "ab");
  EXPECT_FALSE(parse_repo_info("not json"));
  auto tree = parse_tree(R"([{"type":"directory","path":"BF16"},{"type":"file","path":"BF16/a.gguf","size":5,"lfs":{"oid":"cd","size":7}}])");
  ASSERT_TRUE(tree);
  ASSERT_EQ(tree->size(), 1u);
  EXPECT_EQ((*tree)[0].size, 7u);
  EXPECT_EQ((*tree)[0].lfs_sha256, "cd");
}

TEST(HfListing, GroupsSplitsAndSetsAsideImatrixAndMmproj) {
  std::vector<RepoFile> files{{"m-Q4_K_M.gguf", 100, ""},
                              {"BF16/m-BF16-00002-of-00002.gguf", 300, ""},
                              {"BF16/m-BF16-00001-of-00002.gguf", 400, ""},
                              {"mmproj-F16.gguf", 5, ""},
                              {"imatrix_unsloth.gguf", 6, ""},
                              {"Q8_0/m-Q8_0-00001-of-00003.gguf", 10, ""},
                              {"README.md", 1, ""}};
  const auto l = list_gguf_files(files);
  ASSERT_EQ(l.quants.size(), 3u);
  EXPECT_EQ(l.quants[0].label, "Q8_0");
  EXPECT_EQ(l.quants[0].missing_parts, 2u);
  EXPECT_EQ(l.quants[1].label, "Q4_K_M");
  EXPECT_EQ(l.quants[2].label, "BF16");
  EXPECT_EQ(l.quants[2].total_bytes, 700u);
  ASSERT_EQ(l.quants[2].parts.size(), 2u);
  EXPECT_EQ(l.quants[2].name, "BF16/m-BF16-00001-of-00002.gguf");
  EXPECT_EQ(l.mmproj.size(), 1u);
  EXPECT_EQ(l.imatrix.size(), 1u);
  EXPECT_EQ(find_quant(l, "q4_k_m"), &l.quants[1]);
  EXPECT_EQ(find_quant(l, "Q2_K"), nullptr);
}

TEST(HfListing, QualityOrder) {
  const std::vector<std::string> best_first{"BF16", "Q8_0", "Q6_K", "Q5_K_M", "UD-Q4_K_XL", "Q4_K_M",
                                            "IQ4_NL", "IQ4_XS", "Q3_K_M", "Q2_K", "IQ2_XXS", "IQ1_S"};
  for (std::size_t i = 0; i + 1 < best_first.size(); ++i) {
    EXPECT_GT(quant_quality_rank(best_first[i]), quant_quality_rank(best_first[i + 1])) << best_first[i];
  }
  EXPECT_GT(quant_quality_rank("UD-Q4_K_XL"), quant_quality_rank("Q4_K_XL"));
  EXPECT_EQ(quant_quality_rank("whatever"), 0);
}

TEST_F(HfHub, RepoInfoAndCacheHitMakesZeroRequests) {
  HubClient c(settings());
  auto info = fetch_repo_info(c, "unsloth/Nemotron-3-Nano-30B-A3B-GGUF", "main");
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->sha, "0123456789abcdef0123456789abcdef01234567");
  const auto listing = list_gguf_files(info->files);
  ASSERT_EQ(listing.quants.size(), 5u);
  EXPECT_EQ(listing.mmproj.size(), 1u);
  EXPECT_EQ(listing.imatrix.size(), 1u);
  const auto* q4km = find_quant(listing, "Q4_K_M");
  ASSERT_NE(q4km, nullptr);
  EXPECT_TRUE(q4km->split());
  EXPECT_EQ(q4km->total_bytes, 22'900'000'000ULL);
  const auto before = hub.requests();
  HubClient again(settings());
  auto cached = fetch_repo_info(again, "unsloth/Nemotron-3-Nano-30B-A3B-GGUF", "main");
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->files.size(), info->files.size());
  EXPECT_EQ(hub.requests(), before);
  EXPECT_EQ(again.requests_sent(), 0u);
}

TEST_F(HfHub, StaleEntryRevalidatesWithEtag) {
  auto s = settings();
  s.api_ttl = std::chrono::seconds(0);
  HubClient c(s);
  ASSERT_TRUE(fetch_repo_info(c, "acme/tiny-GGUF", "main"));
  hub.reset_counters();
  auto again = fetch_repo_info(c, "acme/tiny-GGUF", "main");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->files.size(), 1u);
  EXPECT_EQ(hub.requests(), 1u);  // one conditional request, answered 304
}

TEST_F(HfHub, OfflineUsesCacheAndFailsClearlyWithout) {
  {
    HubClient c(settings());
    ASSERT_TRUE(fetch_repo_info(c, "acme/tiny-GGUF", "main"));
  }
  auto s = settings();
  s.offline = true;
  s.api_ttl = std::chrono::seconds(0);
  hub.reset_counters();
  HubClient off(s);
  EXPECT_TRUE(fetch_repo_info(off, "acme/tiny-GGUF", "main"));
  auto missing = fetch_repo_info(off, "unsloth/Nemotron-3-Nano-30B-A3B-GGUF", "main");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, util::ErrorCode::unavailable);
  EXPECT_NE(missing.error().message.find("HF_HUB_OFFLINE"), std::string::npos);
  EXPECT_EQ(hub.requests(), 0u);
}

TEST_F(HfHub, RetriesOn429And500) {
  HubClient c(settings());
  hub.fail_next(429, 1, 0);
  auto a = fetch_repo_info(c, "acme/tiny-GGUF", "main");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(hub.requests(), 2u);
  hub.reset_counters();
  hub.fail_next(500, 2);
  auto b = c.get_range("acme/tiny-GGUF", "main", "tiny-Q8_0.gguf", 0, 4);
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(*b, "GGUF");
  hub.fail_next(503, 10);
  auto s = settings();
  s.cache_dir.clear();
  HubClient nocache(s);
  auto d = fetch_repo_info(nocache, "acme/tiny-GGUF", "main");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, util::ErrorCode::unavailable);
  EXPECT_NE(d.error().message.find("503"), std::string::npos);
}

TEST_F(HfHub, GatedRepoSaysHowToGetAccess) {
  HubClient c(settings());
  auto r = fetch_repo_info(c, "meta/gated-GGUF", "main");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::unavailable);
  EXPECT_NE(r.error().message.find("gated"), std::string::npos);
  EXPECT_NE(r.error().message.find("accept"), std::string::npos);
  EXPECT_NE(r.error().message.find("HF_TOKEN"), std::string::npos);
  auto s = settings();
  s.token = "hf_good_token";
  HubClient with_token(s);
  EXPECT_TRUE(fetch_repo_info(with_token, "meta/gated-GGUF", "main"));
}

TEST_F(HfHub, NotFoundAndNoNetwork) {
  HubClient c(settings());
  auto r = fetch_repo_info(c, "acme/nothing-here", "main");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::not_found);
  auto f = c.get_range("acme/tiny-GGUF", "main", "absent.gguf", 0, 4);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, util::ErrorCode::not_found);
  auto s = settings();
  s.endpoint = "http://127.0.0.1:" + std::to_string(1);  // nothing listens on port 1
  s.max_attempts = 2;
  s.cache_dir.clear();
  HubClient down(s);
  auto n = fetch_repo_info(down, "acme/tiny-GGUF", "main");
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code, util::ErrorCode::unavailable);
  EXPECT_NE(n.error().message.find("cannot reach"), std::string::npos);
}

TEST_F(HfHub, PathTraversalRejectedBeforeAnyRequest) {
  HubClient c(settings());
  EXPECT_FALSE(fetch_repo_info(c, "../etc", "main"));
  EXPECT_FALSE(fetch_repo_info(c, "acme/tiny-GGUF", "main/../../x"));
  EXPECT_FALSE(c.get_range("acme/tiny-GGUF", "main", "../../etc/passwd", 0, 10));
  EXPECT_FALSE(c.get_range("acme/tiny-GGUF", "main", "/etc/passwd", 0, 10));
  EXPECT_EQ(hub.requests(), 0u);
  EXPECT_EQ(c.requests_sent(), 0u);
}

TEST_F(HfHub, RemoteHeaderReadsUnderOnePercentAndMatchesLocal) {
  HubClient c(settings());
  auto info = fetch_repo_info(c, "unsloth/Nemotron-3-Nano-30B-A3B-GGUF", "main");
  ASSERT_TRUE(info) << info.error().message;
  const auto listing = list_gguf_files(info->files);
  const auto* q = find_quant(listing, "UD-Q4_K_XL");
  ASSERT_NE(q, nullptr);
  hub.reset_counters();
  auto remote = read_remote_gguf(c, info->id, info->sha, *q);
  ASSERT_TRUE(remote) << remote.error().message;
  EXPECT_LT(hub.file_bytes_served() * 100, q->total_bytes);
  EXPECT_EQ(remote->bytes_fetched, hub.file_bytes_served());
  const fs::path local = s_files->path / "nemotron" / "Nemotron-3-Nano-30B-A3B-UD-Q4_K_XL.gguf";
  auto local_file = gguf::read_gguf_model(local.string());
  ASSERT_TRUE(local_file);
  auto rs = gguf::model_shape_from_gguf(remote->file);
  auto ls = gguf::model_shape_from_gguf(*local_file);
  ASSERT_TRUE(rs && ls);
  core::EstimateOptions opt;
  opt.context_size = 8192;
  EXPECT_DOUBLE_EQ(core::estimate_vram(*rs, opt).gpu.total_mib, core::estimate_vram(*ls, opt).gpu.total_mib);
  EXPECT_EQ(remote->file.tensors.size(), local_file->tensors.size());
  // Second read: from the chunk cache, no request.
  hub.reset_counters();
  HubClient again(settings());
  auto cached = read_remote_gguf(again, info->id, info->sha, *q);
  ASSERT_TRUE(cached);
  EXPECT_EQ(hub.requests(), 0u);
  EXPECT_EQ(cached->bytes_fetched, 0u);
}

TEST_F(HfHub, SplitQuantCombinesParts) {
  HubClient c(settings());
  auto info = fetch_repo_info(c, "unsloth/Nemotron-3-Nano-30B-A3B-GGUF", "main");
  ASSERT_TRUE(info);
  const auto listing = list_gguf_files(info->files);
  const auto* q = find_quant(listing, "Q4_K_M");
  ASSERT_NE(q, nullptr);
  auto remote = read_remote_gguf(c, info->id, info->sha, *q);
  ASSERT_TRUE(remote) << remote.error().message;
  EXPECT_EQ(remote->file.split_count, 2u);
  auto shape = gguf::model_shape_from_gguf(remote->file);
  ASSERT_TRUE(shape) << shape.error().message;
  EXPECT_EQ(shape->n_layer, 52u);
  EXPECT_GT(remote->file.weight_bytes(), 22'000'000'000ULL);
  EXPECT_LE(remote->file.weight_bytes(), 22'900'000'000ULL);
}

}  // namespace
}  // namespace gpumod::infra::hf
