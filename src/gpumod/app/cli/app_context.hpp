// AppContext: what every CLI command handler gets: global options, output streams, and a place
// to report the command's outcome. Commands register themselves with CLI11 through
// `register_<group>_commands(CLI::App&, AppContext&)` (one file per group in app/cli/).
// Handlers never call exit(); they call ctx.fail(error) and return, and main maps the error code
// to an exit code and prints "gpumod: error: <message>".
// Thread-safety: single-threaded (one command per process).
#pragma once

#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>

#include "gpumod/util/result.hpp"

namespace gpumod::app {

struct GlobalOptions {
  std::optional<std::filesystem::path> config_dir;  // --config DIR
  std::optional<std::string> simulate_gpu;          // --simulate-gpu NAME:MiB
  bool json = false;                                // --json (per command, same flag name)
};

class AppContext {
 public:
  AppContext(std::ostream& out, std::ostream& err) : m_out(out), m_err(err) {}

  GlobalOptions options;

  std::ostream& out() { return m_out; }
  std::ostream& err() { return m_err; }

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
};

// Exit codes, one per error code (documented in README "Exit codes").
int exit_code_for(util::ErrorCode code);

}  // namespace gpumod::app
