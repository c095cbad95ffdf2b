// The daemon's OpenAI-compatible endpoint (`serve:` in gpumod.yaml, default 127.0.0.1:7979):
// requests are routed by the model they name (engine/model_routes) to the service that serves it,
// which is made to serve on demand first (engine/on_demand: wake, start, mode switch, eviction,
// or 503 with the plan). Streamed answers are passed through chunk by chunk as they arrive (SSE
// framing kept); a client that goes away cancels the upstream request. Errors have OpenAI's
// shape. Every request is recorded in the state database's ring (RequestLog). Off loopback,
// clients must send one of serve.api_keys as Authorization: Bearer (compared in constant time).
// Docs: docs/openai-endpoint.md.
// Thread-safety: bind/start/stop from one thread; requests run on the server's worker pool.
#pragma once

#include <memory>
#include <string>

#include "gpumod/core/serve.hpp"
#include "gpumod/util/result.hpp"

namespace httplib {
class Server;
}
namespace gpumod::engine {
class Engine;
class OnDemand;
class RequestMetrics;
}  // namespace gpumod::engine

namespace gpumod::app {

class RequestLog;

class OpenAiServer {
 public:
  // `metrics` (may be null) observes every answered request, as the log records it.
  OpenAiServer(engine::Engine& engine, engine::OnDemand& on_demand, RequestLog& log,
               core::ServeSettings settings, engine::RequestMetrics* metrics = nullptr);
  ~OpenAiServer();
  OpenAiServer(const OpenAiServer&) = delete;
  OpenAiServer& operator=(const OpenAiServer&) = delete;

  // Binds HOST:PORT (settings.listen unless `listen` is given). invalid_argument: a bad address,
  // or off loopback without api_keys; io: the address is taken.
  util::Status bind(const std::string& listen);
  void start();  // serves on its own thread
  void stop();   // stops, waits for streams in flight to end
  int port() const;
  // The underlying server, for other route groups (install_..._routes) added before start().
  httplib::Server& server();

 private:
  struct Impl;
  std::unique_ptr<Impl> m;
};

}  // namespace gpumod::app
