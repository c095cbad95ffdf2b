#include "gpumod/app/mcp/backend.hpp"

#include <nlohmann/json.hpp>

#include "gpumod/app/cli/command_runner.hpp"
#include "gpumod/app/cli/daemon_client.hpp"

namespace gpumod::app::mcp {

using nlohmann::json;

DaemonBackend::DaemonBackend(Connect connect, GlobalOptions options)
    : m_connect(std::move(connect)), m_options(std::move(options)) {}

util::Result<DaemonClient> DaemonBackend::client() {
  std::lock_guard lock(m_mutex);
  return m_connect();
}

util::Result<json> DaemonBackend::get(const std::string& path, std::chrono::milliseconds timeout) {
  auto c = client();
  if (!c) return std::unexpected(c.error());
  return c->get(path, timeout);
}

util::Result<json> DaemonBackend::post(const std::string& path, const json& body, std::chrono::milliseconds timeout) {
  auto c = client();
  if (!c) return std::unexpected(c.error());
  return c->post(path, body, timeout);
}

util::Result<json> DaemonBackend::command(const std::vector<std::string>& args) {
  auto full = args;
  full.push_back("--json");
  auto r = run_command(full, m_options);
  if (!r) return std::unexpected(r.error());
  auto j = json::parse(r->out, nullptr, false);
  if (j.is_discarded()) {
    return util::fail(util::ErrorCode::internal, "gpumod " + args.front() + " printed no JSON: " + r->err);
  }
  return j;
}

}  // namespace gpumod::app::mcp
