// Where the configuration lives, and a cheap fingerprint of it.
// Root order: --config DIR, then $GPUMOD_CONFIG_DIR, then $XDG_CONFIG_HOME/gpumod (default
// $HOME/.config/gpumod) when it exists, then the bundled example.
// Thread-safety: resolve_config_root is pure apart from checking that folders exist;
// config_fingerprint reads file metadata.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "gpumod/util/result.hpp"

namespace gpumod::infra::config {

struct RootChoice {
  std::filesystem::path root;
  bool bundled = false;  // true when no user configuration was found
  std::string source;    // "--config", "$GPUMOD_CONFIG_DIR", "$XDG_CONFIG_HOME/gpumod",
                         // "~/.config/gpumod" or "bundled example"
};

// A --config DIR or $GPUMOD_CONFIG_DIR that does not exist is an error (not_found), never a
// silent fall-back; so is a missing bundled example when nothing else exists.
util::Result<RootChoice> resolve_config_root(
    const std::optional<std::filesystem::path>& cli_dir,
    const std::function<std::optional<std::string>(const std::string&)>& getenv,
    const std::filesystem::path& bundled_dir);

// A hash (hex text) of the config files' relative paths, sizes and modification times: equal
// fingerprints mean the configuration very likely did not change (callers skip a re-sync).
std::string config_fingerprint(const std::filesystem::path& root);

}  // namespace gpumod::infra::config
