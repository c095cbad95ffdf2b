// HubClient: HTTPS access to the Hugging Face Hub's public API and file store (or any endpoint
// set in HF_ENDPOINT; plain http:// only for a loopback test hub).
//   - Every request has a deadline (connect timeout and a whole-request deadline).
//   - 429 and 5xx answers and transport failures are retried with exponential backoff, honouring
//     Retry-After (capped); 401/403 (gated or private repos), 404 and "no network" become clear
//     errors that say what to do.
//   - API answers are cached on disk ($XDG_CACHE_HOME/gpumod/hf/api/) with their ETag: answers
//     pinned to a commit are reused forever, others for `api_ttl` and then revalidated with
//     If-None-Match; with HF_HUB_OFFLINE=1 (or when the Hub cannot be reached) the cached answer
//     is used whatever its age.
//   - File bytes come from /{repo}/resolve/{revision}/{file} with a Range header; redirects (to
//     the CDN) are followed by hand so the token is sent only to the endpoint's own host.
// Thread-safety: a HubClient may be used from several threads at once (each request opens its own
// connection; the cache is written with write-to-temp + rename).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gpumod/util/result.hpp"

namespace gpumod::infra::hf {

inline constexpr std::string_view k_default_endpoint = "https://huggingface.co";

struct HubSettings {
  std::string endpoint{k_default_endpoint};  // HF_ENDPOINT (no trailing '/')
  std::string token;                         // HF_TOKEN or the token file; "" = anonymous
  bool offline = false;                      // HF_HUB_OFFLINE=1: the cache only
  std::filesystem::path cache_dir;           // "" = no disk cache
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{120'000};  // whole request, body included
  int max_attempts = 4;                                // first try + retries
  std::chrono::milliseconds backoff{500};              // doubled per retry
  std::chrono::milliseconds max_retry_wait{30'000};    // cap on one wait (Retry-After included)
  std::chrono::seconds api_ttl{600};  // branch-pinned API answers used without a request
};

// Looks a variable up (nullopt when unset); the default reads the process environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// HF_ENDPOINT, HF_TOKEN (else $HF_TOKEN_PATH, else $HF_HOME/token, HF_HOME defaulting to
// $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface), HF_HUB_OFFLINE, XDG_CACHE_HOME / HOME
// (cache in <cache>/gpumod/hf), GPUMOD_HF_CACHE_TTL_S. Errors: invalid_argument for a bad
// HF_ENDPOINT (not http(s), or http:// to a host other than loopback).
util::Result<HubSettings> hub_settings_from_env(const EnvLookup& env = {});

// Checks an endpoint URL: https://host[:port][/prefix], or http:// to 127.0.0.1, ::1, localhost.
util::Status validate_endpoint(std::string_view endpoint);

struct HubResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names, from the first hop
                                               // (x-repo-commit, x-linked-etag) and the last
};

// Receives a piece of a file body; returns false to stop.
using BodySink = std::function<bool(std::string_view piece)>;

class HubClient {
 public:
  explicit HubClient(HubSettings settings);
  const HubSettings& settings() const { return m_settings; }

  // The JSON text of an API path ("/api/models/owner/name/revision/main?blobs=true").
  // `immutable`: the answer cannot change (pinned to a commit), so any cached copy is used.
  // `what` names the request in errors ("model info of owner/name@main").
  util::Result<std::string> get_api(const std::string& path, bool immutable, std::string_view what);

  // Bytes [offset, offset + length) of a repo file (fewer at its end; "" past it).
  util::Result<std::string> get_range(std::string_view repo, std::string_view revision,
                                      std::string_view file, std::uint64_t offset,
                                      std::uint64_t length);

  // Streams a repo file from `offset` to its end into `sink`, resuming after a dropped
  // connection (up to max_attempts). Returns the headers of the last answer.
  util::Result<HubResponse> download(std::string_view repo, std::string_view revision,
                                     std::string_view file, std::uint64_t offset,
                                     const BodySink& sink);

  // The URL of a repo file (for messages and docs).
  std::string file_url(std::string_view repo, std::string_view revision, std::string_view file) const;

  // HTTP requests sent so far (every attempt and redirect hop counts).
  std::uint64_t requests_sent() const { return m_requests.load(); }

 private:
  struct Sent;
  util::Result<HubResponse> send(const std::string& path,
                                 const std::map<std::string, std::string>& headers,
                                 const BodySink* sink, std::uint64_t max_body_bytes);
  util::Result<HubResponse> send_once(const std::string& path,
                                      const std::map<std::string, std::string>& headers,
                                      const BodySink* sink, std::uint64_t max_body_bytes);
  HubSettings m_settings;
  std::atomic<std::uint64_t> m_requests{0};
};

// The error for a non-2xx answer: gated repos (how to get access), private or missing repos,
// missing revisions or files, rate limits, server errors.
util::Error hub_http_error(const HubResponse& response, std::string_view what,
                           const HubSettings& settings, std::string_view repo = {});

// 64-bit FNV-1a as 16 hex digits (cache file names).
std::string fnv1a_hex(std::string_view text);

// Writes `data` to `path` atomically (temp file in the same folder, then rename).
util::Status write_file_atomic(const std::filesystem::path& path, std::string_view data);

}  // namespace gpumod::infra::hf
