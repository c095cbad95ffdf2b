// A scripted HttpClient for driver tests: a handler answers each request; every call is logged.
// Thread-safety: none (one test thread).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "gpumod/infra/http/client.hpp"

namespace gpumod::drivers::test {

struct FakeCall {
  std::string method;  // GET, POST, STREAM
  std::string path;
  std::string body;
};

class FakeHttp final : public infra::http::HttpClient {
 public:
  using Handler = std::function<util::Result<infra::http::HttpResponse>(const FakeCall&)>;
  explicit FakeHttp(Handler h) : m_handler(std::move(h)) {}

  util::Result<infra::http::HttpResponse> get(const std::string& path, std::chrono::milliseconds) override {
    return call({"GET", path, ""});
  }
  util::Result<infra::http::HttpResponse> post(const std::string& path, const std::string& body, const std::string&,
                                               std::chrono::milliseconds) override {
    return call({"POST", path, body});
  }
  util::Result<infra::http::HttpResponse> stream(const std::string& path, const infra::http::ChunkHandler& on_chunk,
                                                 std::chrono::milliseconds) override {
    auto r = call({"STREAM", path, ""});
    if (r && r->status / 100 == 2 && !r->body.empty()) {
      on_chunk(r->body);
      r->body.clear();
    }
    return r;
  }
  util::Result<infra::http::HttpResponse> stream_post(const std::string& path, const std::string& body, const std::string&,
                                                      const infra::http::ChunkHandler&, std::chrono::milliseconds) override {
    return call({"STREAM_POST", path, body});
  }
  std::string describe() const override { return "fake://service"; }

  std::vector<FakeCall> calls;
  std::size_t count(const std::string& method, const std::string& path) const {
    std::size_t n = 0;
    for (const auto& c : calls) n += c.method == method && c.path == path;
    return n;
  }

 private:
  util::Result<infra::http::HttpResponse> call(FakeCall c) {
    calls.push_back(c);
    return m_handler(calls.back());
  }
  Handler m_handler;
};

inline util::Result<infra::http::HttpResponse> respond(int status, std::string body = "") {
  return infra::http::HttpResponse{status, std::move(body), "application/json"};
}
inline util::Result<infra::http::HttpResponse> refused() {
  return util::fail(util::ErrorCode::unavailable, "connection refused");
}

}  // namespace gpumod::drivers::test
