#include "gpumod/infra/gguf/reader.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>

#include "gpumod/core/ggml_types.hpp"
#include "gpumod/infra/gguf/writer.hpp"
#include "tools/make_model/vocab_builder.hpp"

namespace gpumod::infra::gguf {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "gpumod-gguf-XXXXXX").string();
    m_path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(m_path, ec);
  }
  std::string file(const std::string& name) const { return (fs::path(m_path) / name).string(); }

 private:
  std::string m_path;
};

std::vector<std::byte> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(c.size());
  std::memcpy(out.data(), c.data(), c.size());
  return out;
}

util::Result<GgufFile> parse(std::span<const std::byte> bytes) {
  MemoryByteSource src(bytes);
  return read_gguf(src);
}

// A small model: metadata of every kind and three tensors.
std::vector<MetadataEntry> small_metadata() {
  return {meta_string("general.architecture", "llama"),
          meta_u32("llama.block_count", 2),
          meta_u64("llama.context_length", 4096),
          meta_i32("test.negative", -7),
          meta_f32("llama.rope.freq_base", 10000.0f),
          meta_bool("test.flag", true),
          meta_array("llama.attention.head_count_kv", ValueType::i32, {2, 4}),
          meta_array_f32("test.scores", {0.5, -1.5}),
          meta_array_strings("tokenizer.ggml.tokens", {"<s>", "</s>", "hello"})};
}

std::vector<TensorSpec> small_tensors() {
  return {{"token_embd.weight", core::ggml_id::f16, {64, 3}},
          {"blk.0.attn_q.weight", core::ggml_id::q8_0, {64, 64}},
          {"output_norm.weight", core::ggml_id::f32, {64}}};
}

