#include "support/fake_hub.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "gpumod/core/ggml_types.hpp"
#include "gpumod/infra/gguf/writer.hpp"
#include "gpumod/infra/hf/hub_client.hpp"
#include "gpumod/infra/hf/sha256.hpp"

namespace gpumod::test_support {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string etag_of(const std::string& body) { return "\"" + infra::hf::fnv1a_hex(body) + "\""; }

std::uint64_t file_size(const FakeHubFile& f) {
  if (!f.disk.empty()) return fs::file_size(f.disk);
  return f.content.size();
}

}  // namespace

std::string sha256_of_file(const fs::path& path) {
  infra::hf::Sha256 h;
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  return h.hex_digest();
}

FakeHub::FakeHub() : m_server(std::make_unique<httplib::Server>()) {
  install_routes();
  m_port = m_server->bind_to_any_port("127.0.0.1");
  m_thread = std::thread([this] { m_server->listen_after_bind(); });
  while (!m_server->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

FakeHub::~FakeHub() {
  m_server->stop();
  if (m_thread.joinable()) m_thread.join();
}

std::string FakeHub::endpoint() const { return "http://127.0.0.1:" + std::to_string(m_port); }

void FakeHub::add_repo(FakeHubRepo repo) {
  for (auto& f : repo.files) {
    if (f.sha256.empty()) f.sha256 = f.disk.empty() ? infra::hf::sha256_hex(f.content) : infra::hf::sha256_hex(f.path);
  }
  std::lock_guard l(m_mutex);
  const std::string id = repo.id;
  m_repos[id] = std::move(repo);
}

void FakeHub::fail_next(int status, int count, int retry_after_s) {
  std::lock_guard l(m_mutex);
  m_fail_status = status;
  m_fail_count = count;
  m_retry_after_s = retry_after_s;
}

const FakeHubRepo* FakeHub::find(const std::string& id) const {
  const auto it = m_repos.find(id);
  return it == m_repos.end() ? nullptr : &it->second;
}

void FakeHub::install_routes() {
  auto& s = *m_server;
  // Every request: count, add latency, maybe fail on demand.
  s.set_pre_routing_handler([this](const httplib::Request&, httplib::Response& res) {
    ++m_requests;
    std::chrono::milliseconds latency{};
    int fail = 0;
    int retry_after = -1;
    {
      std::lock_guard l(m_mutex);
      latency = m_latency;
      if (m_fail_count > 0) {
        --m_fail_count;
        fail = m_fail_status;
        retry_after = m_retry_after_s;
      }
    }
    if (latency.count() > 0) std::this_thread::sleep_for(latency);
    if (fail != 0) {
      res.status = fail;
      if (retry_after >= 0) res.set_header("Retry-After", std::to_string(retry_after));
      res.set_content(json{{"error", "injected failure " + std::to_string(fail)}}.dump(), "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // Access check shared by the routes: 404 for unknown repos, 401 for gated ones without token.
  auto access = [this](const httplib::Request& req, const std::string& id, httplib::Response& res) -> const FakeHubRepo* {
    const FakeHubRepo* repo = find(id);
    if (repo == nullptr) {
      res.status = 404;
      res.set_header("X-Error-Code", "RepoNotFound");
      res.set_content(json{{"error", "Repository not found"}}.dump(), "application/json");
      return nullptr;
    }
    if (!repo->gated.empty() && req.get_header_value("Authorization") != "Bearer " + m_token) {
      res.status = 401;
      res.set_header("X-Error-Code", "GatedRepo");
      res.set_content(json{{"error", "Access to model " + id + " is restricted. You must have access to it and be authenticated to access it. Please log in."}}.dump(),
                      "application/json");
      return nullptr;
    }
    return repo;
  };
  auto send_json = [](const httplib::Request& req, httplib::Response& res, const std::string& body) {
    const std::string etag = etag_of(body);
    res.set_header("ETag", etag);
    if (req.get_header_value("If-None-Match") == etag) {
      res.status = 304;
      return;
    }
    res.set_content(body, "application/json");
  };

  s.Get(R"(/api/models/([^/]+)/([^/]+)/revision/(.+))", [this, access, send_json](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard l(m_mutex);
    const auto* repo = access(req, req.matches[1].str() + "/" + req.matches[2].str(), res);
    if (repo == nullptr) return;
    const std::string rev = req.matches[3].str();
    if (rev != "main" && rev != repo->sha) {
      res.status = 404;
      res.set_header("X-Error-Code", "RevisionNotFound");
      res.set_content(json{{"error", "Invalid rev id: " + rev}}.dump(), "application/json");
      return;
    }
    json siblings = json::array();
    for (const auto& f : repo->files) {
      json e{{"rfilename", f.path}};
      if (req.has_param("blobs")) {
        e["size"] = file_size(f);
        e["blobId"] = infra::hf::fnv1a_hex(f.path) + infra::hf::fnv1a_hex(f.sha256).substr(0, 8) + "0000000000000000";
        if (f.lfs) e["lfs"] = {{"sha256", f.sha256}, {"size", file_size(f)}, {"pointerSize", 135}};
      }
      siblings.push_back(e);
    }
    json body{{"_id", infra::hf::fnv1a_hex(repo->id)}, {"id", repo->id}, {"modelId", repo->id},
              {"sha", repo->sha}, {"private", false}, {"disabled", false},
              {"gated", repo->gated.empty() ? json(false) : json(repo->gated)},
              {"downloads", repo->downloads}, {"likes", 3}, {"tags", repo->tags},
              {"pipeline_tag", repo->pipeline_tag}, {"library_name", "gguf"},
              {"lastModified", "2025-12-15T10:00:00.000Z"}, {"siblings", siblings}};
    send_json(req, res, body.dump());
  });

  s.Get(R"(/api/models/([^/]+)/([^/]+)/tree/(.+))", [this, access, send_json](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard l(m_mutex);
    const auto* repo = access(req, req.matches[1].str() + "/" + req.matches[2].str(), res);
    if (repo == nullptr) return;
    json arr = json::array();
    for (const auto& f : repo->files) {
      json e{{"type", "file"}, {"oid", infra::hf::fnv1a_hex(f.path)}, {"size", file_size(f)}, {"path", f.path}};
      if (f.lfs) e["lfs"] = {{"oid", f.sha256}, {"size", file_size(f)}, {"pointerSize", 135}};
      arr.push_back(e);
    }
    send_json(req, res, arr.dump());
  });

  s.Get("/api/models", [this, send_json](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard l(m_mutex);
    auto lower = [](std::string x) {
      for (auto& c : x) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return x;
    };
    const std::string search = lower(req.get_param_value("search"));
    const std::string author = req.get_param_value("author");
    const std::string filter = req.get_param_value("filter");
    const std::size_t limit = req.has_param("limit") ? std::stoul(req.get_param_value("limit")) : 1000;
    std::vector<const FakeHubRepo*> hits;
    for (const auto& [id, r] : m_repos) {
      if (!search.empty() && lower(id).find(search) == std::string::npos) continue;
      if (!author.empty() && id.rfind(author + "/", 0) != 0) continue;
      if (!filter.empty() && std::find(r.tags.begin(), r.tags.end(), filter) == r.tags.end()) continue;
      hits.push_back(&r);
    }
    std::stable_sort(hits.begin(), hits.end(), [](auto* a, auto* b) { return a->downloads > b->downloads; });
    json arr = json::array();
    for (const auto* r : hits) {
      if (arr.size() >= limit) break;
      arr.push_back({{"_id", infra::hf::fnv1a_hex(r->id)}, {"id", r->id}, {"modelId", r->id}, {"likes", 3},
                     {"downloads", r->downloads}, {"tags", r->tags}, {"pipeline_tag", r->pipeline_tag},
                     {"library_name", "gguf"}, {"createdAt", "2025-12-15T10:00:00.000Z"}});
    }
    send_json(req, res, arr.dump());
  });

  // resolve: redirect to the "CDN" as the real Hub does for LFS files.
  s.Get(R"(/([^/]+)/([^/]+)/resolve/([^/]+)/(.+))", [this, access](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard l(m_mutex);
    const std::string id = req.matches[1].str() + "/" + req.matches[2].str();
    const auto* repo = access(req, id, res);
    if (repo == nullptr) return;
    const std::string rev = req.matches[3].str();
    const std::string file = req.matches[4].str();
    if (rev != "main" && rev != repo->sha) {
      res.status = 404;
      res.set_header("X-Error-Code", "RevisionNotFound");
      return;
    }
    for (const auto& f : repo->files) {
      if (f.path != file) continue;
      res.status = 302;
      res.set_header("X-Repo-Commit", repo->sha);
      res.set_header("X-Linked-Etag", "\"" + f.sha256 + "\"");
      res.set_header("X-Linked-Size", std::to_string(file_size(f)));
      res.set_header("Location", endpoint() + "/cdn/" + id + "/" + repo->sha + "/" + file);
      return;
    }
    res.status = 404;
    res.set_header("X-Error-Code", "EntryNotFound");
    res.set_content(json{{"error", "Entry not found"}}.dump(), "application/json");
  });

  s.Get(R"(/cdn/([^/]+)/([^/]+)/([0-9a-f]{40})/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
    FakeHubFile f;
    {
      std::lock_guard l(m_mutex);
      const auto* repo = find(req.matches[1].str() + "/" + req.matches[2].str());
      if (repo == nullptr || repo->sha != req.matches[3].str()) {
        res.status = 404;
        return;
      }
      bool found = false;
      for (const auto& x : repo->files) {
        if (x.path == req.matches[4].str()) {
          f = x;
          found = true;
        }
      }
      if (!found) {
        res.status = 404;
        return;
      }
    }
    const std::uint64_t size = file_size(f);
    res.set_header("ETag", "\"" + f.sha256 + "\"");
    auto shared = std::make_shared<FakeHubFile>(std::move(f));
    // httplib applies the Range header to what the provider gives (status 206 + Content-Range).
    res.set_content_provider(
        size, "application/octet-stream",
        [this, shared](size_t offset, size_t length, httplib::DataSink& sink) {
          const std::size_t n = std::min<std::size_t>(length, 1 << 20);
          std::string buf(n, '\0');
          if (!shared->disk.empty()) {
            const int fd = ::open(shared->disk.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) return false;
            const ssize_t got = ::pread(fd, buf.data(), n, static_cast<off_t>(offset));
            ::close(fd);
            if (got <= 0) return false;
            buf.resize(static_cast<std::size_t>(got));
          } else {
            buf = shared->content.substr(offset, n);
          }
          m_file_bytes += buf.size();
          return sink.write(buf.data(), buf.size());
        });
  });
}

std::vector<fs::path> write_nemotron_like_gguf(const fs::path& dir, const std::string& file_name,
                                               std::uint64_t target_bytes, int parts) {
  using infra::gguf::MetadataEntry;
  using infra::gguf::TensorSpec;
  using infra::gguf::ValueType;
  namespace id = core::ggml_id;
  const std::string a = "nemotron_h_moe";
  constexpr std::uint32_t n_layer = 52;
  constexpr std::uint64_t n_embd = 2688, n_vocab = 131072, n_expert = 128, n_ff_exp = 1856, n_ff_sh = 3712;
  const std::vector<int> attn_layers{5, 12, 19, 26, 33, 42};
  std::vector<char> kind(n_layer);  // 'M' mamba, 'E' moe, 'A' attention
  bool mamba = true;
  for (std::uint32_t i = 0; i < n_layer; ++i) {
    if (std::find(attn_layers.begin(), attn_layers.end(), static_cast<int>(i)) != attn_layers.end()) {
      kind[i] = 'A';
    } else {
      kind[i] = mamba ? 'M' : 'E';
      mamba = !mamba;
    }
  }
  std::vector<std::int64_t> kv(n_layer), ff(n_layer);
  for (std::uint32_t i = 0; i < n_layer; ++i) {
    kv[i] = kind[i] == 'A' ? 2 : 0;
    ff[i] = kind[i] == 'E' ? static_cast<std::int64_t>(n_ff_sh) : 0;
  }
  std::vector<MetadataEntry> meta{
      infra::gguf::meta_string("general.architecture", a),
      infra::gguf::meta_string("general.name", "Nemotron-3-Nano-30B-A3B"),
      infra::gguf::meta_u32(a + ".block_count", n_layer),
      infra::gguf::meta_u32(a + ".context_length", 1048576),
      infra::gguf::meta_u32(a + ".embedding_length", n_embd),
      infra::gguf::meta_u32(a + ".attention.head_count", 32),
      infra::gguf::meta_array(a + ".attention.head_count_kv", ValueType::i32, kv),
      infra::gguf::meta_array(a + ".feed_forward_length", ValueType::i32, ff),
      infra::gguf::meta_u32(a + ".attention.key_length", 128),
      infra::gguf::meta_u32(a + ".attention.value_length", 128),
      infra::gguf::meta_u32(a + ".expert_count", n_expert),
      infra::gguf::meta_u32(a + ".expert_used_count", 6),
      infra::gguf::meta_u32(a + ".expert_feed_forward_length", n_ff_exp),
      infra::gguf::meta_u32(a + ".expert_shared_feed_forward_length", n_ff_sh),
      infra::gguf::meta_u32(a + ".ssm.conv_kernel", 4),
      infra::gguf::meta_u32(a + ".ssm.inner_size", 4096),
      infra::gguf::meta_u32(a + ".ssm.state_size", 128),
      infra::gguf::meta_u32(a + ".ssm.group_count", 8),
      infra::gguf::meta_u32(a + ".ssm.time_step_rank", 64)};
  std::vector<std::string> tokens(n_vocab);
  for (std::uint64_t i = 0; i < n_vocab; ++i) tokens[i] = "tok" + std::to_string(i);
  meta.push_back(infra::gguf::meta_array_strings("tokenizer.ggml.tokens", std::move(tokens)));

  // Expert tensors: real element counts, folded to rows of 256 so K-quants apply.
  const std::uint64_t exp_rows = n_embd * n_ff_exp / 256;
  const std::vector<std::uint32_t> ladder{id::q2_k, id::q3_k, id::q4_k, id::q5_k, id::q6_k, id::q8_0};
  auto tensor_bytes = [](std::uint32_t type, std::uint64_t elements) {
    const auto info = core::ggml_type(type);
    return elements / info->block_size * info->type_size;
  };
  std::vector<TensorSpec> fixed{{"token_embd.weight", id::q8_0, {n_embd, n_vocab}},
                                {"output.weight", id::q8_0, {n_embd, n_vocab}},
                                {"output_norm.weight", id::f32, {n_embd}}};
  for (std::uint32_t i = 0; i < n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    fixed.push_back({b + "attn_norm.weight", id::f32, {n_embd}});
    if (kind[i] == 'M') {
      fixed.push_back({b + "ssm_in.weight", id::q8_0, {n_embd, 10304}});
      fixed.push_back({b + "ssm_conv1d.weight", id::f32, {4, 6144}});
      fixed.push_back({b + "ssm_out.weight", id::q8_0, {4096, n_embd}});
      fixed.push_back({b + "ssm_norm.weight", id::f32, {4096}});
    } else if (kind[i] == 'A') {
      fixed.push_back({b + "attn_q.weight", id::q8_0, {n_embd, 4096}});
      fixed.push_back({b + "attn_k.weight", id::q8_0, {n_embd, 256}});
      fixed.push_back({b + "attn_v.weight", id::q8_0, {n_embd, 256}});
      fixed.push_back({b + "attn_output.weight", id::q8_0, {4096, n_embd}});
    } else {
      fixed.push_back({b + "ffn_gate_inp.weight", id::f32, {n_embd, n_expert}});
      fixed.push_back({b + "ffn_up_shexp.weight", id::q8_0, {n_embd, n_ff_sh}});
      fixed.push_back({b + "ffn_down_shexp.weight", id::q8_0, {n_ff_sh, n_embd}});
    }
  }
  std::uint64_t fixed_bytes = 0;
  for (const auto& t : fixed) {
    std::uint64_t n = 1;
    for (auto d : t.shape) n *= d;
    fixed_bytes += tensor_bytes(t.type, n);
  }
  const std::uint64_t per_exp_elems = exp_rows * 256 * n_expert;
  const std::uint64_t n_exp_tensors = 23 * 2;
  const std::uint64_t budget = target_bytes > fixed_bytes + (4ULL << 20) ? target_bytes - fixed_bytes - (4ULL << 20) : 0;
  // lo/hi types bracketing the average, k tensors at hi.
  std::uint32_t lo = ladder.front(), hi = ladder.front();
  std::uint64_t k = 0;
  for (std::size_t t = 0; t + 1 < ladder.size(); ++t) {
    const auto blo = tensor_bytes(ladder[t], per_exp_elems), bhi = tensor_bytes(ladder[t + 1], per_exp_elems);
    if (n_exp_tensors * bhi >= budget || t + 2 == ladder.size()) {
      lo = ladder[t];
      hi = ladder[t + 1];
      k = budget > n_exp_tensors * blo ? std::min(n_exp_tensors, (budget - n_exp_tensors * blo) / (bhi - blo)) : 0;
      break;
    }
  }
  std::vector<TensorSpec> all = fixed;
  std::uint64_t e = 0;
  for (std::uint32_t i = 0; i < n_layer; ++i) {
    if (kind[i] != 'E') continue;
    const std::string b = "blk." + std::to_string(i) + ".";
    for (const char* name : {"ffn_up_exps.weight", "ffn_down_exps.weight"}) {
      all.push_back({b + name, e < k ? hi : lo, {256, exp_rows, n_expert}});
      ++e;
    }
  }
  std::vector<fs::path> out;
  fs::create_directories(dir);
  if (parts <= 1) {
    const fs::path p = dir / file_name;
    if (!infra::gguf::write_gguf(p.string(), meta, all)) return {};
    fs::resize_file(p, std::max<std::uint64_t>(target_bytes, fs::file_size(p)));
    out.push_back(p);
    return out;
  }
  // Split: part 1 holds the metadata and the first tensors, the others their share.
  const std::string stem = file_name.substr(0, file_name.size() - 5);  // without ".gguf"
  const std::size_t per = (all.size() + parts - 1) / parts;
  std::uint64_t written = 0;
  for (int p = 0; p < parts; ++p) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, "-%05d-of-%05d.gguf", p + 1, parts);
    const fs::path path = dir / (stem + suffix);
    std::vector<TensorSpec> mine(all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), p * per)),
                                 all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), (p + 1) * per)));
    std::vector<MetadataEntry> m = p == 0 ? meta : std::vector<MetadataEntry>{};
    m.push_back(infra::gguf::meta_u32("split.no", static_cast<std::uint32_t>(p)));
    m.push_back(infra::gguf::meta_u32("split.count", static_cast<std::uint32_t>(parts)));
    m.push_back(infra::gguf::meta_i32("split.tensors.count", static_cast<std::int32_t>(all.size())));
    if (!infra::gguf::write_gguf(path.string(), m, mine)) return {};
    if (p + 1 == parts && target_bytes > written + fs::file_size(path)) fs::resize_file(path, target_bytes - written);
    written += fs::file_size(path);
    out.push_back(path);
  }
  return out;
}

