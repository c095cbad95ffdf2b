#include "gpumod/app/mcp/http_transport.hpp"

#include <httplib.h>

#include <algorithm>

#include "gpumod/infra/http/client.hpp"

namespace gpumod::app::mcp {

namespace {

void refuse(httplib::Response& res, int status, int code, const std::string& message) {
  res.status = status;
  res.set_content(Server::error_response(code, message), "application/json");
}

bool accepts(const std::string& accept) {
  if (accept.empty()) return true;
  return accept.find("application/json") != std::string::npos || accept.find("text/event-stream") != std::string::npos ||
         accept.find("*/*") != std::string::npos || accept.find("application/*") != std::string::npos;
}

// Checks every request must pass; false when `res` holds the refusal.
bool admit(const httplib::Request& req, httplib::Response& res, const HttpOptions& o) {
  const std::string origin = req.get_header_value("Origin");
  if (!origin.empty() && !is_loopback_origin(origin) &&
      std::find(o.allowed_origins.begin(), o.allowed_origins.end(), origin) == o.allowed_origins.end()) {
    refuse(res, 403, -32600, "origin '" + origin + "' is not allowed");
    return false;
  }
  if (!o.api_keys.empty()) {
    const std::string auth = req.get_header_value("Authorization");
    const bool ok = auth.starts_with("Bearer ") &&
                    std::find(o.api_keys.begin(), o.api_keys.end(), auth.substr(7)) != o.api_keys.end();
    if (!ok) {
      res.set_header("WWW-Authenticate", "Bearer");
      refuse(res, 401, -32600, "missing or wrong API key (Authorization: Bearer <key>)");
      return false;
    }
  } else if (!req.remote_addr.empty() && !infra::http::is_loopback_host(req.remote_addr)) {
    refuse(res, 403, -32600, "only loopback clients are served without an API key");
    return false;
  }
  const std::string version = req.get_header_value("MCP-Protocol-Version");
  if (!version.empty() && !is_supported_version(version)) {
    std::string list;
    for (const auto& v : supported_versions()) list += (list.empty() ? "" : ", ") + v;
    refuse(res, 400, -32600, "unsupported MCP-Protocol-Version '" + version + "' (supported: " + list + ")");
    return false;
  }
  return true;
}

}  // namespace

bool is_loopback_origin(std::string_view origin) {
  std::string_view rest;
  if (origin.starts_with("http://")) rest = origin.substr(7);
  else if (origin.starts_with("https://")) rest = origin.substr(8);
  else return false;
  std::string_view host = rest;
  if (host.starts_with("[")) {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    const auto after = host.substr(close + 1);
    if (!after.empty() && !after.starts_with(":")) return false;
    host = host.substr(0, close + 1);
  } else {
    const auto colon = host.find(':');
    if (colon != std::string_view::npos) {
      const auto port = host.substr(colon + 1);
      if (port.empty() || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
      host = host.substr(0, colon);
    }
  }
  if (host.find('/') != std::string_view::npos) return false;
  return infra::http::is_loopback_host(host);
}

void install_mcp_routes(httplib::Server& svr, Server& server, HttpOptions options) {
  svr.Post("/mcp", [&server, options](const httplib::Request& req, httplib::Response& res) {
    if (!admit(req, res, options)) return;
    if (req.body.size() > k_max_message_bytes) {
      return refuse(res, 413, -32600, "the request body is larger than " + std::to_string(k_max_message_bytes) + " bytes");
    }
    const std::string type = req.get_header_value("Content-Type");
    if (!type.empty() && type.find("application/json") == std::string::npos) {
      return refuse(res, 415, -32600, "Content-Type must be application/json");
    }
    if (!accepts(req.get_header_value("Accept"))) {
      return refuse(res, 406, -32600, "Accept must admit application/json");
    }
    const Reply r = server.handle(req.body);
    if (r.notification) {
      res.status = 202;
      return;
    }
    res.status = r.malformed ? 400 : 200;
    res.set_content(r.body, "application/json");
  });
  const auto not_allowed = [options](const httplib::Request& req, httplib::Response& res) {
    if (!admit(req, res, options)) return;
    res.set_header("Allow", "POST");
    refuse(res, 405, -32600, "gpumod's MCP endpoint takes POST only (no server-initiated stream, no sessions)");
  };
  svr.Get("/mcp", not_allowed);
  svr.Delete("/mcp", not_allowed);
}

}  // namespace gpumod::app::mcp
