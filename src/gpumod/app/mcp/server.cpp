#include "gpumod/app/mcp/server.hpp"

#include <nlohmann/json.hpp>

#include "gpumod/app/mcp/resources.hpp"
#include "gpumod/app/mcp/schema_check.hpp"
#include "gpumod/app/mcp/tools.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::app::mcp {

using nlohmann::json;

namespace {

constexpr int k_parse_error = -32700;
constexpr int k_invalid_request = -32600;
constexpr int k_method_not_found = -32601;
constexpr int k_invalid_params = -32602;
constexpr int k_internal_error = -32603;
constexpr int k_resource_not_found = -32002;
constexpr int k_unsupported_version = -32022;

constexpr const char* k_version_key = "io.modelcontextprotocol/protocolVersion";
constexpr const char* k_server_info_key = "io.modelcontextprotocol/serverInfo";

constexpr const char* k_instructions =
    "gpumod manages the LLM inference services sharing this GPU. Read gpumod://help first. Use gpu_status and "
    "list_modes to see where things stand, plan_switch or simulate_mode before switch_mode, and model_quants / "
    "estimate_model to size a model before adding it.";

struct RpcError {
  int code;
  std::string message;
  json data = nullptr;
};

json error_body(const json& id, const RpcError& e) {
  json err = {{"code", e.code}, {"message", e.message}};
  if (!e.data.is_null()) err["data"] = e.data;
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", err}};
}

json server_info() { return {{"name", "gpumod"}, {"title", "gpumod"}, {"version", GPUMOD_VERSION}}; }
json capabilities() {
  return {{"tools", {{"listChanged", true}}}, {"resources", {{"listChanged", true}}}};
}

bool is_cacheable(const std::string& method) {
  return method == "tools/list" || method == "resources/list" || method == "resources/templates/list" ||
         method == "resources/read" || method == "server/discover";
}

json tool_error(const std::string& message) {
  return {{"content", json::array({{{"type", "text"}, {"text", message}}})}, {"isError", true}};
}

}  // namespace

const std::vector<std::string>& supported_versions() {
  static const std::vector<std::string> v{std::string(k_modern_version), std::string(k_latest_legacy_version),
                                          "2025-06-18", "2025-03-26", "2024-11-05"};
  return v;
}

bool is_supported_version(std::string_view version) {
  for (const auto& v : supported_versions()) {
    if (v == version) return true;
  }
  return false;
}

Server::Server(Backend& backend) : m_backend(backend) {}

std::string Server::error_response(int code, const std::string& message) {
  return error_body(nullptr, {code, message}).dump();
}

std::vector<std::string> Server::list_changed_notifications() {
  return {json{{"jsonrpc", "2.0"}, {"method", "notifications/tools/list_changed"}}.dump(),
          json{{"jsonrpc", "2.0"}, {"method", "notifications/resources/list_changed"}}.dump()};
}

