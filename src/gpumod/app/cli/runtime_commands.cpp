// Commands that change what runs, through the daemon:
//   gpumod service start|stop|restart|sleep|wake|status|logs ID
//   gpumod mode switch ID [--dry-run] [--no-rollback]
//   gpumod events [-f]
//   gpumod daemon run|start|stop|status|install
#include <CLI/CLI.hpp>
#include <unistd.h>
#include <nlohmann/json.hpp>
#include <ctime>
#include <ostream>
#include <optional>
#include <thread>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/app/cli/daemon_client.hpp"
#include "gpumod/app/cli/daemon_install.hpp"
#include "gpumod/app/cli/progress.hpp"
#include "gpumod/app/daemon/daemon.hpp"
#include "gpumod/app/daemon/json_codec.hpp"
#include "gpumod/app/daemon/paths.hpp"
#include "gpumod/infra/process/identity.hpp"
#include "gpumod/infra/process/log_files.hpp"
#include "gpumod/infra/process/markers.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/infra/process/spawner.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/util/ids.hpp"
#include "gpumod/util/since.hpp"
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
  bool force = false;
  bool evict = false;
  std::int64_t after = 0;
  int limit = 200;
  std::string since;
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
  if (f.evict) body["evict"] = true;
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
    // The kind of failure decides the exit code, as for `service start` (7 does not fit, 4 a
    // missing model file...); an older daemon without error_code: 1.
    const auto code = error_code_from_string((*r).value("error_code", std::string("failed")));
    ctx.fail({code, (*r)["message"].get<std::string>()});
  }
}

// One event as the daemon's /v1/events sends it.
json event_json(const infra::state::Event& e) {
  return {{"id", e.id}, {"ts_ms", e.ts_ms}, {"kind", e.kind}, {"service", e.service_id},
          {"mode", e.mode_id}, {"message", e.message}};
}

std::string event_line(const json& e) {
  const auto ts = e["ts_ms"].get<std::int64_t>();
  const std::time_t secs = ts / 1000;
  std::tm tm{};
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", ::localtime_r(&secs, &tm));
  return std::string(buf) + "  " + e["kind"].get<std::string>() + "  " + e["message"].get<std::string>() + "\n";
}

// The newest --limit events (after --after, since --since), oldest first, as one JSON document
// ({"events": [...]}) or text lines; with -f, then every new event as it comes (JSON Lines with
// --json: one object per line, docs/cli-contract.md).
void events(AppContext& ctx, const Flags& f) {
  if (f.limit < 1 || f.limit > 10000) return ctx.fail({util::ErrorCode::invalid_argument, "--limit must be in [1, 10000]"});
  if (f.after < 0) return ctx.fail({util::ErrorCode::invalid_argument, "--after must be an event id (>= 0)"});
  std::int64_t since_ms = 0;
  if (!f.since.empty()) {
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch()).count();
    auto s = util::parse_since(f.since, now);
    if (!s) return ctx.fail(s.error());
    since_ms = *s;
  }
  // Without -f, a read-only command: from the daemon when one runs, else from the database (no
  // daemon is started; a broken configuration or a read-only state directory does not matter).
  auto client = DaemonClient::connect(ctx, f.follow);
  if (!client && (f.follow || client.error().code != util::ErrorCode::unavailable)) return ctx.fail(client.error());
  if (!client) {
    auto store = ctx.state_for_reading();
    if (!store) return ctx.fail(store.error());
    auto list = (*store)->list_latest_events(f.after, since_ms, f.limit);
    if (!list) return ctx.fail(list.error());
    json arr = json::array();
    for (const auto& e : *list) arr.push_back(event_json(e));
    if (f.json) {
      ctx.out() << json{{"events", arr}}.dump(2) << "\n";
    } else {
      for (const auto& e : arr) ctx.out() << event_line(e);
    }
    return;
  }
  std::int64_t after = f.after;
  bool first = true;
  while (true) {
    const std::string query = first ? "latest=1&limit=" + std::to_string(f.limit) + "&since_ms=" + std::to_string(since_ms)
                                    : std::string("wait_ms=30000");
    auto r = client->get("/v1/events?after=" + std::to_string(after) + "&" + query, std::chrono::milliseconds(40000));
    if (!r) return ctx.fail(r.error());
    if (first && f.json && !f.follow) {
      ctx.out() << json{{"events", (*r)["events"]}}.dump(2) << "\n";
      return;
    }
    first = false;
    for (const auto& e : (*r)["events"]) {
      after = std::max<std::int64_t>(after, e["id"].get<std::int64_t>());
      ctx.out() << (f.json ? e.dump() + "\n" : event_line(e));
    }
    ctx.out().flush();
    if (!f.follow) return;
  }
}

