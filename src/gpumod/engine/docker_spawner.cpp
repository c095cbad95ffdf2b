#include "gpumod/engine/docker_spawner.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "gpumod/infra/http/client.hpp"
#include "gpumod/infra/process/identity.hpp"
#include "gpumod/util/fd.hpp"

namespace gpumod::engine {

using infra::process::ExitInfo;
using infra::process::ProcessIdentity;
using std::chrono::milliseconds;
using util::ErrorCode;
using json = nlohmann::json;

namespace {

bool running_status(const std::string& status) {
  return status == "running" || status == "restarting" || status == "paused";
}

void append_line(const std::filesystem::path& file, const std::string& line) {
  if (file.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  util::Fd fd(::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (fd.get() < 0) return;
  const std::string text = line + "\n";
  (void)!::write(fd.get(), text.data(), text.size());
}

}  // namespace

DockerSpawner::DockerSpawner(const core::Service& service, drivers::DockerDriver::ClientFactory api,
                             DockerSpawnerSettings settings)
    : m_service(service),
      m_api(api),
      m_driver(std::move(api)),
      m_settings(std::move(settings)),
      m_name(drivers::container_name(service)) {}

util::Error DockerSpawner::explain(util::Error error) const {
  if (error.code != ErrorCode::unavailable) return error;
  std::string why;
  const auto& sock = m_settings.socket;
  if (!sock.empty()) {
    struct stat st{};
    if (::stat(sock.c_str(), &st) != 0) {
      why = "the Docker socket " + sock.string() + " does not exist (" + std::strerror(errno) + ")";
    } else if (!S_ISSOCK(st.st_mode)) {
      why = sock.string() + " is not a socket";
    } else if (::access(sock.c_str(), R_OK | W_OK) != 0) {
      why = "permission denied on the Docker socket " + sock.string() +
            " (add this user to the `docker` group, or run rootless Docker)";
    }
  }
  error.message = "the Docker Engine API does not answer: " + error.message + (why.empty() ? "" : "; " + why) +
                  "; is the Docker daemon running, and may this user use " +
                  (sock.empty() ? std::string(k_docker_socket) : sock.string()) + "?";
  return error;
}

util::Result<DockerSpawner::ContainerInfo> DockerSpawner::inspect() const {
  auto api = m_api ? m_api() : nullptr;
  if (!api) return util::fail(ErrorCode::unavailable, "no Docker API client");
  auto r = api->get("/containers/" + m_name + "/json", m_settings.api_timeout);
  if (!r) return std::unexpected(explain(util::with_context(r.error(), "inspecting container " + m_name)));
  ContainerInfo info;
  if (r->status == 404) return info;
  if (r->status != 200) {
    return util::fail(ErrorCode::failed, "inspecting container " + m_name + " via " + api->describe() +
                                             ": the Docker API answered " + std::to_string(r->status) + ": " +
                                             r->body.substr(0, 300));
  }
  const auto j = json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("State") || !j["State"].is_object()) {
    return util::fail(ErrorCode::corrupt, "inspecting container " + m_name + ": the Docker API answered malformed JSON");
  }
  const auto& s = j["State"];
  info.exists = true;
  if (s.contains("Status") && s["Status"].is_string()) info.status = s["Status"].get<std::string>();
  if (s.contains("Pid") && s["Pid"].is_number_integer()) info.pid = s["Pid"].get<int>();
  if (s.contains("ExitCode") && s["ExitCode"].is_number_integer()) info.exit_code = s["ExitCode"].get<int>();
  return info;
}

util::Result<ProcessIdentity> DockerSpawner::spawn(const infra::process::SpawnSpec& spec) {
  if (auto st = m_driver.start(m_service, m_settings.api_timeout); !st) return std::unexpected(explain(st.error()));
  auto info = inspect();
  if (!info) return std::unexpected(info.error());
  const std::string logs_hint = "; see `docker logs " + m_name + "`";
  if (!info->exists) return util::fail(ErrorCode::failed, "container " + m_name + " vanished right after its start");
  if (!running_status(info->status) || info->pid <= 0) {
    return util::fail(ErrorCode::failed, "container " + m_name + " is " + info->status +
                                             " right after its start (exit code " + std::to_string(info->exit_code) +
                                             ")" + logs_hint);
  }
  auto id = infra::process::identify(info->pid);
  if (!id) {
    return util::fail(ErrorCode::not_found, "container " + m_name + ": its main process (pid " +
                                                std::to_string(info->pid) + ") is not visible here: " +
                                                id.error().message + logs_hint);
  }
  append_line(spec.log_file, "gpumod: container " + m_name + " runs (image " + m_service.var("image").value_or("?") +
                                 ", main pid " + std::to_string(id->pid) + "); its output: docker logs " + m_name);
  return *id;
}

bool DockerSpawner::alive(const ProcessIdentity& identity) {
  return infra::process::is_same_process_alive(identity);
}

util::Result<ExitInfo> DockerSpawner::stop(const ProcessIdentity& identity, milliseconds grace) {
  auto info = inspect();
  if (!info) {
    if (!infra::process::is_same_process_alive(identity)) return ExitInfo{};
    return std::unexpected(util::with_context(info.error(), "stopping container " + m_name));
  }
  const bool ours = info->exists && identity.pid > 0 && info->pid == identity.pid;
  if (!ours) {
    if (infra::process::is_same_process_alive(identity)) {
      return util::fail(ErrorCode::failed,
                        "process " + std::to_string(identity.pid) + " is not the main process of container " + m_name +
                            (info->exists ? " (its pid is " + std::to_string(info->pid) + ", " + info->status + ")"
                                          : " (no such container)") +
                            "; not stopping it");
    }
    // The process is gone. A container left behind that no longer runs is removed (the next
    // start then applies the current preset); a running one is someone else's run.
    if (info->exists && !running_status(info->status)) {
      ExitInfo e;
      e.exited = true;
      e.exit_code = info->exit_code;
      e.known = true;
      core::Service copy = m_service;
      copy.stop_timeout = std::chrono::seconds(0);
      (void)m_driver.stop(copy, m_settings.api_timeout);
      return e;
    }
    return ExitInfo{};
  }
  core::Service copy = m_service;
  copy.stop_timeout = std::chrono::ceil<std::chrono::seconds>(std::max(grace, milliseconds(0)));
  if (auto st = m_driver.stop(copy, m_settings.api_timeout); !st) {
    if (infra::process::is_same_process_alive(identity)) return std::unexpected(explain(st.error()));
  }
  if (!m_waiter.wait_exit(identity, m_settings.exit_confirm)) {
    return util::fail(ErrorCode::timeout, "container " + m_name + ": its main process " + std::to_string(identity.pid) +
                                              " is still present " + std::to_string(m_settings.exit_confirm.count()) +
                                              " ms after Docker stopped it");
  }
  return ExitInfo{};
}

std::optional<ExitInfo> DockerSpawner::wait_exit(const ProcessIdentity& identity, milliseconds timeout) {
  if (!m_waiter.wait_exit(identity, timeout)) return std::nullopt;
  auto info = inspect();
  if (info && info->exists && (info->status == "exited" || info->status == "dead")) {
    ExitInfo e;
    e.exited = true;
    e.exit_code = info->exit_code;
    e.known = true;
    return e;
  }
  return ExitInfo{};
}

util::Result<std::filesystem::path> docker_socket_from_host(std::string_view docker_host) {
  if (docker_host.empty()) return std::filesystem::path(k_docker_socket);
  constexpr std::string_view k_unix = "unix://";
  if (docker_host.starts_with(k_unix)) {
    const std::filesystem::path p(std::string(docker_host.substr(k_unix.size())));
    if (p.is_absolute() && p.has_filename()) return p;
  }
  return util::fail(util::ErrorCode::invalid_argument,
                    "DOCKER_HOST=" + std::string(docker_host) +
                        ": gpumod reaches Docker over its Unix socket only (unix:///path/to/docker.sock)");
}

}  // namespace gpumod::engine
