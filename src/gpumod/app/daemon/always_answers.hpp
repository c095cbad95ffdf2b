// What keeps the daemon answering (issue 19, F5/F7 and the deleted socket):
// - a worker pool for its HTTP servers that grows when every worker is busy, so requests waiting
//   for the command lock (slow switches) never leave `status`, `ping` or `events` without a
//   thread;
// - a gate that mutating requests pass once the start-up recovery is done, while reads are
//   answered during it (the daemon listens before it recovers);
// - a watch on the socket file: when it is deleted or replaced, the daemon recreates it (else
//   nobody could reach it any more); when that fails, it stops (services keep running).
// Thread-safety: RecoveryGate and SocketWatch may be used from any thread.
#pragma once

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace gpumod::app {

// Gives `server` a worker pool of `base` threads that grows (up to `max`) when a request finds
// every worker busy; the extra threads stay until the server stops.
void use_growing_pool(httplib::Server& server, std::size_t base = 8, std::size_t max = 512);

class RecoveryGate {
 public:
  void begin(std::string what);
  void end();
  bool recovering() const;
  std::string what() const;
  void wait() const;  // returns at once when no recovery runs

 private:
  mutable std::mutex m_mutex;
  mutable std::condition_variable m_cv;
  bool m_recovering = false;
  std::string m_what;
};

class SocketWatch {
 public:
  // Calls `on_gone` (from its own thread) when `socket` is deleted, renamed or replaced by
  // another file; when it returns true (it made a new socket there) the watch goes on with the
  // new file, else it ends. inotify on the folder: no polling.
  SocketWatch(std::filesystem::path socket, std::function<bool()> on_gone);
  ~SocketWatch();
  SocketWatch(const SocketWatch&) = delete;
  SocketWatch& operator=(const SocketWatch&) = delete;

 private:
  int m_inotify = -1;
  int m_stop = -1;  // eventfd
  std::thread m_thread;
};

}  // namespace gpumod::app
