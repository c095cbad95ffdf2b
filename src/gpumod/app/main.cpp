#include "gpumod/app/main.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/app/cli/json_output.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::app {

namespace {

// Walks argv along the command tree; at the first word that names no command at its level,
// returns "unknown command 'x' (did you mean 'y'?)". Empty when every word is a known command.
std::string unknown_command(const CLI::App& root, int argc, char** argv) {
  const CLI::App* at = &root;
  for (int i = 1; i < argc; ++i) {
    const std::string tok = argv[i];
    if (tok.starts_with("-")) {
      if (at == &root && (tok == "--config" || tok == "--simulate-gpu")) ++i;
      continue;
    }
    const auto subs = at->get_subcommands([](const CLI::App*) { return true; });
    if (subs.empty()) return "";
    const CLI::App* next = nullptr;
    std::vector<std::string> names;
    for (const auto* sub : subs) {
      names.push_back(sub->get_name());
      if (sub->get_name() == tok) next = sub;
    }
    if (!next) return "unknown command '" + tok + "'" + util::did_you_mean(tok, names);
    at = next;
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  // With --json, stdout is one JSON document, an error included (docs/cli-contract.md).
  const bool json = wants_json(argc, argv);
  CountingStreambuf counted(std::cout.rdbuf());
  std::ostream out(&counted);
  const auto report = [&](const util::Error& e) {
    std::cerr << "gpumod: error: " << e.message << "\n";
    if (json && counted.written() == 0) out << error_document(e) << std::flush;
    return exit_code_for(e.code);
  };
  AppContext ctx(out, std::cerr);
  CLI::App root{"gpumod: manage the LLM inference services that share a GPU", "gpumod"};
  root.set_version_flag("--version", std::string("gpumod ") + GPUMOD_VERSION);
  root.require_subcommand(1);
  root.fallthrough();
  std::string config_dir;
  auto* config_opt = root.add_option("--config", config_dir, "Configuration directory (presets/, modes/, gpumod.yaml)");
  root.add_option("--simulate-gpu", ctx.options.simulate_gpu, "Simulate a GPU: NAME:MiB");

  register_status_command(root, ctx);
  register_inventory_commands(root, ctx);
  register_runtime_commands(root, ctx);
  register_config_commands(root, ctx);
  register_simulate_commands(root, ctx);
  register_demo_command(root, ctx);
  register_model_commands(root, ctx);
  register_gguf_commands(root, ctx);
  register_hf_commands(root, ctx);  // after the model group: it adds model quants|download
  register_mcp_commands(root, ctx);
  register_watch_command(root, ctx);
  register_top_command(root, ctx);
  register_bench_commands(root, ctx);
  register_serve_commands(root, ctx);

  try {
    root.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return root.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return root.exit(e);
  } catch (const CLI::Success& e) {
    return root.exit(e);
  } catch (const CLI::ParseError& e) {
    const std::string unknown = unknown_command(root, argc, argv);
    const int code = report({util::ErrorCode::invalid_argument, unknown.empty() ? std::string(e.what()) : unknown});
    if (!unknown.empty()) std::cerr << "Run 'gpumod --help' for the commands.\n";
    return code;
  }
  if (config_opt->count() > 0) {
    if (config_dir.empty()) return report({util::ErrorCode::invalid_argument, "--config: an empty path names no directory"});
    ctx.options.config_dir = config_dir;
  }
  ctx.run_action();
  out.flush();
  if (ctx.error()) return report(*ctx.error());
  return ctx.exit_code();
}

}  // namespace gpumod::app
