#include "gpumod/infra/config/root.hpp"

#include <cstdint>
#include <cstdio>
#include <system_error>

#include "gpumod/infra/config/files.hpp"

namespace gpumod::infra::config {

namespace fs = std::filesystem;

namespace {

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// Why `dir` (named by `source`) cannot be the configuration root: it does not exist (not_found)
// or it is something else than a directory (invalid_argument).
util::Error not_a_root(const fs::path& dir, const std::string& source) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    return {util::ErrorCode::invalid_argument,
            "config directory '" + dir.string() + "' (from " + source + ") is not a directory"};
  }
  return {util::ErrorCode::not_found, "config directory '" + dir.string() + "' (from " + source + ") does not exist"};
}

std::optional<std::string> non_empty(const std::optional<std::string>& v) {
  if (v && !v->empty()) return v;
  return std::nullopt;
}

class Fnv1a {
 public:
  void add(std::string_view bytes) {
    for (const unsigned char c : bytes) {
      m_hash ^= c;
      m_hash *= 0x100000001b3ULL;
    }
    m_hash ^= 0xff;  // separator, so ("ab","c") differs from ("a","bc")
    m_hash *= 0x100000001b3ULL;
  }
  void add(std::int64_t value) { add(std::to_string(value)); }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(m_hash));
    return buf;
  }

 private:
  std::uint64_t m_hash = 0xcbf29ce484222325ULL;
};

}  // namespace

util::Result<RootChoice> resolve_config_root(
    const std::optional<fs::path>& cli_dir,
    const std::function<std::optional<std::string>(const std::string&)>& getenv,
    const fs::path& bundled_dir) {
  const auto env = [&](const std::string& name) -> std::optional<std::string> {
    return getenv ? non_empty(getenv(name)) : std::nullopt;
  };
  if (cli_dir) {
    if (!is_dir(*cli_dir)) return std::unexpected(not_a_root(*cli_dir, "--config"));
    return RootChoice{*cli_dir, false, "--config"};
  }
  if (const auto dir = env("GPUMOD_CONFIG_DIR")) {
    if (!is_dir(*dir)) return std::unexpected(not_a_root(*dir, "$GPUMOD_CONFIG_DIR"));
    return RootChoice{fs::path(*dir), false, "$GPUMOD_CONFIG_DIR"};
  }
  // XDG: a relative $XDG_CONFIG_HOME is invalid and ignored (XDG Base Directory spec).
  const auto xdg = env("XDG_CONFIG_HOME");
  if (xdg && fs::path(*xdg).is_absolute()) {
    const auto dir = fs::path(*xdg) / "gpumod";
    if (is_dir(dir)) return RootChoice{dir, false, "$XDG_CONFIG_HOME/gpumod"};
  } else if (const auto home = env("HOME")) {
    const auto dir = fs::path(*home) / ".config" / "gpumod";
    if (is_dir(dir)) return RootChoice{dir, false, "~/.config/gpumod"};
  }
  if (!is_dir(bundled_dir)) {
    return util::fail(util::ErrorCode::not_found,
                      "no configuration found: pass --config DIR, set $GPUMOD_CONFIG_DIR or create "
                      "~/.config/gpumod (the bundled example '" +
                          bundled_dir.string() + "' is missing too)");
  }
  return RootChoice{bundled_dir, true, "bundled example"};
}

std::string config_fingerprint(const fs::path& root) {
  Fnv1a hash;
  hash.add(root.string());
  const auto list = list_config_files(root);
  for (const auto& file : list.files) {  // sizes and times come from the listing's one stat()
    hash.add(file.relative);
    hash.add(file.size_bytes);
    hash.add(file.modified_ns);
  }
  for (const auto& problem : list.problems) hash.add(problem.relative + problem.message);
  return hash.hex();
}

}  // namespace gpumod::infra::config
