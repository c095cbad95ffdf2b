// The configuration loader: reads a configuration root (presets/, modes/, gpumod.yaml), validates
// every file and the links between them, and builds a core::Config. It collects ALL problems in
// one pass (errors, and notes that do not block) with file:line:col, so people fix them together.
// This header is the module's front door: it also brings resolve_config_root and
// config_fingerprint (root.hpp) and expand_vars (expand.hpp).
// Thread-safety: reentrant; reads files and (for $VAR expansion) the environment given.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "gpumod/core/config.hpp"
#include "gpumod/core/service.hpp"
#include "gpumod/infra/config/expand.hpp"
#include "gpumod/infra/config/root.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::config {

// One problem; `where.file` is relative to the root ("presets/llm/nemotron.yaml"), line and
// column are 1-based (0 when the problem is about a whole file or folder).
struct ConfigDiagnostic {
  core::SourceLocation where;
  std::string message;
};

struct ConfigLoad {
  std::optional<core::Config> config;     // set only when there are no errors
  std::vector<ConfigDiagnostic> errors;   // sorted by file, then line, then column
  std::vector<ConfigDiagnostic> notes;    // legal but worth knowing; same order
  // gpumod.yaml as read, also when other files have errors (read-only commands then still know
  // the GPU to simulate); defaults for what did not parse.
  core::Settings settings;
};

// Never throws. $VAR / ${VAR} in values are expanded from the process environment.
ConfigLoad load_config(const std::filesystem::path& root);
// The same, with the environment given (tests).
ConfigLoad load_config(const std::filesystem::path& root, const EnvLookup& getenv);

// The config, or a config_invalid error with one "<file>:<line>:<col>: <message>" line per error.
util::Result<core::Config> load_config_or_error(const std::filesystem::path& root);

// "<file>:<line>:<col>: <message>" ("<file>: <message>" when the line is unknown).
std::string format_diagnostic(const ConfigDiagnostic& diagnostic);

}  // namespace gpumod::infra::config
