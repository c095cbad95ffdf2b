// The MCP protocol layer (app/mcp/server) against a fake Backend: JSON-RPC framing and error
// codes, both protocol revisions (initialize / server/discover / _meta), tool argument checks,
// tool failures as isError, resources, and that the right daemon requests are made.
#include "gpumod/app/mcp/server.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "gpumod/app/mcp/http_transport.hpp"
#include "gpumod/util/strings.hpp"
#include "gpumod/app/mcp/schema_check.hpp"
#include "gpumod/app/mcp/stdio_transport.hpp"

#include <unistd.h>

#include <thread>

namespace gpumod::app::mcp {
namespace {

using nlohmann::json;

class FakeBackend final : public Backend {
 public:
  std::vector<std::string> calls;  // "GET path", "POST path body", "CLI args"
  util::Result<json> get(const std::string& path, std::chrono::milliseconds) override {
    calls.push_back("GET " + path);
    if (path == "/v1/status") {
      return json{{"gpu", {{"simulated", true}, {"devices", json::array({{{"index", 0}, {"name", "Sim"}, {"total_mib", 24000}, {"used_mib", 0}, {"free_mib", 24000}}})}}},
                  {"current_mode", nullptr},
                  {"external_mib", 0},
                  {"services", json::array({{{"id", "alpha"}, {"driver", "vllm"}, {"state", "stopped"}, {"reason", ""}, {"pid", 0},
                                             {"port", 8000}, {"configured_mib", 3000}, {"measured_mib", nullptr}, {"learned_mib", nullptr}, {"models", json::array()}}})}};
    }
    if (path.starts_with("/v1/events")) return json{{"events", json::array()}};
    if (path.starts_with("/v1/requests")) {
      return json{{"requests", json::array({{{"id", 1}, {"ts_ms", 1000}, {"method", "POST"}, {"path", "/v1/chat/completions"},
                                             {"model", "test/alpha"}, {"service", "alpha"}, {"status", 200}, {"queue_ms", 0},
                                             {"ttfb_ms", 5}, {"duration_ms", 9}, {"prompt_tokens", 3}, {"completion_tokens", nullptr},
                                             {"action", "serve"}, {"error", ""}}})}};
    }
    if (path.starts_with("/v1/bench/history")) {
      return json{{"runs", json::array({{{"id", 1}, {"kind", "serve"}, {"subject", "alpha"}, {"model", "m"},
                                         {"settings", "prompt=512 gen=128 runs=3 concurrency=1"}, {"gpu_uuid", "GPU-1"},
                                         {"measured_at_ms", 1000}, {"prompt_tps", 400.0}, {"gen_tps", 42.0}, {"ttft_ms", 30.0},
                                         {"report", nullptr}}})}};
    }
    if (path.starts_with("/v1/services/alpha/logs")) return json{{"path", "/var/log/x"}, {"lines", {"one", "two"}}};
    return util::fail(util::ErrorCode::not_found, "no route " + path);
  }
  util::Result<json> post(const std::string& path, const json& body, std::chrono::milliseconds) override {
    calls.push_back("POST " + path + " " + body.dump());
    if (path == "/v1/modes/nope/switch") return util::fail(util::ErrorCode::not_found, "no mode 'nope' (did you mean 'a'?)");
    if (path.ends_with("/switch")) {
      return json{{"success", true}, {"dry_run", body["dry_run"]}, {"joined", false}, {"from_mode", nullptr}, {"to_mode", "a"},
                  {"steps", json::array()}, {"rollback", json::array()}, {"message", "switched"}, {"started", json::array()},
                  {"woken", json::array()}, {"restarted", json::array()}, {"slept", json::array()}, {"stopped", json::array()},
                  {"kept", json::array()}, {"dependencies", json::array()}, {"predicted_to_fit", true}, {"fit_problem", ""},
                  {"preflight", json::array()}};
    }
    return json{{"service", "alpha"}, {"action", "sleep"}, {"changed", true}, {"state", "sleeping"}, {"message", "alpha asleep"}, {"elapsed_ms", 5}};
  }
  util::Result<json> command(const std::vector<std::string>& args) override {
    std::string joined;
    for (const auto& a : args) joined += (joined.empty() ? "" : " ") + a;
    calls.push_back("CLI " + joined);
    if (args[0] == "service") {
      return json{{"services", json::array({{{"id", "alpha"}, {"name", "Alpha"}, {"driver", "vllm"}, {"vram_mib", 3000}, {"port", 8000},
                                             {"sleep_mode", "l1"}, {"modes", json::array({"a"})}, {"model_path", "/models/alpha"}}})}};
    }
    if (args[0] == "mode" && args[1] == "list") return json{{"modes", json::array({{{"id", "a"}, {"name", "A"}, {"services", json::array({"alpha"})}, {"total_vram_mib", 3000}}})}};
    if (args[0] == "model") return json{{"models", json::array()}};
    return util::fail(util::ErrorCode::not_found, "no such command");
  }
};

class McpServerTest : public ::testing::Test {
 protected:
  json rpc(const json& msg) { return json::parse(server.handle(msg.dump()).body); }
  json call(const std::string& method, json params = json::object(), json id = 1) {
    return rpc({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
  }
  FakeBackend backend;
  Server server{backend};
};

TEST_F(McpServerTest, InitializeEchoesASupportedVersionElseOffersTheLatestLegacy) {
  auto r = call("initialize", {{"protocolVersion", "2025-06-18"}, {"capabilities", json::object()}, {"clientInfo", {{"name", "t"}, {"version", "1"}}}});
  EXPECT_EQ(r["result"]["protocolVersion"], "2025-06-18");
  EXPECT_EQ(r["result"]["serverInfo"]["name"], "gpumod");
  EXPECT_TRUE(r["result"]["capabilities"]["tools"]["listChanged"].get<bool>());
  r = call("initialize", {{"protocolVersion", "2030-01-01"}});
  EXPECT_EQ(r["result"]["protocolVersion"], "2025-11-25");
  r = call("initialize", {{"protocolVersion", "2026-07-28"}});
  EXPECT_EQ(r["result"]["protocolVersion"], "2025-11-25") << "initialize is the legacy handshake";
  r = call("initialize", json::object());
  EXPECT_EQ(r["error"]["code"], -32602);
}

TEST_F(McpServerTest, JsonRpcErrorsHaveTheRightCodes) {
  auto parse = server.handle("{\"jsonrpc\":");
  EXPECT_TRUE(parse.malformed);
  EXPECT_EQ(json::parse(parse.body)["error"]["code"], -32700);
  EXPECT_TRUE(json::parse(parse.body)["id"].is_null());
  auto batch = server.handle(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])");
  EXPECT_TRUE(batch.malformed);
  EXPECT_EQ(json::parse(batch.body)["error"]["code"], -32600);
  EXPECT_EQ(rpc({{"jsonrpc", "1.0"}, {"id", 1}, {"method", "ping"}})["error"]["code"], -32600);
  EXPECT_EQ(rpc({{"jsonrpc", "2.0"}, {"id", 1.5}, {"method", "ping"}})["error"]["code"], -32600);
  EXPECT_EQ(rpc({{"jsonrpc", "2.0"}, {"id", 1}, {"method", 7}})["error"]["code"], -32600);
  EXPECT_EQ(rpc({{"jsonrpc", "2.0"}, {"id", 1}})["error"]["code"], -32600);
  EXPECT_EQ(server.handle("42").malformed, true);
  auto unknown = call("tools/explode", json::object(), "abc");
  EXPECT_EQ(unknown["error"]["code"], -32601);
  EXPECT_EQ(unknown["id"], "abc");
  EXPECT_EQ(rpc({{"jsonrpc", "2.0"}, {"id", 2}, {"method", "tools/list"}, {"params", json::array()}})["error"]["code"], -32602);
  EXPECT_EQ(call("ping")["result"], json::object());
}

TEST_F(McpServerTest, NotificationsAndClientResponsesGetNoAnswer) {
  const auto n = server.handle(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  EXPECT_TRUE(n.notification);
  EXPECT_TRUE(n.body.empty());
  const auto resp = server.handle(R"({"jsonrpc":"2.0","id":3,"result":{}})");
  EXPECT_TRUE(resp.notification);
  EXPECT_TRUE(backend.calls.empty());
}

TEST_F(McpServerTest, ModernRequestsCarryTheVersionInMeta) {
  const json meta = {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"}, {"io.modelcontextprotocol/clientCapabilities", json::object()}};
  auto d = call("server/discover", {{"_meta", meta}});
  ASSERT_TRUE(d.contains("result")) << d.dump();
  EXPECT_EQ(d["result"]["supportedVersions"][0], "2026-07-28");
  EXPECT_EQ(d["result"]["resultType"], "complete");
  EXPECT_EQ(d["result"]["ttlMs"], 0);
  auto list = call("tools/list", {{"_meta", meta}});
  EXPECT_EQ(list["result"]["resultType"], "complete");
  EXPECT_EQ(list["result"]["cacheScope"], "private");
  auto legacy = call("tools/list");
  EXPECT_FALSE(legacy["result"].contains("resultType")) << "2025 results stay as they were";
  auto bad = call("tools/list", {{"_meta", {{"io.modelcontextprotocol/protocolVersion", "2099-01-01"}}}});
  EXPECT_EQ(bad["error"]["code"], -32022);
  EXPECT_EQ(bad["error"]["data"]["requested"], "2099-01-01");
  EXPECT_EQ(bad["error"]["data"]["supported"][0], "2026-07-28");
}

TEST_F(McpServerTest, ToolsListHasSchemasAndAnnotations) {
  auto r = call("tools/list");
  std::map<std::string, json> by;
  for (const auto& t : r["result"]["tools"]) by[t["name"]] = t;
  for (const char* n : {"gpu_status", "list_services", "list_modes", "service_info", "model_info", "simulate_mode", "switch_mode",
                        "start_service", "stop_service", "search_hf_models", "list_gguf_files", "generate_preset", "plan_switch",
                        "estimate_model", "service_logs", "events", "sleep_service", "wake_service", "model_quants",
                        "requests", "bench_results"}) {
    ASSERT_TRUE(by.contains(n)) << n;
    EXPECT_EQ(by[n]["inputSchema"]["type"], "object") << n;
    EXPECT_EQ(by[n]["outputSchema"]["type"], "object") << n;
  }
  EXPECT_TRUE(by["gpu_status"]["annotations"]["readOnlyHint"].get<bool>());
  EXPECT_TRUE(by["switch_mode"]["annotations"]["destructiveHint"].get<bool>());
  EXPECT_TRUE(by["sleep_service"]["annotations"]["destructiveHint"].get<bool>());
  EXPECT_FALSE(by["start_service"]["annotations"]["destructiveHint"].get<bool>());
  for (const char* n : {"requests", "bench_results"}) {
    EXPECT_TRUE(by[n]["annotations"]["readOnlyHint"].get<bool>()) << n;
    EXPECT_FALSE(by[n]["annotations"]["destructiveHint"].get<bool>()) << n;
  }
}

TEST_F(McpServerTest, RequestsAndBenchResultsAskTheDaemonWithTheirFilters) {
  auto r = call("tools/call", {{"name", "requests"}, {"arguments", {{"model", "a b/c&d"}, {"service_id", "alpha"}, {"limit", 3}}}});
  ASSERT_FALSE(r["result"]["isError"].get<bool>()) << r.dump();
  EXPECT_EQ(backend.calls.back(), "GET /v1/requests?limit=3&service=alpha&model=a%20b%2Fc%26d");
  EXPECT_EQ(r["result"]["structuredContent"]["requests"][0]["model"], "test/alpha");
  EXPECT_NE(r["result"]["content"][0]["text"].get<std::string>().find("test/alpha"), std::string::npos);
  r = call("tools/call", {{"name", "bench_results"}, {"arguments", {{"service_id", "alpha"}}}});
  ASSERT_FALSE(r["result"]["isError"].get<bool>()) << r.dump();
  EXPECT_EQ(backend.calls.back(), "GET /v1/bench/history?limit=20&subject=alpha");
  EXPECT_NE(r["result"]["content"][0]["text"].get<std::string>().find("42.0"), std::string::npos);
  // An unknown service: a clear error, and the daemon is not asked.
  const auto before = backend.calls.size();
  r = call("tools/call", {{"name", "bench_results"}, {"arguments", {{"service_id", "alpah"}}}});
  EXPECT_TRUE(r["result"]["isError"].get<bool>());
  EXPECT_NE(r["result"]["content"][0]["text"].get<std::string>().find("no service 'alpah' (did you mean 'alpha'?)"),
            std::string::npos) << r.dump();
  EXPECT_EQ(backend.calls.size(), before + 1) << "only the service list";
  r = call("tools/call", {{"name", "requests"}, {"arguments", {{"limit", 0}}}});
  EXPECT_TRUE(r["result"]["isError"].get<bool>());
}

TEST_F(McpServerTest, ToolCallsGoToTheDaemonAndReturnStructuredContent) {
  auto r = call("tools/call", {{"name", "sleep_service"}, {"arguments", {{"service_id", "alpha"}, {"level", 2}}}});
  ASSERT_FALSE(r["result"]["isError"].get<bool>()) << r.dump();
  EXPECT_EQ(r["result"]["structuredContent"]["state"], "sleeping");
  EXPECT_EQ(r["result"]["content"][0]["text"], "alpha asleep\n");
  EXPECT_EQ(backend.calls.back(), R"(POST /v1/services/alpha/sleep {"level":2})");
  r = call("tools/call", {{"name", "plan_switch"}, {"arguments", {{"mode_id", "a"}}}});
  EXPECT_EQ(backend.calls.back(), R"(POST /v1/modes/a/switch {"dry_run":true,"no_rollback":false})");
  r = call("tools/call", {{"name", "service_logs"}, {"arguments", {{"service_id", "alpha"}, {"lines", 2}}}});
  EXPECT_EQ(backend.calls.back(), "GET /v1/services/alpha/logs?n=2");
  EXPECT_FALSE(r["result"]["structuredContent"].contains("path")) << "the log's path stays on the box";
  const json sim_args = {{"mode_id", "a"}, {"add", json::array({"beta"})}, {"context_overrides", {{"alpha", 16384}}}};
  r = call("tools/call", {{"name", "simulate_mode"}, {"arguments", sim_args}});
  EXPECT_EQ(backend.calls.back(), "CLI simulate mode a --add beta --context alpha=16384") << r.dump();
}

TEST_F(McpServerTest, BadToolInputIsAnErrorResultAndNothingIsCalled) {
  auto unknown = call("tools/call", {{"name", "swich_mode"}, {"arguments", json::object()}});
  EXPECT_EQ(unknown["error"]["code"], -32602);
  EXPECT_NE(unknown["error"]["message"].get<std::string>().find("switch_mode"), std::string::npos);
  const auto message = [&](json args) {
    auto r = call("tools/call", {{"name", "sleep_service"}, {"arguments", args}});
    EXPECT_TRUE(r["result"]["isError"].get<bool>()) << r.dump();
    return r["result"]["content"][0]["text"].get<std::string>();
  };
  EXPECT_NE(message({{"service_id", 5}}).find("argument 'service_id': expected a string, got an integer"), std::string::npos);
  EXPECT_NE(message(json::object()).find("argument 'service_id': is required"), std::string::npos);
  EXPECT_NE(message({{"service_id", "alpha"}, {"level", 3}}).find("above the maximum 2"), std::string::npos);
  EXPECT_NE(message({{"service_id", "alpha"}, {"lvl", 1}}).find("unknown argument"), std::string::npos);
  EXPECT_NE(message({{"service_id", "../../etc"}}).find("service id"), std::string::npos);
  EXPECT_TRUE(backend.calls.empty()) << backend.calls.front();
  auto failed = call("tools/call", {{"name", "switch_mode"}, {"arguments", {{"mode_id", "nope"}}}});
  EXPECT_TRUE(failed["result"]["isError"].get<bool>());
  EXPECT_NE(failed["result"]["content"][0]["text"].get<std::string>().find("no mode 'nope'"), std::string::npos);
  EXPECT_EQ(failed["result"]["_meta"]["gpumod/error_code"], "not_found");
  auto flag = call("tools/call", {{"name", "list_gguf_files"}, {"arguments", {{"repo_id", "--help"}}}});
  EXPECT_TRUE(flag["result"]["isError"].get<bool>());
}

TEST_F(McpServerTest, ResourcesAreMarkdownWithoutPaths) {
  auto list = call("resources/list");
  std::vector<std::string> uris;
  for (const auto& r : list["result"]["resources"]) uris.push_back(r["uri"]);
  for (const char* u : {"gpumod://help", "gpumod://status", "gpumod://config", "gpumod://events", "gpumod://modes",
                        "gpumod://services", "gpumod://models", "gpumod://modes/a", "gpumod://services/alpha"}) {
    EXPECT_NE(std::find(uris.begin(), uris.end(), u), uris.end()) << u;
  }
  auto templates = call("resources/templates/list");
  EXPECT_EQ(templates["result"]["resourceTemplates"].size(), 3u);
  auto services = call("resources/read", {{"uri", "gpumod://services"}});
  const std::string md = services["result"]["contents"][0]["text"];
  EXPECT_EQ(services["result"]["contents"][0]["mimeType"], "text/markdown");
  EXPECT_NE(md.find("| `alpha` | vllm | 8000 | 3,000 |"), std::string::npos) << md;
  EXPECT_EQ(md.find("/models/alpha"), std::string::npos) << "no filesystem paths";
  EXPECT_EQ(call("resources/read", {{"uri", "gpumod://nope"}})["error"]["code"], -32002);
  EXPECT_EQ(call("resources/read", {{"uri", "gpumod://services/../x"}})["error"]["code"], -32602);
  EXPECT_EQ(call("resources/read", {{"uri", "file:///etc/passwd"}})["error"]["code"], -32002);
  EXPECT_EQ(call("resources/read", json::object())["error"]["code"], -32602);
}

// stdio: one answer line per request (none for a notification), an oversized line refused with
// the server reading on, list_changed sent first when the configuration changed.
TEST(McpStdio, AnswersLinesRefusesOversizedOnesAndSendsListChanged) {
  FakeBackend backend;
  Server server(backend);
  int in[2], out[2];
  ASSERT_EQ(::pipe(in), 0);
  ASSERT_EQ(::pipe(out), 0);
  int messages = 0;
  std::thread t([&] {
    run_stdio(server, in[0], out[1], [&] { return ++messages == 3; });  // "changed" before the third message
    ::close(out[1]);
  });
  const auto write_all = [&](const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
      const auto n = ::write(in[1], text.data() + done, text.size() - done);
      ASSERT_GT(n, 0);
      done += static_cast<std::size_t>(n);
    }
  };
  std::thread writer([&] {
    write_all(R"({"jsonrpc":"2.0","id":1,"method":"ping"})" "\n");
    write_all(R"({"jsonrpc":"2.0","method":"notifications/initialized"})" "\n");
    write_all(R"({"jsonrpc":"2.0","id":2,"method":"ping","pad":")" + std::string(k_max_message_bytes + 10, 'x') + "\"}\n");
    write_all(R"({"jsonrpc":"2.0","id":3,"method":"ping"})");  // the last line needs no newline
    ::close(in[1]);
  });
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  writer.join();
  t.join();
  ::close(in[0]);
  ::close(out[0]);
  std::vector<json> lines;
  for (const auto& l : util::split(text, '\n')) {
    if (!l.empty()) lines.push_back(json::parse(l));
  }
  ASSERT_EQ(lines.size(), 5u) << text;
  // The first answer runs on its own thread: it may come anywhere; the rest keeps its order.
  const auto first = std::find(lines.begin(), lines.end(), json::parse(R"({"jsonrpc":"2.0","id":1,"result":{}})"));
  ASSERT_NE(first, lines.end()) << text;
  lines.erase(first);
  EXPECT_EQ(lines[0]["error"]["code"], -32600);
  EXPECT_NE(lines[0]["error"]["message"].get<std::string>().find("larger than"), std::string::npos);
  EXPECT_EQ(lines[1]["method"], "notifications/tools/list_changed") << "sent before the next message is answered";
  EXPECT_EQ(lines[2]["method"], "notifications/resources/list_changed");
  EXPECT_EQ(lines[3]["id"], 3);
  EXPECT_EQ(messages, 3) << "the oversized line is not a message";
}

TEST(McpSchemaCheck, IntegersNumbersAndNesting) {
  const json schema = {{"type", "object"},
                       {"properties", {{"n", {{"type", "integer"}, {"minimum", 1}}}, {"ids", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                                       {"ctx", {{"type", "object"}, {"additionalProperties", {{"type", "integer"}}}}}}},
                       {"additionalProperties", false}};
  EXPECT_TRUE(check_arguments(schema, {{"n", 2}, {"ids", {"a"}}, {"ctx", {{"x", 5}}}}));
  EXPECT_TRUE(check_arguments(schema, {{"n", 2.0}})) << "2.0 is an integer in JSON Schema";
  EXPECT_EQ(check_arguments(schema, {{"n", 2.5}}).error().message, "argument 'n': expected an integer, got a number");
  EXPECT_EQ(check_arguments(schema, {{"ids", {"a", 3}}}).error().message, "argument 'ids[1]': expected a string, got an integer");
  EXPECT_EQ(check_arguments(schema, {{"ctx", {{"x", "big"}}}}).error().message, "argument 'ctx.x': expected an integer, got a string");
  EXPECT_EQ(check_arguments(schema, {{"n", 0}}).error().message, "argument 'n': 0 is below the minimum 1");
}

TEST(McpHttp, LoopbackOrigins) {
  for (const char* ok : {"http://localhost", "http://localhost:6274", "https://127.0.0.1:8443", "http://[::1]:80", "http://127.1.2.3"}) {
    EXPECT_TRUE(is_loopback_origin(ok)) << ok;
  }
  for (const char* bad : {"https://evil.example", "http://localhost.evil.example", "http://127.0.0.1.evil:80", "null",
                          "http://localhost:80@evil.example", "http://[::2]", "file://", "http://localhost:x"}) {
    EXPECT_FALSE(is_loopback_origin(bad)) << bad;
  }
}

}  // namespace
}  // namespace gpumod::app::mcp
