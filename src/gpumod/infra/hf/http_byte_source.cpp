#include "gpumod/infra/hf/http_byte_source.hpp"

#include <cstring>
#include <fstream>
#include <iterator>

#include "gpumod/infra/hf/validate.hpp"

namespace gpumod::infra::hf {

namespace fs = std::filesystem;

namespace {
// A readable, collision-free folder name: the text with odd characters replaced, plus its hash.
std::string folder_name(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 80)) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
    out += ok ? c : '_';
  }
  return out + "-" + fnv1a_hex(text).substr(0, 8);
}
}  // namespace

HttpByteSource::HttpByteSource(HubClient& hub, std::string repo, std::string commit, std::string file,
                               std::uint64_t size)
    : m_hub(hub), m_repo(std::move(repo)), m_commit(std::move(commit)), m_file(std::move(file)), m_size(size) {
  // Only commit-pinned bytes are cached on disk: a branch can move.
  if (!m_hub.settings().cache_dir.empty() && is_commit_sha(m_commit)) {
    m_dir = m_hub.settings().cache_dir / "files" / folder_name(m_repo) / m_commit / folder_name(m_file);
  }
}

std::string HttpByteSource::name() const { return m_hub.file_url(m_repo, m_commit, m_file); }

std::uint64_t HttpByteSource::bytes_fetched() const {
  std::lock_guard lock(m_mutex);
  return m_bytes_fetched;
}

std::uint64_t HttpByteSource::requests() const {
  std::lock_guard lock(m_mutex);
  return m_requests;
}

fs::path HttpByteSource::chunk_path(std::uint64_t index) const { return m_dir / std::to_string(index); }

util::Status HttpByteSource::ensure_chunks(std::uint64_t first, std::uint64_t last) {
  const std::uint64_t n_chunks = (m_size + k_chunk_bytes - 1) / k_chunk_bytes;
  std::uint64_t i = first;
  while (i <= last) {
    if (m_chunks.contains(i)) {
      ++i;
      continue;
    }
    if (!m_dir.empty()) {
      std::ifstream in(chunk_path(i), std::ios::binary | std::ios::ate);
      const std::uint64_t want = std::min(k_chunk_bytes, m_size - i * k_chunk_bytes);
      if (in && static_cast<std::uint64_t>(in.tellg()) == want) {
        std::string data(want, '\0');
        in.seekg(0);
        in.read(data.data(), static_cast<std::streamsize>(want));
        if (in) {
          m_chunks.emplace(i, std::move(data));
          ++i;
          continue;
        }
      }
    }
    // Fetch a run of missing chunks starting at i: at least up to `last`, more when reading on.
    const bool sequential = m_last_chunk != ~0ULL && i == m_last_chunk + 1;
    m_next_run = sequential ? std::min(m_next_run * 2, k_max_chunks_per_request) : 1;
    std::uint64_t end = std::max(last + 1, i + m_next_run);
    end = std::min(end, n_chunks);
    for (std::uint64_t j = i + 1; j < end; ++j) {
      if (m_chunks.contains(j)) {
        end = j;
        break;
      }
    }
    const std::uint64_t offset = i * k_chunk_bytes;
    const std::uint64_t length = std::min(m_size, end * k_chunk_bytes) - offset;
    ++m_requests;
    auto data = m_hub.get_range(m_repo, m_commit, m_file, offset, length);
    if (!data) return std::unexpected(data.error());
    if (data->size() != length) {
      return util::fail(util::ErrorCode::corrupt,
                        name() + ": asked for " + std::to_string(length) + " bytes at " + std::to_string(offset) +
                            ", got " + std::to_string(data->size()) + " (the file changed or is shorter than listed)");
    }
    m_bytes_fetched += data->size();
    for (std::uint64_t j = i; j < end; ++j) {
      const std::uint64_t from = (j - i) * k_chunk_bytes;
      std::string chunk = data->substr(from, std::min<std::uint64_t>(k_chunk_bytes, data->size() - from));
      if (!m_dir.empty()) (void)write_file_atomic(chunk_path(j), chunk);
      m_chunks.emplace(j, std::move(chunk));
    }
    m_last_chunk = end - 1;
    i = end;
  }
  return {};
}

util::Result<std::size_t> HttpByteSource::read_at(std::uint64_t offset, std::span<std::byte> out) {
  if (offset >= m_size || out.empty()) return std::size_t{0};
  const std::uint64_t n = std::min<std::uint64_t>(out.size(), m_size - offset);
  std::lock_guard lock(m_mutex);
  const std::uint64_t first = offset / k_chunk_bytes;
  const std::uint64_t last = (offset + n - 1) / k_chunk_bytes;
  if (auto st = ensure_chunks(first, last); !st) return std::unexpected(st.error());
  std::uint64_t done = 0;
  while (done < n) {
    const std::uint64_t at = offset + done;
    const auto& chunk = m_chunks.at(at / k_chunk_bytes);
    const std::uint64_t in_chunk = at % k_chunk_bytes;
    const std::uint64_t take = std::min<std::uint64_t>(n - done, chunk.size() - in_chunk);
    std::memcpy(out.data() + done, chunk.data() + in_chunk, take);
    done += take;
  }
  return static_cast<std::size_t>(n);
}

}  // namespace gpumod::infra::hf
