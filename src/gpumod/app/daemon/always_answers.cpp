#include "gpumod/app/daemon/always_answers.hpp"

#include <httplib.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <vector>

namespace gpumod::app {

namespace {

class GrowingPool final : public httplib::TaskQueue {
 public:
  GrowingPool(std::size_t base, std::size_t max) : m_max(max) {
    std::lock_guard lock(m_mutex);
    for (std::size_t i = 0; i < base; ++i) m_threads.emplace_back([this] { work(); });
  }
  ~GrowingPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard lock(m_mutex);
      m_jobs.push_back(std::move(fn));
      if (m_jobs.size() > m_idle && m_threads.size() < m_max) m_threads.emplace_back([this] { work(); });
    }
    m_cv.notify_one();
  }

  void shutdown() override {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(m_mutex);
      m_stopping = true;
      threads.swap(m_threads);
    }
    m_cv.notify_all();
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void work() {
    while (true) {
      std::function<void()> job;
      {
        std::unique_lock lock(m_mutex);
        ++m_idle;
        m_cv.wait(lock, [&] { return m_stopping || !m_jobs.empty(); });
        --m_idle;
        if (m_jobs.empty()) return;  // stopping, and nothing left to do
        job = std::move(m_jobs.front());
        m_jobs.pop_front();
      }
      job();
    }
  }

  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::deque<std::function<void()>> m_jobs;
  std::vector<std::thread> m_threads;
  std::size_t m_idle = 0;
  std::size_t m_max;
  bool m_stopping = false;
};

}  // namespace

void use_growing_pool(httplib::Server& server, std::size_t base, std::size_t max) {
  server.new_task_queue = [base, max] { return new GrowingPool(base, max); };
}

void RecoveryGate::begin(std::string what) {
  std::lock_guard lock(m_mutex);
  m_recovering = true;
  m_what = std::move(what);
}

void RecoveryGate::end() {
  {
    std::lock_guard lock(m_mutex);
    m_recovering = false;
    m_what.clear();
  }
  m_cv.notify_all();
}

bool RecoveryGate::recovering() const {
  std::lock_guard lock(m_mutex);
  return m_recovering;
}

std::string RecoveryGate::what() const {
  std::lock_guard lock(m_mutex);
  return m_what;
}

void RecoveryGate::wait() const {
  std::unique_lock lock(m_mutex);
  m_cv.wait(lock, [&] { return !m_recovering; });
}

SocketWatch::SocketWatch(std::filesystem::path socket, std::function<bool()> on_gone) {
  m_inotify = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  m_stop = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (m_inotify < 0 || m_stop < 0) return;  // no watch: the daemon works as before
  if (::inotify_add_watch(m_inotify, socket.parent_path().c_str(), IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE) < 0) return;
  struct stat own {};
  if (::stat(socket.c_str(), &own) != 0) return;
  m_thread = std::thread([this, socket, own, on_gone = std::move(on_gone)]() mutable {
    const std::string name = socket.filename().string();
    alignas(inotify_event) char buf[4096];
    while (true) {
      pollfd fds[2] = {{m_inotify, POLLIN, 0}, {m_stop, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents != 0) return;
      bool touched = false;
      for (ssize_t n; (n = ::read(m_inotify, buf, sizeof buf)) > 0;) {
        for (char* p = buf; p < buf + n;) {
          const auto* ev = reinterpret_cast<const inotify_event*>(p);
          if (ev->len > 0 && name == ev->name) touched = true;
          p += sizeof(inotify_event) + ev->len;
        }
      }
      if (!touched) continue;
      struct stat now {};
      if (::stat(socket.c_str(), &now) == 0 && now.st_ino == own.st_ino && now.st_dev == own.st_dev) continue;
      if (!on_gone() || ::stat(socket.c_str(), &own) != 0) return;
    }
  });
}

SocketWatch::~SocketWatch() {
  if (m_stop >= 0) {
    const std::uint64_t one = 1;
    (void)!::write(m_stop, &one, sizeof one);
  }
  if (m_thread.joinable()) m_thread.join();
  if (m_inotify >= 0) ::close(m_inotify);
  if (m_stop >= 0) ::close(m_stop);
}

}  // namespace gpumod::app
