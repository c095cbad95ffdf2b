#include "gpumod/infra/config/files.hpp"

#include <algorithm>
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

bool is_regular(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);  // follows a symlinked file
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
      if (is_config_file_name(name) && is_regular(it->path())) {
        found.push_back({kind, it->path(), relative_text(root, it->path())});
      }
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
      if (is_config_file_name(name) && is_regular(it->path())) {
        found.push_back({kind, it->path(), relative_text(root, it->path())});
      }
    }
    if (ec) out.problems.push_back({relative_text(root, dir), ec.message()});
  }
  std::ranges::sort(found, {}, &ConfigFile::relative);
  out.files.insert(out.files.end(), found.begin(), found.end());
}

}  // namespace

ConfigFileList list_config_files(const fs::path& root) {
  ConfigFileList out;
  const auto settings = root / "gpumod.yaml";
  if (is_regular(settings)) out.files.push_back({ConfigFileKind::settings, settings, "gpumod.yaml"});
  list_dir(root, root / "presets", true, ConfigFileKind::preset, out);
  list_dir(root, root / "modes", false, ConfigFileKind::mode, out);
  return out;
}

}  // namespace gpumod::infra::config