// llama.cpp's own vocab files, when the folder beside the clone has them (CI lays it there); the
// test below covers the same reader paths with files the project writes itself.
TEST(GgufReader, RealVocabFiles) {
  const std::string dir = std::string(GPUMOD_SHARED_TESTDATA_DIR) + "/gguf/";
  if (!fs::is_regular_file(dir + "ggml-vocab-llama-spm.gguf")) {
    GTEST_SKIP() << "llama.cpp's vocab files are not at " << dir
                 << " (a folder outside the repository); VocabShapedWrittenFiles covers the same paths";
  }
  struct Case { const char* file; std::size_t keys; const char* arch; };
  for (const Case c : {Case{"ggml-vocab-llama-spm.gguf", 22, "llama"},
                       Case{"ggml-vocab-phi-3.gguf", 26, "phi3"},
                       Case{"ggml-vocab-bert-bge.gguf", 20, "bert"}}) {
    SCOPED_TRACE(c.file);
    auto f = read_gguf_file(dir + c.file);
    ASSERT_TRUE(f) << f.error().message;
    EXPECT_EQ(f->version, 3u);
    EXPECT_EQ(f->metadata.size(), c.keys);
    EXPECT_EQ(f->get_string("general.architecture"), c.arch);
    EXPECT_TRUE(f->tensors.empty());
    EXPECT_EQ(f->header_bytes, f->file_bytes);
    EXPECT_EQ(f->file_bytes, fs::file_size(dir + c.file));
    const ArraySummary* tokens = f->get_array("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr);
    EXPECT_EQ(tokens->element_type, ValueType::string);
    EXPECT_GT(tokens->count, 20000u);
    EXPECT_FALSE(tokens->kept);
  }
  auto spm = read_gguf_file(dir + "ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(spm->get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(spm->get_array("tokenizer.ggml.tokens")->count, 32000u);
}

// Vocab-only files of the real ones' shapes, written by the project's writer: long string arrays
// skipped by length (never kept), typed arrays past the kept limit, a string array of merges, a
// non-default alignment, v2 and v3.
TEST(GgufReader, VocabShapedWrittenFiles) {
  TempDir dir;
  for (const char* name : {"llama-spm", "phi-3", "bert-bge", "gpt2-bpe"}) {
    SCOPED_TRACE(name);
    const auto spec = tools::known_vocab(name);
    const std::string path = dir.file(std::string(name) + ".gguf");
    ASSERT_TRUE(tools::write_vocab_gguf(path, spec));
    auto f = read_gguf_file(path);
    ASSERT_TRUE(f) << f.error().message;
    EXPECT_EQ(f->version, 3u);
    EXPECT_EQ(f->get_string("general.architecture"), spec.arch);
    EXPECT_EQ(f->get_string("tokenizer.ggml.model"), spec.tokenizer);
    EXPECT_TRUE(f->tensors.empty());
    EXPECT_EQ(f->alignment, spec.alignment);
    EXPECT_EQ(f->data_offset % spec.alignment, 0u);
    EXPECT_EQ(f->data_offset, f->file_bytes);  // nothing after the header but its padding
    EXPECT_EQ(f->file_bytes, fs::file_size(path));
    EXPECT_GT(f->file_bytes, 200'000u);
    const ArraySummary* tokens = f->get_array("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr);
    EXPECT_EQ(tokens->element_type, ValueType::string);
    EXPECT_EQ(tokens->count, spec.tokens);
    EXPECT_FALSE(tokens->kept);
    const ArraySummary* scores = f->get_array("tokenizer.ggml.scores");
    ASSERT_NE(scores, nullptr);
    EXPECT_EQ(scores->element_type, ValueType::f32);
    EXPECT_EQ(scores->count, spec.tokens);
    EXPECT_FALSE(scores->kept);  // above k_max_kept_array
    EXPECT_EQ(f->get_array("tokenizer.ggml.token_type")->count, spec.tokens);
    EXPECT_EQ(f->get_uint("tokenizer.ggml.eos_token_id"), 2u);  // the keys after the long arrays are in sync
    EXPECT_EQ(f->get_uint("tokenizer.ggml.add_bos_token"), 1u);
    if (spec.merges) EXPECT_EQ(f->get_array("tokenizer.ggml.merges")->count, spec.merges);
  }
  // v2 of the same shape reads the same.
  auto spec = tools::known_vocab("llama-spm");
  spec.version = 2;
  ASSERT_TRUE(tools::write_vocab_gguf(dir.file("v2.gguf"), spec));
  auto v2 = read_gguf_file(dir.file("v2.gguf"));
  ASSERT_TRUE(v2) << v2.error().message;
  EXPECT_EQ(v2->version, 2u);
  EXPECT_EQ(v2->get_array("tokenizer.ggml.tokens")->count, 32000u);
}

// A directory, a FIFO or a device holds no GGUF file: refused before it is opened (opening a FIFO
// would wait for a writer). not_found, naming what is there.
TEST(GgufReader, SpecialFilesAreRefusedBeforeTheyAreOpened) {
  TempDir dir;
  const std::string fifo = dir.file("model.gguf");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto pending = std::async(std::launch::async, [&] { return read_gguf_model(fifo); });
  if (pending.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    // It blocked in open(): release it by opening the other end, then fail.
    const int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (w >= 0) ::close(w);
    FAIL() << "reading a FIFO blocked in open()";
  }
  auto f = pending.get();
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, util::ErrorCode::not_found);
  EXPECT_NE(f.error().message.find("is a FIFO"), std::string::npos) << f.error().message;

  auto d = read_gguf_file(dir.file(""));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, util::ErrorCode::not_found);
  EXPECT_NE(d.error().message.find("is a directory"), std::string::npos) << d.error().message;

  auto dev = read_gguf_file("/dev/null");
  ASSERT_FALSE(dev);
  EXPECT_NE(dev.error().message.find("character device"), std::string::npos) << dev.error().message;
}

TEST(GgufReader, WriterRoundTripV3AndV2) {
  TempDir dir;
  for (std::uint32_t version : {2u, 3u}) {
    SCOPED_TRACE(version);
    const std::string path = dir.file("m" + std::to_string(version) + ".gguf");
    WriteOptions opt;
    opt.version = version;
    opt.data = DataMode::random;
    ASSERT_TRUE(write_gguf(path, small_metadata(), small_tensors(), opt));
    auto f = read_gguf_file(path);
    ASSERT_TRUE(f) << f.error().message;
    EXPECT_EQ(f->version, version);
    EXPECT_EQ(f->metadata.size(), 9u);
    EXPECT_EQ(f->get_uint("llama.block_count"), 2u);
    EXPECT_EQ(f->get_uint("llama.context_length"), 4096u);
    EXPECT_EQ(f->get_int("test.negative"), -7);
    EXPECT_FALSE(f->get_uint("test.negative"));
    EXPECT_DOUBLE_EQ(*f->get_float("llama.rope.freq_base"), 10000.0);
    EXPECT_EQ(f->get_uint("test.flag"), 1u);
    const auto* kv = f->get_array("llama.attention.head_count_kv");
    ASSERT_NE(kv, nullptr);
    EXPECT_TRUE(kv->kept);
    EXPECT_EQ(kv->ints, (std::vector<std::int64_t>{2, 4}));
    EXPECT_EQ(f->get_array("test.scores")->reals, (std::vector<double>{0.5, -1.5}));
    EXPECT_EQ(f->get_array("tokenizer.ggml.tokens")->count, 3u);
    ASSERT_EQ(f->tensors.size(), 3u);
    EXPECT_EQ(f->tensors[0].name, "token_embd.weight");
    EXPECT_EQ(f->tensors[0].bytes, 64u * 3 * 2);
    EXPECT_EQ(f->tensors[1].type, core::ggml_id::q8_0);
    EXPECT_EQ(f->tensors[1].bytes, 64u * 2 * 34);
    EXPECT_EQ(f->tensors[1].offset % 32, 0u);
    EXPECT_EQ(f->tensors[2].shape, (std::vector<std::uint64_t>{64}));
    EXPECT_EQ(f->data_offset % 32, 0u);
    EXPECT_EQ(f->file_bytes, fs::file_size(path));
    EXPECT_EQ(f->data_offset + f->tensors[2].offset + f->tensors[2].bytes, f->file_bytes);
  }
}

TEST(GgufReader, CustomAlignment) {
  TempDir dir;
  const std::string path = dir.file("a.gguf");
  WriteOptions opt;
  opt.alignment = 256;
  ASSERT_TRUE(write_gguf(path, small_metadata(), small_tensors(), opt));
  auto f = read_gguf_file(path);
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->alignment, 256u);
  EXPECT_EQ(f->data_offset % 256, 0u);
  for (const auto& t : f->tensors) EXPECT_EQ(t.offset % 256, 0u);
}

// GGUF v1: u32 counts and string lengths, written by hand.
TEST(GgufReader, VersionOneByHand) {
  std::vector<std::byte> b;
  const auto put = [&](const void* p, std::size_t n) {
    const auto* c = static_cast<const std::byte*>(p);
    b.insert(b.end(), c, c + n);
  };
  const auto u32 = [&](std::uint32_t v) { put(&v, 4); };
  const auto str = [&](const std::string& s) { u32(static_cast<std::uint32_t>(s.size())); put(s.data(), s.size()); };
  u32(0x46554747);
  u32(1);
  u32(1);  // tensors
  u32(3);  // kv
  str("general.architecture"); u32(8); str("llama");
  str("llama.block_count"); u32(4); u32(1);
  str("tokenizer.ggml.tokens"); u32(9); u32(8); u32(2); str("a"); str("bc");
  str("token_embd.weight"); u32(2); u32(32); u32(2); u32(0); const std::uint64_t off = 0; put(&off, 8);
  while (b.size() % 32 != 0) b.push_back(std::byte{0});
  b.resize(b.size() + 32 * 2 * 4);
  auto f = parse(b);
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->version, 1u);
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_uint("llama.block_count"), 1u);
  EXPECT_EQ(f->get_array("tokenizer.ggml.tokens")->count, 2u);
  ASSERT_EQ(f->tensors.size(), 1u);
  EXPECT_EQ(f->tensors[0].shape, (std::vector<std::uint64_t>{32, 2}));
  EXPECT_EQ(f->tensors[0].bytes, 256u);
}

