// Service log files: size-based copy-truncate rotation (the child keeps writing with O_APPEND),
// reading the last lines from the end, and following a log as it grows (inotify, event-driven,
// for `gpumod service logs -f`).
// Thread-safety: rotate_if_needed / tail_lines are free functions (do not rotate one file from two
// threads at once). A LogFollower is used by one thread; stop() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "gpumod/util/result.hpp"

namespace gpumod::infra::process {

// When the log is larger than max_bytes: log.(keep-1) -> log.keep, ..., log.1 -> log.2, a copy of
// log -> log.1 (0600), then the live log is truncated to 0 (copy-truncate, so a writer with O_APPEND
// keeps writing at the new end). At most `keep` old files remain; keep <= 0 only truncates.
// A missing log is not an error. Errors: io.
util::Status rotate_if_needed(const std::filesystem::path& log, std::uint64_t max_bytes, int keep);

// The last n lines (without their '\n'), read backwards from the end in blocks, not the whole file.
// A final line without '\n' counts as a line. Errors: not_found (no file), io.
util::Result<std::vector<std::string>> tail_lines(const std::filesystem::path& path, std::size_t n);

// Yields the lines appended to a file as it grows. Starts at the end of the file (or at the
// beginning if it does not exist yet; it may be created later). Survives copy-truncate rotation
// (it restarts from the beginning when the file shrinks) and rename-and-recreate rotation.
class LogFollower {
 public:
  // Errors from construction are reported by the first next().
  explicit LogFollower(std::filesystem::path path, bool from_start = false);
  ~LogFollower();
  LogFollower(const LogFollower&) = delete;
  LogFollower& operator=(const LogFollower&) = delete;

  // Waits up to timeout for new complete lines and returns them (empty on timeout or after stop()).
  // Errors: io (inotify unavailable, read failure).
  util::Result<std::vector<std::string>> next(std::chrono::milliseconds timeout);

  // Wakes a blocked next() and makes later calls return at once. Safe from any thread.
  void stop();
  bool stopped() const { return m_stopped.load(); }

 private:
  void open_file();                         // (re)opens the path when it exists
  util::Status read_available(std::vector<std::string>& lines);
  void drain_inotify();

  std::filesystem::path m_path;
  bool m_from_start = false;
  int m_inotify_fd = -1;
  int m_stop_fd = -1;       // eventfd
  int m_file_watch = -1;
  int m_dir_watch = -1;
  int m_fd = -1;            // the followed file
  std::uint64_t m_inode = 0;
  std::uint64_t m_offset = 0;
  std::string m_partial;    // bytes after the last '\n'
  std::string m_init_error;
  std::atomic<bool> m_stopped{false};
};

}  // namespace gpumod::infra::process
