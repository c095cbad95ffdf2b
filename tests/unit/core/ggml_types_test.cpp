#include "gpumod/core/ggml_types.hpp"

#include <gtest/gtest.h>

#include <array>
#include <map>

namespace gpumod::core {
namespace {

TEST(GgmlTypes, EveryTypeSizeForAKnownShape) {
  // Bytes of a 256 x 2 tensor (256 is a multiple of every block size but nvfp4's 64 and q1_0's 128).
  const std::map<std::string_view, std::uint64_t> expected{
      {"f32", 2048},    {"f16", 1024},   {"q4_0", 288},    {"q4_1", 320},   {"q5_0", 352},
      {"q5_1", 384},    {"q8_0", 544},   {"q8_1", 576},    {"q2_K", 168},   {"q3_K", 220},
      {"q4_K", 288},    {"q5_K", 352},   {"q6_K", 420},    {"q8_K", 584},   {"iq2_xxs", 132},
      {"iq2_xs", 148},  {"iq3_xxs", 196}, {"iq1_s", 100},  {"iq4_nl", 288}, {"iq3_s", 220},
      {"iq2_s", 164},   {"iq4_xs", 272}, {"i8", 512},      {"i16", 1024},   {"i32", 2048},
      {"i64", 4096},    {"f64", 4096},   {"iq1_m", 112},   {"bf16", 1024},  {"tq1_0", 108},
      {"tq2_0", 132},   {"mxfp4", 272},  {"nvfp4", 288},   {"q1_0", 72},
  };
  ASSERT_EQ(ggml_types().size(), expected.size());
  const std::array<std::uint64_t, 2> shape{256, 2};
  for (const auto& t : ggml_types()) {
    SCOPED_TRACE(std::string(t.name));
    ASSERT_TRUE(expected.contains(t.name));
    EXPECT_EQ(tensor_bytes(t.id, shape), expected.at(t.name));
  }
}

TEST(GgmlTypes, IdsMatchGgml) {
  EXPECT_EQ(ggml_type(39)->name, "mxfp4");
  EXPECT_EQ(ggml_type(12)->name, "q4_K");
  EXPECT_EQ(ggml_type(30)->name, "bf16");
  EXPECT_EQ(ggml_type(41)->name, "q1_0");
  EXPECT_EQ(ggml_type_by_name("Q4_K")->id, 12u);
  EXPECT_EQ(ggml_type_by_name("IQ4_XS")->id, 23u);
  EXPECT_FALSE(ggml_type_by_name("q4_k_m"));
}

TEST(GgmlTypes, RemovedAndUnknownIdsAreRejected) {
  for (std::uint32_t id : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 42u, 1000u}) {
    EXPECT_FALSE(ggml_type(id)) << id;
    const std::array<std::uint64_t, 1> shape{256};
    EXPECT_FALSE(tensor_bytes(id, shape)) << id;
  }
}

TEST(GgmlTypes, RowMustBeAWholeNumberOfBlocks) {
  const std::array<std::uint64_t, 2> bad{100, 4};
  EXPECT_FALSE(tensor_bytes(ggml_id::q4_k, bad));
  EXPECT_EQ(tensor_bytes(ggml_id::f16, bad), 800u);
  EXPECT_FALSE(row_bytes(ggml_id::q8_0, 33));
  EXPECT_EQ(row_bytes(ggml_id::q8_0, 64), 68u);
}

TEST(GgmlTypes, BadShapesAreRejected) {
  const std::array<std::uint64_t, 0> none{};
  const std::array<std::uint64_t, 5> five{1, 1, 1, 1, 1};
  const std::array<std::uint64_t, 2> zero{32, 0};
  const std::array<std::uint64_t, 4> huge{1ULL << 40, 1ULL << 40, 1, 1};
  EXPECT_FALSE(tensor_bytes(ggml_id::f32, none));
  EXPECT_FALSE(tensor_bytes(ggml_id::f32, five));
  EXPECT_FALSE(tensor_bytes(ggml_id::f32, zero));
  EXPECT_FALSE(tensor_bytes(ggml_id::f32, huge));
}

}  // namespace
}  // namespace gpumod::core
