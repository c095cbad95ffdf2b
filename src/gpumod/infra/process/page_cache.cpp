#include "gpumod/infra/process/page_cache.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace gpumod::infra::process {

util::Status drop_page_cache() {
  ::sync();
  const int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    const auto code = (e == EACCES || e == EPERM || e == EROFS) ? util::ErrorCode::unavailable : util::ErrorCode::io;
    return util::fail(code, std::string("page cache not dropped: /proc/sys/vm/drop_caches: ") + std::strerror(e) +
                                (code == util::ErrorCode::unavailable ? " (needs root)" : ""));
  }
  const ssize_t n = ::write(fd, "1", 1);
  const int e = errno;
  ::close(fd);
  if (n != 1) {
    const auto code = (e == EACCES || e == EPERM || e == EROFS) ? util::ErrorCode::unavailable : util::ErrorCode::io;
    return util::fail(code, std::string("page cache not dropped: writing /proc/sys/vm/drop_caches: ") + std::strerror(e));
  }
  return {};
}

}  // namespace gpumod::infra::process
