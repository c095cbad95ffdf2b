// HttpByteSource: a gguf::ByteSource over HTTP Range requests to one file of a Hub repo at a
// commit. Bytes are fetched in 1 MiB-aligned chunks; a run of sequential reads fetches more at
// once (1, 2, 4 ... 16 chunks per request), so a GGUF header + tensor table costs a few requests
// and a tiny share of the file. Chunks are kept in memory and on disk
// (<cache>/files/<repo>/<commit>/<file>/<chunk index>), so a second read makes no request and
// works with HF_HUB_OFFLINE=1.
// Thread-safety: read_at may be called from several threads (a mutex guards the chunk map).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>

#include "gpumod/infra/gguf/byte_source.hpp"
#include "gpumod/infra/hf/hub_client.hpp"

namespace gpumod::infra::hf {

inline constexpr std::uint64_t k_chunk_bytes = 1ULL << 20;
inline constexpr std::uint64_t k_max_chunks_per_request = 16;

class HttpByteSource final : public gguf::ByteSource {
 public:
  // `commit` should be a 40-hex commit (what makes the cache valid); `size` from the repo info.
  HttpByteSource(HubClient& hub, std::string repo, std::string commit, std::string file, std::uint64_t size);

  util::Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override;
  std::uint64_t size() const override { return m_size; }
  std::string name() const override;

  std::uint64_t bytes_fetched() const;    // bytes that came over the network
  std::uint64_t requests() const;         // Range requests sent by this source

 private:
  util::Status ensure_chunks(std::uint64_t first, std::uint64_t last);  // inclusive
  std::filesystem::path chunk_path(std::uint64_t index) const;
  HubClient& m_hub;
  std::string m_repo;
  std::string m_commit;
  std::string m_file;
  std::uint64_t m_size = 0;
  std::filesystem::path m_dir;  // empty: no disk cache
  mutable std::mutex m_mutex;
  std::map<std::uint64_t, std::string> m_chunks;
  std::uint64_t m_next_run = 1;      // chunks to fetch with the next request
  std::uint64_t m_last_chunk = ~0ULL;  // the last chunk fetched (to detect sequential reads)
  std::uint64_t m_bytes_fetched = 0;
  std::uint64_t m_requests = 0;
};

}  // namespace gpumod::infra::hf
