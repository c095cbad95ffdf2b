#include "gpumod/infra/config/watch.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <thread>

namespace gpumod::infra::config {

namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t k_mask = IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                                 IN_ATTRIB | IN_ONLYDIR;

bool is_yaml(std::string_view name) {
  if (name.starts_with('.')) return false;  // editors' hidden swap and backup files
  return name.ends_with(".yaml") || name.ends_with(".yml");
}

}  // namespace

struct ConfigWatcher::Impl {
  fs::path root;
  std::chrono::milliseconds quiet{};
  std::function<void()> on_change;
  int inotify_fd = -1;
  int stop_fd = -1;
  std::map<int, fs::path> dirs;  // watch descriptor -> folder
  std::thread thread;

  ~Impl() {
    if (thread.joinable()) {
      const std::uint64_t one = 1;
      (void)!::write(stop_fd, &one, sizeof one);
      thread.join();
    }
    if (inotify_fd >= 0) ::close(inotify_fd);
    if (stop_fd >= 0) ::close(stop_fd);
  }

  // Watches `dir` and every folder below it.
  void watch_tree(const fs::path& dir) {
    const int wd = ::inotify_add_watch(inotify_fd, dir.c_str(), k_mask);
    if (wd < 0) return;
    dirs[wd] = dir;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_directory(ec) && !it->path().filename().string().starts_with('.')) watch_tree(it->path());
    }
  }

  // Reads what the kernel reported; true when a YAML file (or a folder) changed.
  bool drain() {
    bool relevant = false;
    alignas(inotify_event) char buf[16384];
    while (true) {
      const ssize_t n = ::read(inotify_fd, buf, sizeof buf);
      if (n <= 0) break;
      for (ssize_t at = 0; at < n;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + at);
        at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
        if (ev->mask & IN_Q_OVERFLOW) {
          relevant = true;
          continue;
        }
        if (ev->mask & IN_IGNORED) {
          dirs.erase(ev->wd);
          continue;
        }
        const std::string name = ev->len ? std::string(ev->name) : std::string();
        if (ev->mask & IN_ISDIR) {
          if (name.starts_with('.')) continue;
          if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && dirs.contains(ev->wd)) watch_tree(dirs[ev->wd] / name);
          relevant = true;  // a folder of presets came or went
        } else if (is_yaml(name)) {
          relevant = true;
        }
      }
    }
    return relevant;
  }

  void run() {
    std::optional<std::chrono::steady_clock::time_point> due;
    while (true) {
      int timeout_ms = -1;
      if (due) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*due - std::chrono::steady_clock::now());
        timeout_ms = static_cast<int>(std::max<std::int64_t>(0, left.count()));
      }
      pollfd fds[2] = {{inotify_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
      const int r = ::poll(fds, 2, timeout_ms);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 || (fds[1].revents & POLLIN)) return;
      if (fds[0].revents & POLLIN) {
        if (drain()) due = std::chrono::steady_clock::now() + quiet;
        continue;
      }
      if (due && std::chrono::steady_clock::now() >= *due) {
        due.reset();
        on_change();
      }
    }
  }
};

ConfigWatcher::ConfigWatcher(std::unique_ptr<Impl> impl) : m(std::move(impl)) {}
ConfigWatcher::~ConfigWatcher() = default;

util::Result<std::unique_ptr<ConfigWatcher>> ConfigWatcher::start(fs::path root, std::chrono::milliseconds quiet,
                                                                  std::function<void()> on_change) {
  auto impl = std::make_unique<Impl>();
  impl->root = std::move(root);
  impl->quiet = quiet;
  impl->on_change = std::move(on_change);
  impl->inotify_fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (impl->inotify_fd < 0) return util::fail(util::ErrorCode::io, std::string("inotify_init1: ") + std::strerror(errno));
  impl->stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl->stop_fd < 0) return util::fail(util::ErrorCode::io, std::string("eventfd: ") + std::strerror(errno));
  impl->watch_tree(impl->root);
  if (impl->dirs.empty()) {
    return util::fail(util::ErrorCode::io, "cannot watch the configuration folder " + impl->root.string() + ": " +
                                               std::strerror(errno));
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->run(); });
  return std::unique_ptr<ConfigWatcher>(new ConfigWatcher(std::move(impl)));
}

}  // namespace gpumod::infra::config
