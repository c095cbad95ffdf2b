// The GGUF reader: header, metadata and tensor-info table of a GGUF file (v1, v2, v3), never the
// weights. Streaming and bounded: arrays are skipped by length (string arrays element by
// element, nothing stored), small numeric arrays (<= 64 elements) are kept as values, every
// count, length, type, dim and offset is checked against the file, and at most 256 MiB of header
// is read. Malformed input gives ErrorCode::corrupt with the byte offset and what was expected.
// Split models (name-00001-of-00003.gguf) are read as one model by read_gguf_model.
// Thread-safety: the functions hold no shared state; a ByteSource is used by one call at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gpumod/infra/gguf/byte_source.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::gguf {

enum class ValueType : std::uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8,
  array = 9, u64 = 10, i64 = 11, f64 = 12,
};
std::string_view to_string(ValueType type);

inline constexpr std::uint64_t k_max_kept_array = 1024;  // elements: per-layer arrays of deep models
inline constexpr std::uint64_t k_max_string_bytes = 64ULL << 20;       // 64 MiB
inline constexpr std::uint64_t k_max_header_bytes = 256ULL << 20;      // 256 MiB
inline constexpr std::uint32_t k_default_alignment = 32;

// An array value: its element type and count; numbers of small numeric arrays are kept.
struct ArraySummary {
  ValueType element_type = ValueType::u8;
  std::uint64_t count = 0;
  bool kept = false;                // true: `ints` or `reals` holds all `count` elements
  std::vector<std::int64_t> ints;   // integer and bool elements (u64 above 2^63 wrap)
  std::vector<double> reals;        // f32 / f64 elements
  std::vector<std::string> strings; // never filled by the reader; the writer writes these
};

// Signed integers as int64, unsigned as uint64, f32/f64 as double.
using MetadataValue =
    std::variant<std::int64_t, std::uint64_t, double, bool, std::string, ArraySummary>;

struct MetadataEntry {
  std::string key;
  ValueType type = ValueType::u8;
  MetadataValue value;
};

struct TensorInfo {
  std::string name;
  std::uint32_t type = 0;              // ggml type id
  std::vector<std::uint64_t> shape;    // ne[0] first
  std::uint64_t offset = 0;            // from the data section of its file
  std::uint64_t bytes = 0;
  std::uint32_t split_index = 0;       // which part of a split model holds it
};

struct GgufFile {
  std::uint32_t version = 0;
  std::vector<MetadataEntry> metadata;
  std::vector<TensorInfo> tensors;
  std::uint64_t header_bytes = 0;  // end of the tensor-info table (of the first part)
  std::uint64_t data_offset = 0;   // header_bytes padded to the alignment
  std::uint64_t file_bytes = 0;    // all parts together
  std::uint32_t alignment = k_default_alignment;
  std::uint32_t split_count = 1;
  std::vector<std::string> part_paths;  // the files read, in order (empty for a ByteSource)

  const MetadataEntry* find(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  // Any integer type with a non-negative value (and bool as 0/1).
  std::optional<std::uint64_t> get_uint(std::string_view key) const;
  std::optional<std::int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;  // any number
  const ArraySummary* get_array(std::string_view key) const;
  std::uint64_t weight_bytes() const;  // sum of tensor bytes
};

// Reads one GGUF file (or anything a ByteSource gives).
util::Result<GgufFile> read_gguf(ByteSource& source);
util::Result<GgufFile> read_gguf_file(const std::string& path);

// Reads a model: a single file, or every part of a split model when `path` names any part
// (name-0000k-of-0000n.gguf, all parts in the same folder).
util::Result<GgufFile> read_gguf_model(const std::string& path);

// Joins the parts of a split model, read separately and given in order, into one: the tensors of
// part i get split_index i, file sizes add up, part_paths = names. Each part's split.count and
// split.no, when present, must agree with its place (corrupt otherwise, naming the part).
// Used for local parts (read_gguf_model) and for remote ones (Hugging Face by Range).
util::Result<GgufFile> combine_split_parts(std::vector<GgufFile> parts, const std::vector<std::string>& names);

}  // namespace gpumod::infra::gguf
