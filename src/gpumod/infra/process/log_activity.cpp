#include "gpumod/infra/process/log_activity.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gpumod::infra::process {

LogActivity::LogActivity(std::filesystem::path dir) : m_dir(std::move(dir)) {}

LogActivity::~LogActivity() {
  {
    std::lock_guard lock(m_mutex);
    if (m_stop_fd >= 0) {
      const std::uint64_t one = 1;
      (void)!::write(m_stop_fd, &one, sizeof one);
    }
  }
  if (m_thread.joinable()) m_thread.join();
  if (m_inotify_fd >= 0) ::close(m_inotify_fd);
  if (m_stop_fd >= 0) ::close(m_stop_fd);
}

bool LogActivity::start_locked() {
  if (m_started) return m_usable;
  std::error_code ec;
  if (!std::filesystem::is_directory(m_dir, ec)) return false;  // tried again on the next wait
  m_started = true;
  m_inotify_fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  m_stop_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (m_inotify_fd < 0 || m_stop_fd < 0 ||
      ::inotify_add_watch(m_inotify_fd, m_dir.c_str(), IN_MODIFY) < 0) {
    return false;
  }
  m_thread = std::thread([this] { run(); });
  m_usable = true;
  return true;
}

void LogActivity::run() {
  alignas(inotify_event) char buf[8192];
  for (;;) {
    pollfd fds[2] = {{m_inotify_fd, POLLIN, 0}, {m_stop_fd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    for (;;) {
      const ssize_t n = ::read(m_inotify_fd, buf, sizeof buf);
      if (n <= 0) break;
      std::lock_guard lock(m_mutex);
      for (ssize_t off = 0; off < n;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
        if (ev->len > 0) ++m_writes[std::string(ev->name, ::strnlen(ev->name, ev->len))];
        off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      }
    }
    m_cv.notify_all();
  }
}

bool LogActivity::wait(const std::string& file_name, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(m_mutex);
  if (!start_locked()) {
    lock.unlock();
    std::this_thread::sleep_until(until);
    return false;
  }
  const std::uint64_t seen = m_writes[file_name];
  return m_cv.wait_until(lock, until, [&] { return m_writes[file_name] != seen; });
}

std::uint64_t LogActivity::writes(const std::string& file_name) {
  std::lock_guard lock(m_mutex);
  const auto it = m_writes.find(file_name);
  return it == m_writes.end() ? 0 : it->second;
}

}  // namespace gpumod::infra::process
