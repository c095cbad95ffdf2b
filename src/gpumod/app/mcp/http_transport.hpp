// The MCP streamable-HTTP transport at /mcp, installed on an httplib::Server the caller owns
// (the daemon's Unix-socket and loopback TCP servers, the `mcp.listen` listener):
//   POST /mcp  one JSON-RPC message -> application/json answer; 202 for a notification or a
//              response; 400 (with a JSON-RPC error) for malformed JSON-RPC and for a batch;
//              413 above k_max_message_bytes; 415 when the body is not application/json;
//              406 when Accept admits neither application/json nor text/event-stream.
//   GET/DELETE /mcp  405: no server-initiated stream and no sessions.
// Every request: an Origin header that is not a loopback origin (http(s)://localhost,
// 127.x.x.x, [::1], any port) or one of `allowed_origins` is refused 403 (DNS rebinding); an
// MCP-Protocol-Version header naming a revision gpumod does not serve is refused 400; with
// `api_keys` set, "Authorization: Bearer <key>" must name one (401), and without keys only
// loopback peers are served (403) -- a Unix socket counts as local.
// Thread-safety: handlers run on the server's worker threads; the Server must allow that.
#pragma once

#include <string>
#include <vector>

#include "gpumod/app/mcp/server.hpp"

namespace httplib {
class Server;
}

namespace gpumod::app::mcp {

struct HttpOptions {
  std::vector<std::string> api_keys;         // empty: loopback peers only
  std::vector<std::string> allowed_origins;  // besides loopback origins ("https://host:port")
};

// `server` must outlive `svr`'s serving.
void install_mcp_routes(httplib::Server& svr, Server& server, HttpOptions options);

// True for an Origin of a loopback host (exposed for tests).
bool is_loopback_origin(std::string_view origin);

}  // namespace gpumod::app::mcp
