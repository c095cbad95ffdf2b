#include "gpumod/core/service.hpp"

namespace gpumod::core {

std::string_view to_string(DriverKind kind) {
  switch (kind) {
    case DriverKind::llamacpp: return "llamacpp";
    case DriverKind::vllm: return "vllm";
    case DriverKind::http: return "http";
    case DriverKind::docker: return "docker";
  }
  return "llamacpp";
}

std::string_view to_string(SleepMode mode) {
  switch (mode) {
    case SleepMode::none: return "none";
    case SleepMode::l1: return "l1";
    case SleepMode::l2: return "l2";
    case SleepMode::router: return "router";
  }
  return "none";
}

std::string_view to_string(SupervisorKind kind) {
  return kind == SupervisorKind::systemd ? "systemd" : "process";
}

std::string_view to_string(ServiceState state) {
  switch (state) {
    case ServiceState::stopped: return "stopped";
    case ServiceState::starting: return "starting";
    case ServiceState::running: return "running";
    case ServiceState::loading: return "loading";
    case ServiceState::sleeping: return "sleeping";
    case ServiceState::unhealthy: return "unhealthy";
    case ServiceState::failed: return "failed";
    case ServiceState::unknown: return "unknown";
  }
  return "unknown";
}

std::optional<DriverKind> parse_driver_kind(std::string_view text) {
  if (text == "llamacpp") return DriverKind::llamacpp;
  if (text == "vllm") return DriverKind::vllm;
  if (text == "http" || text == "fastapi") return DriverKind::http;
  if (text == "docker") return DriverKind::docker;
  return std::nullopt;
}

std::optional<SleepMode> parse_sleep_mode(std::string_view text) {
  if (text == "none") return SleepMode::none;
  if (text == "l1") return SleepMode::l1;
  if (text == "l2") return SleepMode::l2;
  if (text == "router") return SleepMode::router;
  return std::nullopt;
}

std::optional<SupervisorKind> parse_supervisor_kind(std::string_view text) {
  if (text == "process") return SupervisorKind::process;
  if (text == "systemd") return SupervisorKind::systemd;
  return std::nullopt;
}

std::string_view to_string(RestartPolicy policy) {
  switch (policy) {
    case RestartPolicy::never: return "no";
    case RestartPolicy::on_failure: return "on-failure";
    case RestartPolicy::always: return "always";
  }
  return "no";
}

std::optional<RestartPolicy> parse_restart_policy(std::string_view text) {
  if (text == "no" || text == "never") return RestartPolicy::never;
  if (text == "on-failure") return RestartPolicy::on_failure;
  if (text == "always") return RestartPolicy::always;
  return std::nullopt;
}

std::string SourceLocation::to_string() const {
  std::string out = file.empty() ? "<unknown>" : file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  return out;
}

bool Service::can_sleep() const {
  return sleep_mode != SleepMode::none &&
         (driver == DriverKind::llamacpp || driver == DriverKind::vllm);
}

std::optional<std::string> Service::var(std::string_view key) const {
  const auto it = unit_vars.find(std::string(key));
  if (it == unit_vars.end()) return std::nullopt;
  return it->second;
}

}  // namespace gpumod::core

namespace gpumod::core {

std::string_view to_string(OnDemandPolicy policy) {
  switch (policy) {
    case OnDemandPolicy::mode: return "mode";
    case OnDemandPolicy::evict: return "evict";
    case OnDemandPolicy::never: return "never";
  }
  return "mode";
}

std::optional<OnDemandPolicy> parse_on_demand_policy(std::string_view text) {
  if (text == "mode") return OnDemandPolicy::mode;
  if (text == "evict") return OnDemandPolicy::evict;
  if (text == "never") return OnDemandPolicy::never;
  return std::nullopt;
}

}  // namespace gpumod::core