fs::path write_small_gguf(const fs::path& dir, const std::string& file_name) {
  namespace id = core::ggml_id;
  fs::create_directories(dir);
  const fs::path p = dir / file_name;
  std::vector<infra::gguf::MetadataEntry> meta{
      infra::gguf::meta_string("general.architecture", "llama"),
      infra::gguf::meta_u32("llama.block_count", 2), infra::gguf::meta_u32("llama.context_length", 4096),
      infra::gguf::meta_u32("llama.embedding_length", 256), infra::gguf::meta_u32("llama.feed_forward_length", 512),
      infra::gguf::meta_u32("llama.attention.head_count", 4), infra::gguf::meta_u32("llama.attention.head_count_kv", 2),
      infra::gguf::meta_array_strings("tokenizer.ggml.tokens", std::vector<std::string>(1000, "t"))};
  std::vector<infra::gguf::TensorSpec> t{{"token_embd.weight", id::q8_0, {256, 1000}},
                                         {"output_norm.weight", id::f32, {256}}};
  for (int i = 0; i < 2; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    t.push_back({b + "attn_q.weight", id::q8_0, {256, 256}});
    t.push_back({b + "attn_k.weight", id::q8_0, {256, 128}});
    t.push_back({b + "attn_v.weight", id::q8_0, {256, 128}});
    t.push_back({b + "attn_output.weight", id::q8_0, {256, 256}});
    t.push_back({b + "ffn_up.weight", id::q8_0, {256, 512}});
    t.push_back({b + "ffn_down.weight", id::q8_0, {512, 256}});
    t.push_back({b + "attn_norm.weight", id::f32, {256}});
  }
  infra::gguf::WriteOptions opt;
  opt.data = infra::gguf::DataMode::random;
  if (!infra::gguf::write_gguf(p.string(), meta, t, opt)) return {};
  return p;
}

