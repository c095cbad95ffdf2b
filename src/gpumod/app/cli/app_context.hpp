// AppContext: what every CLI command handler gets: global options, output streams, and a place
// to report the command's outcome. Commands register themselves with CLI11 through
// `register_<group>_commands(CLI::App&, AppContext&)` (one file per group in app/cli/).
// Handlers never call exit(); they call ctx.fail(error) and return, and main maps the error code
// to an exit code and prints "gpumod: error: <message>".
// Thread-safety: single-threaded (one command per process).
#pragma once

#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

#include "gpumod/core/config.hpp"
#include "gpumod/core/gpu.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::state {
class StateStore;
}

namespace gpumod::app {

struct GlobalOptions {
  std::optional<std::filesystem::path> config_dir;  // --config DIR
  std::optional<std::string> simulate_gpu;          // --simulate-gpu NAME:MiB
  bool json = false;                                // --json (per command, same flag name)
};

class AppContext {
 public:
  AppContext(std::ostream& out, std::ostream& err);

  ~AppContext();

  GlobalOptions options;

  // The validated configuration (resolved root, loaded once). Says on stderr when the bundled
  // example is used. Errors: config_invalid (all diagnostics), not_found.
  util::Result<const core::Config*> config();
  // The configuration root only, resolved without reading the files (what a thin client needs);
  // says on stderr when the bundled example is used. Errors: not_found.
  util::Result<std::filesystem::path> config_root();
  // The state database, opened once, with the configuration synced into it (skipped when the
  // configuration files are unchanged since the last sync).
  util::Result<infra::state::StateStore*> state();
  // For read-only commands (status, service list, mode list|show, model list, events without a
  // daemon): the configuration, or, when its files do not load, the one last stored in the
  // database, with the problem printed as a warning on stderr.
  util::Result<const core::Config*> config_for_reading();
  // For read-only commands: state(), unless the database cannot be written (a read-only state
  // directory: opened read-only, with a note) or the configuration does not load (opened without
  // syncing it).
  // `warn`: say on stderr when the configuration does not load (what is shown is what is stored).
  util::Result<infra::state::StateStore*> state_for_reading(bool warn = true);
  // A GPU snapshot (NVML, nvidia-smi, or the simulated GPU), taken once per command.
  util::Result<const core::GpuSnapshot*> gpu();
  // How the GPU was chosen ("simulated: no NVIDIA GPU found ..."), after gpu().
  const std::string& gpu_note() const { return m_gpu_note; }
  // True when config_root() fell back to the bundled example.
  bool config_root_bundled() const { return m_config_root_bundled; }
  // The directory of the bundled example configuration.
  static std::filesystem::path bundled_example_dir();

  std::ostream& out() { return m_out; }
  std::ostream& err() { return m_err; }

  // Subcommand callbacks only choose the action; main runs it after all options are parsed.
  void set_action(std::function<void()> action) { m_action = std::move(action); }
  void run_action() {
    if (m_action) m_action();
  }

  // Records the command's failure; the first error wins.
  void fail(util::Error error) {
    if (!m_error) m_error = std::move(error);
  }
  // Records a non-error exit status (e.g. "does not fit" = 7) without an error message.
  void set_exit_code(int code) { m_exit_code = code; }

  const std::optional<util::Error>& error() const { return m_error; }
  int exit_code() const { return m_exit_code; }

 private:
  std::ostream& m_out;
  std::ostream& m_err;
  std::optional<util::Error> m_error;
  int m_exit_code = 0;
  std::function<void()> m_action;
  std::optional<core::Config> m_config;
  std::optional<core::Config> m_stored_config;
  bool m_warned_config_broken = false;
  void warn_config_broken(const util::Error& error);
  std::optional<std::filesystem::path> m_config_root;
  bool m_config_root_bundled = false;
  std::unique_ptr<infra::state::StateStore> m_state;
  std::optional<core::GpuSnapshot> m_gpu;
  std::string m_gpu_note;
};

// Exit codes, one per error code (documented in README "Exit codes").
int exit_code_for(util::ErrorCode code);

}  // namespace gpumod::app
