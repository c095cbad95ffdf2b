#include "gpumod/infra/systemd/unit.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace gpumod::infra::systemd {
namespace {

using util::ErrorCode;

bool is_unit_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '@' || c == ':' || c == '.' || c == '-';
}

// Escapes for a double-quoted systemd word: C escapes for \ " and control bytes, "%%" for "%",
// and "$$" for "$" when the setting expands variables.
std::string quote_word(std::string_view s, bool double_dollar) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '%': out += "%%"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '$':
        out += double_dollar ? "$$" : "$";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          out += fmt::format("\\x{:02x}", u);
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

bool is_env_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

std::string escape_specifiers(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '%') out += '%';
    out += c;
  }
  return out;
}

util::Status sys_fail(std::string_view what, const std::filesystem::path& path, int err) {
  return util::fail(ErrorCode::io, fmt::format("{} {}: {}", what, path.string(), std::strerror(err)));
}

}  // namespace

util::Status validate_unit_name(std::string_view unit_name) {
  constexpr std::string_view suffix = ".service";
  const auto bad = [&](std::string_view why) {
    return util::fail(ErrorCode::invalid_argument,
                      fmt::format("invalid systemd unit name '{}': {}", unit_name, why));
  };
  if (unit_name.size() > 255) return bad("longer than 255 characters");
  if (!unit_name.ends_with(suffix) || unit_name.size() == suffix.size()) {
    return bad("expected <name>.service");
  }
  if (unit_name.front() == '-' || unit_name.front() == '.') return bad("starts with '-' or '.'");
  for (const char c : unit_name) {
    if (!is_unit_char(c)) return bad("only letters, digits and _ @ : . - are allowed");
  }
  return {};
}

std::string quote_exec_arg(std::string_view arg) {
  if (arg == ";") return "\\;";  // a lone ';' would separate commands
  return quote_word(arg, /*double_dollar=*/true);
}

util::Result<std::string> render_unit(const UnitSpec& spec) {
  if (auto ok = validate_unit_name(spec.unit_name); !ok) return std::unexpected(ok.error());
  const auto bad = [&](std::string msg) {
    return util::fail(ErrorCode::invalid_argument,
                      fmt::format("unit {}: {}", spec.unit_name, msg));
  };
  if (spec.argv.empty() || spec.argv.front().empty()) return bad("no program to run (empty argv)");
  if (spec.argv.front().front() != '/') {
    return bad(fmt::format("program '{}' is not an absolute path", spec.argv.front()));
  }
  if (spec.description.find_first_of("\n\r") != std::string::npos) {
    return bad("the description has a line break");
  }
  if (!spec.working_dir.empty()) {
    if (!spec.working_dir.is_absolute()) {
      return bad(fmt::format("working directory '{}' is not absolute", spec.working_dir.string()));
    }
    if (spec.working_dir.string().find_first_of("\n\r") != std::string::npos) {
      return bad("the working directory has a line break");
    }
  }
  if (spec.kill_mode != "control-group" && spec.kill_mode != "process") {
    return bad(fmt::format("kill mode '{}' is not one of: control-group, process", spec.kill_mode));
  }
  if (spec.comment.find_first_of("\n\r") != std::string::npos) return bad("the comment has a line break");
  if (spec.restart != "no" && spec.restart != "on-failure") {
    return bad(fmt::format("restart policy '{}' is not one of: no, on-failure", spec.restart));
  }
  if (spec.stop_timeout.count() <= 0) return bad("stop timeout must be positive");
  if (spec.restart_sec.count() < 0) return bad("restart delay must not be negative");
  for (const auto& [name, value] : spec.env) {
    if (!is_env_name(name)) return bad(fmt::format("invalid environment variable name '{}'", name));
  }

  for (const auto& w : spec.wants) {
    if (auto ok = validate_unit_name(w); !ok) return std::unexpected(ok.error());
  }

  std::string out;
  out += "# " + spec.comment + "\n";
  out += "[Unit]\n";
  out += "Description=" + escape_specifiers(spec.description) + "\n";
  for (const auto& w : spec.wants) out += "Wants=" + w + "\nAfter=" + w + "\n";
  out += "\n[Service]\n";
  out += "Type=exec\n";
  out += "ExecStart=";
  for (std::size_t i = 0; i < spec.argv.size(); ++i) {
    if (i > 0) out += ' ';
    out += quote_exec_arg(spec.argv[i]);
  }
  out += '\n';
  for (const auto& [name, value] : spec.env) {
    out += "Environment=" + quote_word(name + "=" + value, /*double_dollar=*/false) + "\n";
  }
  if (!spec.working_dir.empty()) {
    out += "WorkingDirectory=" + escape_specifiers(spec.working_dir.string()) + "\n";
  }
  out += "KillMode=" + spec.kill_mode + "\n";
  out += fmt::format("TimeoutStopSec={}\n", spec.stop_timeout.count());
  out += "Restart=" + spec.restart + "\n";
  out += fmt::format("RestartSec={}\n", spec.restart_sec.count());
  out += "\n[Install]\nWantedBy=default.target\n";
  return out;
}

util::Result<bool> install_unit(const std::filesystem::path& dir, const std::string& unit_name,
                                const std::string& text) {
  if (auto ok = validate_unit_name(unit_name); !ok) return std::unexpected(ok.error());
  const auto target = dir / unit_name;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return util::fail(ErrorCode::io,
                      fmt::format("creating {}: {}", dir.string(), ec.message()));
  }
  {
    std::ifstream in(target, std::ios::binary);
    if (in) {
      std::ostringstream existing;
      existing << in.rdbuf();
      if (existing.str() == text) return false;
    }
  }

  std::string tmp = (dir / ("." + unit_name + ".tmp-XXXXXX")).string();
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return std::unexpected(sys_fail("creating a temp file in", dir, errno).error());
  const auto abandon = [&](std::string_view what, int err) -> util::Result<bool> {
    ::close(fd);
    ::unlink(tmp.c_str());
    return std::unexpected(sys_fail(what, tmp, err).error());
  };
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return abandon("writing", errno);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, 0644) != 0) return abandon("chmod", errno);
  if (::fsync(fd) != 0) return abandon("fsync", errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return std::unexpected(sys_fail("closing", tmp, err).error());
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return std::unexpected(sys_fail("renaming the temp file to", target, err).error());
  }
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    (void)::fsync(dfd);  // best effort: the rename is done either way
    ::close(dfd);
  }
  return true;
}

util::Result<std::filesystem::path> user_unit_dir() {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg != nullptr && xdg[0] == '/') {
    return std::filesystem::path(xdg) / "systemd" / "user";
  }
  const char* home = std::getenv("HOME");
  if (home == nullptr || home[0] != '/') {
    return util::fail(ErrorCode::not_found,
                      "cannot find the systemd user unit directory: $HOME is not set");
  }
  return std::filesystem::path(home) / ".config" / "systemd" / "user";
}

}  // namespace gpumod::infra::systemd
