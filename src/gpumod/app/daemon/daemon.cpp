#include "gpumod/app/daemon/daemon.hpp"

#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <condition_variable>
#include <iostream>
#include <thread>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/daemon/always_answers.hpp"
#include "gpumod/app/daemon/event_signal.hpp"
#include "gpumod/app/daemon/events_stream.hpp"
#include "gpumod/app/daemon/bench_routes.hpp"
#include "gpumod/app/daemon/json_codec.hpp"
#include "gpumod/app/daemon/metrics.hpp"
#include "gpumod/app/daemon/launch.hpp"
#include "gpumod/app/daemon/openai_server.hpp"
#include "gpumod/app/daemon/request_log.hpp"
#include "gpumod/engine/on_demand.hpp"
#include "gpumod/app/daemon/paths.hpp"
#include "gpumod/app/mcp/daemon_mcp.hpp"
#include "gpumod/infra/config/root.hpp"
#include "gpumod/engine/docker_spawner.hpp"
#include "gpumod/engine/engine.hpp"
#include "gpumod/engine/metrics.hpp"
#include "gpumod/engine/observer_list.hpp"
#include "gpumod/engine/request_metrics.hpp"
#include "gpumod/infra/config/config_loader.hpp"
#include "gpumod/infra/config/watch.hpp"
#include "gpumod/infra/gpu/probe.hpp"
#include "gpumod/infra/gpu/select.hpp"
#include "gpumod/app/daemon/environment.hpp"
#include "gpumod/infra/gpu/simulated_probe.hpp"
#include "gpumod/infra/gpu/sim_ledger.hpp"
#include "gpumod/infra/http/client.hpp"
#include "gpumod/infra/http/listen.hpp"
#include "gpumod/infra/process/log_files.hpp"
#include "gpumod/infra/process/spawner.hpp"
#include "gpumod/infra/state/damaged.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/infra/systemd/manager.hpp"
#include "gpumod/infra/systemd/systemd_spawner.hpp"
#include "gpumod/infra/systemd/unit.hpp"
#include "gpumod/util/lock_file.hpp"
#include "gpumod/util/ids.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::app {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Request bodies are small JSON (an MCP message is at most 1 MiB): larger ones are refused (413)
// before they are read.
constexpr std::size_t k_max_body_bytes = 4 * 1024 * 1024;

void reply(httplib::Response& res, const util::Result<json>& r) {
  if (r) {
    res.status = 200;
    res.set_content(r->dump(), "application/json");
  } else {
    res.status = http_status_for(r.error().code);
    res.set_content(error_json(r.error()).dump(), "application/json");
  }
}

util::Result<json> parse_body(const httplib::Request& req) {
  if (req.body.empty()) return json::object();
  try {
    auto j = json::parse(req.body);
    if (!j.is_object()) return util::fail(util::ErrorCode::invalid_argument, "the request body must be a JSON object");
    return j;
  } catch (const std::exception& e) {
    return util::fail(util::ErrorCode::invalid_argument, std::string("the request body is not JSON: ") + e.what());
  }
}

util::Result<std::int64_t> query_int(const httplib::Request& req, const char* name, std::int64_t def,
                                     std::int64_t min, std::int64_t max) {
  if (!req.has_param(name)) return def;
  return util::parse_int(req.get_param_value(name), min, max, name);
}

struct Api {
  engine::Engine& engine;
  infra::state::StateStore& store;
  EventSignal& events;
  std::string config_root;
  std::string config_fingerprint;  // of the files as they were when the daemon loaded them
  std::function<void(bool with_services)> shutdown;
  RecoveryGate& recovery;
  std::string db_problem;  // the state database was found damaged at start (set aside, rebuilt)
  std::string binary = binary_identity();  // the gpumod file this daemon runs
  std::mutex fingerprint_mutex;  // a live reload replaces config_fingerprint
  std::atomic<bool> live_config{false};  // the configuration root is watched (edits are applied live)

