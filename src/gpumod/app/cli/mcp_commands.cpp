// gpumod mcp                       the MCP server over stdio (docs/mcp.md)
// gpumod mcp --listen HOST:PORT    the MCP server over streamable HTTP at http://HOST:PORT/mcp
// gpumod mcp install [--listen HOST:PORT]   a systemd user unit for the HTTP transport
// Both transports are thin clients of the daemon (started when none runs, as the CLI does).
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <mutex>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/app/cli/daemon_client.hpp"
#include "gpumod/app/mcp/backend.hpp"
#include "gpumod/app/mcp/http_transport.hpp"
#include "gpumod/app/mcp/server.hpp"
#include "gpumod/app/mcp/stdio_transport.hpp"
#include "gpumod/infra/config/root.hpp"
#include "gpumod/infra/http/client.hpp"
#include "gpumod/infra/http/listen.hpp"
#include "gpumod/infra/systemd/unit.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::app {

namespace {

constexpr const char* k_default_listen = "127.0.0.1:7980";
constexpr const char* k_unit_name = "gpumod-mcp.service";

struct McpFlags {
  std::string listen;
  bool no_autostart = false;
};

struct HostPort {
  std::string host;
  int port = 0;
};

util::Result<HostPort> parse_listen(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return util::fail(util::ErrorCode::invalid_argument, "--listen: expected HOST:PORT, got '" + text + "'");
  auto port = util::parse_int(text.substr(colon + 1), 1, 65535, "--listen port");
  if (!port) return std::unexpected(port.error());
  std::string host = text.substr(0, colon);
  if (host.starts_with("[") && host.ends_with("]")) host = host.substr(1, host.size() - 2);
  return HostPort{host, static_cast<int>(*port)};
}

// $GPUMOD_MCP_API_KEYS: comma-separated, each at least 16 characters.
util::Result<std::vector<std::string>> api_keys_from_env() {
  std::vector<std::string> keys;
  const char* v = std::getenv("GPUMOD_MCP_API_KEYS");
  if (v == nullptr) return keys;
  for (const auto& k : util::split(v, ',')) {
    const std::string key(util::trim(k));
    if (key.empty()) continue;
    if (key.size() < 16) return util::fail(util::ErrorCode::invalid_argument, "GPUMOD_MCP_API_KEYS: each key needs at least 16 characters");
    keys.push_back(key);
  }
  return keys;
}

void run_mcp(AppContext& ctx, const McpFlags& f) {
  auto root = ctx.config_root();
  if (!root) return ctx.fail(root.error());
  GlobalOptions options = ctx.options;
  options.config_dir = *root;
  mcp::DaemonBackend backend(
      [&ctx, autostart = !f.no_autostart] { return DaemonClient::connect(ctx, autostart); }, options);
  mcp::Server server(backend);
  if (f.listen.empty()) {
    ::signal(SIGPIPE, SIG_IGN);
    std::string fingerprint = infra::config::config_fingerprint(*root);
    const auto changed = [&] {
      auto now = infra::config::config_fingerprint(*root);
      if (now == fingerprint) return false;
      fingerprint = std::move(now);
      return true;
    };
    mcp::run_stdio(server, STDIN_FILENO, STDOUT_FILENO, changed);
    return;
  }
  auto hp = parse_listen(f.listen);
  if (!hp) return ctx.fail(hp.error());
  auto keys = api_keys_from_env();
  if (!keys) return ctx.fail(keys.error());
  if (!infra::http::is_loopback_host(hp->host) && keys->empty()) {
    return ctx.fail({util::ErrorCode::invalid_argument, "--listen " + f.listen +
                                                            " is not a loopback address: set GPUMOD_MCP_API_KEYS first"});
  }
  httplib::Server svr;
  svr.set_payload_max_length(mcp::k_max_message_bytes);
  svr.set_keep_alive_timeout(1);
  mcp::HttpOptions o;
  o.api_keys = *keys;
  mcp::install_mcp_routes(svr, server, o);
  if (!infra::http::bind_server(svr, hp->host, hp->port)) {
    return ctx.fail({util::ErrorCode::unavailable, "cannot listen on " + f.listen + " (in use?)"});
  }
  ctx.err() << "gpumod mcp: serving MCP at http://" << f.listen << "/mcp (pid " << ::getpid() << ")\n";
  ctx.err().flush();
  svr.listen_after_bind();
}

void install(AppContext& ctx, const McpFlags& f) {
  auto root = ctx.config_root();
  if (!root) return ctx.fail(root.error());
  const std::string listen = f.listen.empty() ? k_default_listen : f.listen;
  auto hp = parse_listen(listen);
  if (!hp) return ctx.fail(hp.error());
  if (!infra::http::is_loopback_host(hp->host)) {
    return ctx.fail({util::ErrorCode::invalid_argument, "mcp install: " + listen + " is not a loopback address"});
  }
  auto dir = infra::systemd::user_unit_dir();
  if (!dir) return ctx.fail(dir.error());
  infra::systemd::UnitSpec spec;
  spec.unit_name = k_unit_name;
  spec.description = "gpumod MCP server (streamable HTTP at http://" + listen + "/mcp)";
  spec.argv = {std::filesystem::read_symlink("/proc/self/exe").string(), "--config", root->string(), "mcp",
               "--listen", listen, "--no-autostart"};
  spec.restart = "on-failure";
  spec.restart_sec = std::chrono::seconds(2);
  spec.wants = {"gpumod.service"};  // the daemon (gpumod daemon install) owns the services
  auto text = infra::systemd::render_unit(spec);
  if (!text) return ctx.fail(text.error());
  auto changed = infra::systemd::install_unit(*dir, k_unit_name, *text);
  if (!changed) return ctx.fail(changed.error());
  ctx.out() << (*changed ? "wrote " : "unchanged: ") << (*dir / k_unit_name).string() << "\n"
            << "It needs the daemon's unit too (gpumod daemon install). Enable both with:\n"
            << "  systemctl --user daemon-reload && systemctl --user enable --now gpumod.service " << k_unit_name << "\n"
            << "MCP clients connect to http://" << listen << "/mcp\n";
}

}  // namespace

void register_mcp_commands(CLI::App& root, AppContext& ctx) {
  auto f = std::make_shared<McpFlags>();
  auto* mcp = root.add_subcommand("mcp", "The MCP server for agents: stdio, or streamable HTTP with --listen (docs/mcp.md)");
  mcp->add_option("--listen", f->listen, "Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio (loopback; "
                                         "other addresses need $GPUMOD_MCP_API_KEYS)");
  mcp->add_flag("--no-autostart", f->no_autostart, "Do not start the daemon when none runs");
  mcp->callback([&ctx, f, mcp] {
    if (mcp->get_subcommands().empty()) ctx.set_action([&ctx, f] { run_mcp(ctx, *f); });
  });
  auto fi = std::make_shared<McpFlags>();
  auto* inst = mcp->add_subcommand("install", "Write a systemd user unit for the HTTP transport");
  inst->add_option("--listen", fi->listen, std::string("HOST:PORT (default ") + k_default_listen + ")");
  inst->callback([&ctx, fi] { ctx.set_action([&ctx, fi] { install(ctx, *fi); }); });
}

}  // namespace gpumod::app
