// The HTTP-app driver (the predecessor's "fastapi"): any server started from an explicit
// `command` argv, observed and readied through its own health_endpoint (W30).
// Thread-safety: stateless.
#pragma once

#include "gpumod/drivers/driver.hpp"

namespace gpumod::drivers {

class HttpDriver final : public Driver {
 public:
  core::DriverKind kind() const override { return core::DriverKind::http; }
  // argv = service.command (required), env = service.env.
  util::Result<LaunchSpec> launch_spec(const core::Service& service,
                                       const LaunchOptions& options) const override;
  Observation observe(const core::Service& service, DriverContext& ctx) const override;
  util::Status await_ready(const core::Service& service, DriverContext& ctx,
                           std::chrono::milliseconds timeout) const override;
};

// The service's health path, validated (starts with '/', no spaces or control characters).
util::Result<std::string> health_path_of(const core::Service& service);

}  // namespace gpumod::drivers