TEST(GgufReader, EveryTruncationIsACleanError) {
  TempDir dir;
  const std::string path = dir.file("t.gguf");
  ASSERT_TRUE(write_gguf(path, small_metadata(), small_tensors()));
  const auto bytes = slurp(path);
  ASSERT_TRUE(parse(bytes));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto f = parse(std::span(bytes).first(n));
    ASSERT_FALSE(f) << "prefix " << n << " parsed";
    EXPECT_EQ(f.error().code, util::ErrorCode::corrupt) << n;
    EXPECT_NE(f.error().message.find("at byte"), std::string::npos) << f.error().message;
  }
}

// Byte surgery on a valid v3 file with a known layout.
class GgufHostile : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = m_dir.file("h.gguf");
    const std::vector<MetadataEntry> meta{meta_string("general.architecture", "llama"),
                                          meta_array("a", ValueType::u32, {1, 2, 3})};
    const std::vector<TensorSpec> tensors{{"w", core::ggml_id::f32, {8}}};
    ASSERT_TRUE(write_gguf(path, meta, tensors));
    m_bytes = slurp(path);
  }
  template <class T>
  void poke(std::size_t at, T v) { std::memcpy(m_bytes.data() + at, &v, sizeof v); }
  std::string error() {
    auto f = parse(m_bytes);
    if (f) return "";
    EXPECT_EQ(f.error().code, util::ErrorCode::corrupt);
    return f.error().message;
  }
  // Layout: magic 0, version 4, n_tensors 8, n_kv 16, key len 24, key "general.architecture"
  // 32..52, type 52, value len 56, "llama" 64..69, key len 69, "a" 77, type 78, elem type 82,
  // count 86, elems 94..106, tensor name len 106, "w" 114, n_dims 115, ne0 119, type 127,
  // offset 131.
  TempDir m_dir;
  std::vector<std::byte> m_bytes;
};

