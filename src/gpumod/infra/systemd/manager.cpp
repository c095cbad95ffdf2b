#include "gpumod/infra/systemd/manager.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include <fmt/format.h>

#include "gpumod/infra/systemd/detail.hpp"
#include "gpumod/infra/systemd/unit.hpp"
#include "gpumod/util/strings.hpp"
#include "gpumod/util/subprocess.hpp"

namespace gpumod::infra::systemd {
namespace {

using util::ErrorCode;

std::string first_line(std::string_view text) {
  text = util::trim(text);
  const auto nl = text.find('\n');
  return std::string(util::trim(text.substr(0, nl)));
}

util::Result<int> parse_number(std::string_view key, std::string_view value) {
  if (value.empty() || value == "[not set]") return 0;
  auto n = util::parse_int(value, -2147483648LL, 4294967295LL, key);
  if (!n) return util::fail(ErrorCode::corrupt, "systemctl show: " + n.error().message);
  return static_cast<int>(*n);
}

class SystemctlSystemdManager final : public SystemdManager {
 public:
  SystemctlSystemdManager(std::string systemctl, std::string journalctl,
                          std::map<std::string, std::string> env_fix)
      : m_systemctl(std::move(systemctl)),
        m_journalctl(std::move(journalctl)),
        m_env_fix(std::move(env_fix)) {}

  util::Status daemon_reload(std::chrono::milliseconds deadline) override {
    auto r = run({"daemon-reload"}, deadline);
    if (!r) return std::unexpected(r.error());
    return {};
  }
  util::Status start(const std::string& unit, std::chrono::milliseconds deadline) override {
    return job("start", unit, deadline);
  }
  util::Status stop(const std::string& unit, std::chrono::milliseconds deadline) override {
    return job("stop", unit, deadline);
  }
  util::Status restart(const std::string& unit, std::chrono::milliseconds deadline) override {
    return job("restart", unit, deadline);
  }

  util::Result<UnitStatus> unit_status(const std::string& unit,
                                       std::chrono::milliseconds deadline) override {
    if (auto ok = validate_unit_name(unit); !ok) return std::unexpected(ok.error());
    auto out = run({"show", "-p",
                    "LoadState,ActiveState,SubState,NRestarts,MainPID,ExecMainStatus,ExecMainCode",
                    "--", unit},
                   deadline);
    if (!out) return std::unexpected(out.error());
    auto status = parse_show_output(*out);
    if (!status) return std::unexpected(util::with_context(status.error(), unit));
    return status;
  }

  util::Result<std::vector<std::string>> journal_tail(const std::string& unit, int lines,
                                                      std::chrono::milliseconds deadline) override {
    return detail::journal_tail_via_journalctl(m_journalctl, m_env_fix, unit, lines, deadline);
  }

  std::string_view backend() const override { return "systemctl"; }

 private:
  util::Status job(const char* verb, const std::string& unit, std::chrono::milliseconds deadline) {
    if (auto ok = validate_unit_name(unit); !ok) return std::unexpected(ok.error());
    auto r = run({"--no-block", verb, "--", unit}, deadline);
    if (!r) return std::unexpected(r.error());
    return {};
  }

  // Runs systemctl --user <args>; stdout on exit status 0, else an error with stderr.
  util::Result<std::string> run(std::vector<std::string> args, std::chrono::milliseconds deadline) {
    std::vector<std::string> argv{m_systemctl, "--user"};
    argv.insert(argv.end(), args.begin(), args.end());
    util::CaptureOptions options;
    options.deadline = deadline;
    options.env_overrides = m_env_fix;
    const std::string what = "systemctl --user " + util::join(args, " ");
    auto r = util::run_capture(argv, options);
    if (!r) return std::unexpected(util::with_context(r.error(), what));
    if (r->exit_code != 0) {
      const std::string err = first_line(r->err.empty() ? r->out : r->err);
      // systemctl exits 5 for "unit not loaded/not found" and says so.
      const bool not_found = err.find("not found") != std::string::npos ||
                             err.find("not loaded") != std::string::npos;
      return util::fail(not_found ? ErrorCode::not_found : ErrorCode::failed,
                        fmt::format("{}: exit status {}: {}", what, r->exit_code,
                                    err.empty() ? "(no message)" : err));
    }
    return std::move(r->out);
  }

  std::string m_systemctl;
  std::string m_journalctl;
  std::map<std::string, std::string> m_env_fix;
};

}  // namespace

util::Result<UnitStatus> parse_show_output(std::string_view text) {
  UnitStatus status;
  bool have_active = false;
  for (const auto& raw : util::split(text, '\n')) {
    const std::string_view line = util::trim(raw);
    if (line.empty()) continue;
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      return util::fail(ErrorCode::corrupt,
                        fmt::format("systemctl show: line without '=': '{}'", line));
    }
    const std::string_view key = line.substr(0, eq);
    const std::string_view value = line.substr(eq + 1);
    const auto number = [&](int& field) -> util::Status {
      auto n = parse_number(key, value);
      if (!n) return std::unexpected(n.error());
      field = *n;
      return {};
    };
    util::Status ok;
    if (key == "LoadState") {
      status.load_state = value;
    } else if (key == "ActiveState") {
      status.active_state = value;
      have_active = !value.empty();
    } else if (key == "SubState") {
      status.sub_state = value;
    } else if (key == "MainPID" || key == "ExecMainPID") {
      if (key == "MainPID" || status.main_pid == 0) ok = number(status.main_pid);
    } else if (key == "NRestarts") {
      ok = number(status.n_restarts);
    } else if (key == "ExecMainStatus") {
      ok = number(status.exec_main_status);
    } else if (key == "ExecMainCode") {
      ok = number(status.exec_main_code);
    }
    if (!ok) return std::unexpected(ok.error());
  }
  if (!have_active) return util::fail(ErrorCode::corrupt, "systemctl show: no ActiveState");
  return status;
}

