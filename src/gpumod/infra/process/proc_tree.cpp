#include "gpumod/infra/process/proc_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <deque>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

#include "gpumod/infra/process/proc_stat.hpp"

namespace gpumod::infra::process {
namespace {

std::optional<int> parse_pid(const char* name) {
  int v = 0;
  std::string_view s(name);
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

std::vector<int> all_pids() {
  std::vector<int> pids;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return pids;
  while (dirent* e = ::readdir(d)) {
    if (auto pid = parse_pid(e->d_name)) pids.push_back(*pid);
  }
  ::closedir(d);
  std::sort(pids.begin(), pids.end());
  return pids;
}

// Inodes of LISTEN sockets on the port in one /proc/net/tcp{,6} file.
void collect_listen_inodes(const char* path, int port, std::set<unsigned long>& inodes) {
  std::ifstream in(path);
  if (!in) return;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string sl, local, remote, state, txrx, trtm, retr, uid, timeout, inode;
    if (!(ls >> sl >> local >> remote >> state >> txrx >> trtm >> retr >> uid >> timeout >> inode)) continue;
    if (state != "0A") continue;  // TCP_LISTEN
    auto colon = local.rfind(':');
    if (colon == std::string::npos) continue;
    unsigned long local_port = std::strtoul(local.c_str() + colon + 1, nullptr, 16);
    if (static_cast<int>(local_port) != port) continue;
    unsigned long ino = std::strtoul(inode.c_str(), nullptr, 10);
    if (ino != 0) inodes.insert(ino);
  }
}

}  // namespace

std::vector<int> descendants(int pid) {
  std::vector<int> out;
  if (pid <= 0) return out;
  std::unordered_multimap<int, int> children_of;
  for (int p : all_pids()) {
    auto st = read_proc_stat(p);
    if (st) children_of.emplace(st->ppid, p);
  }
  std::deque<int> queue{pid};
  std::set<int> seen{pid};
  while (!queue.empty()) {
    int cur = queue.front();
    queue.pop_front();
    auto [b, e] = children_of.equal_range(cur);
    for (auto it = b; it != e; ++it) {
      if (seen.insert(it->second).second) {
        out.push_back(it->second);
        queue.push_back(it->second);
      }
    }
  }
  return out;
}

std::optional<int> parent_pid(int pid) {
  auto st = read_proc_stat(pid);
  if (!st) return std::nullopt;
  return st->ppid;
}

bool is_in_tree(int root_pid, int pid) {
  if (root_pid <= 0 || pid <= 0) return false;
  for (int cur = pid, guard = 0; cur > 0 && guard < 4096; ++guard) {
    if (cur == root_pid) return true;
    auto pp = parent_pid(cur);
    if (!pp || *pp == cur) return false;
    cur = *pp;
  }
  return false;
}

util::Result<std::string> read_cmdline(int pid) {
  if (pid <= 0) return util::fail(util::ErrorCode::invalid_argument, fmt::format("invalid pid {}", pid));
  std::string path = fmt::format("/proc/{}/cmdline", pid);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return util::fail(util::ErrorCode::not_found, fmt::format("process {} not found ({})", pid, path));
  std::string text;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  while (!text.empty() && text.back() == '\0') text.pop_back();
  std::replace(text.begin(), text.end(), '\0', ' ');
  return text;
}

std::vector<int> listening_pids_for_port(int port) {
  std::vector<int> out;
  if (port <= 0 || port > 65535) return out;
  std::set<unsigned long> inodes;
  collect_listen_inodes("/proc/net/tcp", port, inodes);
  collect_listen_inodes("/proc/net/tcp6", port, inodes);
  if (inodes.empty()) return out;
  std::set<std::string> targets;
  for (auto ino : inodes) targets.insert(fmt::format("socket:[{}]", ino));
  for (int pid : all_pids()) {
    std::string fd_dir = fmt::format("/proc/{}/fd", pid);
    DIR* d = ::opendir(fd_dir.c_str());
    if (d == nullptr) continue;  // gone, or not ours to read
    bool found = false;
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      char link[128];
      std::string p = fd_dir + "/" + e->d_name;
      ssize_t n = ::readlink(p.c_str(), link, sizeof link - 1);
      if (n <= 0) continue;
      if (targets.contains(std::string(link, static_cast<std::size_t>(n)))) {
        found = true;
        break;
      }
    }
    ::closedir(d);
    if (found) out.push_back(pid);
  }
  return out;
}

std::optional<int> listening_pid_for_port(int port) {
  auto pids = listening_pids_for_port(port);
  if (pids.empty()) return std::nullopt;
  return pids.front();
}

}  // namespace gpumod::infra::process