TEST_F(GgufHostile, LayoutAssumptionsHold) { EXPECT_EQ(error(), ""); }

TEST_F(GgufHostile, BadMagicAndVersion) {
  poke<std::uint32_t>(4, 4);
  EXPECT_NE(error().find("version"), std::string::npos);
  poke<std::uint32_t>(4, 3);
  poke<std::uint32_t>(0, 0x12345678);
  EXPECT_NE(error().find("magic"), std::string::npos);
}

TEST_F(GgufHostile, HugeCounts) {
  poke<std::uint64_t>(16, 1ULL << 60);
  EXPECT_NE(error().find("metadata count"), std::string::npos);
  poke<std::uint64_t>(16, 2);
  poke<std::uint64_t>(8, ~0ULL);
  EXPECT_NE(error().find("tensor count"), std::string::npos);
  poke<std::uint64_t>(8, 1);
  poke<std::uint64_t>(86, 1ULL << 62);
  EXPECT_NE(error().find("array count"), std::string::npos);
}

TEST_F(GgufHostile, HugeStrings) {
  poke<std::uint64_t>(56, 1ULL << 40);
  EXPECT_NE(error().find("exceeds the limit"), std::string::npos);
  poke<std::uint64_t>(56, 1000);
  EXPECT_NE(error().find("past the end"), std::string::npos);
}

TEST_F(GgufHostile, UnknownValueTypes) {
  poke<std::uint32_t>(52, 13);
  EXPECT_NE(error().find("unknown value type 13"), std::string::npos);
  poke<std::uint32_t>(52, 8);
  poke<std::uint32_t>(82, 9);  // array of arrays
  EXPECT_NE(error().find("nested"), std::string::npos);
}

TEST_F(GgufHostile, BadTensorInfo) {
  poke<std::uint32_t>(127, 4);  // a removed ggml type
  EXPECT_NE(error().find("unknown ggml type 4"), std::string::npos);
  poke<std::uint32_t>(127, 0);
  poke<std::uint32_t>(115, 5);
  EXPECT_NE(error().find("5 dims"), std::string::npos);
  poke<std::uint32_t>(115, 0);
  EXPECT_NE(error().find("0 dims"), std::string::npos);
  poke<std::uint32_t>(115, 1);
  poke<std::uint64_t>(119, 0);
  EXPECT_NE(error().find("dim 0 is 0"), std::string::npos);
  poke<std::uint64_t>(119, 8);
  poke<std::uint32_t>(127, core::ggml_id::q4_0);  // 8 is not a multiple of 32
  EXPECT_NE(error().find("block size"), std::string::npos);
  poke<std::uint32_t>(127, 0);
  poke<std::uint64_t>(131, 1024);
  EXPECT_NE(error().find("outside the file"), std::string::npos);
  poke<std::uint64_t>(131, 3);
  EXPECT_NE(error().find("alignment"), std::string::npos);
  poke<std::uint64_t>(131, 0);
  EXPECT_EQ(error(), "");
}

