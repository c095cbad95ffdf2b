// Internal to infra/config: the per-file parsers (YAML -> values with their source locations) and
// the cross-file checks, split so the checks can be read and tested without YAML.
// Thread-safety: pure functions over their arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gpumod/core/config.hpp"
#include "gpumod/infra/config/expand.hpp"
#include "gpumod/infra/config/config_loader.hpp"

namespace gpumod::infra::config::detail {

class Diagnostics {
 public:
  void error(core::SourceLocation where, std::string message) {
    m_errors.push_back({std::move(where), std::move(message)});
  }
  void note(core::SourceLocation where, std::string message) {
    m_notes.push_back({std::move(where), std::move(message)});
  }
  std::vector<ConfigDiagnostic>& errors() { return m_errors; }
  std::vector<ConfigDiagnostic>& notes() { return m_notes; }

 private:
  std::vector<ConfigDiagnostic> m_errors;
  std::vector<ConfigDiagnostic> m_notes;
};

// " (did you mean 'x'?)" or "": util::did_you_mean, and failing that a candidate that the word
// starts with or that starts with the word ("vram_margin" -> "vram_margin_mib").
std::string suggest(std::string_view word, const std::vector<std::string>& candidates);

// A preset as read, with where its linked values were written (for cross-file messages).
struct ParsedService {
  core::Service service;
  core::SourceLocation id_at;
  core::SourceLocation port_at;
  std::vector<core::SourceLocation> depends_on_at;  // one per depends_on entry
  std::int64_t models_max = 1;                      // unit_vars.models_max (router services)
};

struct ParsedMode {
  core::Mode mode;
  core::SourceLocation id_at;
  std::vector<core::SourceLocation> services_at;  // one per services entry
};

// Each returns nothing when the file holds no usable id; problems go to `diags`.
// `file` is the name used in diagnostics (relative to the root).
std::optional<ParsedService> parse_preset(const std::string& text, const std::string& file,
                                          const EnvLookup& getenv, Diagnostics& diags);
std::optional<ParsedMode> parse_mode(const std::string& text, const std::string& file,
                                     Diagnostics& diags);
core::Settings parse_settings(const std::string& text, const std::string& file, Diagnostics& diags);

// Cross-file checks: duplicate ids, unknown or repeated references, dependency cycles, ports
// shared within a mode (llama-server routers excepted up to models_max). Removes duplicates
// from `services` and `modes` (the first file wins).
void check_config(std::vector<ParsedService>& services, std::vector<ParsedMode>& modes,
                  Diagnostics& diags);

// serve: idle_mode names a mode; a listen address off loopback needs api_keys.
void check_serve(const core::ServeSettings& serve, const std::vector<ParsedMode>& modes,
                 Diagnostics& diags);

}  // namespace gpumod::infra::config::detail
