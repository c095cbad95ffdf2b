// Runs one read-only gpumod CLI command in-process (the command table of app/cli, a fresh
// AppContext writing to strings) and returns what it printed. The MCP server uses it so that a
// tool such as `simulate_mode` answers exactly what `gpumod simulate mode ID --json` prints,
// with the same validation and the same errors.
// Thread-safety: each call builds its own command table and context; calls may run at once.
#pragma once

#include <string>
#include <vector>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::app {

struct CommandOutput {
  std::string out;
  std::string err;
  int exit_code = 0;  // 0, or a non-error status such as 7 (does not fit)
};

// `args` without the program name and global options (they come from `options`). The command
// groups available: service list, mode list|show, simulate, model, gguf, discover, preset.
// Errors: the command's own error (its code and message).
util::Result<CommandOutput> run_command(const std::vector<std::string>& args, const GlobalOptions& options);

}  // namespace gpumod::app
