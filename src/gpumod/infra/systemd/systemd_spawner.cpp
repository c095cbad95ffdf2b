#include "gpumod/infra/systemd/systemd_spawner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "gpumod/infra/process/log_files.hpp"
#include "gpumod/infra/systemd/unit.hpp"

namespace gpumod::infra::systemd {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using util::ErrorCode;
namespace fs = std::filesystem;

constexpr std::string_view k_prefix = "gpumod-";
constexpr std::string_view k_suffix = ".service";
constexpr milliseconds k_kill_confirm_timeout{5000};
constexpr milliseconds k_exit_status_budget{2000};

bool unit_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == ':' || c == '.' || c == '-';
}

bool is_executable_file(const fs::path& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// argv[0] as an absolute path: a name with a '/' is taken relative to the daemon's directory, a
// bare name is looked up on the PATH the process would get (SpawnSpec::env's, else ours).
util::Result<fs::path> resolve_program(const process::SpawnSpec& spec) {
  const std::string& name = spec.argv.front();
  const auto not_found = [&] {
    return util::fail(ErrorCode::not_found,
                      fmt::format("cannot start '{}': not found on PATH or not executable", name));
  };
  if (name.find('/') != std::string::npos) {
    std::error_code ec;
    fs::path p = fs::absolute(name, ec);
    if (ec || !is_executable_file(p)) return not_found();
    return p.lexically_normal();
  }
  std::string path_var;
  if (const auto it = spec.env.find("PATH"); it != spec.env.end()) {
    path_var = it->second;
  } else if (const char* p = std::getenv("PATH"); p != nullptr) {
    path_var = p;
  } else {
    path_var = "/usr/local/bin:/usr/bin:/bin";
  }
  std::size_t start = 0;
  while (start <= path_var.size()) {
    std::size_t end = path_var.find(':', start);
    if (end == std::string::npos) end = path_var.size();
    const std::string dir = path_var.substr(start, end - start);
    std::error_code ec;
    const fs::path candidate = fs::absolute(fs::path(dir.empty() ? "." : dir) / name, ec);
    if (!ec && is_executable_file(candidate)) return candidate.lexically_normal();
    start = end + 1;
  }
  return not_found();
}

bool has_control_or_backslash(std::string_view s) {
  return std::ranges::any_of(s, [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f || c == '\\';
  });
}

std::string escape_percent(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '%') out += '%';
    out += c;
  }
  return out;
}

bool is_terminal(std::string_view active_state) {
  return active_state == "failed" || active_state == "inactive";
}

std::string describe_main_exit(const UnitStatus& st) {
  switch (st.exec_main_code) {
    case 1: return fmt::format("exit code {}", st.exec_main_status);
    case 2:
    case 3: return fmt::format("killed by signal {}", st.exec_main_status);
    default: return "";
  }
}

process::ExitInfo exit_info_of(const UnitStatus& st) {
  process::ExitInfo info;
  if (st.exec_main_code == 1) {
    info.known = true;
    info.exited = true;
    info.exit_code = st.exec_main_status;
  } else if (st.exec_main_code == 2 || st.exec_main_code == 3) {
    info.known = true;
    info.signal = st.exec_main_status;
  }
  return info;
}

std::optional<std::string> read_small_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The cgroup v2 path ("0::<path>") or the name=systemd v1 path of a /proc/<pid>/cgroup text.
std::optional<std::string> cgroup_path(std::string_view text) {
  std::optional<std::string> v1;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.starts_with("0::")) return std::string(line.substr(3));
    if (const auto at = line.find(":name=systemd:"); at != std::string_view::npos) {
      v1 = std::string(line.substr(at + 14));
    }
  }
  return v1;
}

milliseconds left_until(Clock::time_point deadline) {
  const auto now = Clock::now();
  if (now >= deadline) return milliseconds{0};
  return std::chrono::duration_cast<milliseconds>(deadline - now) + milliseconds{1};
}

}  // namespace

std::optional<std::string> gpumod_unit_from_cgroup(std::string_view cgroup_text) {
  const auto path = cgroup_path(cgroup_text);
  if (!path) return std::nullopt;
  std::optional<std::string> found;
  std::size_t pos = 0;
  while (pos <= path->size()) {
    std::size_t slash = path->find('/', pos);
    if (slash == std::string::npos) slash = path->size();
    const std::string part = path->substr(pos, slash - pos);
    pos = slash + 1;
    if (part.size() > k_prefix.size() + k_suffix.size() && part.starts_with(k_prefix) &&
        part.ends_with(k_suffix) && validate_unit_name(part)) {
      found = part;
    }
  }
  return found;
}

SystemdSpawner::SystemdSpawner(SystemdManager& manager, SystemdSpawnerSettings settings)
    : m_manager(manager), m_settings(std::move(settings)) {}

