#include "gpumod/engine/on_demand.hpp"

#include <algorithm>
#include <set>

#include "gpumod/drivers/llamacpp_driver.hpp"
#include "gpumod/engine/bench.hpp"
#include "gpumod/engine/engine.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::engine {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

namespace {

bool serves(core::ServiceState s) { return s == core::ServiceState::running; }

// The device a service runs on: its `gpu:` (UUID or index), else the configured default, else
// the first. Services of other devices do not take part in a choice.
std::size_t device_of(const core::Service& s, const core::GpuSnapshot& gpu, const std::string& default_uuid) {
  const std::string& want = s.gpu.empty() ? default_uuid : s.gpu;
  for (std::size_t i = 0; i < gpu.devices.size(); ++i) {
    if (!want.empty() && (gpu.devices[i].uuid == want || std::to_string(gpu.devices[i].index) == want)) return i;
  }
  return 0;
}

std::int64_t unix_now_ms() {
  return duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The newer of the daemon's own measurement and the stored expectation; nullopt with neither.
std::optional<milliseconds> newer(const std::optional<OwnMeasurement>& own,
                                  const std::optional<infra::state::ExpectedStep>& stored) {
  if (own && (!stored || own->measured_at_ms >= stored->newest_at_ms)) return own->took;
  if (stored) return milliseconds(stored->elapsed_ms);
  return std::nullopt;
}

}  // namespace

BringUpCosts bring_up_costs(const core::Service& service, const std::optional<OwnMeasurement>& own_wake,
                            const std::optional<OwnMeasurement>& own_start,
                            const infra::state::StateStore& store, const std::string& gpu_uuid) {
  BringUpCosts out;
  // A wake never measured is costed as its start was (a router model's wake is a load).
  out.wake_cost = newer(own_wake, expected_bring_up(store, service.id, true, gpu_uuid)).value_or(milliseconds(1000));
  out.start_cost = newer(own_start, expected_bring_up(store, service.id, false, gpu_uuid))
                       .value_or(duration_cast<milliseconds>(service.startup_timeout) / 4);
  return out;
}

ServeLease& ServeLease::operator=(ServeLease&& o) noexcept {
  if (this != &o) {
    if (m_owner) m_owner->release(m_service);
    m_owner = std::exchange(o.m_owner, nullptr);
    m_service = std::move(o.m_service);
  }
  return *this;
}

ServeLease::~ServeLease() {
  if (m_owner) m_owner->release(m_service);
}

OnDemand::OnDemand(Engine& engine, core::ServeSettings settings)
    : m_engine(engine), m_settings(std::move(settings)) {
  m_idle_thread = std::thread([this] { idle_loop(); });
}

OnDemand::~OnDemand() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_cv.notify_all();
  if (m_idle_thread.joinable()) m_idle_thread.join();
  // A health round started after a 502 finishes before the engine may go.
  while (m_health_running.load()) std::this_thread::yield();
}

void OnDemand::release(const std::string& service_id) {
  {
    std::lock_guard lock(m_mutex);
    auto& rt = m_services[service_id];
    if (rt.in_flight > 0) --rt.in_flight;
    rt.last_used = Clock::now();
  }
  m_cv.notify_all();
}

std::map<std::string, DemandLoad> OnDemand::load() const {
  std::lock_guard lock(m_mutex);
  std::map<std::string, DemandLoad> out;
  for (const auto& [id, rt] : m_services) out[id] = DemandLoad{rt.in_flight, rt.waiting};
  return out;
}

void OnDemand::invalidate() {
  {
    std::lock_guard lock(m_mutex);
    for (auto& [id, rt] : m_services) rt.serving = false;
  }
  m_cv.notify_all();  // requests waiting for a change look again
}

void OnDemand::stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_cv.notify_all();
}

void OnDemand::upstream_failed(const std::string& service_id) {
  {
    std::lock_guard lock(m_mutex);
    m_services[service_id].serving = false;
  }
  if (m_health_running.exchange(true)) return;
  std::thread([this] {
    m_engine.health_tick();
    m_health_running = false;
  }).detach();
}