Reply Server::handle(std::string_view message) {
  json msg = json::parse(message, nullptr, false);
  if (msg.is_discarded()) return {error_response(k_parse_error, "parse error: the message is not valid JSON"), false, true};
  if (msg.is_array()) {
    return {error_response(k_invalid_request, "batches are not supported: send one JSON-RPC message at a time"), false, true};
  }
  if (!msg.is_object()) return {error_response(k_invalid_request, "invalid request: a JSON-RPC message is an object"), false, true};
  if (msg.value("jsonrpc", json()) != "2.0") {
    return {error_response(k_invalid_request, "invalid request: \"jsonrpc\" must be \"2.0\""), false, true};
  }
  const bool has_id = msg.contains("id");
  if (!msg.contains("method")) {
    // A response to a request of ours: the server sends none, so there is nothing to match.
    if (has_id && (msg.contains("result") || msg.contains("error"))) return {"", true, false};
    return {error_response(k_invalid_request, "invalid request: no \"method\""), false, true};
  }
  if (!msg["method"].is_string()) {
    return {error_response(k_invalid_request, "invalid request: \"method\" must be a string"), false, true};
  }
  const std::string method = msg["method"];
  if (has_id && !msg["id"].is_string() && !msg["id"].is_number_integer()) {
    return {error_response(k_invalid_request, "invalid request: \"id\" must be a string or an integer"), false, true};
  }
  if (!has_id) return {"", true, false};  // notifications/initialized, cancelled, ...: nothing to answer
  const json id = msg["id"];
  auto fail = [&](RpcError e) { return Reply{error_body(id, e).dump(), false, false}; };

  json params = msg.contains("params") ? msg["params"] : json::object();
  if (!params.is_object()) return fail({k_invalid_params, "\"params\" must be an object"});

  // 2026-07-28: the version travels in every request's _meta.
  bool modern = false;
  if (params.contains("_meta") && params["_meta"].is_object() && params["_meta"].contains(k_version_key)) {
    const auto& v = params["_meta"][k_version_key];
    const std::string requested = v.is_string() ? v.get<std::string>() : v.dump();
    if (!v.is_string() || !is_supported_version(requested)) {
      return fail({k_unsupported_version, "unsupported protocol version " + requested,
                   {{"supported", supported_versions()}, {"requested", requested}}});
    }
    modern = requested >= k_modern_version;
  }

  json result;
  if (method == "initialize") {
    if (!params.contains("protocolVersion") || !params["protocolVersion"].is_string()) {
      return fail({k_invalid_params, "initialize: \"protocolVersion\" (a string) is required"});
    }
    const std::string asked = params["protocolVersion"];
    const bool legacy_ok = is_supported_version(asked) && asked < k_modern_version;
    result = {{"protocolVersion", legacy_ok ? asked : std::string(k_latest_legacy_version)},
              {"capabilities", capabilities()},
              {"serverInfo", server_info()},
              {"instructions", k_instructions}};
  } else if (method == "ping") {
    result = json::object();
  } else if (method == "server/discover") {
    result = {{"supportedVersions", supported_versions()},
              {"capabilities", capabilities()},
              {"instructions", k_instructions},
              {"_meta", {{k_server_info_key, server_info()}}}};
  } else if (method == "tools/list") {
    json list = json::array();
    for (const auto& t : tools()) list.push_back(tool_descriptor(t));
    result = {{"tools", list}};
  } else if (method == "tools/call") {
    if (!params.contains("name") || !params["name"].is_string()) {
      return fail({k_invalid_params, "tools/call: \"name\" (a string) is required"});
    }
    const std::string name = params["name"];
    const Tool* tool = find_tool(name);
    if (!tool) {
      std::vector<std::string> names;
      for (const auto& t : tools()) names.push_back(t.name);
      return fail({k_invalid_params, "unknown tool '" + name + "'" + util::did_you_mean(name, names)});
    }
    json args = params.contains("arguments") ? params["arguments"] : json::object();
    if (args.is_null()) args = json::object();
    if (!args.is_object()) return fail({k_invalid_params, "tools/call: \"arguments\" must be an object"});
    if (auto st = check_arguments(tool->input_schema, args); !st) {
      result = tool_error(name + ": " + st.error().message);
    } else {
      util::Result<ToolOutput> out = util::fail(util::ErrorCode::internal, "no result");
      try {
        out = tool->run(m_backend, args);
      } catch (const std::exception& e) {
        out = util::fail(util::ErrorCode::internal, std::string("unexpected answer: ") + e.what());
      }
      if (!out) {
        result = tool_error(name + ": " + out.error().message);
        result["_meta"] = {{"gpumod/error_code", util::to_string(out.error().code)}};
      } else {
        result = {{"content", json::array({{{"type", "text"}, {"text", out->text}}})},
                  {"structuredContent", out->structured},
                  {"isError", false}};
      }
    }
  } else if (method == "resources/list") {
    result = {{"resources", resource_list(m_backend)}};
  } else if (method == "resources/templates/list") {
    result = {{"resourceTemplates", resource_templates()}};
  } else if (method == "resources/read") {
    if (!params.contains("uri") || !params["uri"].is_string()) {
      return fail({k_invalid_params, "resources/read: \"uri\" (a string) is required"});
    }
    const std::string uri = params["uri"];
    util::Result<std::string> md = util::fail(util::ErrorCode::internal, "no result");
    try {
      md = read_resource(m_backend, uri);
    } catch (const std::exception& e) {
      md = util::fail(util::ErrorCode::internal, std::string("unexpected answer: ") + e.what());
    }
    if (!md) {
      const auto code = md.error().code;
      if (code == util::ErrorCode::not_found) return fail({k_resource_not_found, md.error().message, {{"uri", uri}}});
      if (code == util::ErrorCode::invalid_argument) return fail({k_invalid_params, md.error().message, {{"uri", uri}}});
      return fail({k_internal_error, md.error().message, {{"uri", uri}, {"code", util::to_string(code)}}});
    }
    result = {{"contents", json::array({{{"uri", uri}, {"mimeType", "text/markdown"}, {"text", *md}}})}};
  } else {
    return fail({k_method_not_found, "method '" + method + "' not found"});
  }
  if (modern) {
    result["resultType"] = "complete";
    if (is_cacheable(method)) {
      result["ttlMs"] = 0;
      result["cacheScope"] = "private";
    }
  }
  return {json{{"jsonrpc", "2.0"}, {"id", id}, {"result", result}}.dump(), false, false};
}

}  // namespace gpumod::app::mcp
