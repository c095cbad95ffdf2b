// RestartTracker: the pure restart policy for one supervised service (W23). Fed with the exits and
// readiness of the service's process and the time of each event, it decides whether to restart
// (after an exponential backoff with jitter), to give up (restart budget exhausted, or a crash
// loop), or to leave the service stopped. No clock, no randomness of its own: both are injected.
// Thread-safety: not synchronised; one tracker per service, used by one thread (or under a lock).
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "gpumod/core/service.hpp"

namespace gpumod::core {

// Why the process ended, as the supervisor saw it.
enum class ExitKind {
  clean,         // exit code 0
  crashed,       // non-zero exit code, or killed by a signal gpumod did not send
  killed_by_us,  // gpumod stopped it (stop, mode switch, shutdown)
};

struct RestartSettings {
  RestartPolicy policy = RestartPolicy::on_failure;
  int max_restarts = 3;                                // budget within `window`
  std::chrono::seconds window{600};
  std::chrono::milliseconds backoff_base{1000};        // first delay
  double backoff_factor = 2.0;
  std::chrono::milliseconds backoff_cap{60000};        // hard maximum, jitter included
  double jitter_fraction = 0.2;                        // delay scaled by a factor in [1-j, 1+j)
  std::chrono::seconds stable_after{60};               // ready this long: the failure streak resets
  int crash_loop_exits = 2;                            // exits in a row before ever becoming ready

  // Settings from a service's restart, max_restarts and restart_window.
  static RestartSettings for_service(const Service& service);
};

enum class RestartAction { restart, give_up, leave_stopped };
std::string_view to_string(RestartAction action);

struct RestartDecision {
  RestartAction action = RestartAction::leave_stopped;
  std::chrono::milliseconds delay{0};  // for restart: wait this long first
  std::string reason;                  // for people: "crashed; restart 2 of 3 in 1.9 s", "crash loop: ..."
};

class RestartTracker {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using RandomSource = std::function<double()>;  // uniform in [0, 1)

  RestartTracker(RestartSettings settings, RandomSource random);

  // The process ended at `now`; was_ready tells whether it had become ready since it started.
  RestartDecision on_exit(TimePoint now, ExitKind kind, bool was_ready);

  // The process became ready at `now`. The failure streak (backoff) resets once it stays up for
  // stable_after; the crash-loop count resets at once.
  void on_ready(TimePoint now);

  // Forget all history (a person started the service again by hand).
  void reset();

  // Restarts counted against the budget at `now`.
  int restarts_in_window(TimePoint now) const;
  // Failures in a row that drive the backoff.
  int failure_streak() const { return m_failure_streak; }
  bool gave_up() const { return m_gave_up; }

  // The delay before the k-th restart of a streak (k >= 1), before jitter and cap.
  std::chrono::milliseconds base_delay(int k) const;

 private:
  void prune(TimePoint now);

  RestartSettings m_settings;
  RandomSource m_random;
  std::deque<TimePoint> m_restarts;          // times of restarts granted within the window
  int m_failure_streak = 0;
  int m_unready_exits = 0;                   // exits in a row before becoming ready
  std::optional<TimePoint> m_ready_since;
  bool m_gave_up = false;
};

}  // namespace gpumod::core
