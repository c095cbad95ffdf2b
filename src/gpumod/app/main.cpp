#include "gpumod/app/main.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::app {

namespace {

// The deepest subcommand that was recognised, to suggest a spelling among its children.
const CLI::App* deepest_parsed(const CLI::App& app) {
  for (const auto* sub : app.get_subcommands()) return deepest_parsed(*sub);
  return &app;
}

std::string suggestion_for(const CLI::App& root, const std::vector<std::string>& extras) {
  if (extras.empty()) return "";
  const auto* at = deepest_parsed(root);
  std::vector<std::string> names;
  for (const auto* sub : at->get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
  }
  return util::did_you_mean(extras.front(), names);
}

}  // namespace

int main(int argc, char** argv) {
  AppContext ctx(std::cout, std::cerr);
  CLI::App root{"gpumod: manage the LLM inference services that share a GPU", "gpumod"};
  root.set_version_flag("--version", std::string("gpumod ") + GPUMOD_VERSION);
  root.require_subcommand(1);
  root.fallthrough();
  std::string config_dir;
  root.add_option("--config", config_dir, "Configuration directory (presets/, modes/, gpumod.yaml)");
  root.add_option("--simulate-gpu", ctx.options.simulate_gpu, "Simulate a GPU: NAME:MiB");

  register_status_command(root, ctx);
  register_inventory_commands(root, ctx);
  register_runtime_commands(root, ctx);
  register_config_commands(root, ctx);
  register_simulate_commands(root, ctx);
  register_demo_command(root, ctx);
  register_model_commands(root, ctx); register_gguf_commands(root, ctx);

  try {
    root.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return root.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return root.exit(e);
  } catch (const CLI::Success& e) {
    return root.exit(e);
  } catch (const CLI::ExtrasError& e) {
    std::cerr << "gpumod: error: " << e.what() << suggestion_for(root, root.remaining()) << "\n"
              << "Run 'gpumod --help' for the commands.\n";
    return exit_code_for(util::ErrorCode::invalid_argument);
  } catch (const CLI::ParseError& e) {
    std::cerr << "gpumod: error: " << e.what() << "\n";
    return exit_code_for(util::ErrorCode::invalid_argument);
  }
  if (!config_dir.empty()) ctx.options.config_dir = config_dir;
  ctx.run_action();
  if (ctx.error()) {
    std::cerr << "gpumod: error: " << ctx.error()->message << "\n";
    return exit_code_for(ctx.error()->code);
  }
  return ctx.exit_code();
}

}  // namespace gpumod::app
