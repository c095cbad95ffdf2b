#include "gpumod/engine/engine.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <future>
#include <cerrno>
#include <set>
#include <thread>

#include "gpumod/engine/engine_impl.hpp"
#include "gpumod/core/router_mates.hpp"
#include "gpumod/core/run_settings.hpp"
#include "gpumod/drivers/llamacpp_driver.hpp"
#include "gpumod/engine/gguf_vram_model.hpp"
#include "gpumod/engine/model_registry.hpp"
#include "gpumod/infra/http/memo_client.hpp"
#include "gpumod/infra/process/log_files.hpp"
#include "gpumod/infra/process/markers.hpp"
#include "gpumod/infra/process/proc_tree.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::engine {

using core::ServiceState;
using util::ErrorCode;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

std::int64_t elapsed_ms(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

// True when something accepts TCP connections on host:port. On loopback a connect is answered at
// once; one that gets no answer within 200 ms (a listener with a full backlog) counts as in use.
bool port_in_use(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return false;
  bool used = false;
  for (addrinfo* a = found; a && !used; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      used = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 200) == 0) {
        used = true;
      } else {
        int err = 0;
        socklen_t len = sizeof err;
        used = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
      }
    }
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return used;
}

}  // namespace

std::string instance_key_for(const core::Service& s) {
  const auto group = core::router_group(s);
  return group.empty() ? s.id : "router:" + group;
}

// ---------------------------------------------------------------------------------------------
// Construction

Engine::Impl::Impl(core::Config cfg, infra::state::StateStore& st, infra::gpu::GpuProbe& g,
                   infra::process::ProcessSpawner& sp, EngineSettings s, Observer* obs)
    : config(std::move(cfg)), store(st), gpu(g), spawner(sp), settings(std::move(s)), observer(obs) {
  for (const auto kind : {core::DriverKind::llamacpp, core::DriverKind::vllm, core::DriverKind::http,
                          core::DriverKind::docker}) {
    drivers[kind] = drivers::make_driver(kind);
  }
  docker_api = settings.docker_api;
  if (!docker_api) {
    const std::filesystem::path socket = settings.docker_socket.empty() ? k_docker_socket : settings.docker_socket;
    docker_api = [socket] { return infra::http::make_unix_client(socket); };
    docker_settings.socket = socket;
  }
  drivers[core::DriverKind::docker] = std::make_unique<drivers::DockerDriver>(docker_api);
  for (const auto& svc : config.services) slots.emplace(svc.id, make_slot(svc));
  published = std::make_shared<const core::Config>(config);
}

Slot Engine::Impl::make_slot(const core::Service& svc) {
  Slot slot;
  slot.service = &svc;
  slot.instance_key = instance_key_for(svc);
  slot.restarts = std::make_unique<core::RestartTracker>(
      core::RestartSettings::for_service(svc),
      [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); });
  if (svc.driver == core::DriverKind::docker) {
    docker_spawners.insert_or_assign(slot.instance_key, std::make_unique<DockerSpawner>(svc, docker_api, docker_settings));
  }
  return slot;
}

Engine::Engine(core::Config config, infra::state::StateStore& store, infra::gpu::GpuProbe& gpu,
               infra::process::ProcessSpawner& spawner, EngineSettings settings, Observer* observer)
    : m(std::make_unique<Impl>(std::move(config), store, gpu, spawner, std::move(settings), observer)) {}

Engine::~Engine() = default;

std::shared_ptr<const core::Config> Engine::config() const {
  std::lock_guard lock(m->published_mutex);
  return m->published;
}
const EngineSettings& Engine::settings() const { return m->settings; }
const infra::state::StateStore& Engine::store() const { return m->store; }
std::filesystem::path Engine::log_path(const std::string& id) const {
  std::shared_lock config_lock(m->config_mutex);
  const auto it = m->slots.find(id);
  return m->log_file(it == m->slots.end() ? id : it->second.instance_key);
}

// ---------------------------------------------------------------------------------------------
// Helpers

Slot& Engine::Impl::slot(const std::string& id) { return slots.at(id); }

util::Result<Slot*> Engine::Impl::find_slot(const std::string& id) {
  const auto it = slots.find(id);
  if (it == slots.end()) {
    const auto ids = config.service_ids();
    return util::fail(ErrorCode::not_found, "no service '" + id + "'" + util::did_you_mean(id, ids));
  }
  return &it->second;
}

const drivers::Driver& Engine::Impl::driver(const core::Service& s) const { return *drivers.at(s.driver); }

infra::http::HttpClient& Engine::Impl::http(const core::Service& s) {
  const int port = s.port.value_or(0);
  std::lock_guard lock(http_mutex);
  auto& client = http_by_port[port];
  if (!client) client = infra::http::make_tcp_client(settings.launch.host, port);
  return *client;
}

std::filesystem::path Engine::Impl::log_file(const std::string& key) const {
  std::string name = key;
  std::ranges::replace_if(name, [](char c) { return c == '/' || c == '|' || c == ':'; }, '_');
  return settings.log_dir / (name + ".log");
}

infra::process::ProcessSpawner& Engine::Impl::spawner_for(const std::string& key) {
  if (const auto it = docker_spawners.find(key); it != docker_spawners.end()) return *it->second;
  for (const auto& [id, s] : slots) {
    if (s.instance_key == key && s.service->supervisor == core::SupervisorKind::systemd &&
        settings.systemd_spawner != nullptr) {
      return *settings.systemd_spawner;
    }
  }
  return spawner;
}

bool Engine::Impl::instance_alive(const std::string& key) {
  const auto id = identity_of(key);
  return id && spawner_for(key).alive(*id);
}

std::optional<infra::process::ProcessIdentity> Engine::Impl::identity_of(const std::string& key) {
  std::lock_guard lock(state_mutex);
  const auto it = instances.find(key);
  if (it == instances.end()) return std::nullopt;
  return it->second.identity;
}

std::vector<std::string> Engine::Impl::log_tail(const std::string& key, std::size_t n) {
  auto lines = infra::process::tail_lines(log_file(key), n);
  return lines ? *lines : std::vector<std::string>{};
}

