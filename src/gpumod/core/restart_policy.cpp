#include "gpumod/core/restart_policy.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace gpumod::core {

RestartSettings RestartSettings::for_service(const Service& service) {
  RestartSettings s;
  s.policy = service.restart;
  s.max_restarts = service.max_restarts;
  s.window = service.restart_window;
  return s;
}

std::string_view to_string(RestartAction action) {
  switch (action) {
    case RestartAction::restart: return "restart";
    case RestartAction::give_up: return "give-up";
    case RestartAction::leave_stopped: return "leave-stopped";
  }
  return "?";
}

RestartTracker::RestartTracker(RestartSettings settings, RandomSource random)
    : m_settings(settings), m_random(std::move(random)) {
  if (!m_random) m_random = [] { return 0.5; };
}

void RestartTracker::reset() {
  m_restarts.clear();
  m_failure_streak = 0;
  m_unready_exits = 0;
  m_ready_since.reset();
  m_gave_up = false;
}

void RestartTracker::prune(TimePoint now) {
  while (!m_restarts.empty() && now - m_restarts.front() >= m_settings.window) m_restarts.pop_front();
}

int RestartTracker::restarts_in_window(TimePoint now) const {
  return static_cast<int>(std::count_if(m_restarts.begin(), m_restarts.end(),
                                        [&](TimePoint t) { return now - t < m_settings.window; }));
}

std::chrono::milliseconds RestartTracker::base_delay(int k) const {
  double ms = static_cast<double>(m_settings.backoff_base.count()) *
              std::pow(m_settings.backoff_factor, static_cast<double>(std::max(k, 1) - 1));
  double cap = static_cast<double>(m_settings.backoff_cap.count());
  return std::chrono::milliseconds(static_cast<long long>(std::min(ms, cap)));
}

void RestartTracker::on_ready(TimePoint now) {
  m_ready_since = now;
  m_unready_exits = 0;
}

RestartDecision RestartTracker::on_exit(TimePoint now, ExitKind kind, bool was_ready) {
  RestartDecision d;
  const auto ready_since = m_ready_since;
  m_ready_since.reset();

  if (kind == ExitKind::killed_by_us) {
    d.reason = "stopped by gpumod";
    return d;
  }
  const bool failure = kind == ExitKind::crashed;
  const std::string what = failure ? "crashed" : "exited cleanly";
  if (m_settings.policy == RestartPolicy::never ||
      (m_settings.policy == RestartPolicy::on_failure && !failure)) {
    d.reason = fmt::format("{}; restart policy {}", what, to_string(m_settings.policy));
    return d;
  }

  // A stable run ends the streak; an exit before readiness extends the crash-loop count.
  if (was_ready && ready_since && now - *ready_since >= m_settings.stable_after) m_failure_streak = 0;
  if (was_ready) {
    m_unready_exits = 0;
  } else {
    ++m_unready_exits;
  }
  if (m_unready_exits >= m_settings.crash_loop_exits) {
    m_gave_up = true;
    d.action = RestartAction::give_up;
    d.reason = fmt::format("crash loop: {} exits in a row before becoming ready", m_unready_exits);
    return d;
  }

  prune(now);
  if (static_cast<int>(m_restarts.size()) >= m_settings.max_restarts) {
    m_gave_up = true;
    d.action = RestartAction::give_up;
    d.reason = fmt::format("{}; restart budget exhausted ({} restarts within {} s)", what, m_restarts.size(),
                           m_settings.window.count());
    return d;
  }

  ++m_failure_streak;
  m_restarts.push_back(now);
  double r = std::clamp(m_random(), 0.0, 1.0);
  double factor = 1.0 + m_settings.jitter_fraction * (2.0 * r - 1.0);
  double ms = static_cast<double>(base_delay(m_failure_streak).count()) * factor;
  ms = std::clamp(ms, 0.0, static_cast<double>(m_settings.backoff_cap.count()));
  d.action = RestartAction::restart;
  d.delay = std::chrono::milliseconds(static_cast<long long>(ms));
  d.reason = fmt::format("{}; restart {} of {} in {:.1f} s", what, m_restarts.size(), m_settings.max_restarts,
                         static_cast<double>(d.delay.count()) / 1000.0);
  return d;
}

}  // namespace gpumod::core