std::optional<milliseconds> OnDemand::measured_cost(const std::string& service_id, bool wake) const {
  std::lock_guard lock(m_mutex);
  const auto& costs = wake ? m_wake_cost : m_start_cost;
  if (auto it = costs.find(service_id); it != costs.end()) return it->second.took;
  return std::nullopt;
}

void OnDemand::note_cost(const std::string& service_id, bool wake, milliseconds took) {
  std::lock_guard lock(m_mutex);
  (wake ? m_wake_cost : m_start_cost)[service_id] = OwnMeasurement{took, unix_now_ms()};
}

std::expected<ServeLease, DemandError> OnDemand::acquire(const std::string& service_id, Clock::time_point deadline,
                                                         const ProgressFn& progress,
                                                         const std::function<bool()>& cancelled,
                                                         DemandOutcome* outcome) {
  const auto config = m_engine.config();  // held while `service` is used
  const auto* service = config->find_service(service_id);
  if (service == nullptr) return std::unexpected(DemandError{DemandRefusal::failed, "no service '" + service_id + "'"});
  const auto started = Clock::now();
  {
    std::lock_guard lock(m_mutex);
    auto& rt = m_services[service_id];
    const int limit = service->serving.max_concurrent;
    if (limit > 0 && rt.in_flight >= limit) {
      return std::unexpected(DemandError{DemandRefusal::too_many,
                                         "service '" + service_id + "' already has " + std::to_string(limit) +
                                             " requests in flight (max_concurrent)"});
    }
    if (rt.serving && !rt.draining) {
      ++rt.in_flight;
      rt.last_used = started;
      if (outcome) outcome->action = "serve";
      return ServeLease(this, service_id);
    }
    if (m_waiting_total >= m_settings.max_queue) {
      const auto cost = std::max(m_wake_cost.contains(service_id) ? m_wake_cost[service_id].took : milliseconds(0),
                                 m_start_cost.contains(service_id) ? m_start_cost[service_id].took : milliseconds(1000));
      return std::unexpected(DemandError{DemandRefusal::queue_full,
                                         std::to_string(m_waiting_total) + " requests already wait for models to load (max_queue)",
                                         std::max(std::chrono::seconds(1), duration_cast<std::chrono::seconds>(cost))});
    }
    ++m_waiting_total;
    ++rt.waiting;
  }
  auto result = change_for(service_id, deadline, progress, cancelled, outcome);
  {
    std::lock_guard lock(m_mutex);
    --m_waiting_total;
    --m_services[service_id].waiting;
  }
  m_cv.notify_all();
  if (outcome) outcome->waited = duration_cast<milliseconds>(Clock::now() - started);
  return result;
}

std::expected<std::optional<ServeLease>, DemandError> OnDemand::try_acquire(const std::string& service_id) {
  const auto config = m_engine.config();  // held while `service` is used
  const auto* service = config->find_service(service_id);
  if (service == nullptr) return std::unexpected(DemandError{DemandRefusal::failed, "no service '" + service_id + "'"});
  std::lock_guard lock(m_mutex);
  auto& rt = m_services[service_id];
  const int limit = service->serving.max_concurrent;
  if (limit > 0 && rt.in_flight >= limit) {
    return std::unexpected(DemandError{DemandRefusal::too_many, "service '" + service_id + "' already has " +
                                                                    std::to_string(limit) + " requests in flight (max_concurrent)"});
  }
  if (!rt.serving || rt.draining) return std::optional<ServeLease>();
  ++rt.in_flight;
  rt.last_used = Clock::now();
  return std::optional<ServeLease>(ServeLease(this, service_id));
}

std::optional<ServeLease> OnDemand::lease_if_serving(const std::string& service_id, DemandOutcome* outcome) {
  auto& rt = m_services[service_id];
  if (!rt.serving || rt.draining) return std::nullopt;
  ++rt.in_flight;
  rt.last_used = Clock::now();
  if (outcome && outcome->action.empty()) outcome->action = "serve";
  return ServeLease(this, service_id);
}

bool OnDemand::drain(const std::string& service_id, Clock::time_point deadline) {
  std::unique_lock lock(m_mutex);
  auto& rt = m_services[service_id];
  rt.draining = true;
  const auto until = std::min(deadline, Clock::now() + m_settings.drain_timeout);
  const bool drained = m_cv.wait_until(lock, until, [&] { return m_services[service_id].in_flight == 0 || m_stopping; });
  if (!drained) m_services[service_id].draining = false;
  return drained;
}

