#include "gpumod/app/cli/command_runner.hpp"

#include <CLI/CLI.hpp>
#include <sstream>

#include "gpumod/app/cli/commands.hpp"

namespace gpumod::app {

util::Result<CommandOutput> run_command(const std::vector<std::string>& args, const GlobalOptions& options) {
  std::ostringstream out;
  std::ostringstream err;
  AppContext ctx(out, err);
  ctx.options = options;
  CLI::App root{"gpumod", "gpumod"};
  root.require_subcommand(1);
  register_inventory_commands(root, ctx);
  register_simulate_commands(root, ctx);
  register_model_commands(root, ctx);
  register_gguf_commands(root, ctx);
  register_hf_commands(root, ctx);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them reversed
  try {
    root.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return util::fail(util::ErrorCode::invalid_argument, std::string(e.what()));
  }
  ctx.run_action();
  if (ctx.error()) return std::unexpected(*ctx.error());
  return CommandOutput{out.str(), err.str(), ctx.exit_code()};
}

}  // namespace gpumod::app
