// systemd user units for gpumod's services: rendering a unit file from a UnitSpec (the argv comes
// from gpumod's driver, so no template can disagree with it), validating unit names, and
// installing a unit file atomically only when its text changed.
// Quoting follows systemd.syntax(7) / systemd.service(5): every ExecStart argument is written in
// double quotes with \ and " escaped, "$" doubled (no variable expansion) and "%" doubled (no
// specifiers); Environment= values likewise (there "$" is literal already).
// Thread-safety: pure functions; install_unit touches only the one file (and its temp file).
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "gpumod/util/result.hpp"

namespace gpumod::infra::systemd {

struct UnitSpec {
  std::string unit_name;    // "gpumod-<id>.service"
  std::string description;  // one line
  std::vector<std::string> argv;  // argv[0] is an absolute path to the program
  std::map<std::string, std::string> env;  // names: [A-Za-z_][A-Za-z0-9_]*
  std::filesystem::path working_dir;        // absolute, or empty for none
  std::chrono::seconds stop_timeout{30};
  std::string restart = "no";  // "no" | "on-failure"
  std::chrono::seconds restart_sec{5};
  std::string kill_mode = "control-group";  // "control-group" | "process" (the daemon: its services live on)
  std::string comment = "Written by gpumod; edits are overwritten on the next start.";  // one line
  std::vector<std::string> wants;  // units started first: Wants= and After= (validated names)
};

// Checks ^[a-zA-Z0-9_@:.\-]+\.service$, no leading '-', at most 255 characters.
util::Status validate_unit_name(std::string_view unit_name);

// Quotes one word for ExecStart= (exposed for tests and for showing commands to people).
std::string quote_exec_arg(std::string_view arg);

// The unit file text, or invalid_argument naming the bad field (bad unit name, empty argv,
// relative program path, bad environment name, relative working directory, unknown restart
// policy, a newline in the description).
util::Result<std::string> render_unit(const UnitSpec& spec);

// Writes `text` to dir/unit_name unless the file already holds exactly that text. The write is
// atomic (a temp file in `dir`, fsync, rename, fsync of `dir`), so systemd never reads half a
// unit. Creates `dir` if needed. Returns whether the file changed (then a daemon-reload is due).
util::Result<bool> install_unit(const std::filesystem::path& dir, const std::string& unit_name,
                                const std::string& text);

// ~/.config/systemd/user ($XDG_CONFIG_HOME/systemd/user when set); not_found without $HOME.
util::Result<std::filesystem::path> user_unit_dir();

}  // namespace gpumod::infra::systemd