  void set_fingerprint(std::string fp) {
    std::lock_guard lock(fingerprint_mutex);
    config_fingerprint = std::move(fp);
  }
  std::string fingerprint() {
    std::lock_guard lock(fingerprint_mutex);
    return config_fingerprint;
  }
  json environment = json::object();        // server binaries and simulated GPU (environment.hpp)
  std::string endpoint;  // HOST:PORT of the OpenAI-compatible endpoint; "" when it does not listen

  // Never waits for the command lock or the recovery (#19 F5/F7).
  void add_liveness(json& j) {
    j["recovering"] = recovery.recovering();
    if (const auto what = recovery.what(); !what.empty()) j["recovery"] = what;
    j["busy"] = engine.busy_with();
    if (!db_problem.empty()) j["db_problem"] = db_problem;
  }

  void install(httplib::Server& svr) {
    svr.Get("/v1/ping", [this](const httplib::Request&, httplib::Response& res) {
      json j{{"pid", ::getpid()},
             {"version", GPUMOD_VERSION},
             {"config_root", config_root},
             {"config_fingerprint", fingerprint()},
             {"binary", binary},
             {"environment", environment},
             {"live_config", live_config.load()}};
      add_liveness(j);
      reply(res, j);
    });
    svr.Get("/v1/status", [this](const httplib::Request&, httplib::Response& res) {
      auto st = engine.status();
      if (!st) return reply(res, std::unexpected(st.error()));
      json j = to_json(*st);
      add_liveness(j);
      add_last_bench(j, store);
      reply(res, j);
    });
    svr.Post(R"(/v1/services/([^/]+)/(start|stop|restart|sleep|wake))",
             [this](const httplib::Request& req, httplib::Response& res) {
               recovery.wait();  // changes run after the start-up recovery
               reply(res, service_op(req.matches[1], req.matches[2], req));
             });
    svr.Get(R"(/v1/services/([^/]+)/logs)", [this](const httplib::Request& req, httplib::Response& res) {
      reply(res, logs(req.matches[1], req));
    });
    svr.Post(R"(/v1/modes/([^/]+)/switch)", [this](const httplib::Request& req, httplib::Response& res) {
      recovery.wait();
      reply(res, switch_mode(req.matches[1], req));
    });
    svr.Get("/v1/events", [this](const httplib::Request& req, httplib::Response& res) {
      reply(res, list_events(req));
    });
    svr.Get("/v1/requests", [this](const httplib::Request& req, httplib::Response& res) {
      reply(res, list_requests(req));
    });
    svr.Post("/v1/shutdown", [this](const httplib::Request& req, httplib::Response& res) {
      auto body = parse_body(req);
      if (!body) return reply(res, std::unexpected(body.error()));
      const bool with = body->value("with_services", false);
      json stopped = json::array();
      if (with) {
        // Stopped before the answer, so the client says what was stopped, not what was asked.
        recovery.wait();
        auto r = engine.stop_all();
        if (!r) return reply(res, std::unexpected(r.error()));
        for (const auto& id : *r) stopped.push_back(id);
      }
      reply(res, json{{"stopping", true}, {"with_services", with}, {"stopped", stopped}});
      shutdown(false);
    });
  }

  util::Result<json> service_op(const std::string& id, const std::string& op, const httplib::Request& req) {
    if (auto st = util::validate_id(id, "service id"); !st) return std::unexpected(st.error());
    util::Result<engine::OpResult> r = util::fail(util::ErrorCode::internal, "no operation");
    bool evict = false;
    if (op == "start" || op == "wake") {
      auto body = parse_body(req);
      if (!body) return std::unexpected(body.error());
      if (body->contains("evict") && !(*body)["evict"].is_boolean()) return util::fail(util::ErrorCode::invalid_argument, "evict must be true or false");
      evict = body->value("evict", false);
    }
    if (op == "start") r = engine.start_service(id, evict);
    else if (op == "stop") r = engine.stop_service(id);
    else if (op == "restart") r = engine.restart_service(id);
    else if (op == "wake") r = engine.wake_service(id, evict);
    else if (op == "sleep") {
      auto body = parse_body(req);
      if (!body) return std::unexpected(body.error());
      std::optional<int> level;
      if (body->contains("level")) {
        if (!(*body)["level"].is_number_integer()) return util::fail(util::ErrorCode::invalid_argument, "level must be 1 or 2");
        level = (*body)["level"].get<int>();
      }
      r = engine.sleep_service(id, level);
    }
    if (!r) return std::unexpected(r.error());
    return to_json(*r);
  }

