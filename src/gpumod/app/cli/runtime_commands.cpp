// Commands that change what runs, through the daemon:
//   gpumod service start|stop|restart|sleep|wake|status|logs ID
//   gpumod mode switch ID [--dry-run] [--no-rollback]
//   gpumod events [-f]
//   gpumod daemon run|start|stop|status|install
#include <CLI/CLI.hpp>
#include <unistd.h>
#include <nlohmann/json.hpp>
#include <fstream>
#include <ostream>
#include <optional>
#include <thread>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/app/cli/daemon_client.hpp"
#include "gpumod/app/cli/progress.hpp"
#include "gpumod/app/daemon/daemon.hpp"
#include "gpumod/app/daemon/json_codec.hpp"
#include "gpumod/app/daemon/paths.hpp"
#include "gpumod/infra/process/identity.hpp"
#include "gpumod/infra/process/log_files.hpp"
#include "gpumod/infra/process/spawner.hpp"
#include "gpumod/util/ids.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::app {

using nlohmann::json;

namespace {

// Long enough for the slowest real start (vLLM can take minutes); the daemon applies each
// service's own startup_timeout inside.
constexpr std::chrono::milliseconds k_command_timeout{3600 * 1000};

struct Flags {
  std::string id;
  bool json = false;
  int level = 0;
  bool follow = false;
  int lines = 50;
  bool dry_run = false;
  bool no_rollback = false;
  bool with_services = false;
  std::int64_t after = 0;
  std::string listen;
};

void print(AppContext& ctx, const json& j, bool as_json, const std::function<std::string(const json&)>& text) {
  ctx.out() << (as_json ? j.dump(2) + "\n" : text(j));
}

void service_op(AppContext& ctx, const std::string& op, const Flags& f) {
  if (auto st = util::validate_id(f.id, "service id"); !st) return ctx.fail(st.error());
  // The daemon checks the id against its configuration (not_found with a suggestion).
  auto client = DaemonClient::connect(ctx, true);
  if (!client) return ctx.fail(client.error());
  json body = json::object();
  if (op == "sleep" && f.level) body["level"] = f.level;
  auto r = client->post("/v1/services/" + f.id + "/" + op, body, k_command_timeout);
  if (!r) return ctx.fail(r.error());
  print(ctx, *r, f.json, render_op);
}

void service_status(AppContext& ctx, const Flags& f) {
  if (auto st = util::validate_id(f.id, "service id"); !st) return ctx.fail(st.error());
  auto client = DaemonClient::connect(ctx, true);
  if (!client) return ctx.fail(client.error());
  auto r = client->get("/v1/status", std::chrono::milliseconds(30000));
  if (!r) return ctx.fail(r.error());
  for (const auto& s : (*r)["services"]) {
    if (s["id"] == f.id) {
      return print(ctx, s, f.json, [](const json& svc) {
        std::string out = svc["id"].get<std::string>() + ": " + svc["state"].get<std::string>();
        if (!svc["reason"].get<std::string>().empty()) out += " (" + svc["reason"].get<std::string>() + ")";
        out += "\n  pid " + std::to_string(svc["pid"].get<int>()) + ", configured " +
               util::group_thousands(svc["configured_mib"].get<std::int64_t>()) + " MiB";
        if (svc["measured_mib"].is_number()) out += ", measured " + util::group_thousands(svc["measured_mib"].get<std::int64_t>()) + " MiB";
        if (svc["learned_mib"].is_number()) out += ", learned " + util::group_thousands(svc["learned_mib"].get<std::int64_t>()) + " MiB";
        for (const auto& m : svc["models"]) out += "\n  model " + m["id"].get<std::string>() + ": " + m["status"].get<std::string>();
        return out + "\n";
      });
    }
  }
  ctx.fail({util::ErrorCode::not_found, "no service '" + f.id + "'"});
}

void service_logs(AppContext& ctx, const Flags& f) {
  if (auto st = util::validate_id(f.id, "service id"); !st) return ctx.fail(st.error());
  if (f.lines < 1 || f.lines > 100000) return ctx.fail({util::ErrorCode::invalid_argument, "-n must be in [1, 100000]"});
  auto client = DaemonClient::connect(ctx, true);
  if (!client) return ctx.fail(client.error());
  auto r = client->get("/v1/services/" + f.id + "/logs?n=" + std::to_string(f.lines), std::chrono::milliseconds(30000));
  if (!r) return ctx.fail(r.error());
  for (const auto& line : (*r)["lines"]) ctx.out() << line.get<std::string>() << "\n";
  ctx.out().flush();
  if (!f.follow) return;
  infra::process::LogFollower follower((*r)["path"].get<std::string>(), false);
  while (true) {
    auto lines = follower.next(std::chrono::milliseconds(3600 * 1000));
    if (!lines) return ctx.fail(lines.error());
    for (const auto& line : *lines) ctx.out() << line << "\n";
    ctx.out().flush();
  }
}

void mode_switch(AppContext& ctx, const Flags& f) {
  if (auto st = util::validate_id(f.id, "mode id"); !st) return ctx.fail(st.error());
  // The daemon checks the id against its configuration (not_found with a suggestion).
  auto client = DaemonClient::connect(ctx, true);
  if (!client) return ctx.fail(client.error());
  // Step n of m on a terminal while the switch runs; never with --json or into a pipe.
  std::optional<SwitchProgress> progress;
  if (!f.json && !f.dry_run && ::isatty(STDERR_FILENO)) progress.emplace(ctx.err(), f.id);
  auto r = client->post("/v1/modes/" + f.id + "/switch", json{{"dry_run", f.dry_run}, {"no_rollback", f.no_rollback}},
                        k_command_timeout);
  progress.reset();
  if (!r) return ctx.fail(r.error());
  print(ctx, *r, f.json, render_switch);
  if (!(*r)["success"].get<bool>()) {
    ctx.fail({util::ErrorCode::failed, (*r)["message"].get<std::string>()});
  }
}

void events(AppContext& ctx, const Flags& f) {
  auto client = DaemonClient::connect(ctx, true);
  if (!client) return ctx.fail(client.error());
  std::int64_t after = f.after;
  while (true) {
    auto r = client->get("/v1/events?after=" + std::to_string(after) + (f.follow ? "&wait_ms=30000" : ""),
                         std::chrono::milliseconds(40000));
    if (!r) return ctx.fail(r.error());
    for (const auto& e : (*r)["events"]) {
      after = std::max<std::int64_t>(after, e["id"].get<std::int64_t>());
      if (f.json) {
        ctx.out() << e.dump() << "\n";
      } else {
        const auto ts = e["ts_ms"].get<std::int64_t>();
        const std::time_t secs = ts / 1000;
        char buf[32];
        std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&secs));
        ctx.out() << buf << "  " << e["kind"].get<std::string>() << "  " << e["message"].get<std::string>() << "\n";
      }
    }
    ctx.out().flush();
    if (!f.follow) return;
  }
}

