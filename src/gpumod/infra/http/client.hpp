// HTTP client adapter: the one way gpumod talks HTTP to the services it manages (llama-server,
// vLLM, HTTP apps over loopback TCP) and to Unix-socket APIs (the gpumod daemon, the Docker
// Engine API). HttpClient is an interface so that tests and drivers can fake it; the real
// clients hide cpp-httplib in the .cpp.
//
// Contract of every call:
//   - An HTTP status code is NOT an error: a 404 or a 503 comes back as a value; callers check
//     HttpResponse::status.
//   - Transport failures are errors: nothing listening (connection refused / no socket file) ->
//     unavailable; a deadline passed -> timeout; a broken, garbled or oversized response -> failed.
//   - Bodies are opaque bytes: JSON stays out of this header; drivers parse bodies themselves.
//
// Thread-safety: a client made by make_tcp_client / make_unix_client may be used from several
// threads at once. It keeps a small pool of keep-alive connections: a request borrows an idle
// connection (or opens a new one) and gives it back when it succeeds, so sequential requests
// reuse one connection and concurrent requests (a long stream and a health probe) do not block
// each other.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "gpumod/util/result.hpp"

namespace gpumod::infra::http {

struct HttpResponse {
  int status = 0;            // the HTTP status code (200, 404, 503, ...)
  std::string body;          // the whole body (for stream(): only when status is not 2xx)
  std::string content_type;  // the Content-Type header, as sent ("" if none)
};

// Receives a piece of a streamed body as it arrives; returns false to stop reading.
using ChunkHandler = std::function<bool(std::string_view chunk)>;

class HttpClient {
 public:
  virtual ~HttpClient() = default;

  // `timeout` bounds the whole request: connecting, sending and reading the full response.
  virtual util::Result<HttpResponse> get(const std::string& path,
                                         std::chrono::milliseconds timeout) = 0;
  virtual util::Result<HttpResponse> post(const std::string& path, const std::string& body,
                                          const std::string& content_type,
                                          std::chrono::milliseconds timeout) = 0;
  util::Result<HttpResponse> post_json(const std::string& path, const std::string& json_text,
                                       std::chrono::milliseconds timeout) {
    return post(path, json_text, "application/json", timeout);
  }

  // Streams a response body (chunked transfer, Server-Sent Events) to `on_chunk` as it arrives.
  // `idle_timeout` bounds connecting and each wait for the next piece, not the whole stream.
  // When the status is 2xx the body goes to on_chunk and HttpResponse::body stays empty; any
  // other status collects the (error) body into HttpResponse::body and never calls on_chunk.
  // on_chunk returning false ends the stream early; that is a success, not an error.
  virtual util::Result<HttpResponse> stream(const std::string& path, const ChunkHandler& on_chunk,
                                            std::chrono::milliseconds idle_timeout) = 0;
  // The same with a POST body (for example an OpenAI chat completion with "stream": true).
  virtual util::Result<HttpResponse> stream_post(const std::string& path, const std::string& body,
                                                 const std::string& content_type,
                                                 const ChunkHandler& on_chunk,
                                                 std::chrono::milliseconds idle_timeout) = 0;

  // Where this client goes, for messages: "http://127.0.0.1:7070" or "unix:/run/gpumod.sock".
  virtual std::string describe() const = 0;
};

struct ClientOptions {
  // Short by default: on loopback a live server accepts at once, and a refused connection is
  // reported at once anyway. The request timeout caps it further.
  std::chrono::milliseconds connect_timeout{200};
  std::size_t max_idle_connections = 4;  // idle keep-alive connections kept for reuse
  std::size_t max_body_bytes = 64u * 1024u * 1024u;  // a larger body is an error (failed)
  // A request sent on a kept-alive connection that the server had closed meanwhile fails before
  // any byte of the answer; a GET is then sent once more on a fresh connection. With this set, a
  // POST is too: for servers whose POSTs have no effect beyond the answer (inference requests).
  bool retry_posts_on_closed_connection = false;
};

// A client for http://host:port. `host` is a name or an address ("127.0.0.1", "::1").
std::unique_ptr<HttpClient> make_tcp_client(std::string host, int port,
                                            const ClientOptions& options = {});

// A client for HTTP over the Unix socket at `socket` (the gpumod daemon, /var/run/docker.sock).
// Requests carry "Host: localhost".
std::unique_ptr<HttpClient> make_unix_client(std::filesystem::path socket,
                                             const ClientOptions& options = {});

// True for "localhost", any 127.0.0.0/8 address in dotted decimal, "::1" and "[::1]".
bool is_loopback_host(std::string_view host);

}  // namespace gpumod::infra::http