drivers::DriverContext Engine::Impl::context(const Slot& s, infra::http::HttpClient* via) {
  const std::string key = s.instance_key;
  // Pauses between readiness probes end when the service writes to its log (servers print
  // "listening" / "Application startup complete" as they become ready).
  auto pause = [this, name = log_file(key).filename().string()](std::chrono::milliseconds d) {
    (void)log_activity.wait(name, d);
  };
  return drivers::DriverContext{
      via ? *via : http(*s.service), [this, key] { return instance_alive(key); },
      [this, key](std::size_t n) { return log_tail(key, n); }, std::move(pause)};
}

util::Result<core::GpuSnapshot> Engine::Impl::snapshot() { return gpu.snapshot(settings.gpu_deadline); }

const core::GpuDevice* Engine::Impl::device(const core::GpuSnapshot& snap) const {
  if (snap.devices.empty()) return nullptr;
  for (const auto& d : snap.devices) {
    if (!config.settings.gpu_uuid.empty() && d.uuid == config.settings.gpu_uuid) return &d;
  }
  return &snap.devices.front();
}

std::set<int> Engine::Impl::pids_of(const std::string& key) {
  std::set<int> pids;
  if (const auto id = identity_of(key)) {
    pids.insert(id->pid);
    for (const int p : infra::process::descendants(id->pid)) pids.insert(p);
  }
  return pids;
}

std::int64_t Engine::Impl::memory_of(const core::GpuSnapshot& snap, const std::string& key) {
  // Walks up from each (few) GPU process rather than listing the instance's whole tree: a /proc
  // scan per call cost ~7 ms on a box with 190 processes, 21 scans per status of 20 services.
  const auto id = identity_of(key);
  if (!id) return 0;
  std::int64_t total = 0;
  for (const auto& d : snap.devices) {
    for (const auto& p : d.processes) {
      if (p.pid == id->pid || infra::process::is_in_tree(id->pid, p.pid)) total += p.used_mib;
    }
  }
  return total;
}

void Engine::Impl::emit(const std::string& kind, const std::string& service, const std::string& mode,
                        const std::string& message) {
  emit(EngineEvent{kind, service, mode, message, {}, {}, {}, {}});
}

void Engine::Impl::emit(EngineEvent event) {
  infra::state::Event ev;
  ev.ts_ms = now_ms();
  ev.kind = event.kind;
  ev.service_id = event.service_id;
  ev.mode_id = event.mode_id;
  ev.message = event.message;
  (void)store.append_event(ev);
  if (observer) observer->on_event(event);
}

util::Status Engine::Impl::persist(const Slot& s) {
  infra::state::ServiceRuntime rt;
  rt.service_id = s.service->id;
  rt.state = s.state;
  rt.reason = s.reason;
  rt.port = s.service->port;
  rt.learned_vram_mib = s.learned_mib;
  rt.learned_sleep_vram_mib = s.learned_sleep_mib;
  rt.supervisor_ref = s.instance_key;
  {
    std::lock_guard lock(state_mutex);
    if (const auto it = instances.find(s.instance_key); it != instances.end()) {
      rt.pid = it->second.identity.pid;
      rt.pid_start_time = it->second.identity.start_time_ticks;
      rt.started_at_ms = it->second.started_at_ms;
    }
  }
  return store.upsert_runtime(rt);
}

util::Status Engine::Impl::set_state(Slot& s, ServiceState state, std::string reason) {
  {
    std::lock_guard lock(state_mutex);
    s.state = state;
    s.reason = std::move(reason);
  }
  return persist(s);
}

std::filesystem::path Engine::Impl::pid_dir() const { return infra::process::pid_dir_for(store.path()); }

util::Error Engine::Impl::unrecorded(Slot& s, const util::Error& write_error) {
  const auto id = identity_of(s.instance_key);
  const std::string pid = id ? " (pid " + std::to_string(id->pid) + ")" : "";
  const bool shared = s.instance_key != s.service->id && router_mates_active(s);
  std::string what;
  if (shared) {
    what = "kept its router" + pid + " running for the services that share it";
  } else if (auto st = stop_instance(s.instance_key, s.service->stop_timeout); st) {
    what = "stopped its server" + pid + " again so that no server runs untracked";
  } else {
    what = "its server" + pid + " could not be stopped (" + st.error().message +
           ") and runs UNTRACKED: stop it by hand";
  }
  {
    std::lock_guard lock(state_mutex);
    s.state = ServiceState::stopped;
    s.reason = "its record could not be written";
  }
  (void)persist(s);
  const auto code = write_error.code == ErrorCode::corrupt ? ErrorCode::corrupt : ErrorCode::io;
  return util::Error{code, s.service->id + ": the state database could not record its process (" +
                               write_error.message + "); " + what};
}

drivers::Observation Engine::Impl::observe(Slot& s, infra::http::HttpClient* via) {
  drivers::Observation obs;
  if (!instance_alive(s.instance_key)) {
    bool tracked = false;  // gpumod started it and did not stop it
    {
      std::lock_guard lock(state_mutex);
      tracked = instances.contains(s.instance_key);
    }
    if (s.state == ServiceState::failed) {
      obs.state = ServiceState::failed;
      obs.reason = s.reason;
    } else if (tracked && s.state == ServiceState::sleeping) {
      obs.state = ServiceState::failed;
      obs.reason = "process exited while asleep (gone; gpumod did not stop it)";
    } else if (tracked && s.state != ServiceState::stopped) {
      // Gone without gpumod stopping it: never "stopped". The health monitor restarts it under
      // its restart policy; without one it stays down.
      const bool restarts = s.service->restart != core::RestartPolicy::never;
      obs.state = restarts ? ServiceState::unhealthy : ServiceState::failed;
      obs.reason = std::string("process gone (it exited or was killed; gpumod did not stop it)") +
                   (restarts ? "; the health monitor restarts it" : "; not restarted (restart: no)");
    } else {
      obs.state = ServiceState::stopped;
    }
    return obs;
  }
  auto ctx = context(s, via);
  obs = driver(*s.service).observe(*s.service, ctx);
  // A process still inside its startup window that does not answer health yet is starting, not
  // unhealthy (W9: keep the states distinct); also after a daemon restart re-adopted it.
  if (obs.state == ServiceState::unhealthy && !s.was_ready &&
      (s.state == ServiceState::starting || s.state == ServiceState::loading)) {
    std::int64_t started_at_ms = 0;
    {
      std::lock_guard lock(state_mutex);
      if (const auto it = instances.find(s.instance_key); it != instances.end()) started_at_ms = it->second.started_at_ms;
    }
    const auto window_ms = std::chrono::duration_cast<std::chrono::milliseconds>(s.service->startup_timeout).count();
    if (started_at_ms > 0 && now_ms() - started_at_ms < window_ms) {
      obs.state = ServiceState::starting;
      obs.reason = "starting: " + obs.reason;
    }
  }
  adjust_mate_observation(s, obs);
  return obs;
}