void daemon_stop(AppContext& ctx, const Flags& f) {
  if (!daemon_running()) {
    ctx.out() << "no gpumod daemon runs\n";
    return;
  }
  auto client = DaemonClient::connect_existing();
  if (!client) return ctx.fail(client.error());
  if (auto st = stop_daemon(std::move(*client), f.with_services, std::chrono::milliseconds(300000)); !st) return ctx.fail(st.error());
  ctx.out() << "daemon stopped" << (f.with_services ? " (its services were stopped)" : " (services left running)") << "\n";
}

void daemon_install(AppContext& ctx) {
  auto cfg = ctx.config();
  if (!cfg) return ctx.fail(cfg.error());
  const char* home = std::getenv("HOME");
  if (!home) return ctx.fail({util::ErrorCode::unavailable, "HOME is not set"});
  const auto dir = std::filesystem::path(home) / ".config" / "systemd" / "user";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const auto exe = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string unit = "[Unit]\nDescription=gpumod daemon (GPU inference service manager)\n\n[Service]\nType=exec\n";
  unit += "ExecStart=\"" + exe + "\" --config \"" + (*cfg)->root.string() + "\" daemon run\n";
  unit += "Restart=on-failure\nRestartSec=2\nKillMode=process\n\n[Install]\nWantedBy=default.target\n";
  const auto path = dir / "gpumod.service";
  const auto tmp = dir / ".gpumod.service.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << unit;
    if (!out) return ctx.fail({util::ErrorCode::io, "writing " + tmp.string()});
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) return ctx.fail({util::ErrorCode::io, "installing " + path.string() + ": " + ec.message()});
  ctx.out() << "wrote " << path.string() << "\nenable it with: systemctl --user daemon-reload && systemctl --user enable --now gpumod.service\n"
            << "(KillMode=process: stopping the daemon leaves the services it started running)\n";
}

}  // namespace

