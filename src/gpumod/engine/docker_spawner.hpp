// DockerSpawner: the process supervision of one `driver: docker` service, so that the engine runs
// a container exactly as it runs a process (ProcessSpawner semantics):
//   spawn      DockerDriver::start (inspect; create + start `gpumod-<id>`, never a pull; a running
//              container is taken as it is), then GET /containers/<name>/json for State.Pid and
//              returns that pid's ProcessIdentity (pid + start time from /proc). The pid is the
//              container's main process (docker-init) as the host sees it, so the engine maps
//              GPU processes (nvidia-smi shows host pids) to the service through the process tree.
//              SpawnSpec::argv and env are not used (the container is built from the service);
//              a line saying where the container's output is goes to SpawnSpec::log_file.
//   alive      the pid + start-time check (no Docker API call per probe).
//   stop       when the container's State.Pid is the identity's pid (also for an identity adopted
//              after a daemon restart: the container is found by the service's name), DockerDriver
//              ::stop (SIGTERM, SIGKILL after the grace, remove), then waits for the pid to be gone.
//              A container that no longer runs that pid is left alone (only removed when it is not
//              running); stopping what is already gone succeeds.
//   wait_exit  waits on a pidfd for the pid; the exit code comes from the container when Docker
//              still has it.
// Errors say what and where; when the Docker API cannot be reached the message asks whether the
// Docker daemon runs and whether this user may use its socket (and, for a socket path, whether it
// exists and is writable).
// Thread-safety: all methods may be called from several threads at once (no mutable state apart
// from the pidfd waiter, which is thread-safe); the ClientFactory must be callable concurrently.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>

#include "gpumod/core/service.hpp"
#include "gpumod/drivers/docker_driver.hpp"
#include "gpumod/infra/process/spawner.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::engine {

inline constexpr const char* k_docker_socket = "/var/run/docker.sock";

// The Docker Engine API socket from DOCKER_HOST as the docker CLI reads it: "" -> the default
// socket; "unix:///abs/path" -> that path. Anything else (tcp://, ssh://, a relative path) is
// invalid_argument: gpumod talks to Docker over its Unix socket only.
util::Result<std::filesystem::path> docker_socket_from_host(std::string_view docker_host);

struct DockerSpawnerSettings {
  // The socket the API factory connects to, for error messages (missing / not writable); empty
  // when the API is reached otherwise (a TCP test server).
  std::filesystem::path socket;
  std::chrono::milliseconds api_timeout{30000};        // create + start, inspect
  std::chrono::milliseconds exit_confirm{5000};        // after the stop call: the pid must be gone
};

class DockerSpawner final : public infra::process::ProcessSpawner {
 public:
  // `service` must outlive the spawner (the engine's configuration does).
  DockerSpawner(const core::Service& service, drivers::DockerDriver::ClientFactory api,
                DockerSpawnerSettings settings = {});
  DockerSpawner(const DockerSpawner&) = delete;
  DockerSpawner& operator=(const DockerSpawner&) = delete;

  // Errors: those of DockerDriver::start (invalid_argument for a bad preset, not_found for a
  // missing image, conflict, failed), unavailable (the Docker API does not answer), failed (the
  // container does not run after the start: its exit code and `docker logs` hint), not_found
  // (its main process vanished at once).
  util::Result<infra::process::ProcessIdentity> spawn(const infra::process::SpawnSpec& spec) override;
  bool alive(const infra::process::ProcessIdentity& identity) override;
  // Errors: failed (the identity is alive but is not this container's main process; the Docker
  // API refused), unavailable, timeout (the pid is still there after the stop).
  util::Result<infra::process::ExitInfo> stop(const infra::process::ProcessIdentity& identity,
                                              std::chrono::milliseconds grace) override;
  std::optional<infra::process::ExitInfo> wait_exit(const infra::process::ProcessIdentity& identity,
                                                    std::chrono::milliseconds timeout) override;

  // What the Docker API reports for the container now (exists, status, main pid).
  struct ContainerInfo {
    bool exists = false;
    std::string status;  // created, running, paused, restarting, removing, exited, dead
    int pid = 0;         // State.Pid (0 when not running)
    int exit_code = 0;
  };
  util::Result<ContainerInfo> inspect() const;

  const std::string& container() const { return m_name; }

 private:
  util::Error explain(util::Error error) const;  // adds the "is the daemon running" hint

  const core::Service& m_service;
  drivers::DockerDriver::ClientFactory m_api;
  drivers::DockerDriver m_driver;
  DockerSpawnerSettings m_settings;
  std::string m_name;
  infra::process::LinuxProcessSpawner m_waiter;  // pidfd waits for non-children
};

}  // namespace gpumod::engine