// ---------------------------------------------------------------------------------------------
// Memory: admission and release

util::Status Engine::Impl::admit(const Slot& s, std::int64_t need_mib) {
  if (need_mib <= 0) return {};
  const auto deadline = Clock::now() + settings.release_timeout;
  auto delay = std::chrono::milliseconds(10);
  std::int64_t last_free = -1;
  while (true) {
    auto snap = snapshot();
    if (!snap) return std::unexpected(snap.error());
    const auto* dev = device(*snap);
    if (!dev) return util::fail(ErrorCode::unavailable, "no GPU device to admit " + s.service->id);
    if (dev->free_mib >= need_mib + settings.margin_mib) return {};
    // Keep waiting only while memory is still being released (free grew since the last look).
    const bool releasing = last_free >= 0 && dev->free_mib > last_free;
    if (Clock::now() >= deadline || (last_free >= 0 && !releasing && delay >= std::chrono::milliseconds(160))) {
      std::string holders;
      for (const auto& p : dev->processes) {
        holders += (holders.empty() ? "" : ", ") + std::string("pid ") + std::to_string(p.pid) +
                   (p.name.empty() ? "" : " (" + p.name + ")") + " " + util::group_thousands(p.used_mib) + " MiB";
      }
      return util::fail(ErrorCode::insufficient_vram,
                        s.service->id + " needs " + util::group_thousands(need_mib) + " MiB + " +
                            util::group_thousands(settings.margin_mib) + " MiB margin on " + dev->name +
                            ", but only " + util::group_thousands(dev->free_mib) + " MiB is free" +
                            (holders.empty() ? "" : "; memory is held by " + holders));
    }
    last_free = dev->free_mib;
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(200));
  }
}

util::Status Engine::Impl::wait_released(const std::set<int>& pids, const std::string& what) {
  if (pids.empty()) return {};
  const auto deadline = Clock::now() + settings.release_timeout;
  auto delay = std::chrono::milliseconds(5);
  while (true) {
    auto snap = snapshot();
    if (!snap) return std::unexpected(snap.error());
    std::string holding;
    for (const auto& d : snap->devices) {
      for (const auto& p : d.processes) {
        if (pids.contains(p.pid) && p.used_mib > 0) {
          holding += (holding.empty() ? "" : ", ") + std::string("pid ") + std::to_string(p.pid) + " " +
                     util::group_thousands(p.used_mib) + " MiB";
        }
      }
    }
    if (holding.empty()) return {};
    if (Clock::now() >= deadline) {
      return util::fail(ErrorCode::timeout, what + ": GPU memory not released within " +
                                                std::to_string(settings.release_timeout.count()) +
                                                " ms; still held by " + holding);
    }
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(100));
  }
}

void Engine::Impl::learn(Slot& s, bool asleep) {
  auto snap = snapshot();
  if (!snap) return;
  const std::int64_t used = memory_of(*snap, s.instance_key);
  if (used <= 0 && !asleep) return;
  {
    std::lock_guard lock(state_mutex);
    (asleep ? s.learned_sleep_mib : s.learned_mib) = used;
  }
  persist(s);
  if (!asleep) record_buffer_sizes(s, used);
}

