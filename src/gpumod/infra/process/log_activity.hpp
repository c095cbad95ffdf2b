// LogActivity: wakes waiters when a file in one directory (the services' log directory) is
// written, so that a readiness probe can run right after a server prints "listening".
// One inotify instance and one reader thread for the owner's lifetime: making and closing an
// inotify instance per wait cost ~7 ms on the build box (the kernel synchronises SRCU when an
// inotify group is destroyed), more than the whole rest of a service start's overhead.
// Thread-safety: wait() may be called from any number of threads at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace gpumod::infra::process {

class LogActivity {
 public:
  explicit LogActivity(std::filesystem::path dir);
  ~LogActivity();
  LogActivity(const LogActivity&) = delete;
  LogActivity& operator=(const LogActivity&) = delete;

  // Waits up to timeout for a write to `file_name` (a name inside the directory) after this call
  // began. True on a write; false on timeout. Where inotify cannot watch the directory it sleeps
  // for the timeout and returns false, so callers lose only speed.
  bool wait(const std::string& file_name, std::chrono::milliseconds timeout);

  // Writes seen so far to file_name (for tests).
  std::uint64_t writes(const std::string& file_name);

 private:
  bool start_locked();  // the watch and the reader thread, made on first use
  void run();

  std::filesystem::path m_dir;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::map<std::string, std::uint64_t> m_writes;
  bool m_started = false;
  bool m_usable = false;
  int m_inotify_fd = -1;
  int m_stop_fd = -1;
  std::thread m_thread;
};

}  // namespace gpumod::infra::process
