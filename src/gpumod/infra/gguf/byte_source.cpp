#include "gpumod/infra/gguf/byte_source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gpumod::infra::gguf {

namespace {

// A path that names something else than a regular file holds no GGUF file: not_found (exit 4),
// naming what is there. Not a usage error: the argument was well formed.
std::unexpected<util::Error> not_a_file(const std::string& path, mode_t mode) {
  const char* what = S_ISDIR(mode)    ? "a directory"
                     : S_ISFIFO(mode) ? "a FIFO"
                     : S_ISCHR(mode)  ? "a character device"
                     : S_ISBLK(mode)  ? "a block device"
                     : S_ISSOCK(mode) ? "a socket"
                                      : "not a regular file";
  return util::fail(util::ErrorCode::not_found, "no GGUF file at " + path + ": it is " + what);
}

}  // namespace

util::Result<std::unique_ptr<FileByteSource>> FileByteSource::open(const std::string& path) {
  if (path.empty()) return util::fail(util::ErrorCode::invalid_argument, "empty GGUF path");
  // Special files are refused before they are opened: opening a FIFO blocks until a writer comes,
  // a device may have side effects. O_NONBLOCK covers a path swapped between stat and open.
  struct stat before {};
  if (::stat(path.c_str(), &before) == 0 && !S_ISREG(before.st_mode)) return not_a_file(path, before.st_mode);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    return util::fail(err == ENOENT ? util::ErrorCode::not_found : util::ErrorCode::io,
                      "cannot open " + path + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return util::fail(util::ErrorCode::io, "cannot stat " + path + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return not_a_file(path, st.st_mode);
  }
  return std::unique_ptr<FileByteSource>(
      new FileByteSource(path, fd, static_cast<std::uint64_t>(st.st_size)));
}

FileByteSource::~FileByteSource() {
  if (m_fd >= 0) ::close(m_fd);
}

util::Result<std::size_t> FileByteSource::read_at(std::uint64_t offset, std::span<std::byte> out) {
  std::size_t done = 0;
  while (done < out.size() && offset + done < m_size) {
    const ssize_t n = ::pread(m_fd, out.data() + done, out.size() - done,
                              static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return util::fail(util::ErrorCode::io, "reading " + m_path + " at byte " +
                                                 std::to_string(offset + done) + ": " +
                                                 std::strerror(errno));
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

util::Result<std::size_t> MemoryByteSource::read_at(std::uint64_t offset, std::span<std::byte> out) {
  if (offset >= m_bytes.size()) return std::size_t{0};
  const std::size_t n = std::min<std::uint64_t>(out.size(), m_bytes.size() - offset);
  std::memcpy(out.data(), m_bytes.data() + offset, n);
  return n;
}

}  // namespace gpumod::infra::gguf
