// OnDemand: makes a requested service serve, for the OpenAI-compatible endpoint. It keeps the
// per-service request accounting (in flight, queued, last use, when loaded), asks the pure choice
// (core/on_demand.hpp) what to change from the engine's observed status, and carries the change
// out through the Engine's public operations (start, wake, sleep, stop, switch_mode: the same
// command lock, journal, admission and rollback as `gpumod mode switch`). Services are drained
// (their in-flight requests finish) before they are slept or stopped; a loaded service keeps its
// place for min_residency; idle services are slept or stopped after their TTL (one thread that
// waits for the next expiry, or for a change).
//
// Thread-safety: every public method may be called from any thread. One change runs at a time
// (a timed mutex); requests for services that serve take only a short internal lock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "gpumod/core/on_demand.hpp"
#include "gpumod/core/serve.hpp"

namespace gpumod::infra::state {
class StateStore;
}

namespace gpumod::engine {

class Engine;

// A duration the running daemon measured itself, and when (Unix ms).
struct OwnMeasurement {
  std::chrono::milliseconds took{0};
  std::int64_t measured_at_ms = 0;
};

// What bringing a service up costs, for the on-demand choice and its eviction order.
struct BringUpCosts {
  std::chrono::milliseconds wake_cost{0};
  std::chrono::milliseconds start_cost{0};
};

// The costs of one service on the GPU `gpu_uuid`: for its wake and its start, the newer of the
// daemon's own last measurement (`own_wake`, `own_start`) and the stored expectation (the
// median of the latest measured durations, bench history and real switches, on that GPU first:
// expected_bring_up in bench.hpp; it outlives a daemon restart); with neither, an estimate
// (wake 1 s, start a quarter of its startup timeout).
BringUpCosts bring_up_costs(const core::Service& service, const std::optional<OwnMeasurement>& own_wake,
                            const std::optional<OwnMeasurement>& own_start,
                            const infra::state::StateStore& store, const std::string& gpu_uuid);

// Why a request could not be served. The endpoint maps these to HTTP statuses.
enum class DemandRefusal {
  queue_full,      // max_queue requests already wait for loads (429)
  too_many,        // the service's max_concurrent requests are in flight (429)
  no_fit,          // nothing can make it fit: the plan in the message (503)
  timeout,         // the deadline passed while it loaded or waited (504)
  failed,          // the change failed (start/wake/switch error) (503)
  cancelled,       // the client went away
};

struct DemandError {
  DemandRefusal refusal = DemandRefusal::failed;
  std::string message;
  std::chrono::seconds retry_after{1};  // for queue_full / too_many
};

class OnDemand;

// A request in flight on a service; releasing it (destruction) lets drains and idle timers go on.
class ServeLease {
 public:
  ServeLease() = default;
  ServeLease(OnDemand* owner, std::string service_id) : m_owner(owner), m_service(std::move(service_id)) {}
  ServeLease(ServeLease&& o) noexcept : m_owner(std::exchange(o.m_owner, nullptr)), m_service(std::move(o.m_service)) {}
  ServeLease& operator=(ServeLease&& o) noexcept;
  ServeLease(const ServeLease&) = delete;
  ServeLease& operator=(const ServeLease&) = delete;
  ~ServeLease();
  const std::string& service_id() const { return m_service; }

 private:
  OnDemand* m_owner = nullptr;
  std::string m_service;
};

// What acquire did before the lease was given (for the request log).
struct DemandOutcome {
  std::string action;           // "serve", "wake", "start", "switch_mode:<id>", "evict"
  std::string plan;
  std::chrono::milliseconds waited{0};
};

using ProgressFn = std::function<void(std::string_view message)>;

// Requests of one service at a moment (for /metrics): in flight on it, and waiting for a change.
struct DemandLoad {
  int in_flight = 0;
  int waiting = 0;
};

class OnDemand {
 public:
  using Clock = std::chrono::steady_clock;

  OnDemand(Engine& engine, core::ServeSettings settings);
  ~OnDemand();
  OnDemand(const OnDemand&) = delete;
  OnDemand& operator=(const OnDemand&) = delete;

  // A lease on `service_id` once it serves: at once when it does, else after the change the
  // choice makes (waiting in the bounded queue meanwhile). `progress` is told each stage (may be
  // null); `cancelled` is asked between stages (may be null).
  std::expected<ServeLease, DemandError> acquire(const std::string& service_id, Clock::time_point deadline,
                                                 const ProgressFn& progress,
                                                 const std::function<bool()>& cancelled,
                                                 DemandOutcome* outcome = nullptr);

  // A lease at once when the service serves (the fast path); nothing when a change or a wait is
  // needed (then call acquire); too_many over max_concurrent.
  std::expected<std::optional<ServeLease>, DemandError> try_acquire(const std::string& service_id);

  // The daemon stops: requests waiting for a change are answered (failed), the idle timer ends.
  void stop();

  // Something changed in the engine (an event): the cached "serves" marks are dropped, so the
  // next request asks the engine.
  void invalidate();
  // The upstream of `service_id` died under a request (502): drop its mark and let the health
  // monitor mark it failed and restart it per its policy now (on a short-lived thread).
  void upstream_failed(const std::string& service_id);

  // Requests in flight and waiting, by service (services that never had a request are absent).
  std::map<std::string, DemandLoad> load() const;

  // Changes made on demand so far (starts, wakes, mode switches; evictions not counted).
  std::int64_t swaps() const { return m_swaps.load(); }
  // The measured duration of the last start or wake of a service by this daemon (with the stored
  // ones, the choice's cost: bring_up_costs).
  std::optional<std::chrono::milliseconds> measured_cost(const std::string& service_id, bool wake) const;

 private:
  friend class ServeLease;
  struct Runtime {
    int in_flight = 0;
    int waiting = 0;
    bool serving = false;     // cached: it served when last seen; dropped on engine events
    bool draining = false;
    std::optional<Clock::time_point> loaded_at;
    std::optional<Clock::time_point> last_used;
  };

  void release(const std::string& service_id);
  std::expected<ServeLease, DemandError> change_for(const std::string& service_id, Clock::time_point deadline,
                                                    const ProgressFn& progress,
                                                    const std::function<bool()>& cancelled,
                                                    DemandOutcome* outcome);
  // With m_mutex held: a lease when the service serves (and is not draining).
  std::optional<ServeLease> lease_if_serving(const std::string& service_id, DemandOutcome* outcome);
  bool drain(const std::string& service_id, Clock::time_point deadline);
  void idle_loop();
  void note_cost(const std::string& service_id, bool wake, std::chrono::milliseconds took);

  Engine& m_engine;
  core::ServeSettings m_settings;
  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  std::map<std::string, Runtime> m_services;
  std::map<std::string, OwnMeasurement> m_wake_cost, m_start_cost;
  int m_waiting_total = 0;
  bool m_stopping = false;
  std::timed_mutex m_change;
  std::atomic<std::int64_t> m_swaps{0};
  std::atomic<bool> m_health_running{false};
  std::thread m_idle_thread;
};

}  // namespace gpumod::engine
