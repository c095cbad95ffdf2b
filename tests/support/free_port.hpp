// Test helpers for servers on loopback: a free TCP port, a port held open (to make a bind fail),
// and waiting until a port accepts connections.
// Thread-safety: free functions are safe from any thread; a PortHolder belongs to one test.
#pragma once

#include <chrono>

namespace gpumod::test_support {

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed).
int free_loopback_port();

// The first of `count` consecutive TCP ports on 127.0.0.1 that were all free a moment ago (for a
// script that takes a base port and uses base, base+1, ...); 0 when none was found.
int free_loopback_port_run(int count);

// True once 127.0.0.1:port accepts a TCP connection, false after `timeout`.
bool wait_for_port(int port, std::chrono::milliseconds timeout);

// Binds and listens on 127.0.0.1:<a free port> until destroyed, so another server fails to bind.
class PortHolder {
 public:
  PortHolder();
  ~PortHolder();
  PortHolder(const PortHolder&) = delete;
  PortHolder& operator=(const PortHolder&) = delete;
  int port() const { return m_port; }

 private:
  int m_fd = -1;
  int m_port = 0;
};

}  // namespace gpumod::test_support