std::string SystemdSpawner::unit_name_for(const process::SpawnSpec& spec) {
  std::string stem;
  if (!spec.log_file.empty()) {
    stem = spec.log_file.stem().string();
  } else if (!spec.argv.empty()) {
    stem = fs::path(spec.argv.front()).filename().string();
  }
  for (char& c : stem) {
    if (!unit_char(c)) c = '_';
  }
  while (!stem.empty() && stem.front() == '.') stem.erase(stem.begin());
  if (stem.empty()) stem = "service";
  const std::size_t max_stem = 255 - k_prefix.size() - k_suffix.size();
  if (stem.size() > max_stem) stem.resize(max_stem);
  return std::string(k_prefix) + stem + std::string(k_suffix);
}

util::Result<std::string> SystemdSpawner::render(const process::SpawnSpec& spec) const {
  if (spec.argv.empty() || spec.argv.front().empty()) {
    return util::fail(ErrorCode::invalid_argument, "spawn: empty argv");
  }
  const std::string unit = unit_name_for(spec);
  auto program = resolve_program(spec);
  if (!program) return std::unexpected(program.error());

  UnitSpec u;
  u.unit_name = unit;
  u.description = fmt::format("gpumod service {} ({})", unit.substr(k_prefix.size(),
                                                                     unit.size() - k_prefix.size() - k_suffix.size()),
                              program->filename().string());
  u.argv = spec.argv;
  u.argv.front() = program->string();
  u.env = spec.env;
  std::error_code ec;
  u.working_dir = spec.cwd.empty() ? fs::current_path(ec) : fs::absolute(spec.cwd, ec);
  if (ec || !fs::is_directory(u.working_dir)) {
    return util::fail(ErrorCode::not_found,
                      fmt::format("cannot start '{}': working directory '{}' does not exist",
                                  spec.argv.front(), spec.cwd.string()));
  }
  u.working_dir = u.working_dir.lexically_normal();
  u.stop_timeout = m_settings.stop_timeout;
  u.restart = "no";  // gpumod's restart policy decides
  auto text = render_unit(u);
  if (!text) return std::unexpected(text.error());

  std::string output = "null";
  if (!spec.log_file.empty()) {
    const fs::path log = fs::absolute(spec.log_file, ec).lexically_normal();
    if (ec || has_control_or_backslash(log.string())) {
      return util::fail(ErrorCode::invalid_argument,
                        fmt::format("unit {}: log file path '{}' cannot be written in a unit file", unit,
                                    spec.log_file.string()));
    }
    output = "append:" + escape_percent(log.string());
  }
  const std::string lines = fmt::format("StandardInput=null\nStandardOutput={0}\nStandardError={0}\n", output);
  const auto at = text->find("\nKillMode=");
  if (at == std::string::npos) {
    return util::fail(ErrorCode::internal, fmt::format("unit {}: rendered text has no KillMode= line", unit));
  }
  text->insert(at + 1, lines);
  return text;
}

util::Error SystemdSpawner::unit_error(const std::string& unit, const process::SpawnSpec& spec,
                                       const std::string& what) {
  std::string msg = fmt::format("unit {} {}", unit, what);
  auto journal = m_manager.journal_tail(unit, m_settings.journal_lines, m_settings.call_deadline);
  if (!journal) {
    msg += fmt::format("\n(journal unavailable: {})", journal.error().message);
  } else if (!journal->empty()) {
    msg += fmt::format("\njournal ({} lines):", journal->size());
    for (const auto& line : *journal) msg += "\n  " + line;
  }
  if (!spec.log_file.empty()) {
    auto tail = process::tail_lines(spec.log_file, 5);
    if (tail && !tail->empty()) {
      msg += fmt::format("\nlog {} (last lines):", spec.log_file.string());
      for (const auto& line : *tail) msg += "\n  " + line;
    }
  }
  return util::Error{ErrorCode::failed, std::move(msg)};
}

