#include "gpumod/app/mcp/daemon_mcp.hpp"

#include "gpumod/app/cli/daemon_client.hpp"
#include "gpumod/app/mcp/backend.hpp"
#include "gpumod/app/mcp/http_transport.hpp"
#include "gpumod/app/mcp/server.hpp"

namespace gpumod::app::mcp {

DaemonMcp::DaemonMcp(GlobalOptions options)
    : m_backend(std::make_unique<DaemonBackend>([] { return DaemonClient::connect_existing(); }, std::move(options))),
      m_server(std::make_unique<Server>(*m_backend)) {}

DaemonMcp::~DaemonMcp() = default;

void DaemonMcp::install(httplib::Server& svr) { install_mcp_routes(svr, *m_server, {}); }

}  // namespace gpumod::app::mcp
