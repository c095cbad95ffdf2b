// LockFile: an exclusive advisory lock on a file (an open-file-description lock, F_OFD_SETLK),
// held for as long as the object lives and released by the kernel when the process dies, so a
// crashed holder never leaves a stale lock. The holder's pid is written into the file for
// messages. `held(path)` asks without taking the lock (F_OFD_GETLK), so asking never makes a
// real taker fail.
// Thread-safety: one owner; held() is a pure query.
#pragma once

#include <filesystem>

#include "gpumod/util/fd.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::util {

class LockFile {
 public:
  LockFile() = default;
  // The lock belongs to the open file description, so moving the descriptor keeps it.
  LockFile(LockFile&& other) noexcept : m_fd(other.m_fd.release()) {}
  LockFile& operator=(LockFile&&) = delete;

  // Takes the lock or fails at once: conflict (with the holder's pid when it wrote one) when
  // another open file description holds it, io when the file cannot be opened.
  static Result<LockFile> try_acquire(const std::filesystem::path& path);
  // True when some process holds the lock now (a missing file is not held).
  static bool held(const std::filesystem::path& path);

  bool owned() const { return m_fd.get() >= 0; }

 private:
  explicit LockFile(int fd) : m_fd(fd) {}
  Fd m_fd;
};

}  // namespace gpumod::util
