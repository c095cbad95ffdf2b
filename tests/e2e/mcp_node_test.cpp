// The MCP server driven by the official MCP TypeScript SDK clients (tests/node/mcp/*.test.mjs,
// run with `node --test`): this fixture prepares the sandbox they run in -- a configuration of
// three mock vLLM services on a simulated 24,000 MiB GPU (modes a = shared+alpha, b =
// shared+beta), private XDG directories, a loopback fake Hugging Face Hub -- and asserts the
// Node run passed. The SDK comes from tests/node/mcp/package-lock.json (`npm ci`, run by
// `make test`); without node or those packages the tests are skipped, saying why.
#include <unistd.h>

#include <tuple>

#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/util/strings.hpp"
#include "support/child_process.hpp"
#include "support/fake_hub.hpp"
#include "e2e/runtime_fixture.hpp"

namespace gpumod::testing {
namespace {

fs::path find_node() {
  const char* path = std::getenv("PATH");
  for (const auto& dir : util::split(path ? path : "", ':')) {
    if (dir.empty()) continue;
    const fs::path p = fs::path(dir) / "node";
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

const fs::path k_node_dir = fs::path(GPUMOD_SOURCE_DIR) / "tests" / "node" / "mcp";

class McpNode : public RuntimeFixture {
 protected:
  void SetUp() override {
    RuntimeFixture::SetUp();
    m_node = find_node();
    if (m_node.empty()) GTEST_SKIP() << "node is not installed (Node 20+ runs the MCP SDK tests)";
    if (!fs::exists(k_node_dir / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json") ||
        !fs::exists(k_node_dir / "node_modules" / "@modelcontextprotocol" / "client" / "package.json")) {
      GTEST_SKIP() << "the MCP SDK is not installed: run `npm ci` in " << k_node_dir.string() << " (make test does)";
    }
    const std::map<std::string, std::string> slow{{"GPUMOD_MOCK_LOAD_DELAY_MS", "100"}};
    add_preset({.id = "alpha", .vram_mib = 3000, .env = slow});
    add_preset({.id = "beta", .vram_mib = 4000, .env = slow});
    add_preset({.id = "shared", .vram_mib = 1000});
    add_mode("a", {"shared", "alpha"});
    add_mode("b", {"shared", "beta"});
    m_hub.add_repo(test_support::nemotron_repo(runner.home() / "hub"));
    runner.env()["HF_ENDPOINT"] = m_hub.endpoint();
    runner.env()["HF_TOKEN"] = "";
    runner.env()["HF_HUB_OFFLINE"] = "";
    runner.env()["XDG_CACHE_HOME"] = (runner.home() / "cache").string();
    seed_state();
  }

  // What the `requests` and `bench_results` tools read (tests/node/mcp/lib.mjs says what).
  void seed_state() {
    auto store = infra::state::StateStore::open(runner.state_dir() / "gpumod.db");
    ASSERT_TRUE(store) << store.error().message;
    std::vector<infra::state::RequestRecord> requests;
    for (auto [model, service, action, ms] : {std::tuple{"test/alpha", "alpha", "start", 10},
                                              std::tuple{"test/beta", "beta", "wake", 20},
                                              std::tuple{"test/alpha", "alpha", "serve", 30}}) {
      infra::state::RequestRecord r;
      r.method = "POST";
      r.path = "/v1/chat/completions";
      r.model = model;
      r.service_id = service;
      r.status = 200;
      r.ttfb_ms = ms / 2;
      r.duration_ms = ms;
      r.action = action;
      requests.push_back(r);
    }
    ASSERT_TRUE(store->record_requests(requests, 1000));
    std::int64_t at_ms = 1'700'000'000'000;
    for (auto [subject, gen_tps] : {std::pair{"alpha", 50.0}, std::pair{"alpha", 60.0}, std::pair{"beta", 80.0}}) {
      infra::state::BenchRun b;
      b.kind = "serve";
      b.subject = subject;
      b.model = std::string("test/") + subject;
      b.settings = "prompt=512 gen=128 runs=3 concurrency=1";
      b.measured_at_ms = at_ms += 1000;
      b.gen_tps = gen_tps;
      b.prompt_tps = 10 * gen_tps;
      b.ttft_ms = 40;
      b.result_json = "{}";
      ASSERT_TRUE(store->add_bench_run(b, {}));
    }
  }

  // Runs one Node test file; its output is shown when it fails.
  void run_node(const std::string& file) {
    test_support::ChildOptions o;
    o.env = runner.env();
    o.env["GPUMOD_BIN"] = GPUMOD_BIN;
    o.env["GPUMOD_ROOT"] = root().string();
    o.env["GPUMOD_HF_REPO"] = "unsloth/Nemotron-3-Nano-30B-A3B-GGUF";
    o.env["NODE_NO_WARNINGS"] = "1";
    test_support::ChildProcess node({m_node.string(), "--test", "--test-reporter=spec", (k_node_dir / file).string()}, o);
    ASSERT_GT(node.pid(), 0) << node.error();
    const auto code = node.wait_exit(std::chrono::seconds(100));
    if (!code) node.terminate();
    EXPECT_EQ(code, std::optional<int>(0)) << node.output();
  }

  fs::path m_node;
  test_support::FakeHub m_hub;
};

// SDK 1.x (2025-11-25) over stdio: tools, resources, reads, HF tools, switches, bad input,
// list_changed after a config edit, and raw malformed lines.
TEST_F(McpNode, LegacyClientOverStdio) { run_node("legacy_stdio.test.mjs"); }

// SDK 1.x over streamable HTTP (gpumod mcp --listen), the HTTP rules, /mcp on the daemon socket.
TEST_F(McpNode, LegacyClientOverHttp) { run_node("legacy_http.test.mjs"); }

// SDK 2.x pinned to 2026-07-28 (server/discover) over HTTP and stdio; raw -32022.
TEST_F(McpNode, ModernClientDiscover) { run_node("modern.test.mjs"); }

// /mcp on `daemon run --listen` (bearer token).
TEST_F(McpNode, DaemonTcpListenerWithBearerToken) { run_node("daemon_tcp.test.mjs"); }

// An MCP switch_mode and a CLI mode switch at once are serialized by the daemon.
TEST_F(McpNode, SwitchesFromMcpAndCliAreSerialized) { run_node("concurrency.test.mjs"); }

}  // namespace
}  // namespace gpumod::testing
