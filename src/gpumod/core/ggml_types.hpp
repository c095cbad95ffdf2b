// The ggml tensor type table: every type id a GGUF file may name, with its name, block size
// (elements per block) and type size (bytes per block), as in llama.cpp's ggml/src/ggml.c
// type_traits (checked against llama.cpp f535774, 2026-04). Ids of removed types (4, 5, 31-33,
// 36-38) and ids past the table are unknown.
// Thread-safety: pure functions over constant data.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace gpumod::core {

struct GgmlTypeInfo {
  std::uint32_t id = 0;
  std::string_view name;        // ggml's own spelling: "f16", "q4_K", "iq4_xs", "mxfp4"
  std::uint32_t block_size = 0; // elements per block
  std::uint32_t type_size = 0;  // bytes per block
};

// Every known type, in id order.
std::span<const GgmlTypeInfo> ggml_types();

// The type with this id, or nullopt for removed or unknown ids.
std::optional<GgmlTypeInfo> ggml_type(std::uint32_t id);

// The type named `name`, case-insensitive ("Q4_K" and "q4_k" both match).
std::optional<GgmlTypeInfo> ggml_type_by_name(std::string_view name);

// Bytes of one row of `ne0` elements; nullopt when ne0 is not a multiple of the block size or
// the type is unknown.
std::optional<std::uint64_t> row_bytes(std::uint32_t type_id, std::uint64_t ne0);

// Bytes of a tensor of this type and shape (ne[0] first, as GGUF stores it). nullopt for an
// unknown type, an empty shape, more than 4 dims, a zero dim, ne[0] not a multiple of the block
// size, or a size past 2^63.
std::optional<std::uint64_t> tensor_bytes(std::uint32_t type_id, std::span<const std::uint64_t> shape);

// Well-known ids used across gpumod.
namespace ggml_id {
inline constexpr std::uint32_t f32 = 0;
inline constexpr std::uint32_t f16 = 1;
inline constexpr std::uint32_t q4_0 = 2;
inline constexpr std::uint32_t q4_1 = 3;
inline constexpr std::uint32_t q5_0 = 6;
inline constexpr std::uint32_t q5_1 = 7;
inline constexpr std::uint32_t q8_0 = 8;
inline constexpr std::uint32_t q2_k = 10;
inline constexpr std::uint32_t q3_k = 11;
inline constexpr std::uint32_t q4_k = 12;
inline constexpr std::uint32_t q5_k = 13;
inline constexpr std::uint32_t q6_k = 14;
inline constexpr std::uint32_t iq4_nl = 20;
inline constexpr std::uint32_t iq4_xs = 23;
inline constexpr std::uint32_t bf16 = 30;
inline constexpr std::uint32_t mxfp4 = 39;
}  // namespace ggml_id

}  // namespace gpumod::core
