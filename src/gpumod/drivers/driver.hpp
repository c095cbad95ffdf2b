// Driver: how gpumod launches, observes, readies, sleeps and wakes one kind of inference server
// (llama-server, vLLM, a plain HTTP app, a Docker container) over its public HTTP API.
// Drivers never spawn processes: launch_spec() says what to run and the engine runs it; the
// engine hands the driver a DriverContext with an HTTP client for the service's port and its own
// view of the process (alive or not, and the log tail).
// Also here: Backoff (fast growing poll delays) and Readiness (poll a probe until ready, with
// crash detection through process_alive and the log tail in every error).
// Thread-safety: drivers hold no mutable state; one driver may serve several threads at once,
// each with its own DriverContext. DriverContext itself is used by one thread at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumod/core/service.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::http {
class HttpClient;
}

namespace gpumod::drivers {

// What the engine runs for a service: an argv (never a shell) and extra environment variables.
struct LaunchSpec {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
};

// Binaries and the bind address; unit_vars `llamacpp_bin` / `vllm_bin` override the binaries.
struct LaunchOptions {
  std::string llama_server_bin = "llama-server";
  std::string vllm_bin = "vllm";
  std::string host = "127.0.0.1";  // must be a loopback address
};

// One model as a server reports it (llama-server router /models).
struct ModelStatus {
  std::string id;
  std::string value;  // unloaded | loading | loaded | sleeping | downloading | ...
  bool failed = false;
  std::optional<int> exit_code;
};

// What one look at a service found. Health (the server answers) and model presence are separate
// facts (W9): a healthy router with its model unloaded is reachable+healthy and state sleeping.
struct Observation {
  bool reachable = false;  // the HTTP server answered at all
  bool healthy = false;    // the health endpoint answered 200
  bool sleeping = false;
  std::vector<ModelStatus> models;
  core::ServiceState state = core::ServiceState::stopped;
  std::string reason;  // why that state, for people
};

struct DriverContext {
  infra::http::HttpClient& http;  // the service's own HTTP endpoint (loopback, its port)
  // The supervisor's view; false = the process exited. Empty = unknown (treated as alive).
  std::function<bool()> process_alive;
  // The last n lines of the service's log (errors, child-exit detection). May be empty.
  std::function<std::vector<std::string>(std::size_t n)> log_tail;

  // Waits up to d, returning early when the service shows activity (its log grew), so that a
  // readiness probe runs right after a server prints "listening" instead of at the next poll.
  // Empty = a plain sleep.
  std::function<void(std::chrono::milliseconds d)> pause;

  bool alive() const { return !process_alive || process_alive(); }
  void wait(std::chrono::milliseconds d) const;
  std::vector<std::string> tail(std::size_t n) const {
    return log_tail ? log_tail(n) : std::vector<std::string>{};
  }
};

class Driver {
 public:
  virtual ~Driver() = default;
  virtual core::DriverKind kind() const = 0;
  // The argv and environment that start the service (invalid_argument on a bad preset).
  virtual util::Result<LaunchSpec> launch_spec(const core::Service& service,
                                               const LaunchOptions& options) const = 0;
  // One look at the service; never fails (an unreachable server is an observation).
  virtual Observation observe(const core::Service& service, DriverContext& ctx) const = 0;
  // Waits until the service serves; fails at once when the process exits.
  virtual util::Status await_ready(const core::Service& service, DriverContext& ctx,
                                   std::chrono::milliseconds timeout) const = 0;
  // Sleeps at `level` (1 or 2; 0 = the service's own sleep_mode) and confirms it.
  virtual util::Status sleep(const core::Service& service, DriverContext& ctx, int level,
                             std::chrono::milliseconds timeout) const;
  // Wakes and confirms it.
  virtual util::Status wake(const core::Service& service, DriverContext& ctx,
                            std::chrono::milliseconds timeout) const;
};

std::unique_ptr<Driver> make_driver(core::DriverKind kind);

// Poll delays: starts at `initial`, grows by `factor` per step, capped at `max`. The cap is what
// readiness costs on top of a server's own start (half of it on average): 20 ms keeps gpumod's
// overhead near 10 ms (bench/runtime), and a GET /health every 20 ms to a loopback server that is
// still loading costs it nothing measurable. Where the engine can watch the service's log
// (DriverContext::pause), a pause also ends as soon as the server writes a line.
class Backoff {
 public:
  explicit Backoff(std::chrono::milliseconds initial = std::chrono::milliseconds(5),
                   double factor = 1.5, std::chrono::milliseconds max = std::chrono::milliseconds(20))
      : m_next(initial), m_factor(factor), m_max(max) {}
  // The delay to wait now; the following one is longer.
  std::chrono::milliseconds next();

 private:
  std::chrono::milliseconds m_next;
  double m_factor;
  std::chrono::milliseconds m_max;
};

// Waits for a condition checked by a probe, with Backoff delays (never a fixed 1 s poll).
class Readiness {
 public:
  struct Probe {
    enum class Kind { not_yet, ready, failed };
    Kind kind = Kind::not_yet;
    std::string detail;  // what was seen (the last one goes into a timeout message)
    util::ErrorCode code = util::ErrorCode::failed;  // for Kind::failed
    static Probe ready() { return {Kind::ready, {}, util::ErrorCode::failed}; }
    static Probe not_yet(std::string detail) { return {Kind::not_yet, std::move(detail), util::ErrorCode::failed}; }
    static Probe failed(std::string detail, util::ErrorCode code = util::ErrorCode::failed) {
      return {Kind::failed, std::move(detail), code};
    }
  };

  // Calls `probe` until it is ready (success), failed (that error), the process exits (failed,
  // at the first check after the exit) or `timeout` passes (timeout). `what` names the wait
  // ("llama-server 'chat' on port 7070 to answer /health"); errors carry the last detail and the
  // last lines of the log. The probe gets the time left (to bound its own HTTP calls).
  static util::Status wait(std::string_view what, DriverContext& ctx,
                           std::chrono::milliseconds timeout,
                           const std::function<Probe(std::chrono::milliseconds left)>& probe,
                           Backoff backoff = Backoff());
};

// "\n  log: <line>\n  log: <line>" for the last n log lines, or "" when there are none.
std::string format_log_tail(const DriverContext& ctx, std::size_t n = 20);

}  // namespace gpumod::drivers