std::map<std::string, std::string> user_bus_env_fix(const char* xdg_runtime_dir,
                                                    const char* dbus_session_bus_address,
                                                    const std::filesystem::path& run_user_root,
                                                    unsigned uid) {
  std::map<std::string, std::string> fix;
  std::error_code ec;
  std::filesystem::path runtime;
  if (xdg_runtime_dir != nullptr && xdg_runtime_dir[0] != '\0') {
    runtime = xdg_runtime_dir;
  } else {
    const auto candidate = run_user_root / std::to_string(uid);
    if (std::filesystem::is_directory(candidate, ec)) {
      runtime = candidate;
      fix["XDG_RUNTIME_DIR"] = candidate.string();
    }
  }
  if ((dbus_session_bus_address == nullptr || dbus_session_bus_address[0] == '\0') &&
      !runtime.empty()) {
    const auto bus = runtime / "bus";
    if (std::filesystem::exists(bus, ec)) fix["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + bus.string();
  }
  return fix;
}

std::map<std::string, std::string> user_bus_env_fix_for_this_process() {
  return user_bus_env_fix(std::getenv("XDG_RUNTIME_DIR"), std::getenv("DBUS_SESSION_BUS_ADDRESS"),
                          "/run/user", static_cast<unsigned>(::getuid()));
}

std::unique_ptr<SystemdManager> make_systemctl_manager(std::string systemctl_path,
                                                       std::string journalctl_path) {
  return std::make_unique<SystemctlSystemdManager>(std::move(systemctl_path),
                                                   std::move(journalctl_path),
                                                   user_bus_env_fix_for_this_process());
}

namespace detail {

util::Result<std::vector<std::string>> journal_tail_via_journalctl(
    const std::string& journalctl_path, const std::map<std::string, std::string>& env_fix,
    const std::string& unit, int lines, std::chrono::milliseconds deadline) {
  if (auto ok = validate_unit_name(unit); !ok) return std::unexpected(ok.error());
  if (journalctl_path.empty()) {
    return util::fail(ErrorCode::unavailable, "journalctl not found; cannot read the log of " + unit);
  }
  lines = std::clamp(lines, 1, 1000);
  const std::vector<std::string> argv{journalctl_path, "--user", "-u", unit, "-n",
                                      std::to_string(lines), "--no-pager", "-o", "cat"};
  util::CaptureOptions options;
  options.deadline = deadline;
  options.env_overrides = env_fix;
  const std::string what = "journalctl --user -u " + unit;
  auto r = util::run_capture(argv, options);
  if (!r) return std::unexpected(util::with_context(r.error(), what));
  if (r->exit_code != 0) {
    const std::string err = first_line(r->err);
    return util::fail(ErrorCode::failed, fmt::format("{}: exit status {}: {}", what, r->exit_code,
                                                     err.empty() ? "(no message)" : err));
  }
  std::vector<std::string> out = util::split(r->out, '\n');
  while (!out.empty() && out.back().empty()) out.pop_back();
  if (out.size() == 1 && out.front() == "-- No entries --") out.clear();
  return out;
}

}  // namespace detail

util::Result<std::unique_ptr<SystemdManager>> open_systemd_manager(
    std::chrono::milliseconds probe_deadline) {
  const auto env_fix = user_bus_env_fix_for_this_process();
  const std::string journalctl = util::find_program("journalctl");

  auto sdbus = detail::open_sdbus_manager(env_fix, journalctl, probe_deadline);
  if (sdbus) return sdbus;
  const std::string sdbus_why = sdbus.error().message;

  const std::string systemctl = util::find_program("systemctl");
  if (systemctl.empty()) {
    return util::fail(ErrorCode::unavailable,
                      fmt::format("no systemd user manager: {}; and systemctl is not on PATH",
                                  sdbus_why));
  }
  auto manager = std::make_unique<SystemctlSystemdManager>(systemctl, journalctl, env_fix);
  // The manager's own properties: cheap, and fails fast without a user session.
  std::vector<std::string> argv{systemctl, "--user", "show", "-p", "Version"};
  util::CaptureOptions options;
  options.deadline = probe_deadline;
  options.env_overrides = env_fix;
  auto probe = util::run_capture(argv, options);
  if (!probe || probe->exit_code != 0) {
    const std::string why =
        !probe ? probe.error().message
               : fmt::format("exit status {}: {}", probe->exit_code, first_line(probe->err));
    return util::fail(ErrorCode::unavailable,
                      fmt::format("no systemd user manager (is there a user session? try "
                                  "'loginctl enable-linger'): {}; systemctl --user: {}",
                                  sdbus_why, why));
  }
  return std::unique_ptr<SystemdManager>(std::move(manager));
}

}  // namespace gpumod::infra::systemd
