#include "gpumod/infra/process/proc_stat.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string>

#include <fmt/format.h>

namespace gpumod::infra::process {
namespace {

template <class T>
bool parse_number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

}  // namespace

util::Result<ProcStat> parse_proc_stat(std::string_view text) {
  ProcStat st;
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return util::fail(util::ErrorCode::corrupt, "proc stat: no command name in parentheses");
  }
  if (!parse_number(text.substr(0, open > 0 ? open - 1 : 0), st.pid)) {
    return util::fail(util::ErrorCode::corrupt, "proc stat: bad pid field");
  }
  // Fields after ')': index 0 is field 3 (state); field N is index N - 3.
  std::string_view rest = text.substr(close + 1);
  int index = 0;
  std::size_t pos = 0;
  bool have_start = false;
  while (pos < rest.size()) {
    while (pos < rest.size() && (rest[pos] == ' ' || rest[pos] == '\n')) ++pos;
    if (pos >= rest.size()) break;
    std::size_t end = rest.find_first_of(" \n", pos);
    if (end == std::string_view::npos) end = rest.size();
    std::string_view field = rest.substr(pos, end - pos);
    bool ok = true;
    switch (index) {
      case 0: st.state = field.empty() ? '?' : field.front(); break;
      case 1: ok = parse_number(field, st.ppid); break;
      case 2: ok = parse_number(field, st.pgid); break;
      case 3: ok = parse_number(field, st.session); break;
      case 19: ok = parse_number(field, st.start_time_ticks); have_start = ok; break;
      default: break;
    }
    if (!ok) return util::fail(util::ErrorCode::corrupt, fmt::format("proc stat: bad field {}", index + 3));
    if (index == 19) break;
    ++index;
    pos = end;
  }
  if (!have_start) return util::fail(util::ErrorCode::corrupt, "proc stat: too few fields");
  return st;
}

util::Result<ProcStat> read_proc_stat(int pid) {
  if (pid <= 0) return util::fail(util::ErrorCode::invalid_argument, fmt::format("invalid pid {}", pid));
  std::string path = fmt::format("/proc/{}/stat", pid);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return util::fail(util::ErrorCode::not_found, fmt::format("process {} not found ({})", pid, path));
  }
  char buf[1024];
  std::string text;
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (text.empty()) return util::fail(util::ErrorCode::not_found, fmt::format("process {} not found", pid));
  auto st = parse_proc_stat(text);
  if (!st) return std::unexpected(util::with_context(st.error(), path));
  return st;
}

}  // namespace gpumod::infra::process
