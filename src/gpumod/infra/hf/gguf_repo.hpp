// GGUF repos on the Hub: their file list grouped into quantizations (split parts summed,
// imatrix and mmproj files set apart, a label per quant from the file name), the quality order
// of quant labels, and reading one quant's GGUF header + tensor table over HTTP Range requests
// (every part of a split model, tensor lists combined as read_gguf_model does for local files).
// Thread-safety: the listing functions are pure; read_remote_gguf uses the HubClient (shareable).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gpumod/infra/gguf/reader.hpp"
#include "gpumod/infra/hf/hub_api.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::hf {

struct GgufQuant {
  std::string label;              // "UD-Q4_K_XL"; "" when the name carries none
  std::string name;               // the model file (first part for split models), repo-relative
  std::vector<RepoFile> parts;    // one entry, or every part in order
  std::uint64_t total_bytes = 0;  // all parts
  bool split() const { return parts.size() > 1; }
  std::uint32_t missing_parts = 0;  // parts the name promises that the repo lacks
};

struct GgufListing {
  std::vector<GgufQuant> quants;   // sorted by size, ascending
  std::vector<RepoFile> mmproj;    // vision projectors
  std::vector<RepoFile> imatrix;   // importance matrices (.gguf or .dat)
};

GgufListing list_gguf_files(const std::vector<RepoFile>& files);

// Higher is better: F32 > BF16 = F16 > Q8_0 > Q6_K > Q5_K_M > ... > IQ1_S; the "UD-" (Unsloth
// dynamic) variant ranks just above its base; unknown labels rank 0.
int quant_quality_rank(std::string_view label);

// Finds a quant by label ("Q4_K_M", case-insensitive, "UD-" must match) or by file name.
const GgufQuant* find_quant(const GgufListing& listing, std::string_view quant_or_file);

struct RemoteGguf {
  gguf::GgufFile file;
  std::uint64_t bytes_fetched = 0;  // over the network (0 when everything came from the cache)
  std::uint64_t file_bytes = 0;     // the quant's size on the Hub
};

// Reads the header and tensor table of every part of `quant` at `commit`.
util::Result<RemoteGguf> read_remote_gguf(HubClient& hub, std::string_view repo, std::string_view commit,
                                          const GgufQuant& quant);


}  // namespace gpumod::infra::hf