// The buffer sizes llama-server printed for the load that just finished are ground truth for the
// estimator (`gpumod model estimate` shows them beside the header estimate).
void Engine::Impl::record_buffer_sizes(const Slot& s, std::int64_t process_mib) {
  const auto& svc = *s.service;
  if (svc.driver != core::DriverKind::llamacpp) return;
  std::string text;
  // A router's log holds every mate's loads; each child's lines carry "[model] ".
  const std::string own = s.instance_key != svc.id ? "[" + drivers::static_model_id(svc).value_or(svc.id) + "] " : "";
  std::string all;
  for (const auto& line : log_tail(s.instance_key, 600)) {
    all += line + "\n";
    if (!own.empty() && line.starts_with(own)) text += line + "\n";
  }
  const bool own_lines = !text.empty();
  if (!own_lines) text = std::move(all);  // no prefixed lines: the whole log
  const auto sizes = drivers::parse_buffer_sizes(text);
  if (sizes.empty()) return;
  auto options = estimate_options_for(svc);
  if (!options) return;
  // Stored under the settings it actually ran with: its argv, then what its log says.
  if (auto spec = driver(svc).launch_spec(svc, settings.launch)) core::apply_llama_argv(*options, spec->argv);
  core::apply_llama_log(*options, text, own_lines ? drivers::static_model_id(svc).value_or(svc.id) : "");
  for (const auto& [device, b] : sizes.devices) {
    if (device.rfind("CUDA", 0) != 0 || device.find("_Host") != std::string::npos) continue;
    infra::state::ModelMeasurement m;
    m.model_id = drivers::static_model_id(svc).value_or(svc.id);
    m.settings_key = measurement_settings_key(*options);
    m.model_mib = static_cast<std::int64_t>(b.model_mib + 0.5);
    m.kv_mib = static_cast<std::int64_t>(b.kv_mib + 0.5);
    m.compute_mib = static_cast<std::int64_t>(b.compute_mib + 0.5);
    m.device = device;
    m.process_mib = process_mib;
    (void)store.add_measurement(m);
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

util::Status Engine::Impl::spawn_instance(Slot& s) {
  if (s.service->driver == core::DriverKind::docker) {
    // A container is built from the service by its DockerSpawner: no launch spec, no argv.
    infra::process::SpawnSpec sp;
    sp.log_file = log_file(s.instance_key);
    (void)infra::process::rotate_if_needed(sp.log_file, settings.log_max_bytes, settings.log_keep);
    auto id = spawner_for(s.instance_key).spawn(sp);
    if (!id) {
      return util::fail(id.error().code, "starting " + s.service->id + " (container " +
                                             drivers::container_name(*s.service) + "): " + id.error().message);
    }
    std::lock_guard lock(state_mutex);
    instances[s.instance_key] = Instance{*id, sp.log_file, now_ms()};
    return {};
  }
  if (s.service->supervisor == core::SupervisorKind::systemd && settings.systemd_spawner == nullptr) {
    return util::fail(ErrorCode::unavailable, "starting " + s.service->id +
                                                  ": it has `supervisor: systemd`, but systemd is unavailable: " +
                                                  settings.systemd_unavailable);
  }
  auto spec = driver(*s.service).launch_spec(*s.service, settings.launch);
  if (!spec) return std::unexpected(spec.error());
  infra::process::SpawnSpec sp;
  sp.argv = spec->argv;
  sp.env = spec->env;
  for (const auto& [k, v] : s.service->env) sp.env[k] = v;
  const auto& svc = *s.service;
  if (svc.driver == core::DriverKind::llamacpp && settings.llama_is_mock) {
    std::string models;
    std::lock_guard lock(state_mutex);
    for (const auto& [id, other] : slots) {
      if (other.instance_key != s.instance_key) continue;
      if (auto model = drivers::static_model_id(*other.service)) {
        models += (models.empty() ? "" : ",") + *model + "=" + std::to_string(other.service->vram_mib);
      }
    }
    sp.env["GPUMOD_MOCK_MODEL_VRAM"] = models;
    sp.env["GPUMOD_MOCK_VRAM_MIB"] = std::to_string(svc.vram_mib);
  }
  if (svc.driver == core::DriverKind::vllm && settings.vllm_is_mock) {
    sp.env["GPUMOD_MOCK_VRAM_MIB"] = std::to_string(svc.vram_mib);
  }
  // Found again without the database (#19 F3): the marker in its environment and a pid file.
  for (auto& [k, v] : infra::process::marker_env(s.instance_key, store.path())) sp.env[k] = v;
  sp.log_file = log_file(s.instance_key);
  (void)infra::process::rotate_if_needed(sp.log_file, settings.log_max_bytes, settings.log_keep);
  auto id = spawner_for(s.instance_key).spawn(sp);
  if (!id) return util::fail(id.error().code, "starting " + s.service->id + " (" + sp.argv.front() + "): " + id.error().message);
  {
    std::lock_guard lock(state_mutex);
    instances[s.instance_key] = Instance{*id, sp.log_file, now_ms()};
  }
  if (auto st = infra::process::write_pid_file(pid_dir(), s.instance_key, *id); !st) {
    return std::unexpected(unrecorded(s, st.error()));
  }
  return {};
}

util::Status Engine::Impl::stop_instance(const std::string& key, std::chrono::milliseconds grace) {
  const auto id = identity_of(key);
  if (!id) return {};
  const auto pids = pids_of(key);
  auto exit = spawner_for(key).stop(*id, grace);
  if (!exit) return std::unexpected(exit.error());
  {
    std::lock_guard lock(state_mutex);
    instances.erase(key);
  }
  infra::process::remove_pid_file(pid_dir(), key);
  return wait_released(pids, "stopping " + key);
}

// W14: a port answered by someone else's process must never pass for our service.
util::Status Engine::Impl::check_port_free(const Slot& s) {
  if (!s.service->port) return {};
  const int port = *s.service->port;
  // Nothing listening (the usual case) is known from /proc/net/tcp alone, without a /proc scan.
  if (infra::process::listen_socket_inodes(port).empty()) return {};
  const auto ours = pids_of(s.instance_key);
  for (const int pid : infra::process::listening_pids_for_port(port)) {
    if (ours.contains(pid)) continue;
    auto cmd = infra::process::read_cmdline(pid);
    return util::fail(ErrorCode::conflict, "port " + std::to_string(port) + " of " + s.service->id +
                                               " is already in use by pid " + std::to_string(pid) +
                                               (cmd ? " (" + cmd->substr(0, 120) + ")" : std::string()));
  }
  return {};
}

util::Status Engine::Impl::check_port_owner(const Slot& s) {
  if (!s.service->port) return {};
  // A container's port is published by Docker (docker-proxy, owned by root, or a NAT rule with no
  // listener at all), never by a process of the container: Docker's own port map, which the
  // spawner set from the service, is the ownership check there.
  if (s.service->driver == core::DriverKind::docker) return {};
  const int port = *s.service->port;
  const auto inodes = infra::process::listen_socket_inodes(port);
  if (inodes.empty()) return {};  // not visible (another network namespace): nothing to compare
  // The usual case first: the process gpumod started holds the socket itself (one /proc/<pid>/fd
  // read, where a scan of every process cost ~10 ms on the 2-core box).
  const auto root = identity_of(s.instance_key);
  if (root && infra::process::holds_socket(root->pid, inodes)) return {};
  const auto ours = pids_of(s.instance_key);
  for (const int pid : ours) {
    if (infra::process::holds_socket(pid, inodes)) return {};
  }
  const auto listeners = infra::process::listening_pids_for_port(port);
  if (listeners.empty()) return {};  // not visible (another user's process): nothing to compare
  return util::fail(ErrorCode::conflict, "port " + std::to_string(port) + " of " + s.service->id +
                                             " is answered by pid " + std::to_string(listeners.front()) +
                                             ", not by the process gpumod started (pid " +
                                             (ours.empty() ? std::string("?") : std::to_string(*ours.begin())) + ")");
}

bool Engine::Impl::router_mates_active(const Slot& s) {
  std::lock_guard lock(state_mutex);
  for (const auto& [id, other] : slots) {
    if (&other == &s || other.instance_key != s.instance_key) continue;
    // A mate asleep (its model unloaded) keeps the router too: stopping the router would turn
    // it from asleep to gone.
    if (other.state == ServiceState::running || other.state == ServiceState::loading ||
        other.state == ServiceState::starting || other.state == ServiceState::sleeping) {
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Operations (the command lock is held by the caller)

util::Result<OpResult> Engine::Impl::do_start(Slot& s) {
  const auto t0 = Clock::now();
  const auto& svc = *s.service;
  OpResult r{svc.id, "start"};
  const bool router = s.instance_key != svc.id;
  s.restart_due.reset();  // a restart the health monitor scheduled is overtaken by this command
  auto obs = observe(s);
  if (obs.state == ServiceState::running) {
    set_state(s, ServiceState::running, "");
    r.state = ServiceState::running;
    r.message = svc.id + " is already running";
    r.elapsed_ms = elapsed_ms(t0);
    return r;
  }
  auto ctx = context(s);
  if (router && instance_alive(s.instance_key)) {
    // The router runs; loading this service's model is a wake.
    auto w = do_wake(s);
    if (!w) return w;
    w->action = "start";
    return w;
  }
  if (!router && instance_alive(s.instance_key) &&
      (obs.state == ServiceState::starting || obs.state == ServiceState::loading)) {
    // Already on its way: await it.
  } else {
    // W24: a missing program or model file is said now, before anything is stopped or started.
    auto code = ErrorCode::failed;
    if (const auto problems = preflight(s, true, &code); !problems.empty()) {
      const std::string why = "preflight: " + util::join(problems, "; ");
      set_state(s, ServiceState::stopped, why);
      return util::fail(code, "cannot start " + svc.id + ": " + why);
    }
    if (instance_alive(s.instance_key)) {
      if (auto st = stop_instance(s.instance_key, svc.stop_timeout); !st) return std::unexpected(st.error());
    }
    // Another program on the port would answer our readiness probes (or make our server fail to
    // bind): refuse at once, before anything is started.
    if (svc.port && port_in_use(settings.launch.host, *svc.port)) {
      const std::string why = "port " + std::to_string(*svc.port) + " on " + settings.launch.host +
                              " is already in use by a process gpumod did not start";
      set_state(s, ServiceState::stopped, why);
      return util::fail(ErrorCode::conflict, "cannot start " + svc.id + ": " + why +
                                                 "; stop that process or change the port of " + svc.id);
    }
    // A router started for this mate loads its model at once: its memory is admitted here too
    // (#19 F2), re-checked now, after any planning.
    const std::int64_t need = s.learned_mib.value_or(svc.vram_mib);
    if (auto st = admit(s, need); !st) {
      set_state(s, ServiceState::stopped, st.error().message);
      emit({"admission.refused", svc.id, "", st.error().message, "start", "refused", "insufficient_vram", {}});
      return std::unexpected(st.error());
    }
    if (auto st = check_port_free(s); !st) {
      set_state(s, ServiceState::failed, st.error().message);
      return std::unexpected(st.error());
    }
    if (auto st = set_state(s, ServiceState::starting, ""); !st) {
      return util::fail(st.error().code == ErrorCode::corrupt ? ErrorCode::corrupt : ErrorCode::io,
                        "cannot start " + svc.id + ": the state database cannot record it: " + st.error().message);
    }
    if (auto st = spawn_instance(s); !st) {
      (void)set_state(s, ServiceState::failed, st.error().message);
      emit("service.failed", svc.id, "", st.error().message);
      return std::unexpected(st.error());
    }
    // The pid is on disk before anything waits on the server (#19 F3).
    if (auto st = persist(s); !st) return std::unexpected(unrecorded(s, st.error()));
  }
  auto ready = driver(svc).await_ready(svc, ctx, std::chrono::duration_cast<std::chrono::milliseconds>(svc.startup_timeout));
  if (!ready) {
    (void)stop_instance(s.instance_key, svc.stop_timeout);
    set_state(s, ServiceState::failed, ready.error().message);
    emit("service.failed", svc.id, "", ready.error().message);
    return util::fail(ready.error().code, svc.id + " did not become ready: " + ready.error().message);
  }
  if (auto st = check_port_owner(s); !st) {
    (void)stop_instance(s.instance_key, svc.stop_timeout);
    set_state(s, ServiceState::failed, st.error().message);
    emit("service.failed", svc.id, "", st.error().message);
    return std::unexpected(st.error());
  }
  if (router) {
    // The router is up; make sure this service's model is loaded (the driver's readiness
    // normally loads it already).
    if (observe(s).state != ServiceState::running) {
      auto w = do_wake(s);
      if (!w) return w;
    }
  }
  s.was_ready = true;
  s.restarts->on_ready(Clock::now());
  if (auto st = set_state(s, ServiceState::running, ""); !st) return std::unexpected(unrecorded(s, st.error()));
  learn(s, false);
  r.changed = true;
  r.state = ServiceState::running;
  r.elapsed_ms = elapsed_ms(t0);
  r.message = svc.id + " started and ready in " + std::to_string(r.elapsed_ms) + " ms";
  emit({"service.started", svc.id, "", r.message, "start", "done", "", r.elapsed_ms});
  return r;
}

util::Result<OpResult> Engine::Impl::do_stop(Slot& s) {
  const auto t0 = Clock::now();
  const auto& svc = *s.service;
  OpResult r{svc.id, "stop"};
  const bool router = s.instance_key != svc.id;
  s.restart_due.reset();  // stopped on purpose: the health monitor must not bring it back
  if (!instance_alive(s.instance_key)) {
    {
      std::lock_guard lock(state_mutex);
      instances.erase(s.instance_key);
    }
    set_state(s, ServiceState::stopped, "");
    r.message = svc.id + " is not running";
    r.elapsed_ms = elapsed_ms(t0);
    return r;
  }
  if (router) {
    auto ctx = context(s);
    if (driver(svc).observe(svc, ctx).state == ServiceState::running) {
      if (auto st = driver(svc).sleep(svc, ctx, 1, settings.control_timeout); !st) return std::unexpected(st.error());
    }
    set_state(s, ServiceState::stopped, "");
    if (!router_mates_active(s)) {
      if (auto st = stop_instance(s.instance_key, svc.stop_timeout); !st) return std::unexpected(st.error());
    }
  } else {
    if (auto st = stop_instance(s.instance_key, svc.stop_timeout); !st) {
      (void)set_state(s, ServiceState::unknown, st.error().message);
      return std::unexpected(st.error());
    }
    if (auto st = set_state(s, ServiceState::stopped, ""); !st) {
      return util::fail(st.error().code == ErrorCode::corrupt ? ErrorCode::corrupt : ErrorCode::io,
                        svc.id + " stopped, but the state database could not record it: " + st.error().message);
    }
  }
  r.changed = true;
  r.state = ServiceState::stopped;
  r.elapsed_ms = elapsed_ms(t0);
  r.message = svc.id + " stopped; memory released (" + std::to_string(r.elapsed_ms) + " ms)";
  emit({"service.stopped", svc.id, "", r.message, "stop", "done", "", r.elapsed_ms});
  return r;
}

util::Result<OpResult> Engine::Impl::do_sleep(Slot& s, int level) {
  const auto t0 = Clock::now();
  const auto& svc = *s.service;
  OpResult r{svc.id, "sleep"};
  if (!svc.can_sleep()) {
    return util::fail(ErrorCode::invalid_argument, svc.id + " cannot sleep (driver " +
                                                       std::string(core::to_string(svc.driver)) +
                                                       ", sleep_mode " + std::string(core::to_string(svc.sleep_mode)) + ")");
  }
  const auto obs = observe(s);
  if (obs.state == ServiceState::sleeping) {
    set_state(s, ServiceState::sleeping, "");
    r.state = ServiceState::sleeping;
    r.message = svc.id + " is already asleep";
    return r;
  }
  if (obs.state != ServiceState::running) {
    return util::fail(ErrorCode::conflict, svc.id + " is " + std::string(core::to_string(obs.state)) +
                                               "; only a running service can sleep");
  }
  std::optional<std::int64_t> before_mib;
  if (auto before = snapshot()) before_mib = memory_of(*before, s.instance_key);
  auto ctx = context(s);
  if (auto st = driver(svc).sleep(svc, ctx, level, settings.control_timeout); !st) {
    return util::fail(st.error().code, "sleeping " + svc.id + ": " + st.error().message);
  }
  s.evicted = false;
  s.sleep_level = level;
  const bool mate = s.instance_key != svc.id;
  if (auto st = set_state(s, ServiceState::sleeping, mate ? "model unloaded" : "level " + std::to_string(level)); !st) {
    return util::fail(st.error().code == ErrorCode::corrupt ? ErrorCode::corrupt : ErrorCode::io,
                      svc.id + " is asleep, but the state database could not record it: " + st.error().message);
  }
  if (!mate) learn(s, true);  // a mate's router keeps the other mates' memory: not its own
  r.changed = true;
  r.state = ServiceState::sleeping;
  r.elapsed_ms = elapsed_ms(t0);
  std::string freed;
  if (before_mib) {
    if (auto after = snapshot()) {
      freed = "; freed " + util::group_thousands(*before_mib - memory_of(*after, s.instance_key)) + " MiB";
    }
  }
  r.message = svc.id + (svc.sleep_mode == core::SleepMode::router ? " asleep (model unloaded)"
                                                                   : " asleep (level " + std::to_string(level) + ")") + freed;
  emit({"service.slept", svc.id, "", r.message, "sleep", "done", "", r.elapsed_ms});
  return r;
}

util::Result<OpResult> Engine::Impl::do_wake(Slot& s) {
  const auto t0 = Clock::now();
  const auto& svc = *s.service;
  OpResult r{svc.id, "wake"};
  const auto obs = observe(s);
  if (obs.state == ServiceState::running) {
    set_state(s, ServiceState::running, "");
    r.state = ServiceState::running;
    r.message = svc.id + " is already awake";
    return r;
  }
  if (!instance_alive(s.instance_key)) {
    return util::fail(ErrorCode::conflict, svc.id + " is not running; start it instead");
  }
  std::int64_t router_before_mib = 0;
  if (s.instance_key != svc.id) {  // a router model's wake is a load: its file must be there (W24)
    auto code = ErrorCode::failed;
    if (const auto problems = preflight(s, false, &code); !problems.empty()) {
      return util::fail(code, "cannot wake " + svc.id + ": preflight: " + util::join(problems, "; "));
    }
    // At models_max, the mate the router would evict is unloaded first (awaited), so admission
    // counts its memory as free; a mate of the current mode only when told so (--evict).
    if (auto st = make_room_in_router(s, obs); !st) return std::unexpected(st.error());
    if (auto snap = snapshot()) router_before_mib = memory_of(*snap, s.instance_key);
  }
  std::int64_t resident = 0;
  if (auto snap = snapshot(); snap && s.instance_key == svc.id) resident = memory_of(*snap, s.instance_key);
  const std::int64_t need = std::max<std::int64_t>(0, s.learned_mib.value_or(svc.vram_mib) - resident);
  if (auto st = admit(s, need); !st) {
    emit({"admission.refused", svc.id, "", st.error().message, "wake", "refused", "insufficient_vram", {}});
    return std::unexpected(st.error());
  }
  set_state(s, ServiceState::loading, "");
  auto ctx = context(s);
  if (auto st = driver(svc).wake(svc, ctx, settings.control_timeout); !st) {
    set_state(s, ServiceState::failed, st.error().message);
    emit("service.failed", svc.id, "", st.error().message);
    return util::fail(st.error().code, "waking " + svc.id + ": " + st.error().message);
  }
  s.was_ready = true;
  s.evicted = false;
  if (auto st = set_state(s, ServiceState::running, ""); !st) {
    return util::fail(st.error().code == ErrorCode::corrupt ? ErrorCode::corrupt : ErrorCode::io,
                      svc.id + " is awake, but the state database could not record it: " + st.error().message);
  }
  if (s.instance_key == svc.id) {
    learn(s, false);
  } else if (auto after = snapshot()) {
    // A router mate's footprint is what its load added to the router, not the whole process.
    const std::int64_t added = memory_of(*after, s.instance_key) - router_before_mib;
    if (added > 0) {
      {
        std::lock_guard lock(state_mutex);
        s.learned_mib = added;
      }
      (void)persist(s);
      record_buffer_sizes(s, added);
    }
  }
  r.changed = true;
  r.state = ServiceState::running;
  r.elapsed_ms = elapsed_ms(t0);
  r.message = svc.id + " awake and ready in " + std::to_string(r.elapsed_ms) + " ms";
  emit({"service.woken", svc.id, "", r.message, "wake", "done", "", r.elapsed_ms});
  return r;
}

util::Result<OpResult> Engine::Impl::do_restart(Slot& s) {
  const auto t0 = Clock::now();
  if (s.instance_key != s.service->id && instance_alive(s.instance_key) && router_mates_active(s)) {
    // Repairing one mate of a router that serves others is an unload + load of its model; the
    // router (and the other mates' models) stay. A router that does not answer itself is
    // restarted with every mate it serves in the plan: each one it takes down comes back as it
    // was (running loaded, asleep asleep).
    {
      auto ctx = context(s);
      if (const auto router = driver(*s.service).observe(*s.service, ctx); !router.healthy) {
        auto plan = router_restart_plan(s.instance_key, false);
        std::erase(plan.asleep, s.service->id);
        std::erase(plan.stop, s.service->id);
        if (std::ranges::find(plan.load, s.service->id) == plan.load.end()) plan.load.insert(plan.load.begin(), s.service->id);
        auto r = restart_router(s.instance_key, plan, "repairing " + s.service->id + ": its router does not answer (" +
                                                          router.reason + ")");
        if (r) r->service_id = s.service->id;
        return r;
      }
    }
    const auto now = observe(s);
    if (now.state == ServiceState::stopped || now.state == ServiceState::failed || now.state == ServiceState::sleeping) {
      auto r = do_start(s);  // nothing loaded to repair: a load
      if (r) r->action = "restart";
      return r;
    }
    auto ctx = context(s);
    const auto seen = driver(*s.service).observe(*s.service, ctx);
    if (seen.state == ServiceState::running || seen.state == ServiceState::loading) {
      if (auto st = driver(*s.service).sleep(*s.service, ctx, 0, settings.control_timeout); !st) {
        return util::fail(st.error().code, "restarting " + s.service->id + " (unloading its model): " + st.error().message);
      }
    }
    set_state(s, ServiceState::sleeping, "reloading its model");
    auto r = do_wake(s);
    if (!r) return r;
    r->action = "restart";
    r->changed = true;
    r->elapsed_ms = elapsed_ms(t0);
    r->message = s.service->id + " reloaded in its router (unload + load) in " + std::to_string(r->elapsed_ms) + " ms";
    return r;
  }
  if (auto st = do_stop(s); !st) return st;
  auto r = do_start(s);
  if (!r) return r;
  r->action = "restart";
  r->changed = true;
  r->elapsed_ms = elapsed_ms(t0);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Public commands

util::Result<OpResult> Engine::start_service(const std::string& id, bool evict) {
  auto s = m->find_slot(id);
  if (!s) return std::unexpected(s.error());
  Impl::Busy lock(*m, "start " + id);
  (*s)->restarts->reset();  // started by hand: the restart budget and crash-loop count start afresh
  m->refuse_mode_evictions = !evict;
  auto r = m->do_start(**s);
  m->refuse_mode_evictions = false;
  return r;
}

util::Result<OpResult> Engine::stop_service(const std::string& id) {
  auto s = m->find_slot(id);
  if (!s) return std::unexpected(s.error());
  Impl::Busy lock(*m, "stop " + id);
  return m->do_stop(**s);
}

util::Result<OpResult> Engine::restart_service(const std::string& id) {
  auto s = m->find_slot(id);
  if (!s) return std::unexpected(s.error());
  Impl::Busy lock(*m, "restart " + id);
  m->refuse_mode_evictions = true;  // a restart reloads its own model; it never evicts the mode's
  auto r = m->do_restart(**s);
  m->refuse_mode_evictions = false;
  return r;
}

util::Result<OpResult> Engine::sleep_service(const std::string& id, std::optional<int> level) {
  auto s = m->find_slot(id);
  if (!s) return std::unexpected(s.error());
  if (level && *level != 1 && *level != 2) {
    return util::fail(ErrorCode::invalid_argument, "sleep level must be 1 or 2, got " + std::to_string(*level));
  }
  if (level && (*s)->service->sleep_mode == core::SleepMode::router) {
    return util::fail(ErrorCode::invalid_argument, id + " is a model of a llama-server router: its sleep is an unload, "
                                                        "which has no levels (leave out --level)");
  }
  const int lvl = level.value_or((*s)->service->sleep_mode == core::SleepMode::l2 ? 2 : 1);
  Impl::Busy lock(*m, "sleep " + id);
  return m->do_sleep(**s, lvl);
}

util::Result<OpResult> Engine::wake_service(const std::string& id, bool evict) {
  auto s = m->find_slot(id);
  if (!s) return std::unexpected(s.error());
  Impl::Busy lock(*m, "wake " + id);
  m->refuse_mode_evictions = !evict;
  auto r = m->do_wake(**s);
  m->refuse_mode_evictions = false;
  return r;
}

util::Result<std::vector<std::string>> Engine::stop_all() {
  Impl::Busy lock(*m, "stopping every service");
  std::optional<util::Error> first;
  std::vector<std::string> stopped;
  for (auto& [id, s] : m->slots) {
    if (!m->instance_alive(s.instance_key)) continue;
    auto r = m->do_stop(s);
    if (!r && !first) first = r.error();
    if (r && r->changed) stopped.push_back(id);
  }
  if (first) return std::unexpected(*first);
  // Nothing runs any more: no mode is current (status would claim one otherwise).
  if (auto cur = m->store.get_current_mode(); cur && *cur) (void)m->store.clear_current_mode("every service stopped");
  return stopped;
}

std::string Engine::busy_with() const {
  std::lock_guard lock(m->state_mutex);
  return m->activity;
}

util::Result<StatusView> Engine::status() {
  std::shared_lock config_lock(m->config_mutex);  // a live reload swaps the slots exclusively
  StatusView v;
  {
    std::lock_guard lock(m->state_mutex);
    v.config_problem = m->config_problem;
  }
  auto snap = m->snapshot();
  if (!snap) return std::unexpected(snap.error());
  v.gpu = *snap;
  auto cur = m->store.get_current_mode();
  if (cur) v.current_mode = *cur;
  if (auto sw = m->store.unfinished_switch(); sw && *sw) {
    const auto& j = **sw;
    std::size_t at = 0;
    for (const auto& step : j.steps) at += step.status != infra::state::StepStatus::pending;
    v.switch_in_progress = m->resuming_switch.load()
                               ? "resuming switch to " + j.to_mode + " after a restart"
                               : "switching " + (j.from_mode.empty() ? std::string("(none)") : j.from_mode) + " -> " +
                                     j.to_mode + ", step " + std::to_string(std::max<std::size_t>(at, 1)) + "/" +
                                     std::to_string(j.steps.size());
  }
  std::set<int> managed;
  // The servers are asked at the same time, one thread per live process: a status of 20
  // services then costs about one round trip, not the sum of them. The services of one process
  // (the models of a llama-server router) are looked at in one thread through a MemoClient, so
  // the router answers /health and /models once, not once per model.
  std::map<std::string, std::vector<Slot*>> by_instance;
  for (auto& [id, s] : m->slots) by_instance[s.instance_key].push_back(&s);
  std::map<const Slot*, drivers::Observation> seen;
  std::mutex seen_mutex;
  std::vector<std::future<void>> asked;
  for (auto& [key, group] : by_instance) {
    if (!m->instance_alive(key)) {  // nothing to ask: the process is gone
      for (Slot* slot : group) seen[slot] = m->observe(*slot);
      continue;
    }
    asked.push_back(std::async(std::launch::async, [this, &seen, &seen_mutex, group = &group] {
      infra::http::MemoClient memo(m->http(*group->front()->service));
      for (Slot* slot : *group) {
        auto obs = m->observe(*slot, &memo);
        std::lock_guard lock(seen_mutex);
        seen[slot] = std::move(obs);
      }
    }));
  }
  for (auto& f : asked) f.get();
  for (auto& [id, s] : m->slots) {
    ServiceView sv;
    sv.id = id;
    sv.driver = s.service->driver;
    sv.port = s.service->port;
    sv.configured_mib = s.service->vram_mib;
    const auto& obs = seen.at(&s);
    sv.state = obs.state;
    sv.reason = obs.reason.empty() ? s.reason : obs.reason;
    sv.models = obs.models;
    {
      std::lock_guard lock(m->state_mutex);
      sv.learned_mib = s.learned_mib;
      sv.learned_sleep_mib = s.learned_sleep_mib;
      if (const auto it = m->instances.find(s.instance_key); it != m->instances.end()) sv.pid = it->second.identity.pid;
    }
    if (sv.pid && !m->instance_alive(s.instance_key)) sv.pid = 0;  // the process is gone: no pid to show
    if (sv.pid) {
      managed.insert(sv.pid);
      const bool router_idle = s.instance_key != id && sv.state != core::ServiceState::running;
      sv.measured_mib = router_idle ? 0 : m->memory_of(*snap, s.instance_key);
    }
    v.services.push_back(std::move(sv));
  }
  if (v.current_mode) {
    std::vector<std::pair<std::string, core::ServiceNow>> now;
    for (const auto& sv : v.services) {
      now.emplace_back(sv.id, core::ServiceNow{sv.state, sv.reason.starts_with("evicted")});
    }
    v.mode_modified = core::mode_modifications(m->config, *v.current_mode, now);
  }
  v.external_mib_by_device.assign(snap->devices.size(), 0);
  for (const auto& d : snap->devices) {
    for (const auto& p : d.processes) {
      // Ours when the process or one of its ancestors is a managed instance.
      bool ours = false;
      for (int at = p.pid, guard = 0; at > 0 && guard < 4096; ++guard) {
        if (managed.contains(at)) {
          ours = true;
          break;
        }
        const auto parent = infra::process::parent_pid(at);
        if (!parent || *parent == at) break;
        at = *parent;
      }
      if (!ours) {
        v.external_mib += p.used_mib;
        v.external_mib_by_device[static_cast<std::size_t>(&d - snap->devices.data())] += p.used_mib;
      }
    }
  }
  return v;
}

util::Status Engine::recover() {
  auto adopted = adopt();
  auto resumed = resume_interrupted_switch();
  if (!adopted) return adopted;
  return resumed;
}

util::Status Engine::adopt() {
  Impl::Busy lock(*m, "re-adopting the running services");
  std::set<std::string> adopted;  // instance keys re-adopted from the database
  auto records = m->store.list_runtime();
  std::optional<util::Error> unreadable;
  if (!records) {  // the servers are still found by their markers below
    unreadable = records.error();
    m->emit("state.unreadable", "", "", "the runtime records cannot be read (" + records.error().message +
                                            "); servers are found by their markers instead");
    records = std::vector<infra::state::ServiceRuntime>{};
  }
  for (const auto& rt : *records) {
    if (rt.pid <= 0) continue;
    auto it = m->slots.find(rt.service_id);
    if (it == m->slots.end()) {
      m->forget_unconfigured(rt);  // F8: its preset was deleted
      continue;
    }
    Slot& s = it->second;
    s.learned_mib = rt.learned_vram_mib;
    s.learned_sleep_mib = rt.learned_sleep_vram_mib;
    const infra::process::ProcessIdentity id{rt.pid, rt.pid_start_time};
    if (infra::process::is_same_process_alive(id)) {
      {
        std::lock_guard l(m->state_mutex);
        m->instances[s.instance_key] = Instance{id, m->log_file(s.instance_key), rt.started_at_ms};
        s.state = rt.state;  // as recorded: a service that was starting is still in its window
        s.reason = rt.reason;
        s.evicted = rt.state == core::ServiceState::sleeping && rt.reason.starts_with("evicted");
      }
      adopted.insert(s.instance_key);
      const auto obs = m->observe(s);
      if (obs.state == core::ServiceState::unhealthy &&
          (rt.state == core::ServiceState::running || rt.state == core::ServiceState::unhealthy)) {
        // Not answering now (frozen, overloaded): the health monitor decides, as for a service
        // that stops answering while the daemon runs (#19 F4): it counts the failures, reports
        // and restarts under the service's restart policy. Never left unhealthy unreported.
        s.was_ready = true;
        (void)m->set_state(s, core::ServiceState::running, "adopted; not answering its health check");
        m->emit("service.adopted", s.service->id, "", s.service->id + " re-adopted (pid " + std::to_string(id.pid) +
                                                          "); it does not answer its health check: the health "
                                                          "monitor restarts it under its policy if it stays so");
        continue;
      }
      if (obs.state == core::ServiceState::running) s.was_ready = true;
      (void)m->set_state(s, obs.state, s.evicted ? rt.reason : "adopted");
      m->emit("service.adopted", s.service->id, "", s.service->id + " re-adopted (pid " + std::to_string(id.pid) + ")");
    } else if (rt.state != core::ServiceState::stopped) {
      (void)m->set_state(s, core::ServiceState::stopped, "exited while the daemon was away");
    }
  }
  if (m->recover_marked(adopted) > 0) m->rebuild_current_mode();
  if (unreadable) return std::unexpected(*unreadable);
  return {};
}

util::Status Engine::resume_interrupted_switch() {
  // A switch left unfinished by a killed daemon is finished: planning from the observed state
  // makes re-running it idempotent.
  auto unfinished = m->store.unfinished_switch();
  if (unfinished && *unfinished) {
    const std::string target = (*unfinished)->to_mode;
    Impl::Busy lock(*m, "resuming the switch to " + target);
    (void)m->store.finish_switch((*unfinished)->id, infra::state::SwitchState::failed, "interrupted: the daemon stopped mid-switch; resumed on restart");
    m->emit("switch.resumed", "", target, "resuming the switch to " + target + " interrupted by a daemon restart");
    m->resuming_switch = true;
    auto r = m->run_switch(target, SwitchOptions{});
    m->resuming_switch = false;
    if (!r) return std::unexpected(r.error());
  }
  return {};
}

}  // namespace gpumod::engine
