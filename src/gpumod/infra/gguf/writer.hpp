// The GGUF writer: produces valid GGUF v3 (or v2) files with aligned tensor data, either all
// zeros (a sparse file, fast for large models) or seeded random data (small float values, norms
// at 1.0, quantized blocks with small scales), so tests and the GPU machine can make models of a
// known shape: llama-style dense, MoE, SWA, hybrid nemotron_h-like.
// Thread-safety: pure function of its arguments; writes only `path`.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "gpumod/infra/gguf/reader.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::gguf {

enum class DataMode { zeros, random };

struct TensorSpec {
  std::string name;
  std::uint32_t type = 0;             // ggml type id
  std::vector<std::uint64_t> shape;   // ne[0] first, 1 to 4 dims
};

struct WriteOptions {
  DataMode data = DataMode::zeros;
  std::uint64_t seed = 1;
  std::uint32_t version = 3;          // 2 or 3 (same layout)
  std::uint32_t alignment = k_default_alignment;  // written as general.alignment when not 32
};

// Arrays are written from `ints` (integer and bool element types), `reals` (f32/f64) or
// `strings` (string), whichever matches the element type; `count` and `kept` are ignored.
util::Status write_gguf(const std::string& path, std::span<const MetadataEntry> metadata,
                        std::span<const TensorSpec> tensors, const WriteOptions& options = {});

// Metadata builders.
MetadataEntry meta_string(std::string key, std::string value);
MetadataEntry meta_u32(std::string key, std::uint32_t value);
MetadataEntry meta_u64(std::string key, std::uint64_t value);
MetadataEntry meta_i32(std::string key, std::int32_t value);
MetadataEntry meta_f32(std::string key, float value);
MetadataEntry meta_bool(std::string key, bool value);
MetadataEntry meta_array(std::string key, ValueType element_type, std::vector<std::int64_t> ints);
MetadataEntry meta_array_f32(std::string key, std::vector<double> reals);
MetadataEntry meta_array_strings(std::string key, std::vector<std::string> strings);

}  // namespace gpumod::infra::gguf
