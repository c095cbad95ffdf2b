// Safetensors repos on the Hub (the models vLLM serves), read without downloading them:
//   - which files hold the weights: the shards named by model.safetensors.index.json, else
//     model.safetensors, else every *.safetensors at the top of the repo (adapters and
//     Mistral's consolidated.safetensors next to HF shards left out);
//   - each file's header over HTTP Range reads (HttpByteSource: cached per commit): 8-byte
//     little-endian header length (at most 100,000,000 and within the file), then the JSON
//     header; every tensor's dtype, shape and data_offsets checked (known dtype, size = elements
//     x dtype size, within the data, no overlap) and summed per dtype: exact parameters and bytes;
//   - config.json (text_config for multimodal models) parsed into core::HfModelConfig.
// A hostile or broken header is an error naming the file, never a crash or a huge allocation.
// Thread-safety: the parsers are pure; read_remote_safetensors uses the HubClient (shareable).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "gpumod/core/safetensors_estimate.hpp"
#include "gpumod/infra/hf/hub_api.hpp"
#include "gpumod/infra/hf/hub_client.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::hf {

inline constexpr std::uint64_t k_max_safetensors_header_bytes = 100'000'000;  // as the safetensors library
inline constexpr std::uint64_t k_max_config_bytes = 4ULL << 20;
inline constexpr std::uint64_t k_max_index_bytes = 64ULL << 20;

struct SafetensorsHeader {
  std::string file;                                 // repo-relative name (for messages)
  std::uint64_t header_bytes = 0;                   // the JSON header's length
  std::uint64_t file_bytes = 0;
  core::WeightSummary weights;                      // this file's tensors
  std::vector<std::string> tensor_names;            // in header order
  std::map<std::string, std::string> metadata;      // __metadata__ (string values)
};

// The 8-byte little-endian header length at the start of a file of `file_bytes`.
// Errors (corrupt): fewer than 8 bytes, a length over 100,000,000, or beyond the file.
util::Result<std::uint64_t> parse_safetensors_header_length(std::string_view first8, std::uint64_t file_bytes,
                                                            std::string_view file);

// Parses and checks the JSON header of a file of `file_bytes` whose header is `json_text`.
// Errors (corrupt): not JSON / not an object, an unknown dtype, a bad shape, data_offsets that
// disagree with shape x dtype size, lie beyond the data, or overlap another tensor's.
util::Result<SafetensorsHeader> parse_safetensors_header(std::string_view json_text, std::uint64_t file_bytes,
                                                         std::string_view file);

// The shard file names of model.safetensors.index.json (weight_map values, sorted, unique).
util::Result<std::vector<std::string>> parse_safetensors_index(std::string_view json_text, std::string_view file);

// config.json -> the shape the estimator needs. Errors (corrupt): not JSON, no layer count or
// head count. Multimodal configs: the text_config (or llm_config) part.
util::Result<core::HfModelConfig> parse_model_config(std::string_view json_text);

struct SafetensorsListing {
  std::string index;                 // "model.safetensors.index.json" or ""
  std::vector<RepoFile> shards;      // the weight files, in order
  std::uint64_t total_bytes = 0;     // their sizes on the Hub
  bool has_config = false;           // config.json at the top
};

// The weight files of a repo (empty shards: not a safetensors repo). Without an index:
// model.safetensors, else the top-level *.safetensors (not adapter_model*, not consolidated*
// when others exist).
SafetensorsListing list_safetensors_files(const std::vector<RepoFile>& files);

struct RemoteSafetensors {
  std::vector<SafetensorsHeader> headers;  // one per shard
  core::WeightSummary weights;             // all shards
  core::HfModelConfig config;
  std::uint64_t file_bytes = 0;            // the shards' sizes on the Hub
  std::uint64_t bytes_fetched = 0;         // over the network (0 when all came from the cache)
  std::vector<std::string> notes;          // index/header disagreements that are not fatal
};

// Reads config.json, the index (when there is one) and every shard's header at `commit`
// (`parallel` shards at a time; the first failing shard, in order, is the error).
util::Result<RemoteSafetensors> read_remote_safetensors(HubClient& hub, std::string_view repo, std::string_view commit,
                                                        const std::vector<RepoFile>& files, std::size_t parallel = 4);

}  // namespace gpumod::infra::hf