  util::Result<json> logs(const std::string& id, const httplib::Request& req) {
    if (auto st = util::validate_id(id, "service id"); !st) return std::unexpected(st.error());
    if (const auto config = engine.config(); !config->find_service(id)) {
      const auto ids = config->service_ids();
      return util::fail(util::ErrorCode::not_found, "no service '" + id + "'" + util::did_you_mean(id, ids));
    }
    auto n = query_int(req, "n", 50, 1, 100000);
    if (!n) return std::unexpected(n.error());
    const auto path = engine.log_path(id);
    auto lines = infra::process::tail_lines(path, static_cast<std::size_t>(*n));
    if (!lines && lines.error().code != util::ErrorCode::not_found) return std::unexpected(lines.error());
    return json{{"path", path.string()}, {"lines", lines ? *lines : std::vector<std::string>{}}};
  }

  util::Result<json> switch_mode(const std::string& id, const httplib::Request& req) {
    if (auto st = util::validate_id(id, "mode id"); !st) return std::unexpected(st.error());
    auto body = parse_body(req);
    if (!body) return std::unexpected(body.error());
    engine::SwitchOptions opts;
    opts.dry_run = body->value("dry_run", false);
    opts.no_rollback = body->value("no_rollback", false);
    auto r = engine.switch_mode(id, opts);
    if (!r) return std::unexpected(r.error());
    return to_json(*r);
  }

  // The endpoint's request ring, newest `limit` oldest first, filtered by model and service.
  util::Result<json> list_requests(const httplib::Request& req) {
    auto limit = query_int(req, "limit", 50, 1, 100000);
    if (!limit) return std::unexpected(limit.error());
    const std::string model = req.has_param("model") ? req.get_param_value("model") : "";
    const std::string service = req.has_param("service") ? req.get_param_value("service") : "";
    if (!service.empty()) {
      if (auto st = util::validate_id(service, "service id"); !st) return std::unexpected(st.error());
    }
    if (model.size() > 256) return util::fail(util::ErrorCode::invalid_argument, "model: at most 256 characters");
    auto list = store.list_requests(static_cast<int>(*limit), model, service);
    if (!list) return std::unexpected(list.error());
    json arr = json::array();
    for (const auto& r : *list) arr.push_back(to_json(r));
    return json{{"endpoint", endpoint.empty() ? json(nullptr) : json(endpoint)}, {"requests", arr}};
  }