FakeHubRepo nemotron_repo(const fs::path& dir) {
  FakeHubRepo r;
  r.id = "unsloth/Nemotron-3-Nano-30B-A3B-GGUF";
  r.sha = "0123456789abcdef0123456789abcdef01234567";
  r.downloads = 50000;
  const std::string stem = "Nemotron-3-Nano-30B-A3B-";
  struct Q {
    std::string label;
    std::uint64_t bytes;
    int parts;
  };
  for (const Q& q : {Q{"UD-Q4_K_XL", 21'300'000'000ULL, 1}, Q{"Q4_K_M", 22'900'000'000ULL, 2},
                     Q{"IQ4_NL", 16'900'000'000ULL, 1}, Q{"IQ4_XS", 16'900'000'000ULL, 1},
                     Q{"Q3_K_M", 14'000'000'000ULL, 1}}) {
    const std::string name = stem + q.label + ".gguf";
    const auto paths = write_nemotron_like_gguf(dir, name, q.bytes, q.parts);
    for (const auto& p : paths) {
      const std::string repo_path = q.parts > 1 ? q.label + "/" + p.filename().string() : p.filename().string();
      r.files.push_back({repo_path, p, "", "", true});
    }
  }
  r.files.push_back({"mmproj-F16.gguf", {}, std::string(4096, 'm'), "", true});
  r.files.push_back({"imatrix_unsloth.gguf", {}, std::string(2048, 'i'), "", true});
  r.files.push_back({"README.md", {}, "# Nemotron\n", "", false});
  r.files.push_back({".gitattributes", {}, "*.gguf filter=lfs\n", "", false});
  return r;
}

}  // namespace gpumod::test_support

namespace gpumod::test_support {

namespace {

std::uint64_t dtype_bytes(const std::string& dtype) {
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "BF16" || dtype == "F16" || dtype == "I16" || dtype == "U16") return 2;
  return 1;
}

std::string write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
  return text;
}

}  // namespace

