// MemoClient: an HttpClient over another one that answers each GET path once for its lifetime:
// the first caller asks the server, callers asking for the same path meanwhile wait for that
// answer, later ones get it from memory. For one look at many services that share one server
// (the models of one llama-server router each ask its /health and /models): one request each,
// not one per model. POSTs and streams go straight through and are never remembered.
// Thread-safety: every method may be called from several threads at once; the wrapped client
// must outlive this one.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>

#include "gpumod/infra/http/client.hpp"

namespace gpumod::infra::http {

class MemoClient final : public HttpClient {
 public:
  explicit MemoClient(HttpClient& inner) : m_inner(inner) {}

  util::Result<HttpResponse> get(const std::string& path, std::chrono::milliseconds timeout) override;
  util::Result<HttpResponse> post(const std::string& path, const std::string& body, const std::string& content_type,
                                  std::chrono::milliseconds timeout) override {
    return m_inner.post(path, body, content_type, timeout);
  }
  util::Result<HttpResponse> stream(const std::string& path, const ChunkHandler& on_chunk,
                                    std::chrono::milliseconds idle_timeout) override {
    return m_inner.stream(path, on_chunk, idle_timeout);
  }
  util::Result<HttpResponse> stream_post(const std::string& path, const std::string& body,
                                         const std::string& content_type, const ChunkHandler& on_chunk,
                                         std::chrono::milliseconds idle_timeout) override {
    return m_inner.stream_post(path, body, content_type, on_chunk, idle_timeout);
  }
  std::string describe() const override { return m_inner.describe(); }

 private:
  HttpClient& m_inner;
  std::mutex m_mutex;
  std::condition_variable m_answered;
  // A path is in the map from its first request on; the answer is empty while it is in flight.
  std::map<std::string, std::optional<util::Result<HttpResponse>>> m_answers;
};

}  // namespace gpumod::infra::http