  util::Result<json> list_events(const httplib::Request& req) {
    auto after = query_int(req, "after", 0, 0, std::numeric_limits<std::int64_t>::max());
    auto limit = query_int(req, "limit", 200, 1, 10000);
    auto wait_ms = query_int(req, "wait_ms", 0, 0, 60000);
    // latest=1: the newest `limit` (since since_ms), oldest first; else the oldest after `after`.
    auto latest = query_int(req, "latest", 0, 0, 1);
    auto since_ms = query_int(req, "since_ms", 0, 0, std::numeric_limits<std::int64_t>::max());
    if (!after) return std::unexpected(after.error());
    if (!limit) return std::unexpected(limit.error());
    if (!wait_ms) return std::unexpected(wait_ms.error());
    if (!latest) return std::unexpected(latest.error());
    if (!since_ms) return std::unexpected(since_ms.error());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(*wait_ms);
    while (true) {
      const auto gen = events.generation();
      auto list = *latest ? store.list_latest_events(*after, *since_ms, static_cast<int>(*limit))
                          : store.list_events(*after, static_cast<int>(*limit));
      if (!list) return std::unexpected(list.error());
      const auto now = std::chrono::steady_clock::now();
      if (!list->empty() || now >= deadline) {
        json arr = json::array();
        for (const auto& e : *list) {
          arr.push_back({{"id", e.id}, {"ts_ms", e.ts_ms}, {"kind", e.kind}, {"service", e.service_id},
                         {"mode", e.mode_id}, {"message", e.message}});
        }
        return json{{"events", arr}};
      }
      events.wait(gen, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
    }
  }
};

// Fails when another daemon answers on the socket; removes a stale socket file.
util::Status claim_socket(const fs::path& socket) {
  // sockaddr_un holds 108 bytes with the terminating NUL.
  if (constexpr std::size_t k_max_socket_path = sizeof(sockaddr_un::sun_path) - 1; socket.string().size() > k_max_socket_path) {
    return util::fail(util::ErrorCode::invalid_argument,
                      "the daemon's socket path " + socket.string() + " is " + std::to_string(socket.string().size()) +
                          " bytes, longer than a Unix socket path may be (" + std::to_string(k_max_socket_path) +
                          "); set XDG_RUNTIME_DIR to a shorter directory");
  }
  std::error_code ec;
  if (!fs::exists(socket, ec)) return {};
  auto client = infra::http::make_unix_client(socket);
  if (auto r = client->get("/v1/ping", std::chrono::milliseconds(500)); r && r->status == 200) {
    return util::fail(util::ErrorCode::conflict, "a gpumod daemon already runs on " + socket.string());
  }
  fs::remove(socket, ec);
  return {};
}

}  // namespace