std::string safetensors_header_bytes(const std::vector<SafetensorsTensorSpec>& tensors,
                                     const std::map<std::string, std::string>& metadata, std::uint64_t* data_bytes) {
  json h = json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  std::uint64_t at = 0;
  for (const auto& t : tensors) {
    std::uint64_t n = 1;
    for (auto d : t.shape) n *= d;
    const std::uint64_t bytes = n * dtype_bytes(t.dtype);
    h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {at, at + bytes}}};
    at += bytes;
  }
  std::string text = h.dump();
  while (text.size() % 8 != 0) text += ' ';
  std::string out(8, '\0');
  std::uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((len >> (8 * i)) & 0xFF);
  if (data_bytes != nullptr) *data_bytes = at;
  return out + text;
}

std::uint64_t write_safetensors(const fs::path& path, const std::vector<SafetensorsTensorSpec>& tensors,
                                const std::map<std::string, std::string>& metadata) {
  std::uint64_t data = 0;
  const std::string head = safetensors_header_bytes(tensors, metadata, &data);
  write_text(path, head);
  fs::resize_file(path, head.size() + data);
  return head.size() + data;
}

std::vector<SafetensorsTensorSpec> llama3_8b_tensors() {
  constexpr std::uint64_t h = 4096, kv = 1024, ff = 14336, vocab = 128256;
  std::vector<SafetensorsTensorSpec> t{{"model.embed_tokens.weight", "BF16", {vocab, h}}};
  for (int i = 0; i < 32; ++i) {
    const std::string b = "model.layers." + std::to_string(i) + ".";
    t.push_back({b + "self_attn.q_proj.weight", "BF16", {h, h}});
    t.push_back({b + "self_attn.k_proj.weight", "BF16", {kv, h}});
    t.push_back({b + "self_attn.v_proj.weight", "BF16", {kv, h}});
    t.push_back({b + "self_attn.o_proj.weight", "BF16", {h, h}});
    t.push_back({b + "mlp.gate_proj.weight", "BF16", {ff, h}});
    t.push_back({b + "mlp.up_proj.weight", "BF16", {ff, h}});
    t.push_back({b + "mlp.down_proj.weight", "BF16", {h, ff}});
    t.push_back({b + "input_layernorm.weight", "BF16", {h}});
    t.push_back({b + "post_attention_layernorm.weight", "BF16", {h}});
  }
  t.push_back({"model.norm.weight", "BF16", {h}});
  t.push_back({"lm_head.weight", "BF16", {vocab, h}});
  return t;
}

