// From a parsed GGUF header to what gpumod shows and estimates with: the ModelShape (per-layer
// heads, KV lengths, SWA, MoE, MLA, Mamba2 sizes, weight bytes grouped by placement), the quant
// label and the quant mix (bytes per ggml type).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "gpumod/core/model_shape.hpp"
#include "gpumod/infra/gguf/reader.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::gguf {

// Fails (corrupt) when general.architecture, block_count or embedding_length is missing or a
// per-layer array's length differs from block_count.
util::Result<core::ModelShape> model_shape_from_gguf(const GgufFile& file);

// Bytes per ggml type name ("q4_K" -> bytes), over all tensors.
std::map<std::string, std::uint64_t> quant_mix(const GgufFile& file);

// The quantization label of a file name ("UD-Q4_K_XL", "Q4_K_M", "IQ4_XS", "BF16", "MXFP4"), or
// "" when the name carries none. Case-insensitive; returned upper-case.
std::string filename_quant_label(std::string_view filename);

// "UD-Q4_K_XL (Q4_K)": the file name's label and the type holding the most weight bytes;
// "Q4_K" without a label in the name; "" for a file without tensors and without a label.
std::string quant_label(const GgufFile& file, std::string_view filename);

}  // namespace gpumod::infra::gguf
