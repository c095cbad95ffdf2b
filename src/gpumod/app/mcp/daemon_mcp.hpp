// /mcp inside the daemon: the MCP server as a client of the daemon's own API over its Unix
// socket (so an MCP request meets the same validation and the same command lock as the CLI),
// installed on the daemon's HTTP servers.
// Thread-safety: install() before serving; requests may then run at once.
#pragma once

#include <memory>

#include "gpumod/app/cli/app_context.hpp"

namespace httplib {
class Server;
}

namespace gpumod::app::mcp {

class Backend;
class Server;

class DaemonMcp {
 public:
  // `options`: the daemon's (its configuration root, --simulate-gpu), for read-only commands.
  explicit DaemonMcp(GlobalOptions options);
  ~DaemonMcp();
  void install(httplib::Server& svr);

 private:
  std::unique_ptr<Backend> m_backend;
  std::unique_ptr<Server> m_server;
};

}  // namespace gpumod::app::mcp