util::Status run_daemon(AppContext& ctx, const DaemonOptions& options) {
  // Taken before the files are read: an edit made while they load then shows as a change.
  auto root = ctx.config_root();
  if (!root) return std::unexpected(root.error());
  const std::string fingerprint = infra::config::config_fingerprint(*root);
  auto cfg = ctx.config();
  if (!cfg) return std::unexpected(cfg.error());

  // One daemon per socket and per state database: each is held by a lock taken before anything
  // is read or written, so two daemons started at once (two CLIs autostarting) cannot both run;
  // the one that loses exits and its client talks to the winner.
  const fs::path runtime = daemon_runtime_dir();
  std::error_code ec;
  fs::create_directories(runtime, ec);
  ::chmod(runtime.c_str(), 0700);
  auto runtime_lock = util::LockFile::try_acquire(daemon_lock_path());
  if (!runtime_lock) {
    return util::fail(runtime_lock.error().code, "a gpumod daemon already runs for " + runtime.string() + ": " +
                                                     runtime_lock.error().message);
  }
  auto store = ctx.state();
  std::string db_problem;
  if (!store && store.error().code == util::ErrorCode::corrupt) {
    // Damaged or lost (#19 F3): kept aside for inspection; a fresh database is rebuilt from the
    // servers that run (found by their markers) and every client is told (exit 10).
    auto aside = infra::state::set_aside_damaged(infra::state::default_db_path());
    if (!aside) return std::unexpected(aside.error());
    db_problem = store.error().message + "; the damaged file was kept as " + aside->string() +
                 "; the state was rebuilt from the servers that run";
    std::cerr << "gpumod daemon: " << db_problem << "\n";
    store = ctx.state();
  }
  if (!store) return std::unexpected(store.error());
  const fs::path db_lock_path = infra::state::default_db_path().string() + ".daemon-lock";
  auto db_lock = util::LockFile::try_acquire(db_lock_path);
  if (!db_lock) {
    return util::fail(db_lock.error().code, "another gpumod daemon writes the state database " +
                                                infra::state::default_db_path().string() + ": " +
                                                db_lock.error().message);
  }
  std::optional<core::SimulatedGpu> override_gpu;
  if (ctx.options.simulate_gpu) {
    auto parsed = infra::gpu::parse_simulate_gpu_arg(*ctx.options.simulate_gpu);
    if (!parsed) return std::unexpected(parsed.error());
    override_gpu = *parsed;
  }
  auto probe = infra::gpu::select_probe((*cfg)->settings, override_gpu, infra::gpu::default_ledger_dir());
  if (!probe) return std::unexpected(probe.error());

  const fs::path socket = daemon_socket_path();
  if (auto st = claim_socket(socket); !st) return st;

  // Signals are taken by one thread with sigwait, so no handler runs inside library code.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  infra::process::LinuxProcessSpawner spawner;
  EventSignal events;
  engine::EngineSettings settings;
  settings.log_dir = service_log_dir();
  fs::create_directories(settings.log_dir, ec);
  const auto launch = resolve_launch(**cfg);
  settings.launch = launch.options;
  settings.llama_is_mock = launch.llama_is_mock;
  settings.vllm_is_mock = launch.vllm_is_mock;
  settings.margin_mib = (*cfg)->settings.vram_margin_mib;
  // DOCKER_HOST, as the docker CLI reads it, matters only when some service is a container; an
  // unusable one is said at start, not at the first container start.
  const char* docker_host = std::getenv("DOCKER_HOST");
  if (docker_host != nullptr && std::ranges::any_of((*cfg)->services, [](const core::Service& s) {
        return s.driver == core::DriverKind::docker;
      })) {
    auto docker_socket = engine::docker_socket_from_host(docker_host);
    if (!docker_socket) return std::unexpected(docker_socket.error());
    settings.docker_socket = *docker_socket;
  }
  settings.health_interval = (*cfg)->settings.health_interval;
  // The systemd backend, opened only when some service asks for it; without a user session those
  // services fail to start (unavailable) and the others run as usual.
  std::unique_ptr<infra::systemd::SystemdManager> systemd_manager;
  std::unique_ptr<infra::systemd::SystemdSpawner> systemd_spawner;
  if (std::ranges::any_of((*cfg)->services, [](const core::Service& s) {
        return s.supervisor == core::SupervisorKind::systemd;
      })) {
    auto unit_dir = infra::systemd::user_unit_dir();
    auto manager = unit_dir ? infra::systemd::open_systemd_manager()
                            : util::Result<std::unique_ptr<infra::systemd::SystemdManager>>(
                                  std::unexpected(unit_dir.error()));
    if (manager) {
      systemd_manager = std::move(*manager);
      infra::systemd::SystemdSpawnerSettings sd;
      sd.unit_dir = *unit_dir;
      systemd_spawner = std::make_unique<infra::systemd::SystemdSpawner>(*systemd_manager, sd);
      settings.systemd_spawner = systemd_spawner.get();
    } else {
      settings.systemd_unavailable = manager.error().message;
      std::cerr << "gpumod daemon: warning: services with `supervisor: systemd` cannot start: "
                << manager.error().message << "\n";
    }
  }
  engine::MetricsRecorder metrics;
  engine::ObserverList observers;
  observers.add(events);
  observers.add(metrics);
  engine::Engine engine(**cfg, **store, *probe->probe, spawner, settings, &observers);
  // The recovery runs after the daemon listens (#19 F7): a resumed switch may take long, and
  // status, ping and events answer meanwhile (they say "recovering"); changes wait for it.
  RecoveryGate recovery;
  std::string resuming = "re-adopting the running services";
  if (auto unfinished = (*store)->unfinished_switch(); unfinished && *unfinished) {
    resuming += " and resuming the switch to " + (*unfinished)->to_mode;
  }
  recovery.begin(resuming);
  // Re-adopting is quick and done before the daemon answers, so that status never shows a
  // running server as stopped; a resumed switch may take long and runs while it answers.
  if (auto st = engine.adopt(); !st) {
    std::cerr << "gpumod daemon: warning: recovery: " << st.error().message << "\n";
  }

  // The OpenAI-compatible endpoint (serve: in gpumod.yaml, or `gpumod serve --listen`). The
  // default address being taken is reported and the daemon runs on; an explicit one is an error.
  core::ServeSettings serve = (*cfg)->settings.serve;
  // $GPUMOD_SERVE_LISTEN replaces the default address (not one written in gpumod.yaml): "off" for
  // test daemons, so that parallel daemons never fight over the default port.
  if (const char* env_listen = std::getenv("GPUMOD_SERVE_LISTEN"); env_listen != nullptr && !serve.listen_explicit) {
    serve.listen = std::string(env_listen) == "off" ? "" : env_listen;
  }
  if (options.serve_listen) serve.listen = *options.serve_listen;
  if (options.serve_listen || options.serve_required) serve.listen_explicit = true;
  if (options.serve_required && serve.listen.empty()) {
    return util::fail(util::ErrorCode::invalid_argument, "serve.listen is off in gpumod.yaml: give --listen HOST:PORT");
  }
  engine::OnDemand on_demand(engine, serve);
  events.set_listener([&on_demand] { on_demand.invalidate(); });
  RequestLog request_log(**store, serve.request_log_rows);
  engine::RequestMetrics request_metrics;
  std::unique_ptr<OpenAiServer> openai;
  std::string openai_note;
  if (!serve.listen.empty()) {
    openai = std::make_unique<OpenAiServer>(engine, on_demand, request_log, serve, &request_metrics);
    if (auto st = openai->bind(serve.listen); !st) {
      if (serve.listen_explicit) return st;
      openai_note = ", OpenAI endpoint unavailable: " + st.error().message;
      openai.reset();
    } else {
      openai_note = ", OpenAI endpoint on http://" + serve.listen;
    }
  }

  httplib::Server unix_server;
  std::unique_ptr<httplib::Server> tcp_server;
  std::atomic<bool> stop_services{false};
  // Servers made when the socket file was deleted or replaced (see the socket watch below).
  std::mutex rebound_mutex;
  std::vector<std::unique_ptr<httplib::Server>> rebound;
  std::vector<std::thread> rebound_threads;
  bool stopping = false;
  const auto shutdown = [&](bool with_services) {
    stop_services = with_services;
    events.stop();
    on_demand.stop();
    std::thread([&] {
      {
        std::lock_guard lock(rebound_mutex);
        stopping = true;
        for (auto& s : rebound) s->stop();
      }
      if (tcp_server) tcp_server->stop();
      if (openai) openai->server().stop();
      unix_server.stop();  // last: run_daemon returns once it is done
    }).detach();
  };
  Api api{engine, **store, events, (*cfg)->root.string(), fingerprint, shutdown, recovery, db_problem};
  api.environment = to_json(current_environment(**cfg, ctx.options.simulate_gpu));
  if (openai) api.endpoint = serve.listen;
  // Idle keep-alive connections are closed after 1 s, not httplib's 5 s: its stop() waits for its
  // workers, and one waiting on a client's idle connection held the shutdown up that long.
  // (Not 0: the same wait applies to a new connection's first request.)
  unix_server.set_keep_alive_timeout(1);
  use_growing_pool(unix_server);
  api.install(unix_server);
  GlobalOptions mcp_options = ctx.options;  // /mcp (docs/mcp.md): a client of this daemon's own API
  mcp_options.config_dir = (*cfg)->root;
  mcp::DaemonMcp mcp(mcp_options);
  mcp.install(unix_server);
  // GET /metrics and GET /v1/events/stream (docs/daemon-protocol.md).
  // The endpoint's families are in the exposition when the endpoint listens.
  MetricsAppender endpoint_metrics;
  if (openai) {
    endpoint_metrics = [&](std::string& out) {
      EndpointMetricsInput in;
      in.requests = request_metrics.snapshot();
      in.load = on_demand.load();
      for (const auto& s : engine.config()->services) in.services.push_back(s.id);
      out += render_endpoint_metrics(in);
    };
  }
  const auto install_watch_routes = [&](httplib::Server& svr) {
    install_metrics_routes(svr, engine, metrics, endpoint_metrics);
    install_events_stream_routes(svr, **store, events);
  };
  install_watch_routes(unix_server);
  install_bench_routes(unix_server, engine, **store);
  unix_server.set_payload_max_length(k_max_body_bytes);
  unix_server.set_address_family(AF_UNIX);
  if (!infra::http::bind_server(unix_server, socket.string(), 80)) {
    return util::fail(util::ErrorCode::io, "cannot listen on " + socket.string());
  }
  ::chmod(socket.c_str(), 0600);
  struct stat own_socket {};
  ::stat(socket.c_str(), &own_socket);

  std::thread tcp_thread;
  if (options.listen_tcp) {
    const auto colon = options.listen_tcp->rfind(':');
    const std::string host = colon == std::string::npos ? "" : options.listen_tcp->substr(0, colon);
    auto port = util::parse_int(colon == std::string::npos ? "" : options.listen_tcp->substr(colon + 1), 1, 65535, "--listen port");
    if (!port) return std::unexpected(port.error());
    if (!infra::http::is_loopback_host(host)) {
      return util::fail(util::ErrorCode::invalid_argument, "--listen: '" + host + "' is not a loopback address");
    }
    if (options.token.size() < 16) {
      return util::fail(util::ErrorCode::invalid_argument, "--listen needs a bearer token of at least 16 characters ($GPUMOD_DAEMON_TOKEN)");
    }
    tcp_server = std::make_unique<httplib::Server>();
    tcp_server->set_keep_alive_timeout(1);
    use_growing_pool(*tcp_server);
    const std::string expected = "Bearer " + options.token;
    tcp_server->set_pre_routing_handler([expected](const httplib::Request& req, httplib::Response& res) {
      if (req.get_header_value("Authorization") == expected) return httplib::Server::HandlerResponse::Unhandled;
      res.status = 401;
      res.set_content(error_json({util::ErrorCode::invalid_argument, "missing or wrong bearer token"}).dump(), "application/json");
      return httplib::Server::HandlerResponse::Handled;
    });
    api.install(*tcp_server);
    mcp.install(*tcp_server);
    install_watch_routes(*tcp_server);
    install_bench_routes(*tcp_server, engine, **store);
    tcp_server->set_payload_max_length(k_max_body_bytes);
    if (!infra::http::bind_server(*tcp_server, host, static_cast<int>(*port))) {
      return util::fail(util::ErrorCode::io, "cannot listen on " + *options.listen_tcp);
    }
    tcp_thread = std::thread([&] { tcp_server->listen_after_bind(); });
  }

  // Live configuration (docs/daemon-protocol.md): an edit under the root (inotify, debounced) or
  // SIGHUP loads the whole tree again and the engine applies only the difference; a broken edit
  // changes nothing and is reported. The fingerprint the ping answers follows what was applied.
  std::mutex reload_mutex;
  std::atomic<bool> reloads_open{true};
  const auto reload = [&] {
    std::lock_guard lock(reload_mutex);
    const std::string fp = infra::config::config_fingerprint(*root);
    auto loaded = infra::config::load_config_or_error(*root);
    if (loaded) loaded->bundled_example = engine.config()->bundled_example;
    const bool valid = loaded.has_value();
    auto report = engine.reload_config(std::move(loaded));
    if (!report) {
      std::cerr << "gpumod daemon: reload: " << report.error().message << "\n";
      return;
    }
    std::cerr << "gpumod daemon: " << report->message << "\n";
    if (valid) {
      api.set_fingerprint(fp);
      (void)(*store)->set_setting("config_fingerprint", root->string() + "|" + fp);
    }
  };
  std::unique_ptr<infra::config::ConfigWatcher> watcher;
  if (auto w = infra::config::ConfigWatcher::start(*root, std::chrono::milliseconds(300), reload); w) {
    watcher = std::move(*w);
    api.live_config = true;
  } else {
    std::cerr << "gpumod daemon: warning: configuration edits are applied only on SIGHUP: " << w.error().message << "\n";
  }

  std::thread signal_thread([&] {
    int sig = 0;
    while (sigwait(&sigs, &sig) == 0) {
      if (sig == SIGHUP) {
        if (reloads_open) reload();
        continue;
      }
      if (sig == SIGTERM || sig == SIGINT) {
        shutdown(false);
        return;
      }
    }
  });
  signal_thread.detach();

  std::thread recovery_thread([&] {
    if (auto st = engine.resume_interrupted_switch(); !st) {
      std::cerr << "gpumod daemon: warning: resuming the interrupted switch: " << st.error().message << "\n";
    }
    recovery.end();
  });
  // Nobody could reach a daemon whose socket file was deleted or replaced: it makes a new one at
  // the path (the lock says no other daemon may own it); when it cannot, it stops (services
  // keep running) so that the next command starts a daemon that can be reached.
  auto socket_watch = std::make_unique<SocketWatch>(socket, [&]() -> bool {
    std::lock_guard lock(rebound_mutex);
    if (stopping) return false;
    auto srv = std::make_unique<httplib::Server>();
    srv->set_keep_alive_timeout(1);
    use_growing_pool(*srv);
    api.install(*srv);
    srv->set_address_family(AF_UNIX);
    std::error_code rm_ec;
    fs::remove(socket, rm_ec);
    if (!infra::http::bind_server(*srv, socket.string(), 80)) {
      std::cerr << "gpumod daemon: the socket file " << socket.string()
                << " was deleted or replaced and cannot be made again; stopping (services left running)\n";
      shutdown(false);
      return false;
    }
    ::chmod(socket.c_str(), 0600);
    ::stat(socket.c_str(), &own_socket);
    std::cerr << "gpumod daemon: the socket file " << socket.string() << " was deleted or replaced; made it again\n";
    rebound_threads.emplace_back([s = srv.get()] { s->listen_after_bind(); });
    rebound.push_back(std::move(srv));
    return true;
  });

  std::atomic<bool> running{true};
  std::mutex health_mutex;
  std::condition_variable health_cv;
  std::thread health_thread([&] {
    std::unique_lock lock(health_mutex);
    while (running) {
      health_cv.wait_for(lock, settings.health_interval, [&] { return !running.load(); });
      if (!running) break;
      lock.unlock();
      engine.health_tick();
      lock.lock();
    }
  });

  std::cerr << "gpumod daemon: pid " << ::getpid() << ", listening on " << socket.string()
            << (options.listen_tcp ? " and " + *options.listen_tcp : "") << openai_note << "\n";
  if (openai) {
    // The loopback listener also serves /mcp, /metrics and /v1/events/stream (behind
    // serve.api_keys when they are set); the control API stays on the socket.
    mcp.install(openai->server());
    install_watch_routes(openai->server());
    openai->start();
  }
  unix_server.listen_after_bind();
  if (openai) openai->stop();

  {
    std::lock_guard lock(health_mutex);
    running = false;
  }
  health_cv.notify_all();
  health_thread.join();
  recovery_thread.join();
  reloads_open = false;
  watcher.reset();
  { std::lock_guard lock(reload_mutex); }  // a SIGHUP reload still applying finishes first
  if (tcp_thread.joinable()) tcp_thread.join();
  if (stop_services) {
    if (auto st = engine.stop_all(); !st) std::cerr << "gpumod daemon: stopping services: " << st.error().message << "\n";
  }
  socket_watch.reset();  // before the socket goes: that is no reason to stop twice
  {
    std::lock_guard lock(rebound_mutex);
    stopping = true;
    for (auto& s : rebound) s->stop();
  }
  for (auto& t : rebound_threads) t.join();
  // Remove the socket only if it is still ours: a new daemon may already listen on the path.
  struct stat now {};
  if (::stat(socket.c_str(), &now) == 0 && now.st_ino == own_socket.st_ino && now.st_dev == own_socket.st_dev) {
    fs::remove(socket, ec);
  }
  std::cerr << "gpumod daemon: stopped" << (stop_services ? " (services stopped)" : " (services left running)") << "\n";
  return {};
}

}  // namespace gpumod::app
