#include "gpumod/infra/process/log_files.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

namespace gpumod::infra::process {
namespace fs = std::filesystem;

namespace {

fs::path numbered(const fs::path& log, int i) { return fs::path(log.string() + "." + std::to_string(i)); }

util::Error io_error(std::string_view what, const fs::path& p, std::string_view why) {
  return util::Error{util::ErrorCode::io, fmt::format("{} {}: {}", what, p.string(), why)};
}

// Copies src to dst (created 0600, replaced if present).
util::Status copy_file_0600(const fs::path& src, const fs::path& dst) {
  int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return std::unexpected(io_error("cannot open", src, std::strerror(errno)));
  int out = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0) {
    int e = errno;
    ::close(in);
    return std::unexpected(io_error("cannot create", dst, std::strerror(e)));
  }
  std::array<char, 65536> buf{};
  util::Status status;
  while (true) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = std::unexpected(io_error("cannot read", src, std::strerror(errno)));
      break;
    }
    if (n == 0) break;
    ssize_t done = 0;
    while (done < n) {
      ssize_t w = ::write(out, buf.data() + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        status = std::unexpected(io_error("cannot write", dst, std::strerror(errno)));
        break;
      }
      done += w;
    }
    if (!status) break;
  }
  ::close(in);
  if (::close(out) != 0 && status) status = std::unexpected(io_error("cannot write", dst, std::strerror(errno)));
  return status;
}

void split_into(std::string& partial, std::string_view data, std::vector<std::string>& lines) {
  std::size_t start = 0;
  while (true) {
    auto nl = data.find('\n', start);
    if (nl == std::string_view::npos) break;
    partial.append(data.substr(start, nl - start));
    lines.push_back(std::move(partial));
    partial.clear();
    start = nl + 1;
  }
  partial.append(data.substr(start));
}

}  // namespace

util::Status rotate_if_needed(const fs::path& log, std::uint64_t max_bytes, int keep) {
  struct stat st {};
  if (::stat(log.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return std::unexpected(io_error("cannot stat", log, std::strerror(errno)));
  }
  if (static_cast<std::uint64_t>(st.st_size) <= max_bytes) return {};
  if (keep > 0) {
    std::error_code ec;
    fs::remove(numbered(log, keep), ec);
    for (int i = keep - 1; i >= 1; --i) {
      fs::path from = numbered(log, i);
      if (!fs::exists(from, ec)) continue;
      fs::rename(from, numbered(log, i + 1), ec);
      if (ec) return std::unexpected(io_error("cannot rename", from, ec.message()));
    }
    if (auto s = copy_file_0600(log, numbered(log, 1)); !s) return s;
  }
  if (::truncate(log.c_str(), 0) != 0) return std::unexpected(io_error("cannot truncate", log, std::strerror(errno)));
  return {};
}

util::Result<std::vector<std::string>> tail_lines(const fs::path& path, std::size_t n) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return util::fail(util::ErrorCode::not_found, fmt::format("no log file {}", path.string()));
    return std::unexpected(io_error("cannot open", path, std::strerror(errno)));
  }
  std::vector<std::string> lines;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return std::unexpected(io_error("cannot stat", path, std::strerror(e)));
  }
  if (n == 0 || st.st_size == 0) {
    ::close(fd);
    return lines;
  }
  // Read blocks backwards until n + 1 newlines (ignoring a final one) or the start.
  constexpr off_t k_block = 64 * 1024;
  off_t end = st.st_size;
  off_t pos = end;
  std::string data;  // the suffix read so far
  std::size_t newlines = 0;
  bool skip_final = false;
  while (pos > 0) {
    off_t len = std::min<off_t>(k_block, pos);
    pos -= len;
    std::string block(static_cast<std::size_t>(len), '\0');
    ssize_t got = 0;
    while (got < len) {
      ssize_t r = ::pread(fd, block.data() + got, static_cast<std::size_t>(len - got), pos + got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += r;
    }
    if (got != len) {
      ::close(fd);
      return std::unexpected(io_error("cannot read", path, "short read"));
    }
    if (data.empty() && !block.empty() && block.back() == '\n') skip_final = true;
    newlines += static_cast<std::size_t>(std::count(block.begin(), block.end(), '\n'));
    data.insert(0, block);
    if (newlines >= n + (skip_final ? 1 : 0) + 1) break;
  }
  ::close(fd);
  if (skip_final) data.pop_back();
  // Split and keep the last n.
  std::vector<std::string> all;
  std::size_t start = 0;
  while (true) {
    auto nl = data.find('\n', start);
    if (nl == std::string::npos) {
      all.push_back(data.substr(start));
      break;
    }
    all.push_back(data.substr(start, nl - start));
    start = nl + 1;
  }
  if (pos > 0 && !all.empty()) all.erase(all.begin());  // the first piece may be a partial line
  std::size_t from = all.size() > n ? all.size() - n : 0;
  lines.assign(std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(from)),
               std::make_move_iterator(all.end()));
  return lines;
}

