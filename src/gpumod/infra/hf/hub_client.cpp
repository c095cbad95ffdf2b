#include "gpumod/infra/hf/hub_client.hpp"

#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "gpumod/infra/hf/validate.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::infra::hf {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;

namespace {

constexpr std::uint64_t k_max_api_body = 64ULL << 20;
constexpr int k_max_redirects = 5;

std::optional<std::string> process_env(std::string_view name) {
  const char* v = std::getenv(std::string(name).c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

bool truthy(const std::optional<std::string>& v) {
  if (!v) return false;
  const auto s = util::to_lower(util::trim(*v));
  return s == "1" || s == "true" || s == "yes" || s == "on";
}

struct UrlParts {
  std::string scheme_host_port;  // "https://huggingface.co"
  std::string host;
  std::string path;  // "/x/y?z" (at least "/")
};

std::optional<UrlParts> split_url(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  const auto scheme = util::to_lower(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") return std::nullopt;
  const auto rest = url.substr(scheme_end + 3);
  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  UrlParts p;
  p.scheme_host_port = scheme + "://" + std::string(authority);
  std::string host(authority);
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') == std::string::npos ? std::string::npos : host.find(']') - 1);
  } else if (const auto colon = host.rfind(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  p.host = util::to_lower(host);
  p.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  return p;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<long long> retry_after_seconds(const HubResponse& r) {
  const auto it = r.headers.find("retry-after");
  if (it == r.headers.end()) return std::nullopt;
  const auto text = util::trim(it->second);
  if (text.empty() || text.size() > 9) return std::nullopt;
  long long v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;  // an HTTP date: fall back to our backoff
    v = v * 10 + (c - '0');
  }
  return v;
}

bool retryable_status(int status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

std::string header(const HubResponse& r, const std::string& name) {
  const auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string() : it->second;
}

std::string short_body(const std::string& body) {
  // The Hub answers {"error": "..."}; show that, or the start of the text.
  try {
    const auto j = json::parse(body);
    if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
  } catch (const std::exception&) {
  }
  std::string s(util::trim(body.substr(0, 200)));
  for (auto& c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return s;
}

}  // namespace

std::string fnv1a_hex(std::string_view text) {
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

util::Status write_file_atomic(const fs::path& path, std::string_view data) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return util::fail(util::ErrorCode::io, "cannot create " + path.parent_path().string() + ": " + ec.message());
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const fs::path tmp = path.string() + ".tmp" + std::to_string(::getpid()) + "." + std::to_string(rng() % 1000000);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return util::fail(util::ErrorCode::io, "cannot write " + tmp.string());
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out) {
      fs::remove(tmp, ec);
      return util::fail(util::ErrorCode::io, "cannot write " + tmp.string());
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return util::fail(util::ErrorCode::io, "cannot rename into " + path.string());
  }
  return {};
}

util::Status validate_endpoint(std::string_view endpoint) {
  const auto p = split_url(endpoint);
  if (!p) {
    return util::fail(util::ErrorCode::invalid_argument,
                      "HF_ENDPOINT '" + std::string(endpoint) + "' is not an http(s) URL");
  }
  if (util::starts_with(p->scheme_host_port, "http://") && p->host != "127.0.0.1" &&
      p->host != "localhost" && p->host != "::1") {
    return util::fail(util::ErrorCode::invalid_argument,
                      "HF_ENDPOINT '" + std::string(endpoint) +
                          "' uses plain http to a host that is not loopback; use https://");
  }
  if (p->path.find_first_of("?#") != std::string::npos) {
    return util::fail(util::ErrorCode::invalid_argument,
                      "HF_ENDPOINT '" + std::string(endpoint) + "' must not carry a query");
  }
  return {};
}

util::Result<HubSettings> hub_settings_from_env(const EnvLookup& env_in) {
  const EnvLookup env = env_in ? env_in : EnvLookup(process_env);
  HubSettings s;
  if (auto e = env("HF_ENDPOINT"); e && !util::trim(*e).empty()) {
    std::string ep(util::trim(*e));
    while (!ep.empty() && ep.back() == '/') ep.pop_back();
    if (auto st = validate_endpoint(ep); !st) return std::unexpected(st.error());
    s.endpoint = ep;
  }
  s.offline = truthy(env("HF_HUB_OFFLINE"));
  const auto home = env("HOME");
  const auto xdg = env("XDG_CACHE_HOME");
  std::optional<fs::path> cache_root;
  if (xdg && !xdg->empty() && fs::path(*xdg).is_absolute()) {
    cache_root = fs::path(*xdg);
  } else if (home && !home->empty()) {
    cache_root = fs::path(*home) / ".cache";
  }
  if (cache_root) s.cache_dir = *cache_root / "gpumod" / "hf";
  if (auto t = env("HF_TOKEN"); t && !util::trim(*t).empty()) {
    s.token = std::string(util::trim(*t));
  } else {
    std::optional<fs::path> token_file;
    if (auto p = env("HF_TOKEN_PATH"); p && !p->empty()) {
      token_file = fs::path(*p);
    } else if (auto h = env("HF_HOME"); h && !h->empty()) {
      token_file = fs::path(*h) / "token";
    } else if (cache_root) {
      token_file = *cache_root / "huggingface" / "token";
    }
    if (token_file) {
      std::ifstream in(*token_file);
      std::string line;
      if (in && std::getline(in, line)) s.token = std::string(util::trim(line));
    }
  }
  if (auto ttl = env("GPUMOD_HF_CACHE_TTL_S"); ttl && !ttl->empty()) {
    char* end = nullptr;
    const long v = std::strtol(ttl->c_str(), &end, 10);
    if (end == nullptr || *end != '\0' || v < 0) {
      return util::fail(util::ErrorCode::invalid_argument,
                        "GPUMOD_HF_CACHE_TTL_S '" + *ttl + "' is not a number of seconds");
    }
    s.api_ttl = std::chrono::seconds(v);
  }
  return s;
}

util::Error hub_http_error(const HubResponse& r, std::string_view what, const HubSettings& settings,
                           std::string_view repo) {
  const std::string code = header(r, "x-error-code");
  const std::string msg = header(r, "x-error-message").empty() ? short_body(r.body) : header(r, "x-error-message");
  const std::string w(what);
  const std::string status = "HTTP " + std::to_string(r.status);
  const std::string detail = msg.empty() ? status : status + ": " + msg;
  const std::string page = repo.empty() ? settings.endpoint : settings.endpoint + "/" + std::string(repo);
  const bool gated = code == "GatedRepo" || msg.find("gated") != std::string::npos ||
                     msg.find("restricted") != std::string::npos;
  if (r.status == 401 || r.status == 403) {
    if (gated) {
      return {util::ErrorCode::unavailable,
              w + ": the repo is gated (" + detail + "). Open " + page +
                  ", log in and accept its terms, then set HF_TOKEN to a read token of that account "
                  "(https://huggingface.co/settings/tokens)" +
                  (settings.token.empty() ? "; no token is set now" : "; the token set now has no access yet")};
    }
    if (settings.token.empty()) {
      return {util::ErrorCode::not_found,
              w + ": not found, or private (" + detail + "); if it is yours, set HF_TOKEN"};
    }
    return {util::ErrorCode::unavailable,
            w + ": access denied with the token from HF_TOKEN (" + detail + ")"};
  }
  if (r.status == 404) {
    std::string hint;
    if (code == "RevisionNotFound") hint = " (no such revision)";
    else if (code == "EntryNotFound") hint = " (no such file in the repo)";
    else if (code == "RepoNotFound") hint = " (no such repo)";
    return {util::ErrorCode::not_found, w + ": not found" + hint + " (" + detail + ")"};
  }
  if (r.status == 429) {
    return {util::ErrorCode::unavailable,
            w + ": the Hub is rate limiting us (" + detail + "), still after " +
                std::to_string(settings.max_attempts) + " attempts; wait and retry, or set HF_TOKEN"};
  }
  if (r.status >= 500) {
    return {util::ErrorCode::unavailable,
            w + ": the Hub failed (" + detail + ") " + std::to_string(settings.max_attempts) + " times"};
  }
  return {util::ErrorCode::failed, w + ": unexpected answer (" + detail + ")"};
}

HubClient::HubClient(HubSettings settings) : m_settings(std::move(settings)) {
  while (!m_settings.endpoint.empty() && m_settings.endpoint.back() == '/') m_settings.endpoint.pop_back();
  if (m_settings.max_attempts < 1) m_settings.max_attempts = 1;
}

std::string HubClient::file_url(std::string_view repo, std::string_view revision, std::string_view file) const {
  return m_settings.endpoint + "/" + std::string(repo) + "/resolve/" + url_encode_path(revision) + "/" +
         url_encode_path(file);
}

util::Result<HubResponse> HubClient::send_once(const std::string& path,
                                               const std::map<std::string, std::string>& headers,
                                               const BodySink* sink, std::uint64_t max_body_bytes) {
  const auto ep = split_url(m_settings.endpoint);
  if (!ep) return util::fail(util::ErrorCode::invalid_argument, "bad endpoint " + m_settings.endpoint);
  std::string url = ep->scheme_host_port + (ep->path == "/" ? "" : ep->path) + path;
  const auto deadline = std::chrono::steady_clock::now() + m_settings.request_timeout;
  HubResponse out;
  for (int hop = 0; hop <= k_max_redirects; ++hop) {
    const auto u = split_url(url);
    if (!u) return util::fail(util::ErrorCode::failed, "the Hub redirected to a bad URL: " + url);
    if (util::starts_with(u->scheme_host_port, "http://") && u->scheme_host_port != ep->scheme_host_port) {
      return util::fail(util::ErrorCode::failed, "the Hub redirected to plain http: " + url);
    }
    httplib::Client cli(u->scheme_host_port);
    cli.set_connection_timeout(m_settings.connect_timeout);
    cli.set_read_timeout(m_settings.request_timeout);
    cli.set_write_timeout(m_settings.request_timeout);
    cli.set_follow_location(false);
    cli.set_keep_alive(false);
    httplib::Headers h;
    h.emplace("User-Agent", "gpumod/0.1");
    for (const auto& [k, v] : headers) h.emplace(k, v);
    // The token goes only to the endpoint's host, never to the CDN a download is sent to.
    if (!m_settings.token.empty() && u->scheme_host_port == ep->scheme_host_port) {
      h.emplace("Authorization", "Bearer " + m_settings.token);
    }
    int status = 0;
    std::map<std::string, std::string> hop_headers;
    std::string body;
    bool too_big = false;
    bool late = false;
    bool stopped = false;
    ++m_requests;
    auto res = cli.Get(
        u->path, h,
        [&](const httplib::Response& r) {
          status = r.status;
          for (const auto& [k, v] : r.headers) hop_headers[lower(k)] = v;
          return true;
        },
        [&](const char* data, size_t n) {
          if (std::chrono::steady_clock::now() > deadline) {
            late = true;
            return false;
          }
          const bool ok_status = status >= 200 && status < 300;
          if (sink != nullptr && ok_status) {
            if (!(*sink)(std::string_view(data, n))) {
              stopped = true;
              return false;
            }
            return true;
          }
          if (body.size() + n > max_body_bytes) {
            too_big = true;
            return false;
          }
          body.append(data, n);
          return true;
        });
    if (!res) {
      const auto err = res.error();
      if (stopped) {
        // The caller had enough; what it got is the answer.
      } else if (late) {
        return util::fail(util::ErrorCode::timeout,
                          "GET " + url + ": no complete answer within " +
                              std::to_string(m_settings.request_timeout.count()) + " ms");
      } else if (too_big) {
        return util::fail(util::ErrorCode::failed,
                          "GET " + url + ": the answer is larger than " + std::to_string(max_body_bytes) + " bytes");
      } else if (err == httplib::Error::ConnectionTimeout || err == httplib::Error::Read) {
        return util::fail(util::ErrorCode::timeout, "GET " + url + ": " + httplib::to_string(err) +
                                                        " (timeout or dropped connection)");
      } else if (err == httplib::Error::SSLServerVerification || err == httplib::Error::SSLLoadingCerts) {
        return util::fail(util::ErrorCode::unavailable,
                          "GET " + url + ": TLS certificate check failed (" + httplib::to_string(err) + ")");
      } else {
        return util::fail(util::ErrorCode::unavailable,
                          "cannot reach " + u->scheme_host_port + " (" + httplib::to_string(err) +
                              "); no network? Set HF_HUB_OFFLINE=1 to use the cache only");
      }
    }
    if (hop == 0) out.headers = hop_headers;
    for (const auto& [k, v] : hop_headers) out.headers.insert_or_assign(k, v);
    if (status >= 300 && status < 400 && status != 304 && hop_headers.contains("location")) {
      const std::string loc = hop_headers["location"];
      if (loc.starts_with("http://") || loc.starts_with("https://")) {
        url = loc;
      } else if (loc.starts_with("/")) {
        url = u->scheme_host_port + loc;
      } else {
        return util::fail(util::ErrorCode::failed, "GET " + url + ": odd redirect to '" + loc + "'");
      }
      // A redirect that points back into the repo keeps the first hop's headers (x-repo-commit).
      continue;
    }
    out.status = status;
    out.body = std::move(body);
    return out;
  }
  return util::fail(util::ErrorCode::failed, "GET " + path + ": more than " +
                                                 std::to_string(k_max_redirects) + " redirects");
}

util::Result<HubResponse> HubClient::send(const std::string& path,
                                          const std::map<std::string, std::string>& headers,
                                          const BodySink* sink, std::uint64_t max_body_bytes) {
  if (m_settings.offline) {
    return util::fail(util::ErrorCode::unavailable,
                      "HF_HUB_OFFLINE=1: not sending GET " + path + " (and it is not in the cache)");
  }
  milliseconds wait = m_settings.backoff;
  for (int attempt = 1;; ++attempt) {
    auto r = send_once(path, headers, sink, max_body_bytes);
    const bool last = attempt >= m_settings.max_attempts;
    if (!r) {
      // A sink that already took bytes cannot be replayed; the caller resumes.
      const bool transport = r.error().code == util::ErrorCode::unavailable ||
                             r.error().code == util::ErrorCode::timeout;
      if (last || !transport || sink != nullptr) return r;
    } else if (!retryable_status(r->status) || last) {
      return r;
    }
    milliseconds this_wait = wait;
    if (r) {
      if (const auto ra = retry_after_seconds(*r)) this_wait = milliseconds(*ra * 1000);
    }
    this_wait = std::min(this_wait, m_settings.max_retry_wait);
    std::this_thread::sleep_for(this_wait);
    wait = std::min(wait * 2, m_settings.max_retry_wait);
  }
}

util::Result<std::string> HubClient::get_api(const std::string& path, bool immutable, std::string_view what) {
  const std::string url = m_settings.endpoint + path;
  fs::path cache_file;
  std::optional<json> cached;
  if (!m_settings.cache_dir.empty()) {
    cache_file = m_settings.cache_dir / "api" / (fnv1a_hex(url) + ".json");
    std::ifstream in(cache_file, std::ios::binary);
    if (in) {
      try {
        auto j = json::parse(in);
        if (j.value("url", "") == url && j.contains("body") && j["body"].is_string()) cached = std::move(j);
      } catch (const std::exception&) {
        // A damaged cache entry is ignored and rewritten.
      }
    }
  }
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  if (cached) {
    const auto age = now - cached->value("fetched_at", std::int64_t{0});
    if (m_settings.offline || immutable || (age >= 0 && age < m_settings.api_ttl.count())) {
      return (*cached)["body"].get<std::string>();
    }
  }
  if (m_settings.offline) {
    return util::fail(util::ErrorCode::unavailable,
                      std::string(what) + ": HF_HUB_OFFLINE=1 and no cached answer for " + url +
                          " (run the command once online)");
  }
  std::map<std::string, std::string> headers{{"Accept", "application/json"}};
  if (cached && !cached->value("etag", "").empty()) headers["If-None-Match"] = cached->value("etag", "");
  auto r = send(path, headers, nullptr, k_max_api_body);
  if (!r) {
    if (cached && r.error().code != util::ErrorCode::invalid_argument) {
      return (*cached)["body"].get<std::string>();  // the Hub is unreachable: the stale answer
    }
    return std::unexpected(util::with_context(r.error(), what));
  }
  if (r->status == 304 && cached) {
    (*cached)["fetched_at"] = now;
    (void)write_file_atomic(cache_file, cached->dump());
    return (*cached)["body"].get<std::string>();
  }
  if (r->status != 200) {
    std::string repo;
    if (path.starts_with("/api/models/")) {
      const auto parts = util::split(path.substr(12), '/');
      if (parts.size() >= 2) repo = parts[0] + "/" + parts[1];
    }
    return std::unexpected(hub_http_error(*r, what, m_settings, repo));
  }
  if (!cache_file.empty()) {
    json entry{{"url", url}, {"etag", r->headers.contains("etag") ? r->headers["etag"] : ""},
               {"fetched_at", now}, {"body", r->body}};
    (void)write_file_atomic(cache_file, entry.dump());  // a cache that cannot be written is no error
  }
  return std::move(r->body);
}

util::Result<std::string> HubClient::get_range(std::string_view repo, std::string_view revision,
                                               std::string_view file, std::uint64_t offset,
                                               std::uint64_t length) {
  if (auto st = validate_repo_id(repo); !st) return std::unexpected(st.error());
  if (auto st = validate_revision(revision); !st) return std::unexpected(st.error());
  if (auto st = validate_repo_file(file); !st) return std::unexpected(st.error());
  if (length == 0) return std::string();
  const std::string path = "/" + std::string(repo) + "/resolve/" + url_encode_path(revision) + "/" +
                           url_encode_path(file);
  const std::string what = "reading " + std::string(file) + " of " + std::string(repo) + "@" +
                           std::string(revision) + " (bytes " + std::to_string(offset) + "+" +
                           std::to_string(length) + ")";
  std::string data;
  // A 206 body is at most `length` bytes; a server that ignores Range sends the whole file, so
  // stop once the wanted bytes are in.
  const BodySink sink = [&](std::string_view piece) {
    data.append(piece);
    return data.size() < offset + length;
  };
  std::map<std::string, std::string> headers{
      {"Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1)},
      {"Accept-Encoding", "identity"}};
  // Ranges are idempotent, so unlike download() a dropped read is retried from scratch.
  util::Result<HubResponse> r = util::fail(util::ErrorCode::internal, "no attempt");
  milliseconds wait = m_settings.backoff;
  for (int attempt = 1; attempt <= m_settings.max_attempts; ++attempt) {
    data.clear();
    if (m_settings.offline) {
      return util::fail(util::ErrorCode::unavailable,
                        what + ": HF_HUB_OFFLINE=1 and these bytes are not in the cache");
    }
    r = send_once(path, headers, &sink, 1 << 20);
    const bool transport = !r && (r.error().code == util::ErrorCode::unavailable ||
                                  r.error().code == util::ErrorCode::timeout);
    const bool retry_status = r && retryable_status(r->status);
    if ((!transport && !retry_status) || attempt == m_settings.max_attempts) break;
    milliseconds this_wait = wait;
    if (r) {
      if (const auto ra = retry_after_seconds(*r)) this_wait = milliseconds(*ra * 1000);
    }
    std::this_thread::sleep_for(std::min(this_wait, m_settings.max_retry_wait));
    wait = std::min(wait * 2, m_settings.max_retry_wait);
  }
  if (!r) return std::unexpected(util::with_context(r.error(), what));
  if (r->status == 416) return std::string();
  if (r->status == 206) {
    if (data.size() > length) data.resize(length);
    return data;
  }
  if (r->status == 200) {
    if (data.size() <= offset) return std::string();
    return data.substr(offset, length);
  }
  return std::unexpected(hub_http_error(*r, what, m_settings, repo));
}

util::Result<HubResponse> HubClient::download(std::string_view repo, std::string_view revision,
                                              std::string_view file, std::uint64_t offset,
                                              const BodySink& sink) {
  if (auto st = validate_repo_id(repo); !st) return std::unexpected(st.error());
  if (auto st = validate_revision(revision); !st) return std::unexpected(st.error());
  if (auto st = validate_repo_file(file); !st) return std::unexpected(st.error());
  if (m_settings.offline) {
    return util::fail(util::ErrorCode::unavailable, "HF_HUB_OFFLINE=1: cannot download " + std::string(file));
  }
  const std::string path = "/" + std::string(repo) + "/resolve/" + url_encode_path(revision) + "/" +
                           url_encode_path(file);
  const std::string what = "downloading " + std::string(file) + " of " + std::string(repo);
  std::uint64_t at = offset;
  const BodySink counting = [&](std::string_view piece) {
    at += piece.size();
    return sink(piece);
  };
  milliseconds wait = m_settings.backoff;
  for (int attempt = 1;; ++attempt) {
    std::map<std::string, std::string> headers{{"Accept-Encoding", "identity"}};
    if (at > 0) headers["Range"] = "bytes=" + std::to_string(at) + "-";
    const std::uint64_t before = at;
    auto r = send_once(path, headers, &counting, 1 << 20);
    if (r && (r->status == 200 || r->status == 206)) {
      if (r->status == 200 && before > 0) {
        return util::fail(util::ErrorCode::failed, what + ": the server ignored the Range request");
      }
      return r;
    }
    if (r && r->status == 416) return r;  // nothing left to fetch
    const bool transport = !r && (r.error().code == util::ErrorCode::unavailable ||
                                  r.error().code == util::ErrorCode::timeout);
    const bool retry_status = r && retryable_status(r->status);
    if ((!transport && !retry_status) || attempt >= m_settings.max_attempts) {
      if (!r) return std::unexpected(util::with_context(r.error(), what));
      return std::unexpected(hub_http_error(*r, what, m_settings, repo));
    }
    if (at > before) attempt = 0;  // progress was made: a dropped connection is not a failed try
    milliseconds this_wait = wait;
    if (r) {
      if (const auto ra = retry_after_seconds(*r)) this_wait = milliseconds(*ra * 1000);
    }
    std::this_thread::sleep_for(std::min(this_wait, m_settings.max_retry_wait));
    wait = std::min(wait * 2, m_settings.max_retry_wait);
  }
}

}  // namespace gpumod::infra::hf