TEST(GgufReader, SplitModelReadsAllParts) {
  TempDir dir;
  const std::vector<TensorSpec> parts[3] = {
      {{"token_embd.weight", core::ggml_id::f16, {64, 3}}},
      {{"blk.0.attn_q.weight", core::ggml_id::f16, {64, 64}}},
      {{"output.weight", core::ggml_id::f16, {64, 3}}, {"output_norm.weight", 0, {64}}}};
  std::uint64_t total = 0;
  for (int i = 0; i < 3; ++i) {
    auto meta = small_metadata();
    meta.push_back(meta_u32("split.no", static_cast<std::uint32_t>(i)));
    meta.push_back(meta_u32("split.count", 3));
    const std::string path = dir.file("model-0000" + std::to_string(i + 1) + "-of-00003.gguf");
    ASSERT_TRUE(write_gguf(path, meta, parts[i]));
    total += fs::file_size(path);
  }
  auto f = read_gguf_model(dir.file("model-00002-of-00003.gguf"));
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->split_count, 3u);
  ASSERT_EQ(f->tensors.size(), 4u);
  EXPECT_EQ(f->tensors[1].name, "blk.0.attn_q.weight");
  EXPECT_EQ(f->tensors[1].split_index, 1u);
  EXPECT_EQ(f->tensors[3].split_index, 2u);
  EXPECT_EQ(f->file_bytes, total);
  EXPECT_EQ(f->part_paths.size(), 3u);

  fs::remove(dir.file("model-00003-of-00003.gguf"));
  auto missing = read_gguf_model(dir.file("model-00001-of-00003.gguf"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, util::ErrorCode::not_found);
  EXPECT_NE(missing.error().message.find("split part 3 of 3"), std::string::npos);
}

// Parts out of place (a part of another split, or in the wrong order) are named, not merged.
TEST(GgufReader, SplitPartsThatDisagreeWithTheirPlaceAreCorrupt) {
  TempDir dir;
  for (int i = 0; i < 2; ++i) {
    auto meta = small_metadata();
    meta.push_back(meta_u32("split.no", static_cast<std::uint32_t>(1 - i)));  // swapped
    meta.push_back(meta_u32("split.count", 2));
    const std::vector<TensorSpec> tensors{{"t" + std::to_string(i), core::ggml_id::f16, {64}}};
    ASSERT_TRUE(write_gguf(dir.file("m-0000" + std::to_string(i + 1) + "-of-00002.gguf"), meta, tensors));
  }
  auto swapped = read_gguf_model(dir.file("m-00001-of-00002.gguf"));
  ASSERT_FALSE(swapped);
  EXPECT_EQ(swapped.error().code, util::ErrorCode::corrupt);
  EXPECT_NE(swapped.error().message.find("m-00001-of-00002.gguf: split.no is 1, expected 0"), std::string::npos)
      << swapped.error().message;

  auto meta = small_metadata();
  meta.push_back(meta_u32("split.no", 0));
  meta.push_back(meta_u32("split.count", 5));
  const std::vector<TensorSpec> one{{"t", core::ggml_id::f16, {64}}};
  ASSERT_TRUE(write_gguf(dir.file("x-00001-of-00001.gguf"), meta, one));
  auto counted = read_gguf_model(dir.file("x-00001-of-00001.gguf"));
  ASSERT_FALSE(counted);
  EXPECT_NE(counted.error().message.find("split.count is 5, but the model has 1 parts"), std::string::npos)
      << counted.error().message;
  EXPECT_FALSE(combine_split_parts({}, {}));
}

TEST(GgufReader, FileErrors) {
  auto missing = read_gguf_file("/nonexistent/x.gguf");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, util::ErrorCode::not_found);
  auto dir = read_gguf_file("/tmp");
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().code, util::ErrorCode::not_found);  // no GGUF file there; not a usage error
}

}  // namespace
}  // namespace gpumod::infra::gguf
