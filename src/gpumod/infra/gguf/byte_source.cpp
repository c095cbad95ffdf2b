#include "gpumod/infra/gguf/byte_source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gpumod::infra::gguf {

util::Result<std::unique_ptr<FileByteSource>> FileByteSource::open(const std::string& path) {
  if (path.empty()) return util::fail(util::ErrorCode::invalid_argument, "empty GGUF path");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
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
    return util::fail(util::ErrorCode::invalid_argument, path + " is not a regular file");
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