std::expected<ServeLease, DemandError> OnDemand::change_for(const std::string& service_id, Clock::time_point deadline,
                                                            const ProgressFn& progress,
                                                            const std::function<bool()>& cancelled,
                                                            DemandOutcome* outcome) {
  const auto say = [&](const std::string& text) {
    if (progress) progress(text);
  };
  // One configuration for the whole change (a live reload may replace the engine's meanwhile).
  const auto config_snapshot = m_engine.config();
  const core::Config& config = *config_snapshot;
  const auto* target_service = config.find_service(service_id);
  if (target_service == nullptr) {
    return std::unexpected(DemandError{DemandRefusal::failed, "no service '" + service_id + "' (the configuration changed)"});
  }
  const core::Service& target = *target_service;
  while (true) {
    if (cancelled && cancelled()) return std::unexpected(DemandError{DemandRefusal::cancelled, "the client went away"});
    {
      std::lock_guard lock(m_mutex);
      if (m_stopping) return std::unexpected(DemandError{DemandRefusal::failed, "the gpumod daemon is stopping"});
    }
    if (Clock::now() >= deadline) {
      return std::unexpected(DemandError{DemandRefusal::timeout, "model of service '" + service_id +
                                                                     "' did not become ready within the request timeout"});
    }
    std::unique_lock change(m_change, std::defer_lock);
    if (!change.try_lock_until(deadline)) continue;  // the loop reports the timeout
    {
      std::lock_guard lock(m_mutex);
      if (auto lease = lease_if_serving(service_id, outcome)) return std::move(*lease);
    }
    auto status = m_engine.status();
    if (!status) return std::unexpected(DemandError{DemandRefusal::failed, status.error().message});

    core::DemandInput in;
    in.target = service_id;
    in.modes = config.modes;
    in.current_mode = status->current_mode;
    const std::size_t device = device_of(target, status->gpu, config.settings.gpu_uuid);
    if (device < status->gpu.devices.size()) {
      in.total_mib = status->gpu.devices[device].total_mib;
      in.free_mib = status->gpu.devices[device].free_mib;
    }
    in.margin_mib = m_engine.settings().margin_mib;
    in.policy = target.serving.on_demand.value_or(m_settings.on_demand);
    // Each service's costs: the daemon's own measurements (they change only under m_change, held
    // here) and the stored ones, read without holding m_mutex.
    std::map<std::string, BringUpCosts> costs;
    {
      std::map<std::string, OwnMeasurement> own_wake, own_start;
      {
        std::lock_guard lock(m_mutex);
        own_wake = m_wake_cost;
        own_start = m_start_cost;
      }
      const auto own = [](const std::map<std::string, OwnMeasurement>& m, const std::string& id) {
        const auto it = m.find(id);
        return it == m.end() ? std::optional<OwnMeasurement>() : std::optional<OwnMeasurement>(it->second);
      };
      const std::string gpu_uuid = device < status->gpu.devices.size() ? status->gpu.devices[device].uuid : "";
      for (const auto& v : status->services) {
        const auto* s = config.find_service(v.id);
        if (s == nullptr || device_of(*s, status->gpu, config.settings.gpu_uuid) != device) continue;
        costs[v.id] = bring_up_costs(*s, own(own_wake, v.id), own(own_start, v.id), m_engine.store(), gpu_uuid);
      }
    }
    std::optional<Clock::time_point> next_expiry;
    {
      std::lock_guard lock(m_mutex);
      const auto now = Clock::now();
      for (const auto& v : status->services) {
        const auto* s = config.find_service(v.id);
        if (s == nullptr || device_of(*s, status->gpu, config.settings.gpu_uuid) != device) continue;
        auto& rt = m_services[v.id];
        if (serves(v.state)) {
          rt.serving = true;
          if (!rt.loaded_at) rt.loaded_at = now;
        } else {
          rt.serving = false;
          rt.loaded_at.reset();
        }
        core::DemandService d;
        d.id = v.id;
        d.state = v.state;
        const bool holds = v.state != core::ServiceState::stopped && v.state != core::ServiceState::failed;
        d.holds_mib = holds ? v.measured_mib.value_or(v.state == core::ServiceState::sleeping
                                                          ? v.learned_sleep_mib.value_or(0)
                                                          : v.learned_mib.value_or(v.configured_mib))
                            : 0;
        d.need_mib = v.learned_mib.value_or(v.configured_mib);
        d.sleep_mib = v.learned_sleep_mib.value_or(0);
        d.can_sleep = s->can_sleep();
        d.pinned = s->serving.pin;
        d.busy = v.id != service_id && (rt.in_flight > 0 || rt.waiting > 0);
        if (rt.loaded_at && v.id != service_id) {
          const auto until = *rt.loaded_at + m_settings.min_residency;
          d.resident = until > now;
          if (d.resident && (!next_expiry || until < *next_expiry)) next_expiry = until;
        }
        d.wake_cost = costs[v.id].wake_cost;
        d.start_cost = costs[v.id].start_cost;
        if (s->driver == core::DriverKind::llamacpp && drivers::is_router(*s)) {
          d.router = std::to_string(s->port.value_or(0)) + "|" + s->var("models_dir").value_or("");
          d.models_max = 4;  // llama-server's default
          if (const auto mm = s->var("models_max")) {
            if (auto n = util::parse_int(*mm, 0, 1024, "models_max")) d.models_max = static_cast<int>(*n);
          }
        }
        in.services.push_back(std::move(d));
      }
      if (auto lease = lease_if_serving(service_id, outcome)) return std::move(*lease);
    }

    const auto choice = core::choose_on_demand(in);
    if (outcome) outcome->plan = choice.plan;
    const auto act_on_target = [&](bool wake) -> std::optional<DemandError> {
      say(std::string(wake ? "waking " : "starting ") + service_id);
      const auto t0 = Clock::now();
      auto r = wake ? m_engine.wake_service(service_id) : m_engine.start_service(service_id);
      if (!r) return DemandError{DemandRefusal::failed, r.error().message};
      note_cost(service_id, wake, duration_cast<milliseconds>(Clock::now() - t0));
      ++m_swaps;
      return std::nullopt;
    };

    switch (choice.action) {
      case core::DemandAction::serve: {
        // It serves (running, or unhealthy: the upstream's own answer will say so).
        std::lock_guard lock(m_mutex);
        auto& rt = m_services[service_id];
        ++rt.in_flight;
        rt.last_used = Clock::now();
        if (outcome && outcome->action.empty()) outcome->action = "serve";
        return ServeLease(this, service_id);
      }
      case core::DemandAction::refuse:
        return std::unexpected(DemandError{DemandRefusal::no_fit, choice.plan});
      case core::DemandAction::wait: {
        change.unlock();
        say("waiting: " + choice.plan);
        std::unique_lock lock(m_mutex);
        auto until = deadline;
        if (next_expiry && *next_expiry < until) until = *next_expiry;
        // Woken by a request ending (busy services) or a change; residency ends by the clock.
        m_cv.wait_until(lock, until, [&] { return m_stopping; });
        continue;
      }
      case core::DemandAction::wake:
      case core::DemandAction::start: {
        if (outcome) outcome->action = std::string(core::to_string(choice.action));
        if (auto e = act_on_target(choice.action == core::DemandAction::wake)) return std::unexpected(*e);
        break;
      }
      case core::DemandAction::switch_mode: {
        if (outcome) outcome->action = "switch_mode:" + choice.mode_id;
        const auto* mode = config.find_mode(choice.mode_id);
        std::set<std::string> keep(mode->services.begin(), mode->services.end());
        for (const auto& d : in.services) {
          if (!keep.contains(d.id) && d.state == core::ServiceState::running) {
            say("draining " + d.id);
            if (!drain(d.id, deadline)) {
              return std::unexpected(DemandError{DemandRefusal::timeout, "requests on '" + d.id +
                                                                             "' did not finish within drain_timeout_s"});
            }
          }
        }
        say("switching to mode " + choice.mode_id);
        const auto t0 = Clock::now();
        auto r = m_engine.switch_mode(choice.mode_id, SwitchOptions{});
        {
          std::lock_guard lock(m_mutex);
          for (auto& [id, rt] : m_services) {
            rt.draining = false;
            if (!keep.contains(id)) rt.serving = false;
          }
        }
        if (!r) return std::unexpected(DemandError{DemandRefusal::failed, r.error().message});
        if (!r->success) {
          return std::unexpected(DemandError{DemandRefusal::failed, "switch to mode " + choice.mode_id + " failed: " + r->message});
        }
        note_cost(service_id, false, duration_cast<milliseconds>(Clock::now() - t0));
        ++m_swaps;
        break;
      }
      case core::DemandAction::evict: {
        if (outcome) outcome->action = "evict";
        for (const auto& e : choice.evictions) {
          say(std::string(e.sleep ? "draining and sleeping " : "draining and stopping ") + e.service_id);
          if (!drain(e.service_id, deadline)) {
            return std::unexpected(DemandError{DemandRefusal::timeout, "requests on '" + e.service_id +
                                                                           "' did not finish within drain_timeout_s"});
          }
          auto r = e.sleep ? m_engine.sleep_service(e.service_id, std::nullopt) : m_engine.stop_service(e.service_id);
          {
            std::lock_guard lock(m_mutex);
            auto& rt = m_services[e.service_id];
            rt.draining = false;
            rt.serving = false;
            rt.loaded_at.reset();
          }
          if (!r) return std::unexpected(DemandError{DemandRefusal::failed, r.error().message});
        }
        if (auto e = act_on_target(choice.wake_target)) return std::unexpected(*e);
        break;
      }
    }
    // The change is done: the target serves.
    std::lock_guard lock(m_mutex);
    auto& rt = m_services[service_id];
    rt.serving = true;
    rt.loaded_at = Clock::now();
    ++rt.in_flight;
    rt.last_used = Clock::now();
    say(service_id + " is ready");
    return ServeLease(this, service_id);
  }
}

