#include "support/free_port.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>
#include <vector>

namespace gpumod::test_support {
namespace {

sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// Binds a fresh socket to 127.0.0.1:port (0 = any); returns the fd and the port, or -1.
int bind_loopback(int port, int& bound_port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  auto addr = loopback(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  bound_port = ntohs(addr.sin_port);
  return fd;
}

}  // namespace

int free_loopback_port() {
  int port = 0;
  const int fd = bind_loopback(0, port);
  if (fd < 0) return 0;
  ::close(fd);
  return port;
}

int free_loopback_port_run(int count) {
  for (int attempt = 0; attempt < 200; ++attempt) {
    int base = 0;
    const int first = bind_loopback(0, base);
    if (first < 0) return 0;
    std::vector<int> held{first};
    for (int i = 1; i < count && base + i <= 65535; ++i) {
      int bound = 0;
      const int fd = bind_loopback(base + i, bound);
      if (fd < 0) break;
      held.push_back(fd);
    }
    const bool all = static_cast<int>(held.size()) == count;
    for (const int fd : held) ::close(fd);
    if (all) return base;
  }
  return 0;
}

bool wait_for_port(int port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    auto addr = loopback(port);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

PortHolder::PortHolder() {
  m_fd = bind_loopback(0, m_port);
  if (m_fd >= 0) ::listen(m_fd, 4);
}

PortHolder::~PortHolder() {
  if (m_fd >= 0) ::close(m_fd);
}

}  // namespace gpumod::test_support
