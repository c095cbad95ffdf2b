// FakeHub: a Hugging Face Hub look-alike on loopback for tests and benchmarks (never the
// internet). It serves, in the shapes the real Hub returns:
//   GET /api/models/{repo}/revision/{rev}[?blobs=true]  model info (sha, siblings with size/lfs)
//   GET /api/models/{repo}/tree/{rev}?recursive=true     file list
//   GET /api/models?search=&author=&filter=&limit=       search (id substring, author prefix)
//   GET /{repo}/resolve/{rev}/{file}                     302 to /cdn/... (X-Repo-Commit,
//                                                        X-Linked-Etag, X-Linked-Size), which
//                                                        serves the bytes with Range support
// API answers carry an ETag and answer 304 to a matching If-None-Match. On demand: gated repos
// (401 GatedRepo without "Bearer <token>"), the next N requests answering a status (429 with
// Retry-After, 500 ...), and an added latency per request. It counts requests and file bytes
// served. Files live on disk (sparse files for big models) or in memory.
// Thread-safety: the server runs its own threads; the setters and counters are synchronised.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace gpumod::test_support {

struct FakeHubFile {
  std::string path;                  // repo-relative
  std::filesystem::path disk;        // served from disk when set
  std::string content;               // else served from memory
  std::string sha256;                // LFS sha256 ("" = computed from `content`)
  bool lfs = true;
};

struct FakeHubRepo {
  std::string id;
  std::string sha;                   // 40 hex
  std::vector<FakeHubFile> files;
  std::vector<std::string> tags{"gguf"};
  std::string gated;                 // "" or "manual"
  std::uint64_t downloads = 0;
  std::string pipeline_tag = "text-generation";
};

class FakeHub {
 public:
  FakeHub();
  ~FakeHub();
  FakeHub(const FakeHub&) = delete;
  FakeHub& operator=(const FakeHub&) = delete;

  std::string endpoint() const;  // http://127.0.0.1:PORT
  void add_repo(FakeHubRepo repo);
  void set_token(std::string token) { std::lock_guard l(m_mutex); m_token = std::move(token); }
  // The next `count` requests (any route) answer `status`; Retry-After when retry_after_s >= 0.
  void fail_next(int status, int count, int retry_after_s = -1);
  void set_latency(std::chrono::milliseconds latency) { std::lock_guard l(m_mutex); m_latency = latency; }

  std::uint64_t requests() const { return m_requests.load(); }
  std::uint64_t file_bytes_served() const { return m_file_bytes.load(); }
  void reset_counters() { m_requests = 0; m_file_bytes = 0; }

 private:
  void install_routes();
  const FakeHubRepo* find(const std::string& id) const;
  std::unique_ptr<httplib::Server> m_server;
  std::thread m_thread;
  int m_port = 0;
  mutable std::mutex m_mutex;
  std::map<std::string, FakeHubRepo> m_repos;
  std::string m_token = "hf_good_token";
  int m_fail_status = 0;
  int m_fail_count = 0;
  int m_retry_after_s = -1;
  std::chrono::milliseconds m_latency{0};
  std::atomic<std::uint64_t> m_requests{0};
  std::atomic<std::uint64_t> m_file_bytes{0};
};

// A GGUF file (or split parts) shaped like Nemotron-3-Nano-30B-A3B (nemotron_h_moe: 52 layers,
// 23 Mamba2 + 23 MoE + 6 attention, 128 experts, vocab 131,072), with a real header and tensor
// table and expert types mixed so the tensors add up to about `target_bytes`; the file is then
// extended (sparsely) to exactly `target_bytes`. Returns the written paths (parts in order).
std::vector<std::filesystem::path> write_nemotron_like_gguf(const std::filesystem::path& dir,
                                                            const std::string& file_name,
                                                            std::uint64_t target_bytes, int parts = 1);

// A small llama-style GGUF (a few MiB with random data) for download and equality tests.
std::filesystem::path write_small_gguf(const std::filesystem::path& dir, const std::string& file_name);

// The Nemotron repo of the issue: unsloth/Nemotron-3-Nano-30B-A3B-GGUF with UD-Q4_K_XL 21.3 GB,
// Q4_K_M 22.9 GB (2 parts), IQ4_NL and IQ4_XS 16.9 GB, Q3_K_M 14 GB, an mmproj and an imatrix.
FakeHubRepo nemotron_repo(const std::filesystem::path& dir);

std::string sha256_of_file(const std::filesystem::path& path);

// Safetensors files with real headers (tensors laid out in the given order, contiguous) and
// a sparse body of the right size (the data bytes are zeros).
struct SafetensorsTensorSpec {
  std::string name;
  std::string dtype;                   // "BF16", "F32" ...
  std::vector<std::uint64_t> shape;
};
// The first bytes of such a file: the 8-byte little-endian length and the JSON header (padded
// with spaces to a multiple of 8, as the safetensors library writes it). `data_bytes` gets the
// size of the data that follows.
std::string safetensors_header_bytes(const std::vector<SafetensorsTensorSpec>& tensors,
                                     const std::map<std::string, std::string>& metadata,
                                     std::uint64_t* data_bytes = nullptr);
// Writes the header and extends the file (sparsely) to header + data. Returns its size.
std::uint64_t write_safetensors(const std::filesystem::path& path, const std::vector<SafetensorsTensorSpec>& tensors,
                                const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// The tensors of Llama-3.1-8B (32 layers, hidden 4,096, 32 heads, 8 KV heads, FFN 14,336,
// vocab 128,256, untied output): 8,030,261,248 parameters, all BF16.
std::vector<SafetensorsTensorSpec> llama3_8b_tensors();
// "meta-llama/Llama-3.1-8B-Instruct" as a safetensors repo: config.json, generation_config.json,
// 2 BF16 shards (16.06 GB in all) and model.safetensors.index.json naming them.
FakeHubRepo llama_safetensors_repo(const std::filesystem::path& dir);
// "acme/Hybrid-Next-ST": a hybrid (Qwen3-Next-like) model in one model.safetensors: 8 layers
// whose layer_types are 3 linear_attention + 1 full_attention twice, BF16 weights + F32 norms.
FakeHubRepo hybrid_safetensors_repo(const std::filesystem::path& dir);

}  // namespace gpumod::test_support