void OnDemand::idle_loop() {
  std::unique_lock lock(m_mutex);
  while (!m_stopping) {
    const auto now = Clock::now();
    std::optional<Clock::time_point> next;
    std::string expired;
    for (const auto& [id, rt] : m_services) {
      if (!rt.serving || rt.in_flight > 0 || rt.waiting > 0 || !rt.last_used) continue;
      const auto config = m_engine.config();
      const auto* s = config->find_service(id);
      if (s == nullptr) continue;
      const auto ttl = s->serving.ttl ? *s->serving.ttl : m_settings.default_ttl.value_or(std::chrono::seconds(0));
      if (ttl.count() <= 0) continue;
      const auto at = *rt.last_used + ttl;
      if (at <= now) {
        expired = id;
        break;
      }
      if (!next || at < *next) next = at;
    }
    if (expired.empty()) {
      if (next) m_cv.wait_until(lock, *next);
      else m_cv.wait(lock);
      continue;
    }
    // Put the idle service away (no request may start on it meanwhile: it is draining).
    m_services[expired].draining = true;
    lock.unlock();
    {
      std::unique_lock change(m_change);
      const auto config = m_engine.config();
      const auto* s = config->find_service(expired);
      bool all_idle = true;
      {
        std::lock_guard inner(m_mutex);
        for (const auto& [id, rt] : m_services) all_idle = all_idle && rt.in_flight == 0 && rt.waiting == 0;
        all_idle = all_idle && m_services[expired].in_flight == 0;
      }
      const auto* idle_mode = config->find_mode(m_settings.idle_mode);
      const bool in_idle_mode = idle_mode && std::ranges::find(idle_mode->services, expired) != idle_mode->services.end();
      if (all_idle && idle_mode && !in_idle_mode) {
        (void)m_engine.switch_mode(idle_mode->id, SwitchOptions{});
      } else if (!in_idle_mode && s != nullptr) {  // null: a reload removed it (and stopped it)
        if (s->can_sleep()) {
          const int level = s->sleep_mode == core::SleepMode::l2 ? 2 : 1;
          (void)m_engine.sleep_service(expired, s->sleep_mode == core::SleepMode::router ? std::nullopt : std::optional<int>(level));
        } else {
          (void)m_engine.stop_service(expired);
        }
      }
    }
    lock.lock();
    auto& rt = m_services[expired];
    rt.draining = false;
    rt.serving = false;
    rt.loaded_at.reset();
    rt.last_used.reset();  // until it is used again
  }
}

}  // namespace gpumod::engine
