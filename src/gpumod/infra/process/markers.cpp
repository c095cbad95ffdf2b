#include "gpumod/infra/process/markers.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <string_view>
#include <sstream>

namespace gpumod::infra::process {

namespace fs = std::filesystem;

namespace {

std::string escape_key(const std::string& key) {
  std::string out;
  for (const char c : key) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (plain) {
      out += c;
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      out += buf;
    }
  }
  return out;
}

// The NUL-separated environment of a process; empty when unreadable (another user's process).
std::string read_environ(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  if (!in) return {};
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text;
}

std::optional<std::string> env_value(const std::string& env_text, std::string_view name) {
  std::size_t at = 0;
  while (at < env_text.size()) {
    const std::size_t end = std::min(env_text.find('\0', at), env_text.size());
    const std::string_view entry(env_text.data() + at, end - at);
    if (entry.size() > name.size() && entry.substr(0, name.size()) == name && entry[name.size()] == '=') {
      return std::string(entry.substr(name.size() + 1));
    }
    at = end + 1;
  }
  return std::nullopt;
}

}  // namespace

std::map<std::string, std::string> marker_env(const std::string& instance_key, const fs::path& state_db) {
  return {{k_marker_service_env, instance_key}, {k_marker_state_env, state_db.string()}};
}

std::vector<MarkedProcess> find_marked_processes(const fs::path& state_db, const fs::path& pid_dir) {
  std::map<std::string, MarkedProcess> found;
  const auto keep = [&](MarkedProcess p) {
    auto [it, inserted] = found.emplace(p.instance_key, p);
    if (!inserted && p.identity.start_time_ticks < it->second.identity.start_time_ticks) it->second = p;
  };
  const std::string db = state_db.string();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    const int pid = std::stoi(name);
    if (::getsid(pid) != pid) continue;  // not a session leader: a server's child, or not ours
    const auto env_text = read_environ(pid);
    if (env_text.empty()) continue;
    const auto state = env_value(env_text, k_marker_state_env);
    const auto key = env_value(env_text, k_marker_service_env);
    if (!state || !key || *state != db || key->empty()) continue;
    auto id = identify(pid);
    if (!id || !is_same_process_alive(*id)) continue;
    keep(MarkedProcess{*key, *id});
  }
  for (const auto& entry : fs::directory_iterator(pid_dir, ec)) {
    if (entry.path().extension() != ".pid") continue;
    std::ifstream in(entry.path());
    int pid = 0;
    std::uint64_t start = 0;
    std::string key;
    if (!(in >> pid >> start) || pid <= 0) continue;
    std::getline(in >> std::ws, key);
    const ProcessIdentity id{pid, start};
    if (key.empty() || !is_same_process_alive(id)) continue;
    keep(MarkedProcess{key, id});
  }
  std::vector<MarkedProcess> out;
  for (auto& [key, p] : found) out.push_back(std::move(p));
  return out;
}

util::Status write_pid_file(const fs::path& pid_dir, const std::string& instance_key, const ProcessIdentity& identity) {
  std::error_code ec;
  fs::create_directories(pid_dir, ec);
  const fs::path file = pid_dir / (escape_key(instance_key) + ".pid");
  const fs::path tmp = file.string() + ".tmp";
  const std::string text = std::to_string(identity.pid) + " " + std::to_string(identity.start_time_ticks) + " " + instance_key + "\n";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return util::fail(util::ErrorCode::io, "writing " + tmp.string() + ": " + std::strerror(errno));
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return util::fail(util::ErrorCode::io, "writing " + file.string() + ": " + std::strerror(ok ? errno : err));
  }
  return {};
}

void remove_pid_file(const fs::path& pid_dir, const std::string& instance_key) {
  std::error_code ec;
  fs::remove(pid_dir / (escape_key(instance_key) + ".pid"), ec);
}

}  // namespace gpumod::infra::process
