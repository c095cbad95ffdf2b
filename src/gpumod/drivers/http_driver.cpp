#include "gpumod/drivers/http_driver.hpp"

#include "gpumod/drivers/common.hpp"
#include "gpumod/infra/http/client.hpp"

namespace gpumod::drivers {

using std::chrono::milliseconds;
using util::ErrorCode;
using P = Readiness::Probe;

util::Result<std::string> health_path_of(const core::Service& s) {
  const std::string& p = s.health_endpoint.empty() ? std::string("/health") : s.health_endpoint;
  if (p.front() != '/' || p.size() > 1024)
    return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': health_endpoint '" + p + "' must be a path starting with '/'");
  for (unsigned char c : p)
    if (c <= 0x20 || c == 0x7f)
      return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': health_endpoint holds a space or control character");
  return p;
}

util::Result<LaunchSpec> HttpDriver::launch_spec(const core::Service& s, const LaunchOptions&) const {
  if (s.command.empty() || s.command.front().empty())
    return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': the http driver needs `command` (the argv that starts the app)");
  auto health = health_path_of(s);
  if (!health) return std::unexpected(health.error());
  auto port = require_port(s);
  if (!port) return std::unexpected(port.error());
  LaunchSpec spec;
  spec.argv = s.command;
  auto extra = extra_args(s);
  if (!extra) return std::unexpected(extra.error());
  spec.argv.insert(spec.argv.end(), extra->begin(), extra->end());
  spec.env = s.env;
  return spec;
}

Observation HttpDriver::observe(const core::Service& s, DriverContext& ctx) const {
  Observation o;
  auto path = health_path_of(s);
  if (!path) {
    o.state = core::ServiceState::unknown;
    o.reason = path.error().message;
    return o;
  }
  auto h = ctx.http.get(*path, milliseconds(2000));
  if (!h) {
    o.state = ctx.alive() ? core::ServiceState::unhealthy : core::ServiceState::stopped;
    o.reason = ctx.alive() ? "the process runs but " + *path + " does not answer: " + h.error().message : "not running";
    return o;
  }
  o.reachable = true;
  if (h->status >= 200 && h->status < 300) {
    o.healthy = true;
    o.state = core::ServiceState::running;
    o.reason = "serving";
  } else {
    o.state = core::ServiceState::unhealthy;
    o.reason = *path + " answered " + std::to_string(h->status) + ": " + error_text(h->body);
  }
  return o;
}

util::Status HttpDriver::await_ready(const core::Service& s, DriverContext& ctx, milliseconds timeout) const {
  auto path = health_path_of(s);
  if (!path) return std::unexpected(path.error());
  return Readiness::wait("HTTP app " + describe(s) + " to answer " + *path, ctx, timeout, [&](milliseconds left) -> P {
    auto h = ctx.http.get(*path, call_timeout(left));
    if (!h) return P::not_yet(h.error().message);
    if (h->status >= 200 && h->status < 300) return P::ready();
    return P::not_yet(*path + " answered " + std::to_string(h->status) + ": " + error_text(h->body));
  });
}

}  // namespace gpumod::drivers
