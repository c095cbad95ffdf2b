// Registration of the CLI's command groups. Each group lives in its own file in app/cli/ and
// adds its subcommands to the root CLI11 app; handlers report through AppContext.
// Thread-safety: single-threaded.
#pragma once

namespace CLI {
class App;
}

namespace gpumod::app {

class AppContext;

void register_config_commands(CLI::App& root, AppContext& ctx);     // config check
void register_inventory_commands(CLI::App& root, AppContext& ctx);  // service list, mode list|show
void register_status_command(CLI::App& root, AppContext& ctx);      // status
void register_simulate_commands(CLI::App& root, AppContext& ctx);   // simulate mode|services
void register_demo_command(CLI::App& root, AppContext& ctx);        // demo (make run)
// service start|stop|restart|sleep|wake|status|logs, mode switch, events, daemon ...
// (after register_inventory_commands: it adds to the service and mode groups)
void register_runtime_commands(CLI::App& root, AppContext& ctx);
// model register|list|show|remove|estimate; gguf inspect
void register_model_commands(CLI::App& root, AppContext& ctx);
void register_gguf_commands(CLI::App& root, AppContext& ctx);
// model quants|download, discover, preset generate (Hugging Face; after the model group)
void register_hf_commands(CLI::App& root, AppContext& ctx);
// mcp [--listen HOST:PORT], mcp install (the MCP server, app/mcp)
void register_mcp_commands(CLI::App& root, AppContext& ctx);
// watch (live configuration reloads), top (the live view)
void register_watch_command(CLI::App& root, AppContext& ctx);
void register_top_command(CLI::App& root, AppContext& ctx);
// bench SERVICE|MODEL, bench switch A B, bench --history
void register_bench_commands(CLI::App& root, AppContext& ctx);
// serve (the daemon with the OpenAI endpoint, foreground), requests
void register_serve_commands(CLI::App& root, AppContext& ctx);

}  // namespace gpumod::app