// Stops the servers gpumod started for this state database, found by their markers; returns
// "<instance> (pid N)" for each one stopped. Errors are said on stderr.
std::vector<std::string> stop_marked_servers(AppContext& ctx) {
  const auto db = infra::state::default_db_path();
  infra::process::LinuxProcessSpawner spawner;
  std::vector<std::string> stopped;
  for (const auto& found : infra::process::find_marked_processes(db, infra::process::pid_dir_for(db))) {
    const std::string what = found.instance_key + " (pid " + std::to_string(found.identity.pid) + ")";
    if (auto st = spawner.stop(found.identity, std::chrono::milliseconds(10000)); !st) {
      ctx.err() << "gpumod: stopping " << what << ": " << st.error().message << "\n";
      continue;
    }
    infra::process::remove_pid_file(infra::process::pid_dir_for(db), found.instance_key);
    stopped.push_back(what);
  }
  return stopped;
}

void daemon_stop(AppContext& ctx, const Flags& f) {
  if (!daemon_running()) {
    if (!f.with_services) {
      ctx.out() << "no gpumod daemon runs\n";
      return;
    }
    // Its servers may outlive it (a killed daemon): they are found by their markers (#19).
    const auto stopped = stop_marked_servers(ctx);
    ctx.out() << "no gpumod daemon runs; " << (stopped.empty() ? "no server it started runs" : "stopped the servers it had started: " + util::join(stopped, ", ")) << "\n";
    return;
  }
  auto client = DaemonClient::connect_existing();
  if (!client) return ctx.fail(client.error());
  std::vector<std::string> stopped;
  if (auto st = stop_daemon(std::move(*client), f.with_services, std::chrono::milliseconds(300000), &stopped); !st) return ctx.fail(st.error());
  if (!f.with_services) {
    ctx.out() << "daemon stopped (services left running)\n";
  } else {
    ctx.out() << "daemon stopped; " << (stopped.empty() ? "it ran no services" : "stopped " + util::join(stopped, ", ")) << "\n";
  }
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
    if (op == "start" || op == "wake") {
      sub->add_flag("--evict", f->evict, "A router model may unload a model of the current mode (the mode is then shown as modified)");
    }
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
    auto* sub = root.add_subcommand("events", "The event log of what gpumod did (the newest --limit, oldest first)");
    sub->add_flag("-f,--follow", f->follow, "Then keep printing new events as they happen");
    sub->add_option("--limit", f->limit, "How many of the newest events to show (default 200)");
    sub->add_option("--after", f->after, "Only events after this id");
    sub->add_option("--since", f->since, "Only events since: a duration back (90s, 15m, 2h, 7d) or a local time (YYYY-MM-DD[ HH:MM[:SS]])");
    sub->add_flag("--json", f->json, "One JSON document {\"events\": [...]}; with -f, JSON Lines (one event per line)");
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
        // connect() also restarts a running daemon whose environment differs from one this
        // command sets explicitly (--simulate-gpu, $GPUMOD_LLAMA_SERVER_BIN): never ignored.
        const bool was_running = daemon_running();
        auto c = DaemonClient::connect(ctx, true);
        if (!c) return ctx.fail(c.error());
        ctx.out() << (was_running ? "the daemon already runs\n" : "daemon running\n");
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
        if (const auto env = p->value("environment", json::object()); env.contains("llama_server_bin")) {
          ctx.out() << "  llama-server: " << env["llama_server_bin"].get<std::string>()
                    << "\n  vllm:         " << env["vllm_bin"].get<std::string>() << "\n  GPU:          "
                    << (env["simulate_gpu"].is_string() ? "simulated " + env["simulate_gpu"].get<std::string>()
                                                        : std::string("as configured (gpumod.yaml) or detected"))
                    << "\n";
        }
      });
    });
  }
  {
    auto f = std::make_shared<Flags>();
    auto* sub = daemon->add_subcommand("install", "Write a systemd user unit for the daemon ($XDG_CONFIG_HOME/systemd/user)");
    sub->add_flag("--force", f->force, "Replace a gpumod.service with other contents");
    sub->callback([&ctx, f] { ctx.set_action([&ctx, f] { daemon_install(ctx, f->force); }); });
  }
}

}  // namespace gpumod::app
