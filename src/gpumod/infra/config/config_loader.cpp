#include "gpumod/infra/config/config_loader.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <system_error>

#include "gpumod/infra/config/files.hpp"
#include "gpumod/infra/config/parse.hpp"

namespace gpumod::infra::config {

namespace fs = std::filesystem;

namespace {

constexpr std::uintmax_t k_max_file_bytes = 1 << 20;

// The file's text, or nothing (the problem is reported).
std::optional<std::string> read_text(const ConfigFile& file, detail::Diagnostics& diags) {
  std::error_code ec;
  const auto size = fs::file_size(file.path, ec);
  if (ec) {
    diags.error({file.relative, 0, 0}, "cannot read the file: " + ec.message());
    return std::nullopt;
  }
  if (size > k_max_file_bytes) {
    diags.error({file.relative, 0, 0}, "the file is larger than 1 MiB (" + std::to_string(size) +
                                           " bytes); a configuration file is a few lines");
    return std::nullopt;
  }
  std::ifstream in(file.path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) {
    diags.error({file.relative, 0, 0}, "cannot read the file");
    return std::nullopt;
  }
  return text.str();
}

bool located_before(const ConfigDiagnostic& a, const ConfigDiagnostic& b) {
  return std::tie(a.where.file, a.where.line, a.where.column) <
         std::tie(b.where.file, b.where.line, b.where.column);
}

void load_into(const fs::path& root, const EnvLookup& getenv, ConfigLoad& out,
               detail::Diagnostics& diags) {
  std::error_code ec;
  if (!fs::exists(root, ec)) {
    diags.error({root.string(), 0, 0}, "the configuration directory does not exist");
    return;
  }
  if (!fs::is_directory(root, ec)) {
    diags.error({root.string(), 0, 0}, "the configuration root is not a directory");
    return;
  }
  const auto list = list_config_files(root);
  for (const auto& problem : list.problems) {
    diags.error({problem.relative, 0, 0}, "cannot read the folder: " + problem.message);
  }
  core::Settings settings;
  std::vector<detail::ParsedService> services;
  std::vector<detail::ParsedMode> modes;
  for (const auto& file : list.files) {
    const auto text = read_text(file, diags);
    if (!text) continue;
    switch (file.kind) {
      case ConfigFileKind::settings:
        settings = detail::parse_settings(*text, file.relative, diags);
        break;
      case ConfigFileKind::preset:
        if (auto p = detail::parse_preset(*text, file.relative, getenv, diags)) {
          services.push_back(std::move(*p));
        }
        break;
      case ConfigFileKind::mode:
        if (auto m = detail::parse_mode(*text, file.relative, diags)) modes.push_back(std::move(*m));
        break;
    }
  }
  out.settings = settings;
  detail::check_config(services, modes, diags);
  detail::check_serve(settings.serve, modes, diags);
  if (!diags.errors().empty()) return;

  core::Config config;
  config.root = root;
  config.settings = settings;
  for (auto& p : services) config.services.push_back(std::move(p.service));
  for (auto& m : modes) config.modes.push_back(std::move(m.mode));
  std::ranges::sort(config.services, {}, &core::Service::id);
  std::ranges::sort(config.modes, {}, &core::Mode::id);
  out.config = std::move(config);
}

}  // namespace

ConfigLoad load_config(const fs::path& root) { return load_config(root, process_env()); }

ConfigLoad load_config(const fs::path& root, const EnvLookup& getenv) {
  ConfigLoad out;
  try {
    detail::Diagnostics diags;
    load_into(root, getenv, out, diags);
    out.errors = std::move(diags.errors());
    out.notes = std::move(diags.notes());
    if (!out.errors.empty()) out.config.reset();
    std::ranges::stable_sort(out.errors, located_before);
    std::ranges::stable_sort(out.notes, located_before);
  } catch (const std::exception& e) {
    out.config.reset();
    out.errors.push_back(
        {{root.string(), 0, 0}, std::string("internal error while loading the configuration: ") + e.what()});
  } catch (...) {
    out.config.reset();
    out.errors.push_back({{root.string(), 0, 0}, "internal error while loading the configuration"});
  }
  return out;
}

util::Result<core::Config> load_config_or_error(const fs::path& root) {
  auto load = load_config(root);
  if (load.config) return std::move(*load.config);
  std::string message;
  for (const auto& d : load.errors) {
    if (!message.empty()) message += '\n';
    message += format_diagnostic(d);
  }
  if (message.empty()) message = root.string() + ": the configuration did not load";
  return util::fail(util::ErrorCode::config_invalid, std::move(message));
}

std::string format_diagnostic(const ConfigDiagnostic& diagnostic) {
  return diagnostic.where.to_string() + ": " + diagnostic.message;
}

}  // namespace gpumod::infra::config
