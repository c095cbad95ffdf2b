// $VAR and ${VAR} expansion in configuration values, with the rules of Python's
// os.path.expandvars (what the predecessor used): a name is [A-Za-z0-9_]+ or anything between
// braces; unknown variables are left exactly as written; expanded text is not expanded again.
// Thread-safety: pure functions; process_env() reads the process environment (std::getenv).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace gpumod::infra::config {

// Looks up one environment variable; nullopt when it is not set.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The lookup over this process's environment.
EnvLookup process_env();

std::string expand_vars(std::string_view text, const EnvLookup& getenv);

}  // namespace gpumod::infra::config
