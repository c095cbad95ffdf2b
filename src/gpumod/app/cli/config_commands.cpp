// gpumod config check
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <ostream>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/engine/config_review.hpp"
#include "gpumod/infra/config/config_loader.hpp"

namespace gpumod::app {

using nlohmann::json;

namespace {

json diag_json(const infra::config::ConfigDiagnostic& d) {
  return {{"file", d.where.file}, {"line", d.where.line}, {"column", d.where.column}, {"message", d.message}};
}

void run_check(AppContext& ctx, bool as_json) {
  auto choice = infra::config::resolve_config_root(
      ctx.options.config_dir,
      [](const std::string& n) -> std::optional<std::string> {
        if (const char* v = std::getenv(n.c_str()); v && *v) return std::string(v);
        return std::nullopt;
      },
      AppContext::bundled_example_dir());
  if (!choice) return ctx.fail(choice.error());
  auto load = infra::config::load_config(choice->root);
  // The drivers' own checks (engine/config_review.hpp): values a start would refuse are errors;
  // unread unit_vars keys, disagreeing router-mates and missing model files are warnings.
  std::vector<infra::config::ConfigDiagnostic> warnings;
  if (load.config) {
    for (auto& f : engine::review_config(*load.config)) {
      (f.error ? load.errors : warnings).push_back({std::move(f.where), std::move(f.message)});
    }
    if (load.config->services.empty()) {
      load.errors.push_back({{"presets", 0, 0}, "no services: " + (choice->root / "presets").string() +
                                                    " holds no preset (*.yaml); is --config the right directory?"});
    }
  }
  if (as_json) {
    json errors = json::array(), notes = json::array(), warns = json::array();
    for (const auto& d : load.errors) errors.push_back(diag_json(d));
    for (const auto& d : load.notes) notes.push_back(diag_json(d));
    for (const auto& d : warnings) warns.push_back(diag_json(d));
    json out = {{"root", choice->root.string()}, {"source", choice->source}, {"bundled", choice->bundled},
                {"ok", load.errors.empty()}, {"errors", errors}, {"warnings", warns}, {"notes", notes}};
    if (load.config) {
      out["services"] = load.config->services.size();
      out["modes"] = load.config->modes.size();
    }
    ctx.out() << out.dump(2) << "\n";
  } else {
    ctx.out() << "Configuration: " << choice->root.string() << " (" << choice->source << ")\n";
    for (const auto& d : load.errors) {
      ctx.out() << d.where.to_string() << ": error: " << d.message << "\n";
    }
    for (const auto& d : warnings) {
      ctx.out() << d.where.to_string() << ": warning: " << d.message << "\n";
    }
    for (const auto& d : load.notes) {
      ctx.out() << d.where.to_string() << ": note: " << d.message << "\n";
    }
    if (load.config && load.errors.empty()) {
      ctx.out() << "OK: " << load.config->services.size() << " services, " << load.config->modes.size()
                << " modes\n";
    }
  }
  if (!load.errors.empty()) {
    ctx.fail({util::ErrorCode::config_invalid,
              std::to_string(load.errors.size()) + " error(s) in " + choice->root.string()});
  }
}

}  // namespace

void register_config_commands(CLI::App& root, AppContext& ctx) {
  auto* config = root.add_subcommand("config", "Check the configuration");
  config->require_subcommand(1);
  auto* check = config->add_subcommand("check", "Validate presets, modes and settings; list every problem with its location");
  auto as_json = std::make_shared<bool>(false);
  check->add_flag("--json", *as_json, "Print JSON");
  check->callback([&ctx, as_json] { ctx.set_action([&ctx, as_json] { run_check(ctx, *as_json); }); });
}

}  // namespace gpumod::app
