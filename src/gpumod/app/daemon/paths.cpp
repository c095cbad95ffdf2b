#include "gpumod/app/daemon/paths.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace gpumod::app {

namespace fs = std::filesystem;

namespace {
std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}
}  // namespace

fs::path daemon_runtime_dir() {
  if (auto d = env_or_empty("XDG_RUNTIME_DIR"); !d.empty()) return fs::path(d) / "gpumod";
  return fs::path("/tmp") / ("gpumod-" + std::to_string(::getuid()));
}

fs::path daemon_socket_path() { return daemon_runtime_dir() / "daemon.sock"; }
fs::path daemon_lock_path() { return daemon_runtime_dir() / "daemon.lock"; }

std::string binary_identity() {
  struct stat st {};
  if (::stat("/proc/self/exe", &st) != 0) return "";
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec);
}

fs::path state_dir() {
  if (auto d = env_or_empty("XDG_STATE_HOME"); !d.empty()) return fs::path(d) / "gpumod";
  if (auto h = env_or_empty("HOME"); !h.empty()) return fs::path(h) / ".local" / "state" / "gpumod";
  return fs::path("/tmp") / ("gpumod-state-" + std::to_string(::getuid()));
}

fs::path service_log_dir() { return state_dir() / "logs"; }

}  // namespace gpumod::app
