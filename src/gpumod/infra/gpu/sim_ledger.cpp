#include "gpumod/infra/gpu/sim_ledger.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>

namespace gpumod::infra::gpu {

namespace fs = std::filesystem;

fs::path default_ledger_dir() {
  if (const char* d = std::getenv("GPUMOD_SIM_GPU_DIR"); d && *d) return d;
  if (const char* r = std::getenv("XDG_RUNTIME_DIR"); r && *r) return fs::path(r) / "gpumod" / "simgpu";
  return fs::path("/tmp") / ("gpumod-" + std::to_string(::getuid())) / "simgpu";
}

util::Status write_ledger_entry(const fs::path& dir, int pid, std::int64_t used_mib,
                                const std::string& name) {
  if (used_mib <= 0) {
    remove_ledger_entry(dir, pid);
    return {};
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return util::fail(util::ErrorCode::io, "creating " + dir.string() + ": " + ec.message());
  const auto final_path = dir / std::to_string(pid);
  const auto tmp_path = dir / ("." + std::to_string(pid) + ".tmp");
  {
    std::ofstream out(tmp_path, std::ios::trunc);
    out << used_mib << ' ' << name << '\n';
    if (!out) return util::fail(util::ErrorCode::io, "writing " + tmp_path.string());
  }
  fs::rename(tmp_path, final_path, ec);
  if (ec) return util::fail(util::ErrorCode::io, "renaming " + tmp_path.string() + ": " + ec.message());
  return {};
}

void remove_ledger_entry(const fs::path& dir, int pid) {
  std::error_code ec;
  fs::remove(dir / std::to_string(pid), ec);
}

namespace {

// A process that exited and was not reaped yet holds no memory (a real GPU frees it at exit).
bool is_zombie(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
}

}  // namespace

std::vector<core::GpuProcess> read_ledger(const fs::path& dir) {
  std::vector<core::GpuProcess> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto fname = it->path().filename().string();
    if (fname.empty() || fname[0] == '.') continue;
    char* endp = nullptr;
    const long pid = std::strtol(fname.c_str(), &endp, 10);
    if (*endp != '\0' || pid <= 0) continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      std::error_code rm;
      fs::remove(it->path(), rm);
      continue;
    }
    if (is_zombie(static_cast<int>(pid))) continue;  // exited, not reaped yet: a GPU frees it at exit
    std::ifstream in(it->path());
    core::GpuProcess p;
    p.pid = static_cast<int>(pid);
    if (!(in >> p.used_mib)) continue;
    std::getline(in >> std::ws, p.name);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace gpumod::infra::gpu
