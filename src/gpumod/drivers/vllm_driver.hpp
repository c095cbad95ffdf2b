// The vLLM driver: `vllm serve MODEL` on loopback with explicit memory settings, readiness on
// /health + /v1/models, and sleep mode through the development endpoints (POST /sleep?level=N,
// POST /wake_up, GET /is_sleeping), which exist only with VLLM_SERVER_DEV_MODE=1 (W6). Every
// sleep and wake is confirmed through /is_sleeping; the level is the service's own (W5).
// Thread-safety: stateless.
#pragma once

#include "gpumod/drivers/driver.hpp"

namespace gpumod::drivers {

class VllmDriver final : public Driver {
 public:
  core::DriverKind kind() const override { return core::DriverKind::vllm; }
  util::Result<LaunchSpec> launch_spec(const core::Service& service,
                                       const LaunchOptions& options) const override;
  // /health, then /is_sleeping (vLLM answers /health 200 while asleep).
  Observation observe(const core::Service& service, DriverContext& ctx) const override;
  util::Status await_ready(const core::Service& service, DriverContext& ctx,
                           std::chrono::milliseconds timeout) const override;
  // level 0 = the service's sleep_mode (l1 -> 1, l2 -> 2). 404 from /sleep: dev mode is off.
  util::Status sleep(const core::Service& service, DriverContext& ctx, int level,
                     std::chrono::milliseconds timeout) const override;
  util::Status wake(const core::Service& service, DriverContext& ctx,
                    std::chrono::milliseconds timeout) const override;
};

// GET /is_sleeping -> the flag; failed on a non-200 answer or a body without "is_sleeping".
util::Result<bool> vllm_is_sleeping(DriverContext& ctx, std::chrono::milliseconds timeout);

}  // namespace gpumod::drivers
