// Shared fixture of the runtime e2e tests (issue 4): a configuration in a temporary directory whose
// presets run gpumod-mock-server (llama-server / vLLM stand-in) on free loopback ports, a
// simulated GPU whose memory moves with the mocks' ledger entries, and the real gpumod binary
// (which autostarts its daemon) run through GpumodRunner.
// Thread-safety: one fixture per test.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "gpumod/infra/gpu/sim_ledger.hpp"
#include "gpumod/infra/process/identity.hpp"
#include "support/child_process.hpp"
#include "support/free_port.hpp"
#include "support/gpumod_runner.hpp"

namespace gpumod::testing {

using nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline constexpr std::int64_t k_gpu_total_mib = 24000;

struct PresetSpec {
  std::string id;
  std::string driver = "vllm";           // vllm | llamacpp
  int port = 0;                          // 0: a free loopback port
  std::int64_t vram_mib = 2000;
  std::string sleep_mode = "l1";         // l1 | l2 | router | none
  int startup_timeout_s = 10;
  std::string restart = "on-failure";
  int max_restarts = 3;
  std::map<std::string, std::string> env;        // GPUMOD_MOCK_* faults, delays, memory
  std::map<std::string, std::string> unit_vars;  // added to the binary's unit var
  std::string model_path;                        // llamacpp single-model mode
  std::string bin;                               // the server binary ("": the mock server)
};

class RuntimeFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    m_root = runner.home() / "cfg";
    fs::create_directories(m_root / "presets");
    fs::create_directories(m_root / "modes");
    write_settings("health_interval_ms: 60000\n");
  }

  // gpumod.yaml: a simulated GPU used even on a machine with a real one, no admission margin.
  void write_settings(const std::string& extra) {
    std::ofstream(m_root / "gpumod.yaml", std::ios::trunc)
        << "gpu:\n  simulate:\n    name: Test GPU\n    total_mib: " << k_gpu_total_mib
        << "\n    only_without_gpu: false\nvram_margin_mib: 0\n"
        << extra;
  }

  // Writes presets/<id>.yaml; returns the port.
  int add_preset(PresetSpec p) {
    if (p.port == 0) p.port = test_support::free_loopback_port();
    std::ofstream out(m_root / "presets" / (p.id + ".yaml"), std::ios::trunc);
    out << "id: " << p.id << "\nname: " << p.id << "\ndriver: " << p.driver << "\nport: " << p.port
        << "\nvram_mb: " << p.vram_mib << "\nstartup_timeout: " << p.startup_timeout_s
        << "\nstop_timeout: 5\nrestart: " << p.restart << "\nmax_restarts: " << p.max_restarts << "\n";
    if (p.sleep_mode != "none") out << "supports_sleep: true\nsleep_mode: " << p.sleep_mode << "\n";
    if (p.driver == "vllm") out << "model_id: test/" << p.id << "\n";
    if (!p.model_path.empty()) out << "model_path: " << p.model_path << "\n";
    out << "unit_vars:\n  " << (p.driver == "vllm" ? "vllm_bin" : "llamacpp_bin") << ": "
        << (p.bin.empty() ? std::string(GPUMOD_MOCK_SERVER_BIN) : p.bin) << "\n";
    for (const auto& [k, v] : p.unit_vars) out << "  " << k << ": " << v << "\n";
    if (p.driver == "vllm" && !p.env.contains("GPUMOD_MOCK_VRAM_MIB")) {
      p.env["GPUMOD_MOCK_VRAM_MIB"] = std::to_string(p.vram_mib);
    }
    out << "env:\n";
    for (const auto& [k, v] : p.env) out << "  " << k << ": \"" << v << "\"\n";
    return p.port;
  }

  void add_mode(const std::string& id, const std::vector<std::string>& services) {
    std::ofstream out(m_root / "modes" / (id + ".yaml"), std::ios::trunc);
    out << "id: " << id << "\nname: " << id << "\nservices:\n";
    for (const auto& s : services) out << "  - " << s << "\n";
  }

  RunResult gpumod(std::vector<std::string> args, int deadline_ms = 30000) {
    std::vector<std::string> full{"--config", m_root.string()};
    full.insert(full.end(), args.begin(), args.end());
    return runner.run(full, deadline_ms);
  }

  json status() {
    const auto r = gpumod({"status", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }

  json service(const std::string& id) {
    const auto r = gpumod({"service", "status", id, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }

  static std::int64_t gpu_used(const json& status) {
    return status["gpu"]["devices"][0]["used_mib"].get<std::int64_t>();
  }

  // The simulated GPU's used memory, straight from the ledger the mocks write.
  std::int64_t ledger_used_mib() {
    std::int64_t total = 0;
    for (const auto& p : infra::gpu::read_ledger(runner.ledger_dir())) total += p.used_mib;
    return total;
  }

  // The daemon's pid from `gpumod daemon status` (0 when none runs).
  int daemon_pid() {
    const auto r = gpumod({"daemon", "status"});
    if (r.exit_code != 0) return 0;
    const auto at = r.out.find("daemon pid ");
    if (at == std::string::npos) return 0;
    return std::stoi(r.out.substr(at + 11));
  }

  std::string events_text() { return gpumod({"events"}).out; }

  // Polls `gpumod service status ID --json` until its state is `state`.
  bool wait_state(const std::string& id, const std::string& state, std::chrono::milliseconds timeout) {
    return test_support::wait_until([&] { return service(id)["state"] == state; }, timeout, 50ms);
  }

  // Alive and not a zombie (a daemon that exited stays a zombie when nobody reaps it).
  static bool pid_alive(int pid) { return pid > 0 && ::kill(pid, 0) == 0 && !is_zombie(pid); }

  static bool wait_dead(int pid, std::chrono::milliseconds timeout) {
    return test_support::wait_until([&] { return !pid_alive(pid); }, timeout);
  }

  static bool is_zombie(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = text.rfind(')');
    return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z';
  }

  // The mock server under the name of the real one (a symlink in the test's home): gpumod treats
  // it as that server (preflight checks its model files), and it behaves as the mock.
  std::string mock_named(const std::string& name) {
    const fs::path dir = runner.home() / "bin";
    fs::create_directories(dir);
    std::error_code ec;
    fs::create_symlink(GPUMOD_MOCK_SERVER_BIN, dir / name, ec);
    return (dir / name).string();
  }

  const fs::path& root() const { return m_root; }

  GpumodRunner runner;

 private:
  fs::path m_root;
};

// "gpumod: error: " starts the last stderr line of a failed command.
inline bool is_cli_error(const RunResult& r, const std::string& text) {
  return r.exit_code != 0 && r.err.find("gpumod: error: ") != std::string::npos &&
         r.err.find(text) != std::string::npos;
}

}  // namespace gpumod::testing
