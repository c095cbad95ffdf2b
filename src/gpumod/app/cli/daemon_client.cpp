#include "gpumod/app/cli/daemon_client.hpp"

#include <nlohmann/json.hpp>
#include <ostream>
#include <thread>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/daemon/environment.hpp"
#include "gpumod/app/daemon/json_codec.hpp"
#include "gpumod/app/daemon/paths.hpp"
#include "gpumod/infra/config/root.hpp"
#include "gpumod/infra/http/client.hpp"
#include "gpumod/infra/http/sse.hpp"
#include "gpumod/infra/process/identity.hpp"
#include "gpumod/infra/process/log_files.hpp"
#include "gpumod/infra/process/spawner.hpp"
#include "gpumod/util/lock_file.hpp"

namespace gpumod::app {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr std::chrono::milliseconds k_ping_timeout{1000};
constexpr std::chrono::milliseconds k_start_wait{15000};

util::Result<json> decode(const util::Result<infra::http::HttpResponse>& r) {
  // A connection closed with no answer: the daemon exited or was killed mid-request (#19).
  if (!r && r.error().code == util::ErrorCode::failed) {
    return util::fail(util::ErrorCode::unavailable, "the daemon closed the connection without answering (it exited "
                                                    "or was killed during the request; whether the change was made "
                                                    "is shown by 'gpumod status'): " + r.error().message);
  }
  if (!r) return std::unexpected(r.error());
  json body;
  try {
    body = json::parse(r->body);
  } catch (const std::exception& e) {
    return util::fail(util::ErrorCode::corrupt, "the daemon answered HTTP " + std::to_string(r->status) +
                                                    " with a body that is not JSON: " + e.what());
  }
  if (r->status >= 200 && r->status < 300) return body;
  if (body.is_object() && body.contains("error")) {
    return util::fail(error_code_from_string(body["error"].value("code", "internal")),
                      body["error"].value("message", "unknown error"));
  }
  return util::fail(util::ErrorCode::failed, "the daemon answered HTTP " + std::to_string(r->status));
}

}  // namespace

DaemonClient::DaemonClient(std::unique_ptr<infra::http::HttpClient> http) : m_http(std::move(http)) {}
DaemonClient::~DaemonClient() = default;
DaemonClient::DaemonClient(DaemonClient&&) noexcept = default;
DaemonClient& DaemonClient::operator=(DaemonClient&&) noexcept = default;

util::Result<json> DaemonClient::get(const std::string& path, std::chrono::milliseconds timeout) {
  return decode(m_http->get(path, timeout));
}

util::Result<json> DaemonClient::post(const std::string& path, const json& body,
                                      std::chrono::milliseconds timeout) {
  return decode(m_http->post_json(path, body.dump(), timeout));
}

util::Status DaemonClient::follow_events(std::int64_t after, const std::function<bool(const json&)>& on_event,
                                         const std::function<void()>& on_open) {
  infra::http::SseParser parser;
  bool go_on = true;
  bool opened = false;
  // The daemon sends a comment every 15 s; a minute without anything means it is gone.
  auto r = m_http->stream(
      "/v1/events/stream" + (after >= 0 ? "?after=" + std::to_string(after) : std::string()),
      [&](std::string_view chunk) {
        if (!opened) {
          opened = true;
          if (on_open) on_open();
        }
        parser.feed(chunk, [&](const infra::http::SseEvent& e) {
          if (!go_on) return;
          auto j = json::parse(e.data, nullptr, false);
          if (!j.is_discarded()) go_on = on_event(j);
        });
        return go_on;
      },
      std::chrono::milliseconds(60000));
  if (!r) return std::unexpected(r.error());
  if (r->status / 100 != 2) return std::unexpected(decode(r).error());
  return {};
}

