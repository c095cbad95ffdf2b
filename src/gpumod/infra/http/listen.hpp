// Binding gpumod's own HTTP servers (the daemon's Unix socket, its loopback TCP listener, the
// OpenAI endpoint, `gpumod mcp --listen`). cpp-httplib listens with a backlog of 5 and sets
// SO_REUSEPORT: with 50 clients connecting at once the 6th non-blocking connect to a busy daemon's
// Unix socket fails with EAGAIN (read as "no daemon"), and a second process could bind the same TCP
// port. bind_server listens with a deep backlog and SO_REUSEADDR only.
// Thread-safety: call before the server runs, from the thread that owns it.
#pragma once

#include <string>

namespace httplib {
class Server;
}

namespace gpumod::infra::http {

// The listen backlog of gpumod's servers (the kernel caps it at net.core.somaxconn).
inline constexpr int k_listen_backlog = 1024;

// Binds `server` to host:port (for a Unix socket: the socket's path, port ignored, after
// set_address_family(AF_UNIX)) and listens with `backlog`. False: the bind failed (in use, no
// such address, path too long).
bool bind_server(httplib::Server& server, const std::string& host, int port, int backlog = k_listen_backlog);

}  // namespace gpumod::infra::http
