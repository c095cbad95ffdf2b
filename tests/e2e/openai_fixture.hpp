// Fixture of the OpenAI-endpoint e2e tests: a configuration whose presets run gpumod-mock-server
// (vLLM and llama-server router stand-ins) on free loopback ports with a simulated GPU, the real
// gpumod daemon with `serve.listen` on a free loopback port, and an HTTP client to it.
// Thread-safety: request helpers may be called from several threads (each makes its own client).
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "support/free_port.hpp"
#include "support/gpumod_runner.hpp"
#include "support/json_schema.hpp"

namespace gpumod::testing {

using nlohmann::json;
using namespace std::chrono_literals;

struct ServedPreset {
  std::string id;
  std::string driver = "vllm";          // vllm | llamacpp (router)
  std::int64_t vram_mib = 2000;
  std::string sleep_mode = "l1";        // none, l1, l2, router
  int port = 0;                         // 0: a free loopback port
  std::map<std::string, std::string> env;        // GPUMOD_MOCK_*
  std::map<std::string, std::string> unit_vars;
  std::string extra;                    // more preset YAML (aliases, ttl_s, pin, ...)
};

class OpenAiE2E : public ::testing::Test {
 protected:
  OpenAiE2E() {
    runner.env()["GPUMOD_USE_MOCK_SERVERS"] = "1";
    m_config = runner.home() / "cfg";
    port = test_support::free_loopback_port();
  }

  // Writes the configuration; `serve` is more YAML under serve: (indented by the caller).
  void write_config(const std::vector<ServedPreset>& presets,
                    const std::vector<std::pair<std::string, std::vector<std::string>>>& modes,
                    const std::string& serve = "", std::int64_t total_mib = 24000) {
    namespace fs = std::filesystem;
    fs::create_directories(m_config / "presets");
    fs::create_directories(m_config / "modes");
    std::ofstream(m_config / "gpumod.yaml")
        << "gpu:\n  simulate:\n    name: Test GPU\n    total_mib: " << total_mib
        << "\n    only_without_gpu: false\nvram_margin_mib: 0\nhealth_interval_ms: 60000\nserve:\n  listen: \"127.0.0.1:"
        << port << "\"\n"
        << (serve.find("min_residency_s") == std::string::npos ? "  min_residency_s: 0\n" : "") << serve;
    for (auto p : presets) {
      if (p.port == 0) p.port = test_support::free_loopback_port();
      ports[p.id] = p.port;
      std::ofstream out(m_config / "presets" / (p.id + ".yaml"));
      out << "id: " << p.id << "\ndriver: " << p.driver << "\nport: " << p.port << "\nvram_mb: " << p.vram_mib
          << "\nstartup_timeout: 30\nstop_timeout: 5\nrestart: \"no\"\n";
      if (p.driver == "vllm") out << "model_id: test/" << p.id << "\n";
      if (p.sleep_mode != "none") out << "supports_sleep: true\nsleep_mode: " << p.sleep_mode << "\n";
      if (!p.unit_vars.empty()) {
        out << "unit_vars:\n";
        for (const auto& [k, v] : p.unit_vars) out << "  " << k << ": \"" << v << "\"\n";
      }
      if (!p.env.empty()) {
        out << "env:\n";
        for (const auto& [k, v] : p.env) out << "  " << k << ": \"" << v << "\"\n";
      }
      out << p.extra;
    }
    for (const auto& [id, services] : modes) {
      std::ofstream out(m_config / "modes" / (id + ".yaml"));
      out << "id: " << id << "\nservices:\n";
      for (const auto& s : services) out << "  - " << s << "\n";
    }
  }

  // A llama-server router model (models_max 1 unless given), sharing `router_port` with its mates.
  static ServedPreset router_model(const std::string& id, const std::string& model, int router_port,
                                   std::int64_t vram_mib, int models_max = 1) {
    return {.id = id,
            .driver = "llamacpp",
            .vram_mib = vram_mib,
            .sleep_mode = "router",
            .port = router_port,
            .unit_vars = {{"models_dir", "/nonexistent/gpumod-e2e-models"},
                          {"models_max", std::to_string(models_max)},
                          {"no_models_autoload", "true"},
                          {"default_model", model}}};
  }

  RunResult gpumod(std::vector<std::string> args, int deadline_ms = 60000) const {
    std::vector<std::string> full{"--config", m_config.string()};
    full.insert(full.end(), args.begin(), args.end());
    return runner.run(full, deadline_ms);
  }

  // Starts the daemon and waits for the endpoint.
  void start_daemon() {
    const auto r = gpumod({"daemon", "start"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    ASSERT_TRUE(test_support::wait_for_port(port, 10s)) << "the OpenAI endpoint does not listen on " << port;
  }

  std::unique_ptr<httplib::Client> client(std::chrono::seconds read_timeout = 60s) const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
    c->set_read_timeout(read_timeout);
    c->set_connection_timeout(5s);
    return c;
  }

  // POST path with a JSON body: status and parsed body (null when not JSON).
  std::pair<int, json> post(const std::string& path, const json& body, httplib::Headers headers = {}) const {
    auto r = client()->Post(path, headers, body.dump(), "application/json");
    if (!r) return {-1, json()};
    return {r->status, json::parse(r->body, nullptr, false)};
  }


 public:
  static json chat(const std::string& model, bool stream = false) {
    return json{{"model", model}, {"stream", stream}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
  }


 protected:
  json status() const { return json::parse(gpumod({"status", "--json"}).out, nullptr, false); }
  std::string state_of(const std::string& id) const {
    const auto r = gpumod({"status", "--json"});
    const auto st = json::parse(r.out, nullptr, false);
    if (st.is_discarded() || !st.contains("services")) return "no status: " + r.out + r.err;
    for (const auto& s : st["services"]) {
      if (s["id"] == id) return s["state"].get<std::string>();
    }
    return "absent";
  }

  std::vector<json> events() const {
    std::vector<json> out;  // `events --json` is one document: {"events": [...]}
    const auto doc = json::parse(gpumod({"events", "--json", "--limit", "10000"}).out, nullptr, false);
    if (doc.is_object() && doc.contains("events")) {
      for (const auto& e : doc["events"]) out.push_back(e);
    }
    return out;
  }

  json requests() const {
    const auto r = gpumod({"requests", "--json", "-n", "1000"});
    const auto j = test_support::expect_one_document(r.out, r.err, "requests");
    return j.is_object() && j.contains("requests") ? j["requests"] : json::array();
  }
  // The recorded requests once there are at least `n` (the daemon writes them in batches).
  json requests_when(std::size_t n) const {
    json out = json::array();
    test_support::wait_until([&] { return (out = requests()).size() >= n; }, 10s, 20ms);
    return out;
  }

  std::string logs(const std::string& service) const {
    return gpumod({"service", "logs", service, "-n", "2000"}).out;
  }

  GpumodRunner runner;
  int port = 0;
  std::map<std::string, int> ports;

 private:
  std::filesystem::path m_config;

 public:
  const std::filesystem::path& config_dir() const { return m_config; }
};

}  // namespace gpumod::testing