LogFollower::LogFollower(fs::path path, bool from_start) : m_path(std::move(path)), m_from_start(from_start) {
  m_inotify_fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  m_stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (m_inotify_fd < 0 || m_stop_fd < 0) {
    m_init_error = fmt::format("cannot follow {}: {}", m_path.string(), std::strerror(errno));
    return;
  }
  fs::path dir = m_path.parent_path().empty() ? fs::path(".") : m_path.parent_path();
  m_dir_watch = ::inotify_add_watch(m_inotify_fd, dir.c_str(), IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
  if (m_dir_watch < 0) {
    m_init_error = fmt::format("cannot watch directory {}: {}", dir.string(), std::strerror(errno));
    return;
  }
  open_file();
  if (m_fd >= 0 && !m_from_start) {
    struct stat st {};
    if (::fstat(m_fd, &st) == 0) m_offset = static_cast<std::uint64_t>(st.st_size);
  }
}

LogFollower::~LogFollower() {
  if (m_fd >= 0) ::close(m_fd);
  if (m_inotify_fd >= 0) ::close(m_inotify_fd);
  if (m_stop_fd >= 0) ::close(m_stop_fd);
}

void LogFollower::stop() {
  m_stopped.store(true);
  if (m_stop_fd >= 0) {
    std::uint64_t one = 1;
    (void)!::write(m_stop_fd, &one, sizeof one);
  }
}

void LogFollower::open_file() {
  int fd = ::open(m_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return;
  }
  if (m_fd >= 0) {
    if (static_cast<std::uint64_t>(st.st_ino) == m_inode) {
      ::close(fd);
      return;  // same file
    }
    ::close(m_fd);
  }
  if (m_file_watch >= 0) ::inotify_rm_watch(m_inotify_fd, m_file_watch);
  m_fd = fd;
  m_inode = static_cast<std::uint64_t>(st.st_ino);
  m_offset = 0;
  m_file_watch = ::inotify_add_watch(m_inotify_fd, m_path.c_str(),
                                     IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVE_SELF | IN_DELETE_SELF);
}

void LogFollower::drain_inotify() {
  alignas(inotify_event) std::array<char, 4096> buf{};
  while (true) {
    ssize_t n = ::read(m_inotify_fd, buf.data(), buf.size());
    if (n <= 0) break;  // EAGAIN: drained
  }
}

util::Status LogFollower::read_available(std::vector<std::string>& lines) {
  // A different file at the path now (rename-and-recreate rotation): finish the old one first.
  struct stat path_st {};
  bool replaced = ::stat(m_path.c_str(), &path_st) == 0 && m_fd >= 0 &&
                  static_cast<std::uint64_t>(path_st.st_ino) != m_inode;
  if (m_fd < 0) {
    open_file();
    if (m_fd < 0) return {};
  }
  struct stat st {};
  if (::fstat(m_fd, &st) != 0) return std::unexpected(io_error("cannot stat", m_path, std::strerror(errno)));
  if (static_cast<std::uint64_t>(st.st_size) < m_offset) {
    // Truncated (copy-truncate rotation): the old tail is in log.1; go on from the start.
    if (!m_partial.empty()) lines.push_back(std::move(m_partial));
    m_partial.clear();
    m_offset = 0;
  }
  std::array<char, 65536> buf{};
  while (true) {
    ssize_t n = ::pread(m_fd, buf.data(), buf.size(), static_cast<off_t>(m_offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(io_error("cannot read", m_path, std::strerror(errno)));
    if (n == 0) break;
    m_offset += static_cast<std::uint64_t>(n);
    split_into(m_partial, std::string_view(buf.data(), static_cast<std::size_t>(n)), lines);
  }
  if (replaced) {
    if (!m_partial.empty()) lines.push_back(std::move(m_partial));
    m_partial.clear();
    open_file();
    return read_available(lines);
  }
  return {};
}

util::Result<std::vector<std::string>> LogFollower::next(std::chrono::milliseconds timeout) {
  if (!m_init_error.empty()) return util::fail(util::ErrorCode::io, m_init_error);
  std::vector<std::string> lines;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!m_stopped.load()) {
    if (auto s = read_available(lines); !s) return std::unexpected(s.error());
    if (!lines.empty()) return lines;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
    std::array<pollfd, 2> fds{{{m_inotify_fd, POLLIN, 0}, {m_stop_fd, POLLIN, 0}}};
    int r = ::poll(fds.data(), fds.size(), static_cast<int>(std::min<long long>(left, 1 << 30)));
    if (r < 0 && errno != EINTR) return std::unexpected(io_error("cannot wait on", m_path, std::strerror(errno)));
    if (r > 0 && (fds[0].revents & POLLIN) != 0) drain_inotify();
  }
  return lines;
}

}  // namespace gpumod::infra::process
