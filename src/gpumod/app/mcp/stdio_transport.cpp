#include "gpumod/app/mcp/stdio_transport.hpp"

#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace gpumod::app::mcp {

namespace {

class Writer {
 public:
  explicit Writer(int fd) : m_fd(fd) {}
  void line(const std::string& text) {
    std::lock_guard lock(m_mutex);
    std::string out = text + "\n";
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::write(m_fd, out.data() + done, out.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // the client went away
      done += static_cast<std::size_t>(n);
    }
  }

 private:
  int m_fd;
  std::mutex m_mutex;
};

}  // namespace

void run_stdio(Server& server, int in_fd, int out_fd, const std::function<bool()>& changed) {
  Writer writer(out_fd);
  std::mutex mutex;
  std::condition_variable cv;
  std::size_t in_flight = 0;

  auto dispatch = [&](std::string message) {
    if (changed && changed()) {
      for (const auto& n : Server::list_changed_notifications()) writer.line(n);
    }
    {
      std::unique_lock lock(mutex);
      cv.wait(lock, [&] { return in_flight < k_max_in_flight; });
      ++in_flight;
    }
    std::thread([&, message = std::move(message)] {
      const Reply r = server.handle(message);
      if (!r.body.empty()) writer.line(r.body);
      std::lock_guard lock(mutex);  // notified under the lock: run() may return right after
      --in_flight;
      cv.notify_all();
    }).detach();
  };

  std::string line;
  bool oversized = false;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(in_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      const char c = buf[i];
      if (c != '\n') {
        if (oversized) continue;
        if (line.size() >= k_max_message_bytes) {
          oversized = true;
          line.clear();
          line.shrink_to_fit();
          continue;
        }
        line.push_back(c);
        continue;
      }
      if (oversized) {
        writer.line(Server::error_response(-32600, "invalid request: the message is larger than " +
                                                       std::to_string(k_max_message_bytes) + " bytes"));
        oversized = false;
      } else if (!line.empty() && line != "\r") {
        dispatch(std::move(line));
      }
      line.clear();
    }
  }
  if (!line.empty() && !oversized) dispatch(std::move(line));
  std::unique_lock lock(mutex);
  cv.wait(lock, [&] { return in_flight == 0; });
}

}  // namespace gpumod::app::mcp