FakeHubRepo llama_safetensors_repo(const fs::path& dir) {
  FakeHubRepo r;
  r.id = "meta-llama/Llama-3.1-8B-Instruct";
  r.sha = "5206a32e0bd3067aef1ce90f5528ade7d866253f";
  r.tags = {"transformers", "safetensors", "llama", "text-generation"};
  r.downloads = 5'000'000;
  const auto all = llama3_8b_tensors();
  // Shard 1: embeddings and layers 0-15; shard 2: the rest.
  const auto split = static_cast<std::ptrdiff_t>(1 + 16 * 9);
  const std::vector<SafetensorsTensorSpec> a(all.begin(), all.begin() + split), b(all.begin() + split, all.end());
  const std::string s1 = "model-00001-of-00002.safetensors", s2 = "model-00002-of-00002.safetensors";
  write_safetensors(dir / s1, a);
  write_safetensors(dir / s2, b);
  json index{{"metadata", {{"total_size", 16'060'522'496ULL}}}, {"weight_map", json::object()}};
  for (const auto& t : a) index["weight_map"][t.name] = s1;
  for (const auto& t : b) index["weight_map"][t.name] = s2;
  const json config{{"architectures", {"LlamaForCausalLM"}}, {"attention_bias", false}, {"bos_token_id", 128000},
                    {"eos_token_id", {128001, 128008, 128009}}, {"hidden_act", "silu"}, {"hidden_size", 4096},
                    {"intermediate_size", 14336}, {"max_position_embeddings", 131072}, {"model_type", "llama"},
                    {"num_attention_heads", 32}, {"num_hidden_layers", 32}, {"num_key_value_heads", 8},
                    {"rms_norm_eps", 1e-05}, {"rope_theta", 500000.0},
                    {"rope_scaling", {{"factor", 8.0}, {"rope_type", "llama3"}}}, {"tie_word_embeddings", false},
                    {"torch_dtype", "bfloat16"}, {"vocab_size", 128256}};
  r.files.push_back({"config.json", {}, config.dump(2), "", false});
  r.files.push_back({"generation_config.json", {}, R"({"do_sample": true, "temperature": 0.6})", "", false});
  r.files.push_back({"model.safetensors.index.json", {}, index.dump(2), "", false});
  r.files.push_back({s1, dir / s1, "", "", true});
  r.files.push_back({s2, dir / s2, "", "", true});
  r.files.push_back({"original/consolidated.00.pth", {}, std::string(1024, 'p'), "", true});
  r.files.push_back({"README.md", {}, "# Llama 3.1\n", "", false});
  return r;
}

FakeHubRepo hybrid_safetensors_repo(const fs::path& dir) {
  FakeHubRepo r;
  r.id = "acme/Hybrid-Next-ST";
  r.sha = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
  r.tags = {"transformers", "safetensors", "text-generation"};
  constexpr std::uint64_t h = 1024, ff = 2816, vocab = 32000;
  std::vector<SafetensorsTensorSpec> t{{"model.embed_tokens.weight", "BF16", {vocab, h}}};
  json layer_types = json::array();
  for (int i = 0; i < 8; ++i) {
    const bool full = (i + 1) % 4 == 0;
    layer_types.push_back(full ? "full_attention" : "linear_attention");
    const std::string b = "model.layers." + std::to_string(i) + ".";
    if (full) {
      t.push_back({b + "self_attn.q_proj.weight", "BF16", {8 * 128, h}});
      t.push_back({b + "self_attn.k_proj.weight", "BF16", {2 * 128, h}});
      t.push_back({b + "self_attn.v_proj.weight", "BF16", {2 * 128, h}});
      t.push_back({b + "self_attn.o_proj.weight", "BF16", {h, 8 * 128}});
    } else {
      t.push_back({b + "linear_attn.in_proj_qkvz.weight", "BF16", {3072, h}});
      t.push_back({b + "linear_attn.in_proj_ba.weight", "BF16", {32, h}});
      t.push_back({b + "linear_attn.conv1d.weight", "BF16", {2048, 1, 4}});
      t.push_back({b + "linear_attn.A_log", "F32", {16}});
      t.push_back({b + "linear_attn.dt_bias", "F32", {16}});
      t.push_back({b + "linear_attn.norm.weight", "F32", {64}});
      t.push_back({b + "linear_attn.out_proj.weight", "BF16", {h, 1024}});
    }
    t.push_back({b + "mlp.gate_proj.weight", "BF16", {ff, h}});
    t.push_back({b + "mlp.up_proj.weight", "BF16", {ff, h}});
    t.push_back({b + "mlp.down_proj.weight", "BF16", {h, ff}});
    t.push_back({b + "input_layernorm.weight", "F32", {h}});
    t.push_back({b + "post_attention_layernorm.weight", "F32", {h}});
  }
  t.push_back({"model.norm.weight", "F32", {h}});
  t.push_back({"lm_head.weight", "BF16", {vocab, h}});
  write_safetensors(dir / "model.safetensors", t);
  const json config{{"architectures", {"Qwen3NextForCausalLM"}}, {"model_type", "qwen3_next"}, {"hidden_size", h},
                    {"intermediate_size", ff}, {"num_hidden_layers", 8}, {"num_attention_heads", 8},
                    {"num_key_value_heads", 2}, {"head_dim", 128}, {"vocab_size", vocab},
                    {"max_position_embeddings", 262144}, {"layer_types", layer_types},
                    {"linear_num_key_heads", 8}, {"linear_num_value_heads", 16}, {"linear_key_head_dim", 64},
                    {"linear_value_head_dim", 64}, {"linear_conv_kernel_dim", 4}, {"torch_dtype", "bfloat16"}};
  r.files.push_back({"config.json", {}, config.dump(2), "", false});
  r.files.push_back({"model.safetensors", dir / "model.safetensors", "", "", true});
  return r;
}

}  // namespace gpumod::test_support