void register_runtime_commands(CLI::App& root, AppContext& ctx) {
  auto* service = root.get_subcommand("service");
  for (const std::string op : {"start", "stop", "restart", "sleep", "wake"}) {
    auto f = std::make_shared<Flags>();
    auto* sub = service->add_subcommand(op, op == "sleep" ? "Put a service to sleep (vLLM level 1|2, router unload)"
                                                          : std::string(1, static_cast<char>(std::toupper(op[0]))) + op.substr(1) + " a service (through the daemon)");
    sub->add_option("ID", f->id, "Service id")->required();
    sub->add_flag("--json", f->json, "Print JSON");
    if (op == "sleep") sub->add_option("--level", f->level, "Sleep level (1 or 2; default: the preset's)")->check(CLI::Range(1, 2));
    sub->callback([&ctx, f, op] { ctx.set_action([&ctx, f, op] { service_op(ctx, op, *f); }); });
  }
  {
    auto f = std::make_shared<Flags>();
    auto* sub = service->add_subcommand("status", "One service's observed state and memory");
    sub->add_option("ID", f->id, "Service id")->required();
    sub->add_flag("--json", f->json, "Print JSON");
    sub->callback([&ctx, f] { ctx.set_action([&ctx, f] { service_status(ctx, *f); }); });
  }
  {
    auto f = std::make_shared<Flags>();
    auto* sub = service->add_subcommand("logs", "A service's log");
    sub->add_option("ID", f->id, "Service id")->required();
    sub->add_flag("-f,--follow", f->follow, "Keep printing new lines");
    sub->add_option("-n,--lines", f->lines, "Lines to show (default 50)");
    sub->callback([&ctx, f] { ctx.set_action([&ctx, f] { service_logs(ctx, *f); }); });
  }
  {
    auto* mode = root.get_subcommand("mode");
    auto f = std::make_shared<Flags>();
    auto* sub = mode->add_subcommand("switch", "Switch to a mode: plan, then sleep/stop/wake/start with rollback");
    sub->add_option("ID", f->id, "Mode id")->required();
    sub->add_flag("--dry-run", f->dry_run, "Print the plan and the predicted VRAM after each step; change nothing");
    sub->add_flag("--no-rollback", f->no_rollback, "On failure, leave things as they are");
    sub->add_flag("--json", f->json, "Print JSON");
    sub->callback([&ctx, f] { ctx.set_action([&ctx, f] { mode_switch(ctx, *f); }); });
  }
  {
    auto f = std::make_shared<Flags>();
    auto* sub = root.add_subcommand("events", "The event log of what gpumod did");
    sub->add_flag("-f,--follow", f->follow, "Keep printing new events");
    sub->add_option("--after", f->after, "Only events after this id");
    sub->add_flag("--json", f->json, "One JSON object per line");
    sub->callback([&ctx, f] { ctx.set_action([&ctx, f] { events(ctx, *f); }); });
  }
  auto* daemon = root.add_subcommand("daemon", "The gpumod daemon");
  daemon->require_subcommand(1);
  {
    auto f = std::make_shared<Flags>();
    auto* sub = daemon->add_subcommand("run", "Run the daemon in the foreground");
    sub->add_option("--listen", f->listen, "Also listen on loopback TCP HOST:PORT (bearer token from $GPUMOD_DAEMON_TOKEN)");
    sub->callback([&ctx, f] {
      ctx.set_action([&ctx, f] {
        DaemonOptions o;
        if (!f->listen.empty()) {
          o.listen_tcp = f->listen;
          if (const char* t = std::getenv("GPUMOD_DAEMON_TOKEN")) o.token = t;
        }
        if (auto st = run_daemon(ctx, o); !st) ctx.fail(st.error());
      });
    });
  }
  {
    auto* sub = daemon->add_subcommand("start", "Start the daemon in the background");
    sub->callback([&ctx] {
      ctx.set_action([&ctx] {
        if (daemon_running()) {
          ctx.out() << "the daemon already runs\n";
          return;
        }
        auto c = DaemonClient::connect(ctx, true);
        if (!c) return ctx.fail(c.error());
        ctx.out() << "daemon running\n";
      });
    });
  }
  {
    auto f = std::make_shared<Flags>();
    auto* sub = daemon->add_subcommand("stop", "Stop the daemon (services keep running unless --with-services)");
    sub->add_flag("--with-services", f->with_services, "Stop every service the daemon runs first");
    sub->callback([&ctx, f] { ctx.set_action([&ctx, f] { daemon_stop(ctx, *f); }); });
  }
  {
    auto* sub = daemon->add_subcommand("status", "Is the daemon running?");
    sub->callback([&ctx] {
      ctx.set_action([&ctx] {
        if (!daemon_running()) {
          ctx.out() << "no gpumod daemon runs (" << daemon_socket_path().string() << ")\n";
          ctx.set_exit_code(exit_code_for(util::ErrorCode::unavailable));
          return;
        }
        auto c = DaemonClient::connect_existing();
        if (!c) return ctx.fail(c.error());
        auto p = c->get("/v1/ping", std::chrono::milliseconds(2000));
        if (!p) return ctx.fail(p.error());
        ctx.out() << "daemon pid " << (*p)["pid"].get<int>() << " on " << daemon_socket_path().string()
                  << ", configuration " << (*p)["config_root"].get<std::string>() << "\n";
      });
    });
  }
  {
    auto* sub = daemon->add_subcommand("install", "Write a systemd user unit for the daemon");
    sub->callback([&ctx] { ctx.set_action([&ctx] { daemon_install(ctx); }); });
  }
}

}  // namespace gpumod::app
