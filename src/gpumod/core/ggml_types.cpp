#include "gpumod/core/ggml_types.hpp"

#include <array>
#include <limits>

#include "gpumod/util/strings.hpp"

namespace gpumod::core {
namespace {

// Sizes from ggml-common.h (block_* static_asserts); QK_K = 256.
constexpr std::array k_types{
    GgmlTypeInfo{0, "f32", 1, 4},
    GgmlTypeInfo{1, "f16", 1, 2},
    GgmlTypeInfo{2, "q4_0", 32, 18},
    GgmlTypeInfo{3, "q4_1", 32, 20},
    GgmlTypeInfo{6, "q5_0", 32, 22},
    GgmlTypeInfo{7, "q5_1", 32, 24},
    GgmlTypeInfo{8, "q8_0", 32, 34},
    GgmlTypeInfo{9, "q8_1", 32, 36},
    GgmlTypeInfo{10, "q2_K", 256, 84},
    GgmlTypeInfo{11, "q3_K", 256, 110},
    GgmlTypeInfo{12, "q4_K", 256, 144},
    GgmlTypeInfo{13, "q5_K", 256, 176},
    GgmlTypeInfo{14, "q6_K", 256, 210},
    GgmlTypeInfo{15, "q8_K", 256, 292},
    GgmlTypeInfo{16, "iq2_xxs", 256, 66},
    GgmlTypeInfo{17, "iq2_xs", 256, 74},
    GgmlTypeInfo{18, "iq3_xxs", 256, 98},
    GgmlTypeInfo{19, "iq1_s", 256, 50},
    GgmlTypeInfo{20, "iq4_nl", 32, 18},
    GgmlTypeInfo{21, "iq3_s", 256, 110},
    GgmlTypeInfo{22, "iq2_s", 256, 82},
    GgmlTypeInfo{23, "iq4_xs", 256, 136},
    GgmlTypeInfo{24, "i8", 1, 1},
    GgmlTypeInfo{25, "i16", 1, 2},
    GgmlTypeInfo{26, "i32", 1, 4},
    GgmlTypeInfo{27, "i64", 1, 8},
    GgmlTypeInfo{28, "f64", 1, 8},
    GgmlTypeInfo{29, "iq1_m", 256, 56},
    GgmlTypeInfo{30, "bf16", 1, 2},
    GgmlTypeInfo{34, "tq1_0", 256, 54},
    GgmlTypeInfo{35, "tq2_0", 256, 66},
    GgmlTypeInfo{39, "mxfp4", 32, 17},
    GgmlTypeInfo{40, "nvfp4", 64, 36},
    GgmlTypeInfo{41, "q1_0", 128, 18},
};

}  // namespace

std::span<const GgmlTypeInfo> ggml_types() { return k_types; }

std::optional<GgmlTypeInfo> ggml_type(std::uint32_t id) {
  for (const auto& t : k_types) {
    if (t.id == id) return t;
  }
  return std::nullopt;
}

std::optional<GgmlTypeInfo> ggml_type_by_name(std::string_view name) {
  const std::string lower = util::to_lower(name);
  for (const auto& t : k_types) {
    if (util::to_lower(t.name) == lower) return t;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> row_bytes(std::uint32_t type_id, std::uint64_t ne0) {
  const auto t = ggml_type(type_id);
  if (!t || ne0 % t->block_size != 0) return std::nullopt;
  const std::uint64_t blocks = ne0 / t->block_size;
  if (blocks > std::numeric_limits<std::uint64_t>::max() / t->type_size) return std::nullopt;
  return blocks * t->type_size;
}

std::optional<std::uint64_t> tensor_bytes(std::uint32_t type_id,
                                          std::span<const std::uint64_t> shape) {
  if (shape.empty() || shape.size() > 4) return std::nullopt;
  for (const auto d : shape) {
    if (d == 0) return std::nullopt;
  }
  auto bytes = row_bytes(type_id, shape[0]);
  if (!bytes) return std::nullopt;
  constexpr std::uint64_t k_limit = std::uint64_t{1} << 63;
  std::uint64_t total = *bytes;
  for (std::size_t i = 1; i < shape.size(); ++i) {
    if (total > k_limit / shape[i]) return std::nullopt;
    total *= shape[i];
  }
  if (total > k_limit) return std::nullopt;
  return total;
}

}  // namespace gpumod::core