util::Status stop_daemon(DaemonClient&& client, bool with_services, std::chrono::milliseconds wait,
                         std::vector<std::string>* stopped) {
  int pid = 0;
  std::optional<infra::process::ProcessIdentity> identity;
  {
    DaemonClient c = std::move(client);  // closed at the end of this scope, before the wait
    auto ping = c.get("/v1/ping", k_ping_timeout);
    if (!ping) return std::unexpected(ping.error());
    pid = (*ping)["pid"].get<int>();
    if (auto id = infra::process::identify(pid)) identity = *id;
    auto r = c.post("/v1/shutdown", json{{"with_services", with_services}}, std::chrono::milliseconds(120000));
    if (!r) return std::unexpected(r.error());
    if (stopped != nullptr && r->contains("stopped") && (*r)["stopped"].is_array()) {
      for (const auto& id : (*r)["stopped"]) {
        if (id.is_string()) stopped->push_back(id.get<std::string>());
      }
    }
  }
  if (identity) {
    infra::process::LinuxProcessSpawner watcher;
    if (!watcher.wait_exit(*identity, wait)) {
      return util::fail(util::ErrorCode::timeout, "the daemon (pid " + std::to_string(pid) + ") did not exit in time");
    }
  }
  return {};
}

bool daemon_running() {
  auto http = infra::http::make_unix_client(daemon_socket_path());
  auto r = http->get("/v1/ping", k_ping_timeout);
  return r && r->status == 200;
}

namespace {

// One ping. A daemon that was just killed can still accept a connection on its socket while its
// last threads exit, then close it unanswered: such a failure (not "nobody listens") is tried
// again briefly before it counts.
util::Result<json> ping(DaemonClient& client) {
  auto delay = std::chrono::milliseconds(10);
  for (int attempt = 0;; ++attempt) {
    auto r = client.get("/v1/ping", k_ping_timeout);
    if (r || attempt == 4 || r.error().code == util::ErrorCode::unavailable ||
        r.error().code == util::ErrorCode::timeout) {
      return r;
    }
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

// This command's environment as a daemon started now would resolve it.
DaemonEnvironment client_environment(AppContext& ctx, const fs::path& root) {
  core::Config cfg;
  cfg.root = root;
  std::error_code ec;
  cfg.bundled_example = ctx.config_root_bundled() || fs::equivalent(root, AppContext::bundled_example_dir(), ec);
  return current_environment(cfg, ctx.options.simulate_gpu);
}

// A daemon serving another configuration root is not ours to use (conflict).
util::Status serves_root(const json& ping_answer, const fs::path& root) {
  const std::string served = ping_answer.value("config_root", "");
  std::error_code ec;
  if (!served.empty() && fs::weakly_canonical(served, ec) != fs::weakly_canonical(root, ec)) {
    return util::fail(util::ErrorCode::conflict, "the running daemon serves the configuration at " + served +
                                                     ", not " + root.string() + "; stop it first: gpumod daemon stop");
  }
  return {};
}

// Starts `gpumod daemon run` for the configuration in the background and waits for it to answer.
util::Result<json> start_daemon(AppContext& ctx, DaemonClient& client, const fs::path& root, int attempts_left = 3) {
  std::vector<std::string> argv{fs::read_symlink("/proc/self/exe").string()};
  argv.insert(argv.end(), {"--config", root.string()});
  if (ctx.options.simulate_gpu) argv.insert(argv.end(), {"--simulate-gpu", *ctx.options.simulate_gpu});
  argv.insert(argv.end(), {"daemon", "run"});
  infra::process::SpawnSpec spec;
  spec.argv = argv;
  spec.log_file = state_dir() / "daemon.log";
  infra::process::LinuxProcessSpawner spawner;
  auto id = spawner.spawn(spec);
  if (!id) return util::fail(id.error().code, "starting the daemon: " + id.error().message);
  ctx.err() << "gpumod: started the daemon in the background (pid " << id->pid << ", log "
            << spec.log_file.string() << ")\n";
  const auto deadline = std::chrono::steady_clock::now() + k_start_wait;
  auto delay = std::chrono::milliseconds(2);
  while (true) {
    auto answer = client.get("/v1/ping", k_ping_timeout);
    if (answer) return answer;
    // Ours exited: when another daemon holds the lock (a second client started one at the same
    // moment and it won), that one is answering soon; otherwise ours failed at start.
    if (!spawner.alive(*id) && !util::LockFile::held(daemon_lock_path())) {
      // Ours lost to a daemon that was dying (killed: its lock outlives its socket for a few
      // ms) or exited for good: one more start tells them apart (#19 F6).
      const auto exit = spawner.wait_exit(*id, std::chrono::milliseconds(0));
      const bool lost_race = exit && exit->known && exit->exited && exit->exit_code == 8;
      if (lost_race && attempts_left > 1) return start_daemon(ctx, client, root, attempts_left - 1);
      const auto last = infra::process::tail_lines(spec.log_file, 1);
      return util::fail(util::ErrorCode::unavailable,
                        "the daemon exited at start" +
                            (last && !last->empty() ? std::string(" (") + last->back() + ")" : std::string()) + "; see " +
                            spec.log_file.string());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return util::fail(util::ErrorCode::timeout, "the daemon did not answer within 15 s; see " +
                                                      spec.log_file.string());
    }
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(50));
  }
}

// Waits (up to 5 s) until the daemon answers the fingerprint of the files as they are now: it
// reloads a valid edit a few hundred ms after the last write. False: it did not.
bool wait_until_applied(DaemonClient& client, const fs::path& root) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  auto delay = std::chrono::milliseconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(200));
    auto answer = ping(client);
    if (!answer) return false;
    if (answer->value("config_fingerprint", "") == infra::config::config_fingerprint(root)) return true;
  }
  return false;
}

}  // namespace

