// The Docker driver: a service runs as the container `gpumod-<id>`, created and started through
// the Docker Engine API (HTTP over /var/run/docker.sock), never through a shell or the CLI.
// start() is idempotent (running: nothing to do; stopped: start; missing: create, then start),
// never pulls (a missing image is a clear error naming `docker pull`), requests GPUs through
// DeviceRequests, validates image, volumes (absolute host paths under $HOME or /tmp), env and
// ports (bound to 127.0.0.1 only). Container states map to ServiceState incl. paused/dead (W29).
// unit_vars: image (required), volumes (JSON list "host:container[:ro|rw]"), container_port,
// ports (JSON list "host:container"), mem_limit (bytes, or with k/m/g), gpus ("none" = no GPU).
// Thread-safety: stateless apart from the client factory, which must be callable concurrently.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "gpumod/drivers/driver.hpp"

namespace gpumod::drivers {

class DockerDriver final : public Driver {
 public:
  using ClientFactory = std::function<std::unique_ptr<infra::http::HttpClient>()>;
  DockerDriver();  // the Docker Engine API at /var/run/docker.sock
  explicit DockerDriver(ClientFactory docker_api);

  core::DriverKind kind() const override { return core::DriverKind::docker; }
  // Containers are not processes of ours: always failed (use start()).
  util::Result<LaunchSpec> launch_spec(const core::Service& service,
                                       const LaunchOptions& options) const override;
  // Container state from the Engine API; a running container's health from ctx.http.
  Observation observe(const core::Service& service, DriverContext& ctx) const override;
  // Waits for the container to run and its health endpoint to answer 2xx; fails at once when
  // the container exits or dies.
  util::Status await_ready(const core::Service& service, DriverContext& ctx,
                           std::chrono::milliseconds timeout) const override;

  util::Status start(const core::Service& service, std::chrono::milliseconds timeout) const;
  // Stops (SIGTERM, then SIGKILL after service.stop_timeout) and removes the container.
  // A missing container is fine.
  util::Status stop(const core::Service& service, std::chrono::milliseconds timeout) const;

 private:
  ClientFactory m_api;
};

std::string container_name(const core::Service& service);  // "gpumod-<id>"

// The body of POST /containers/create, validated.
util::Result<std::string> docker_create_body(const core::Service& service);

// Percent-encoding for a query value (RFC 3986 unreserved characters kept).
std::string url_encode(std::string_view text);

util::Status validate_docker_image(std::string_view image);
// "host:container[:ro|rw]"; the host path, normalised (symlinks resolved where they exist),
// must be absolute and under $HOME or /tmp.
util::Status validate_docker_volume(std::string_view spec);
util::Status validate_docker_env(std::string_view key, std::string_view value);

}  // namespace gpumod::drivers
