#include "gpumod/infra/config/files.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <system_error>

#include "gpumod/util/strings.hpp"

namespace gpumod::infra::config {

namespace fs = std::filesystem;

bool is_config_file_name(std::string_view file_name) {
  if (file_name.empty() || file_name.front() == '.') return false;
  if (file_name.ends_with('~')) return false;
  const auto lower = util::to_lower(file_name);
  if (lower.ends_with(".swp") || lower.ends_with(".tmp")) return false;
  return (lower.ends_with(".yaml") && lower.size() > 5) || (lower.ends_with(".yml") && lower.size() > 4);
}

namespace {

std::string relative_text(const fs::path& root, const fs::path& path) {
  auto rel = path.lexically_relative(root);
  if (rel.empty()) rel = path;
  return rel.generic_string();
}

// One stat() (following a symlinked file): a regular file is listed with its size and time,
// which config_fingerprint hashes without asking again.
std::optional<ConfigFile> regular(ConfigFileKind kind, const fs::path& root, const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return ConfigFile{kind, p, relative_text(root, p), static_cast<std::int64_t>(st.st_size),
                    static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

void list_dir(const fs::path& root, const fs::path& dir, bool recursive, ConfigFileKind kind,
              ConfigFileList& out) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return;
  if (!fs::is_directory(dir, ec)) {
    out.problems.push_back({relative_text(root, dir), "is not a directory"});
    return;
  }
  std::vector<ConfigFile> found;
  if (recursive) {
    fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec);
    if (ec) {
      out.problems.push_back({relative_text(root, dir), ec.message()});
      return;
    }
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const auto name = it->path().filename().string();
      std::error_code dec;
      if (it->is_directory(dec)) {
        if (!name.empty() && name.front() == '.') it.disable_recursion_pending();
        continue;
      }
      if (!is_config_file_name(name)) continue;
      if (auto f = regular(kind, root, it->path())) found.push_back(std::move(*f));
    }
    if (ec) out.problems.push_back({relative_text(root, dir), ec.message()});
  } else {
    fs::directory_iterator it(dir, ec);
    if (ec) {
      out.problems.push_back({relative_text(root, dir), ec.message()});
      return;
    }
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      const auto name = it->path().filename().string();
      if (!is_config_file_name(name)) continue;
      if (auto f = regular(kind, root, it->path())) found.push_back(std::move(*f));
    }
    if (ec) out.problems.push_back({relative_text(root, dir), ec.message()});
  }
  std::ranges::sort(found, {}, &ConfigFile::relative);
  out.files.insert(out.files.end(), found.begin(), found.end());
}

}  // namespace

ConfigFileList list_config_files(const fs::path& root) {
  ConfigFileList out;
  if (auto f = regular(ConfigFileKind::settings, root, root / "gpumod.yaml")) out.files.push_back(std::move(*f));
  list_dir(root, root / "presets", true, ConfigFileKind::preset, out);
  list_dir(root, root / "modes", false, ConfigFileKind::mode, out);
  return out;
}

}  // namespace gpumod::infra::config