util::Result<DaemonClient> DaemonClient::connect_existing() {
  const auto socket = daemon_socket_path();
  DaemonClient client(infra::http::make_unix_client(socket));
  auto answer = ping(client);
  if (!answer) {
    return util::fail(util::ErrorCode::unavailable, "no gpumod daemon answers on " + socket.string() + ": " +
                                                        answer.error().message);
  }
  return client;
}

namespace {

// What a client about to change something is queued behind, said on stderr (#19 F5/F7).
void say_queued(AppContext& ctx, const json& ping_answer) {
  if (ping_answer.value("recovering", false)) {
    ctx.err() << "gpumod: the daemon is recovering (" << ping_answer.value("recovery", std::string("start-up"))
              << "); this command runs after it\n";
  } else if (const std::string busy = ping_answer.value("busy", ""); !busy.empty()) {
    ctx.err() << "gpumod: queued behind " << busy << "\n";
  }
}

// A daemon that found its database damaged says so to the client that started it (exit 10).
util::Status db_intact(const json& ping_answer) {
  const std::string problem = ping_answer.value("db_problem", "");
  if (problem.empty()) return {};
  return util::fail(util::ErrorCode::corrupt, problem + "; run the command again");
}

}  // namespace

util::Result<DaemonClient> DaemonClient::connect(AppContext& ctx, bool autostart) {
  // A thin client: the configuration files are read here only to start a daemon, or when they
  // changed since the running daemon read them (their fingerprint is file names, sizes and
  // times: a few stat calls, where parsing every YAML file cost more than the request itself).
  auto root = ctx.config_root();
  if (!root) return std::unexpected(root.error());
  const auto socket = daemon_socket_path();
  auto client = std::unique_ptr<DaemonClient>(new DaemonClient(infra::http::make_unix_client(socket)));
  auto answer = ping(*client);
  if (answer) {
    if (auto st = serves_root(*answer, *root); !st) return std::unexpected(st.error());
    const std::string served_fingerprint = answer->value("config_fingerprint", "");
    const bool config_changed =
        !served_fingerprint.empty() && served_fingerprint != infra::config::config_fingerprint(*root);
    // A daemon started from another gpumod file (rebuilt or upgraded since) runs old code.
    const std::string served_binary = answer->value("binary", "");
    const bool binary_changed = !served_binary.empty() && served_binary != binary_identity();
    // The server binaries and simulated GPU the daemon uses (environment.hpp).
    const auto env = compare_environment(answer->value("environment", json()), client_environment(ctx, *root));
    if (!env.note.empty()) ctx.err() << "gpumod: note: the daemon's environment differs: " << env.note << "\n";
    const bool env_changed = !env.restart_reason.empty();
    if (!config_changed && !binary_changed && !env_changed) {
      if (autostart) say_queued(ctx, *answer);
      return std::move(*client);
    }
    // A daemon that follows its configuration live applies a valid edit itself (and reports a
    // broken one): a read-only command just asks it; one that changes something checks the files
    // (a broken one is said here) and waits, bounded, for the daemon to have applied them.
    if (config_changed && !binary_changed && !env_changed && answer->value("live_config", false)) {
      if (!autostart) return std::move(*client);
      auto cfg = ctx.config();
      if (!cfg) return std::unexpected(cfg.error());
      if (wait_until_applied(*client, *root)) {
        say_queued(ctx, *answer);
        return std::move(*client);
      }
    }
    std::string what = config_changed && binary_changed ? "the configuration and the gpumod program changed since the daemon started"
                       : config_changed                 ? "the configuration changed since the daemon started"
                       : binary_changed                 ? "the gpumod program was rebuilt or upgraded since the daemon started"
                                                        : "";
    if (env_changed) what += (what.empty() ? "" : "; ") + std::string("this command asks for another ") + env.restart_reason;
    // Edited since the daemon loaded it: a broken file is reported here (file:line) and the daemon
    // keeps what it has; a valid one (or a new gpumod) takes effect through a daemon restart,
    // which re-adopts the running services (nothing is stopped).
    if (!autostart) {  // read-only: answer from the running daemon, and say so
      ctx.err() << "gpumod: note: " << what << "; the next command that changes something"
                << (env_changed ? " with the same setting" : "") << " restarts the daemon to apply it\n";
      return std::move(*client);
    }
    auto cfg = ctx.config();
    if (!cfg) return std::unexpected(cfg.error());
    // Exactly one client restarts the daemon (#19 F9): the one holding the restart lock; the
    // others wait for it and then use the daemon it started.
    const fs::path restart_lock = daemon_runtime_dir() / "restart.lock";
    auto lock = util::LockFile::try_acquire(restart_lock);
    if (!lock) {
      ctx.err() << "gpumod: another gpumod command is restarting the daemon to apply the change; waiting for it\n";
      const auto deadline = std::chrono::steady_clock::now() + 2 * k_start_wait;
      auto delay = std::chrono::milliseconds(5);
      while (util::LockFile::held(restart_lock) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(delay);
        delay = std::min(delay * 2, std::chrono::milliseconds(100));
      }
      return connect(ctx, autostart);
    }
    // Another client may have restarted it between our ping and the lock.
    auto fresh = std::unique_ptr<DaemonClient>(new DaemonClient(infra::http::make_unix_client(socket)));
    if (auto again = ping(*fresh); again && again->value("config_fingerprint", "") ==
                                                 infra::config::config_fingerprint(*root) &&
                                             again->value("binary", "") == binary_identity() &&
                                             compare_environment(again->value("environment", json()),
                                                                 client_environment(ctx, *root)).restart_reason.empty()) {
      say_queued(ctx, *again);
      return std::move(*fresh);
    }
    client.reset();
    ctx.err() << "gpumod: " << what << "; restarting the daemon to apply it (services keep running)\n";
    if (auto st = stop_daemon(std::move(*fresh), false, k_start_wait); !st && st.error().code != util::ErrorCode::unavailable) {
      return std::unexpected(st.error());
    }
    client = std::unique_ptr<DaemonClient>(new DaemonClient(infra::http::make_unix_client(socket)));
    auto started = start_daemon(ctx, *client, *root);
    if (!started) return std::unexpected(started.error());
    if (auto st = serves_root(*started, *root); !st) return std::unexpected(st.error());
    if (auto st = db_intact(*started); !st) return std::unexpected(st.error());
    say_queued(ctx, *started);
    return std::move(*client);
  }
  if (answer.error().code == util::ErrorCode::unavailable && autostart) {
    auto cfg = ctx.config();  // a broken configuration is reported before a daemon is started
    if (!cfg) return std::unexpected(cfg.error());
    auto started = start_daemon(ctx, *client, *root);
    if (!started) return std::unexpected(started.error());
    // The daemon that answers may be another client's, started at the same moment for another
    // configuration: the same check as for a daemon found running.
    if (auto st = serves_root(*started, *root); !st) return std::unexpected(st.error());
    if (auto st = db_intact(*started); !st) return std::unexpected(st.error());
    say_queued(ctx, *started);
    return std::move(*client);
  }
  if (answer.error().code == util::ErrorCode::unavailable) {
    return util::fail(util::ErrorCode::unavailable, "no gpumod daemon runs (" + socket.string() +
                                                        "); start one with 'gpumod daemon start'");
  }
  return std::unexpected(answer.error());
}

}  // namespace gpumod::app
