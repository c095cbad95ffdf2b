// The gpumod daemon: one long-lived process that owns the engine — the single writer of the state
// database, the owner of the services it started, the place where commands are serialized. It
// serves the JSON-over-HTTP API of docs/daemon-protocol.md on a Unix socket (0600, in a 0700
// directory), optionally also on loopback TCP with a bearer token, runs the health monitor, and
// re-adopts running services when it starts.
// Thread-safety: run_daemon blocks until the daemon is told to stop (SIGTERM, SIGINT, or
// POST /v1/shutdown); HTTP handlers run on the server's worker threads.
#pragma once

#include <optional>
#include <string>

#include "gpumod/util/result.hpp"

namespace gpumod::app {

class AppContext;

struct DaemonOptions {
  std::optional<std::string> listen_tcp;  // "127.0.0.1:PORT" (loopback only)
  std::string token;                      // required with listen_tcp
  std::optional<std::string> serve_listen;  // the OpenAI endpoint's HOST:PORT (overrides serve.listen)
  bool serve_required = false;              // `gpumod serve`: the endpoint failing to listen is an error
};

util::Status run_daemon(AppContext& ctx, const DaemonOptions& options);

}  // namespace gpumod::app
