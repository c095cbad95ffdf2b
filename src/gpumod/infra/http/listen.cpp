#include "gpumod/infra/http/listen.hpp"

#include <httplib.h>
#include <sys/socket.h>

#include <memory>

namespace gpumod::infra::http {

bool bind_server(httplib::Server& server, const std::string& host, int port, int backlog) {
  auto bound_fd = std::make_shared<int>(-1);
  server.set_socket_options([bound_fd](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    *bound_fd = sock;
  });
  if (!server.bind_to_port(host, port)) return false;
  // A second listen() on a listening socket only changes its backlog.
  if (*bound_fd >= 0) ::listen(*bound_fd, backlog);
  return true;
}

}  // namespace gpumod::infra::http
