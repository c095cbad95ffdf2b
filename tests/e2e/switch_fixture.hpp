// Fixture of the mode-switch e2e tests: writes a small configuration (presets and modes on free
// loopback ports, a simulated GPU), runs the real gpumod binary against it with the
// gpumod-mock-server standing in for vLLM / llama-server, and reads status/events as JSON.
// Thread-safety: gpumod() may be called from several threads at once (each runs its own process);
// the rest belongs to the test's thread.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "gpumod/util/strings.hpp"
#include "support/child_process.hpp"
#include "support/free_port.hpp"
#include "support/gpumod_runner.hpp"

namespace gpumod::testing {

using nlohmann::json;
using namespace std::chrono_literals;

struct SwitchPresetSpec {
  std::string id;
  std::int64_t vram_mib = 1000;
  std::string driver = "vllm";
  std::string sleep_mode = "none";             // none, l1, l2, router
  std::map<std::string, std::string> env;      // e.g. GPUMOD_MOCK_FAULT
  std::vector<std::string> depends_on;
  std::map<std::string, std::string> unit_vars;
  int port = 0;                                // 0: a free loopback port
  std::string model;                           // vLLM model id (default "org/<id>")
  std::string restart = "no";                  // restart policy: no, on-failure, always
};

class SwitchE2E : public ::testing::Test {
 protected:
  SwitchE2E() {
    runner.env()["GPUMOD_USE_MOCK_SERVERS"] = "1";
    m_config = runner.home() / "cfg";
  }

  // Writes gpumod.yaml, presets/ and modes/ (each mode lists its services in the given order).
  void write_config(const std::vector<SwitchPresetSpec>& presets,
                    const std::vector<std::pair<std::string, std::vector<std::string>>>& modes,
                    std::int64_t total_mib = 24000, std::int64_t margin_mib = 512) {
    namespace fs = std::filesystem;
    fs::create_directories(m_config / "presets");
    fs::create_directories(m_config / "modes");
    std::ofstream(m_config / "gpumod.yaml") << "gpu:\n  simulate:\n    name: \"Test GPU (simulated)\"\n    total_mib: "
                                            << total_mib << "\n    only_without_gpu: true\nvram_margin_mib: "
                                            << margin_mib << "\n";
    for (auto p : presets) {
      if (p.port == 0) p.port = test_support::free_loopback_port();
      ports[p.id] = p.port;
      std::ofstream out(m_config / "presets" / (p.id + ".yaml"));
      out << "id: " << p.id << "\nname: " << p.id << "\ndriver: " << p.driver << "\nport: " << p.port
          << "\nvram_mb: " << p.vram_mib << "\nstartup_timeout: 20\nstop_timeout: 5\nrestart: \"" << p.restart << "\"\n";
      if (p.driver == "vllm") out << "model_id: " << (p.model.empty() ? "org/" + p.id : p.model) << "\n";
      if (p.sleep_mode != "none") out << "supports_sleep: true\nsleep_mode: " << p.sleep_mode << "\n";
      if (!p.depends_on.empty()) {
        out << "depends_on:\n";
        for (const auto& d : p.depends_on) out << "  - " << d << "\n";
      }
      if (!p.unit_vars.empty()) {
        out << "unit_vars:\n";
        for (const auto& [k, v] : p.unit_vars) out << "  " << k << ": \"" << v << "\"\n";
      }
      if (!p.env.empty()) {
        out << "env:\n";
        for (const auto& [k, v] : p.env) out << "  " << k << ": \"" << v << "\"\n";
      }
    }
    for (const auto& [id, services] : modes) {
      std::ofstream out(m_config / "modes" / (id + ".yaml"));
      out << "id: " << id << "\nname: " << id << "\nservices:\n";
      for (const auto& s : services) out << "  - " << s << "\n";
    }
  }

  RunResult gpumod(std::vector<std::string> args, int deadline_ms = 60000) const {
    std::vector<std::string> full{"--config", m_config.string()};
    full.insert(full.end(), args.begin(), args.end());
    return runner.run(full, deadline_ms);
  }

  // `gpumod mode switch ID --json [flags]`: the exit code and the parsed result.
  std::pair<int, json> switch_to(const std::string& mode, std::vector<std::string> flags = {}) const {
    std::vector<std::string> args{"mode", "switch", mode, "--json"};
    args.insert(args.end(), flags.begin(), flags.end());
    const auto r = gpumod(args);
    const auto j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "switch to " << mode << ": not JSON\nout: " << r.out << "\nerr: " << r.err;
    return {r.exit_code, j.is_discarded() ? json::object() : j};
  }

  json status() const {
    const auto r = gpumod({"status", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const auto j = json::parse(r.out, nullptr, false);
    return j.is_discarded() ? json::object() : j;
  }

  // The service entries of a status, by id.
  static std::map<std::string, json> services(const json& st) {
    std::map<std::string, json> out;
    if (st.contains("services")) {
      for (const auto& s : st["services"]) out[s["id"].get<std::string>()] = s;
    }
    return out;
  }
  std::map<std::string, json> services() const { return services(status()); }

  std::vector<json> events() const {
    const auto r = gpumod({"events", "--json", "--limit", "10000"});
    const auto j = json::parse(r.out, nullptr, false);
    if (j.is_discarded() || !j.contains("events")) return {};
    return j["events"].get<std::vector<json>>();
  }

  int daemon_pid() const {
    const auto r = gpumod({"daemon", "status"});
    const auto pos = r.out.find("daemon pid ");
    if (r.exit_code != 0 || pos == std::string::npos) return 0;
    return std::stoi(r.out.substr(pos + 11));
  }

  // The action of each step, "action:service", in the order of the result.
  static std::vector<std::string> step_list(const json& result) {
    std::vector<std::string> out;
    for (const auto& s : result["steps"]) out.push_back(s["action"].get<std::string>() + ":" + s["service"].get<std::string>());
    return out;
  }
  static std::vector<std::string> strings(const json& arr) {
    std::vector<std::string> out;
    for (const auto& v : arr) out.push_back(v.get<std::string>());
    return out;
  }

  static bool pid_alive(int pid) { return pid > 0 && ::kill(pid, 0) == 0; }

  const std::filesystem::path& config_dir() const { return m_config; }

  GpumodRunner runner;
  std::map<std::string, int> ports;

 private:
  std::filesystem::path m_config;
};

}  // namespace gpumod::testing
