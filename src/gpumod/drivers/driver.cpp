#include "gpumod/drivers/driver.hpp"

#include <algorithm>
#include <thread>

#include "gpumod/drivers/docker_driver.hpp"
#include "gpumod/drivers/http_driver.hpp"
#include "gpumod/drivers/llamacpp_driver.hpp"
#include "gpumod/drivers/vllm_driver.hpp"

namespace gpumod::drivers {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

util::Status Driver::sleep(const core::Service& service, DriverContext&, int,
                           milliseconds) const {
  return util::fail(util::ErrorCode::failed, "service '" + service.id + "': driver " +
                                                 std::string(core::to_string(kind())) +
                                                 " does not support sleep");
}

util::Status Driver::wake(const core::Service& service, DriverContext&, milliseconds) const {
  return util::fail(util::ErrorCode::failed, "service '" + service.id + "': driver " +
                                                 std::string(core::to_string(kind())) +
                                                 " does not support sleep (nothing to wake)");
}

std::unique_ptr<Driver> make_driver(core::DriverKind kind) {
  switch (kind) {
    case core::DriverKind::llamacpp: return std::make_unique<LlamaCppDriver>();
    case core::DriverKind::vllm: return std::make_unique<VllmDriver>();
    case core::DriverKind::http: return std::make_unique<HttpDriver>();
    case core::DriverKind::docker: return std::make_unique<DockerDriver>();
  }
  return nullptr;
}

milliseconds Backoff::next() {
  const auto now = m_next;
  const auto grown = milliseconds(static_cast<long long>(static_cast<double>(m_next.count()) * m_factor));
  m_next = std::min(std::max(grown, m_next + milliseconds(1)), m_max);
  return std::min(now, m_max);
}

void DriverContext::wait(milliseconds d) const {
  if (d <= milliseconds(0)) return;
  if (pause) {
    pause(d);
  } else {
    std::this_thread::sleep_for(d);
  }
}

std::string format_log_tail(const DriverContext& ctx, std::size_t n) {
  std::string out;
  for (const auto& line : ctx.tail(n)) out += "\n  log: " + line;
  return out;
}

util::Status Readiness::wait(std::string_view what, DriverContext& ctx, milliseconds timeout,
                             const std::function<Probe(milliseconds)>& probe, Backoff backoff) {
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  std::string last = "no answer yet";
  const auto exited = [&] {
    return util::fail(util::ErrorCode::failed, "waiting for " + std::string(what) +
                                                   ": the process exited (last seen: " + last + ")" +
                                                   format_log_tail(ctx));
  };
  const auto timed_out = [&] {
    const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    return util::fail(util::ErrorCode::timeout,
                      "waiting for " + std::string(what) + ": gave up after " +
                          std::to_string(waited.count()) + " ms (last seen: " + last + ")" +
                          format_log_tail(ctx));
  };
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    Probe p = probe(std::max(left, milliseconds(1)));
    if (p.kind == Probe::Kind::ready) return {};
    if (p.kind == Probe::Kind::failed)
      return util::fail(p.code, "waiting for " + std::string(what) + ": " + p.detail +
                                    format_log_tail(ctx));
    if (!p.detail.empty()) last = std::move(p.detail);
    // Checked after the probe, so that a server that answered and then exited is seen as exited.
    if (!ctx.alive()) return exited();
    const auto now = Clock::now();
    if (now >= deadline) return timed_out();
    const auto remaining = std::chrono::duration_cast<milliseconds>(deadline - now);
    // No probe is started with almost no time left: it could only time out ("no response within
    // 1 ms") and hide the last real observation (a 503, a wrong body) from the message. So when
    // less than k_min_probe would remain after the pause, wait out the deadline instead.
    constexpr milliseconds k_min_probe{50};
    const auto pause = std::min(backoff.next(), remaining);
    if (remaining - pause < k_min_probe) {
      std::this_thread::sleep_until(deadline);
      return ctx.alive() ? timed_out() : exited();
    }
    ctx.wait(pause);
  }
}

}  // namespace gpumod::drivers
