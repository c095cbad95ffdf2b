// What gpumod's MCP server stands on: the daemon API (docs/daemon-protocol.md) for everything
// that observes or changes what runs -- the one engine and its one command lock, so an MCP
// `switch_mode` and a CLI `mode switch` are serialized by the daemon -- and the read-only CLI
// commands (run in-process, app/cli/command_runner.hpp) for what is computed from the
// configuration, the model registry and the Hugging Face Hub, so a tool answers exactly what
// the matching `gpumod ... --json` prints.
// Backend is an interface so the protocol layer's unit tests can fake it.
// Thread-safety: the implementations here may be called from several threads at once.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::app {
class DaemonClient;
}

namespace gpumod::app::mcp {

class Backend {
 public:
  virtual ~Backend() = default;
  // A daemon API request; a non-2xx answer is the daemon's Error.
  virtual util::Result<nlohmann::json> get(const std::string& path, std::chrono::milliseconds timeout) = 0;
  virtual util::Result<nlohmann::json> post(const std::string& path, const nlohmann::json& body,
                                            std::chrono::milliseconds timeout) = 0;
  // A read-only CLI command with --json (the flag is added here); its output as JSON.
  virtual util::Result<nlohmann::json> command(const std::vector<std::string>& args) = 0;
};

// Reaches the daemon through `connect` (called per request, under a lock: DaemonClient::connect
// for `gpumod mcp`, which starts the daemon when none runs and restarts it after a configuration
// edit exactly as the CLI does) and runs commands with `options`.
class DaemonBackend final : public Backend {
 public:
  using Connect = std::function<util::Result<DaemonClient>()>;
  DaemonBackend(Connect connect, GlobalOptions options);
  util::Result<nlohmann::json> get(const std::string& path, std::chrono::milliseconds timeout) override;
  util::Result<nlohmann::json> post(const std::string& path, const nlohmann::json& body,
                                    std::chrono::milliseconds timeout) override;
  util::Result<nlohmann::json> command(const std::vector<std::string>& args) override;

 private:
  util::Result<DaemonClient> client();
  Connect m_connect;
  GlobalOptions m_options;
  std::mutex m_mutex;
};

}  // namespace gpumod::app::mcp
