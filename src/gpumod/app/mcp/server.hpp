// gpumod's MCP server, transport-independent: one JSON-RPC 2.0 message in, at most one out.
// It serves both protocol revisions MCP clients speak:
//   - 2025-11-25 and earlier ("legacy"): initialize (the client's version when supported, else
//     2025-11-25), notifications/initialized, ping, tools/list, tools/call, resources/list,
//     resources/templates/list, resources/read;
//   - 2026-07-28 ("modern"): server/discover, the protocol version and client capabilities in
//     each request's params._meta (io.modelcontextprotocol/protocolVersion), no session;
//     results carry resultType, list and read results ttlMs/cacheScope; an unsupported version
//     in _meta is answered -32022 with the supported ones.
// No session state is kept: every request stands alone (the transports decide what to do with
// sessions; stdio has none, HTTP answers without Mcp-Session-Id).
// Errors: -32700 parse error, -32600 invalid request (not an object, a batch, no jsonrpc 2.0,
// a bad id), -32601 unknown method, -32602 invalid params (incl. an unknown tool), -32002 an
// unknown resource, -32603 internal. A tool that fails, or whose arguments do not match its
// inputSchema, answers a result with isError: true and the reason.
// Thread-safety: handle() may run on several threads at once (the Backend must allow it).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gpumod/app/mcp/backend.hpp"

namespace gpumod::app::mcp {

inline constexpr std::string_view k_modern_version = "2026-07-28";
inline constexpr std::string_view k_latest_legacy_version = "2025-11-25";
// Every revision served, newest first.
const std::vector<std::string>& supported_versions();
bool is_supported_version(std::string_view version);

// The most a message may hold (stdio line or HTTP body).
inline constexpr std::size_t k_max_message_bytes = 1024 * 1024;

struct Reply {
  std::string body;           // the JSON-RPC response; empty for a notification or a response
  bool notification = false;  // nothing to answer (HTTP: 202 Accepted)
  bool malformed = false;     // a parse error or invalid request (HTTP: 400)
};

class Server {
 public:
  explicit Server(Backend& backend);
  Reply handle(std::string_view message);

  // JSON-RPC error responses (id null) for transports that refuse a message before parsing it.
  static std::string error_response(int code, const std::string& message);

  // Notifications the server sends when the configuration changed.
  static std::vector<std::string> list_changed_notifications();

 private:
  Backend& m_backend;
};

}  // namespace gpumod::app::mcp
