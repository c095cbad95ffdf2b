// Builds the metadata and tensor table of a synthetic GGUF model that llama.cpp (f535774) can
// load: llama-style dense, qwen3moe-style MoE, gemma2-style sliding-window, and a hybrid
// nemotron_h_moe (Mamba2 + attention + MoE layers), each with a synthetic SPM ("llama") vocab
// (<unk>, <s>, </s>, the 256 byte tokens, then filler pieces). The keys and tensor names follow
// llama-model.cpp load_hparams/load_tensors and llama-arch.cpp of that commit. Used by the
// gpumod-make-model tool and by the accuracy benchmark (to rebuild observed shapes).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gpumod/infra/gguf/reader.hpp"
#include "gpumod/infra/gguf/writer.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::tools {

struct ModelSpec {
  std::string arch = "llama";   // llama | qwen3moe | gemma2 | nemotron_h_moe
  std::string name = "gpumod synthetic";
  std::uint32_t layers = 4;
  std::uint32_t embd = 256;
  std::uint32_t heads = 4;
  std::uint32_t kv_heads = 2;
  std::uint32_t head_dim = 0;    // 0: embd / heads (llama requires that)
  std::uint32_t ff = 1024;
  std::uint32_t vocab = 512;     // at least 259 (<unk> <s> </s> + 256 bytes)
  std::uint32_t ctx_train = 4096;
  std::uint32_t type = 1;        // ggml type of the weight matrices: f16 (1), q8_0 (8), q4_0 (2)
  bool tied_output = false;      // no output.weight (llama/qwen3moe/nemotron); gemma2 is always tied
  // MoE (qwen3moe, nemotron_h_moe)
  std::uint32_t experts = 0;
  std::uint32_t experts_used = 0;
  std::uint32_t ff_exp = 0;
  std::uint32_t ff_shexp = 0;    // nemotron_h_moe shared expert (0: ff_exp)
  // Sliding window (gemma2)
  std::uint32_t swa_window = 0;  // 0: 4096 (gemma2 default)
  // nemotron_h_moe: one letter per layer: M = Mamba2, * = attention, E = MoE
  std::string pattern;           // empty: "ME" repeated with every 4th MoE slot attention
  std::uint32_t ssm_d_inner = 0;  // 0: 2 x embd
  std::uint32_t ssm_d_state = 16;
  std::uint32_t ssm_n_group = 1;
  std::uint32_t ssm_dt_rank = 0;  // 0: d_inner / 64 (Mamba2 heads)
  std::uint32_t ssm_d_conv = 4;
};

struct ModelDefinition {
  std::vector<infra::gguf::MetadataEntry> metadata;
  std::vector<infra::gguf::TensorSpec> tensors;
};

// Checks the spec (invalid_argument naming the field) and builds the definition.
util::Result<ModelDefinition> build_model(const ModelSpec& spec);

// The default nemotron_h_moe layer pattern for `layers` layers.
std::string default_hybrid_pattern(std::uint32_t layers);

// Parses "f16", "q8_0", "q4_0" (and "f32", "bf16") to a ggml type id.
util::Result<std::uint32_t> parse_weight_type(const std::string& text);

// Parses a spec as bench/accuracy's CSVs write it after "spec:": gpumod-make-model options as
// "arch=llama;layers=16;...;type=q8_0" (ctx-train defaults to 131072). invalid_argument names
// an unknown key or a bad number.
util::Result<ModelSpec> parse_spec_items(const std::string& text);

// build_model + write_gguf.
util::Status write_model(const std::string& path, const ModelSpec& spec,
                         const infra::gguf::WriteOptions& options);

}  // namespace gpumod::tools