util::Result<process::ProcessIdentity> SystemdSpawner::spawn(const process::SpawnSpec& spec) {
  auto text = render(spec);
  if (!text) return std::unexpected(text.error());
  const std::string unit = unit_name_for(spec);

  if (!spec.log_file.empty()) {
    // Created here (0600, like the process backend) so systemd only ever appends to it.
    std::error_code ec;
    if (const auto parent = spec.log_file.parent_path(); !parent.empty()) fs::create_directories(parent, ec);
    const int fd = ::open(spec.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
      return util::fail(ErrorCode::io, fmt::format("cannot open log file {}: {}", spec.log_file.string(),
                                                   std::strerror(errno)));
    }
    ::close(fd);
  }

  auto changed = install_unit(m_settings.unit_dir, unit, *text);
  if (!changed) return std::unexpected(util::with_context(changed.error(), "installing unit " + unit));
  const auto reload = [&]() -> util::Status {
    if (auto st = m_manager.daemon_reload(m_settings.reload_deadline); !st) {
      return std::unexpected(util::with_context(
          st.error(), fmt::format("daemon-reload after writing {}", (m_settings.unit_dir / unit).string())));
    }
    return {};
  };
  if (*changed) {
    if (auto st = reload(); !st) return std::unexpected(st.error());
  }
  auto before = m_manager.unit_status(unit, m_settings.call_deadline);
  if (!before) return std::unexpected(util::with_context(before.error(), "reading the state of " + unit));
  if (before->load_state != "loaded" && !*changed) {
    // The file was already there, but systemd never loaded it (an earlier reload failed).
    if (auto st = reload(); !st) return std::unexpected(st.error());
    before = m_manager.unit_status(unit, m_settings.call_deadline);
    if (!before) return std::unexpected(util::with_context(before.error(), "reading the state of " + unit));
  }
  if (before->load_state != "loaded") {
    return std::unexpected(unit_error(unit, spec, fmt::format("is not loaded by systemd (LoadState={})",
                                                              before->load_state)));
  }

  const bool running = before->active_state == "active" && before->main_pid > 0;
  util::Status started = (running && *changed) ? m_manager.restart(unit, m_settings.call_deadline)
                                               : m_manager.start(unit, m_settings.call_deadline);
  if (!started) {
    return std::unexpected(util::with_context(started.error(),
                                              fmt::format("{} {}", running && *changed ? "restarting" : "starting", unit)));
  }
  UnitStatus baseline = *before;
  if (!(running && *changed)) baseline.main_pid = 0;  // an unchanged running unit is adopted
  auto id = await_active(unit, spec, baseline);
  if (!id) return id;
  std::lock_guard lock(m_mutex);
  if (m_units.size() >= 1024) {
    std::erase_if(m_units, [](const auto& e) {
      return !process::is_same_process_present({e.first.first, e.first.second});
    });
  }
  m_units[{id->pid, id->start_time_ticks}] = unit;
  return id;
}

util::Result<process::ProcessIdentity> SystemdSpawner::await_active(const std::string& unit,
                                                                    const process::SpawnSpec& spec,
                                                                    const UnitStatus& before) {
  const auto deadline = Clock::now() + m_settings.start_timeout;
  bool saw_other = false;
  bool terminal_seen = false;
  Clock::time_point terminal_since{};
  UnitStatus last = before;
  while (true) {
    const auto budget = std::min(m_settings.call_deadline, std::max(left_until(deadline), milliseconds{1}));
    auto st = m_manager.unit_status(unit, budget);
    if (!st) return std::unexpected(util::with_context(st.error(), "waiting for " + unit + " to start"));
    last = *st;
    if (st->active_state == "active" && st->main_pid > 0 && st->main_pid != before.main_pid) {
      if (auto id = process::identify(st->main_pid)) return *id;
      // The main process is already gone: the next status shows how it ended.
    } else if (is_terminal(st->active_state)) {
      const auto now = Clock::now();
      if (!terminal_seen) terminal_since = now;
      terminal_seen = true;
      const bool settled = saw_other || st->active_state != before.active_state ||
                           now - terminal_since >= m_settings.settle_time;
      if (settled) {
        const std::string how = describe_main_exit(*st);
        return std::unexpected(unit_error(
            unit, spec,
            fmt::format("{} while starting ({}/{}{})", st->active_state == "failed" ? "failed" : "exited",
                        st->active_state, st->sub_state, how.empty() ? "" : ", " + how)));
      }
    } else {
      saw_other = true;
      terminal_seen = false;
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::min(m_settings.poll_interval, left_until(deadline)));
  }
  (void)m_manager.stop(unit, m_settings.call_deadline);  // do not leave it starting unattended
  auto err = unit_error(unit, spec,
                        fmt::format("not active with a main process within {} ms (last state {}/{}); stopped it",
                                    m_settings.start_timeout.count(), last.active_state, last.sub_state));
  err.code = ErrorCode::timeout;
  return std::unexpected(err);
}

bool SystemdSpawner::alive(const process::ProcessIdentity& identity) {
  return process::is_same_process_alive(identity);
}

std::optional<std::string> SystemdSpawner::unit_of(const process::ProcessIdentity& identity) {
  {
    std::lock_guard lock(m_mutex);
    if (const auto it = m_units.find({identity.pid, identity.start_time_ticks}); it != m_units.end()) {
      return it->second;
    }
  }
  if (identity.pid <= 0) return std::nullopt;
  const auto text = read_small_file(fmt::format("/proc/{}/cgroup", identity.pid));
  // Read, then check that the pid still names the same process (it may have been recycled).
  if (!text || !process::is_same_process_present(identity)) return std::nullopt;
  auto unit = gpumod_unit_from_cgroup(*text);
  if (!unit) return std::nullopt;
  // Never the unit gpumod itself runs in (a process-supervised child lives there).
  if (const auto self = read_small_file("/proc/self/cgroup")) {
    if (gpumod_unit_from_cgroup(*self) == unit) return std::nullopt;
  }
  return unit;
}

void SystemdSpawner::forget(const process::ProcessIdentity& identity) {
  std::lock_guard lock(m_mutex);
  m_units.erase({identity.pid, identity.start_time_ticks});
}

process::ExitInfo SystemdSpawner::exit_from_unit(const std::string& unit, milliseconds budget) {
  // systemd learns of the exit (SIGCHLD) a moment after the pidfd reports it.
  const auto deadline = Clock::now() + budget;
  while (true) {
    auto st = m_manager.unit_status(unit, std::min(m_settings.call_deadline, left_until(deadline)));
    if (!st) return process::ExitInfo{};
    if (is_terminal(st->active_state) && st->main_pid == 0) return exit_info_of(*st);
    if (Clock::now() >= deadline) return process::ExitInfo{};
    std::this_thread::sleep_for(std::min(milliseconds{20}, left_until(deadline)));
  }
}

util::Result<process::ExitInfo> SystemdSpawner::stop(const process::ProcessIdentity& identity,
                                                     milliseconds grace) {
  if (!process::is_same_process_alive(identity)) {
    std::optional<std::string> unit;
    {
      std::lock_guard lock(m_mutex);
      if (const auto it = m_units.find({identity.pid, identity.start_time_ticks}); it != m_units.end()) {
        unit = it->second;
      }
    }
    forget(identity);
    return unit ? exit_from_unit(*unit, k_exit_status_budget) : process::ExitInfo{};
  }
  const auto unit = unit_of(identity);
  if (!unit) {
    if (!process::is_same_process_alive(identity)) return process::ExitInfo{};
    return util::fail(ErrorCode::failed,
                      fmt::format("process {} does not run in a gpumod systemd unit; not stopping it", identity.pid));
  }
  if (auto st = m_manager.stop(*unit, m_settings.call_deadline); !st) {
    if (process::is_same_process_alive(identity)) {
      return std::unexpected(util::with_context(st.error(), "stopping " + *unit));
    }
  }
  if (m_waiter.wait_exit(identity, grace + m_settings.stop_margin)) {
    auto info = exit_from_unit(*unit, k_exit_status_budget);
    forget(identity);
    return info;
  }
  // systemd did not end it in time (TimeoutStopSec longer than the grace, or a hung stop): kill
  // every process of the unit's cgroup, when the process really sits in that unit's cgroup (never
  // a cgroup the daemon shares); else the process alone.
  const auto self = read_small_file("/proc/self/cgroup");
  const auto self_path = self ? cgroup_path(*self) : std::nullopt;
  if (const auto text = read_small_file(fmt::format("/proc/{}/cgroup", identity.pid));
      text && process::is_same_process_alive(identity) && gpumod_unit_from_cgroup(*text) == unit) {
    if (const auto path = cgroup_path(*text); path && path != self_path && path->ends_with("/" + *unit)) {
      const fs::path dir = fs::path("/sys/fs/cgroup") / fs::path(*path).relative_path();
      if (const auto procs = read_small_file(dir / "cgroup.procs")) {
        std::istringstream in(*procs);
        int pid = 0;
        while (in >> pid) {
          if (pid > 0) ::kill(pid, SIGKILL);
        }
      }
    }
  }
  if (process::is_same_process_alive(identity)) ::kill(identity.pid, SIGKILL);
  if (m_waiter.wait_exit(identity, k_kill_confirm_timeout)) {
    auto info = exit_from_unit(*unit, k_exit_status_budget);
    forget(identity);
    return info;
  }
  return util::fail(ErrorCode::timeout,
                    fmt::format("process {} of {} still present {} ms after SIGKILL", identity.pid, *unit,
                                k_kill_confirm_timeout.count()));
}

std::optional<process::ExitInfo> SystemdSpawner::wait_exit(const process::ProcessIdentity& identity,
                                                           milliseconds timeout) {
  if (!m_waiter.wait_exit(identity, timeout)) return std::nullopt;
  std::optional<std::string> unit;
  {
    std::lock_guard lock(m_mutex);
    if (const auto it = m_units.find({identity.pid, identity.start_time_ticks}); it != m_units.end()) {
      unit = it->second;
    }
  }
  forget(identity);
  return unit ? exit_from_unit(*unit, k_exit_status_budget) : process::ExitInfo{};
}

}  // namespace gpumod::infra::systemd
