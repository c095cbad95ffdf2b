#include "gpumod/engine/docker_spawner.hpp"

#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gpumod/infra/http/client.hpp"
#include "gpumod/infra/process/identity.hpp"
#include "support/child_process.hpp"
#include "support/fake_docker.hpp"
#include "support/temp_dir.hpp"
#include "support/free_port.hpp"

namespace gpumod::engine {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using infra::process::ProcessIdentity;
using util::ErrorCode;

constexpr const char* k_image = "gpumod-test/mock-http:1";

using test_support::TempDir;

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

core::Service docker_service(const std::string& id, int port, const fs::path& ledger) {
  core::Service s;
  s.id = id;
  s.name = id;
  s.driver = core::DriverKind::docker;
  s.port = port;
  s.vram_mib = 1500;
  s.stop_timeout = 5s;
  s.startup_timeout = 10s;
  s.unit_vars = {{"image", k_image}};
  s.env = {{"GPUMOD_MOCK_VRAM_MIB", "1500"}, {"GPUMOD_MOCK_LEDGER_DIR", ledger.string()}};
  return s;
}

struct Fixture {
  TempDir tmp;
  test_support::FakeDocker docker{tmp.path() / "docker"};
  core::Service service = docker_service("svc", test_support::free_loopback_port(), tmp.path() / "ledger");

  Fixture() {
    docker.add_image(k_image, {GPUMOD_MOCK_SERVER_BIN, "--mock-flavor", "http", "--host", "127.0.0.1", "--port", "{port}"});
  }
  DockerSpawnerSettings settings() const {
    DockerSpawnerSettings s;
    s.api_timeout = 5s;
    return s;
  }
  infra::process::SpawnSpec spec() const {
    infra::process::SpawnSpec sp;
    sp.log_file = tmp.path() / "logs" / "svc.log";
    return sp;
  }
};

TEST(DockerSpawner, SpawnGivesTheLiveIdentityOfTheContainersMainProcess) {
  Fixture f;
  DockerSpawner sp(f.service, f.docker.client_factory(), f.settings());
  auto id = sp.spawn(f.spec());
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->pid, f.docker.container_pid("gpumod-svc"));
  EXPECT_EQ(id->start_time_ticks, infra::process::process_start_time(id->pid).value_or(0));
  EXPECT_TRUE(sp.alive(*id));
  EXPECT_EQ(f.docker.container_status("gpumod-svc"), "running");
  // The container really runs the image with the service's settings.
  EXPECT_TRUE(test_support::wait_for_port(*f.service.port, 5s));
  const auto body = nlohmann::json::parse(f.docker.create_body("gpumod-svc"));
  EXPECT_EQ(body["Image"], k_image);
  EXPECT_EQ(body["Labels"]["gpumod.service"], "svc");
  EXPECT_NE(read_file(f.spec().log_file).find("docker logs gpumod-svc"), std::string::npos);

  // Spawning again takes the running container as it is (no second create, same process).
  auto again = sp.spawn(f.spec());
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, *id);
  EXPECT_EQ(f.docker.requests("POST /containers/create"), 1);
  ASSERT_TRUE(sp.stop(*id, 2s));
}

TEST(DockerSpawner, AliveIsFalseOnceTheProcessDiesAndWaitExitReportsTheContainersExitCode) {
  Fixture f;
  DockerSpawner sp(f.service, f.docker.client_factory(), f.settings());
  auto id = sp.spawn(f.spec());
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_FALSE(sp.wait_exit(*id, 10ms).has_value());  // still runs
  ASSERT_EQ(::kill(id->pid, SIGKILL), 0);             // the container's process crashes
  EXPECT_TRUE(test_support::wait_until([&] { return !sp.alive(*id); }, 5s));
  auto exit = sp.wait_exit(*id, 5s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->known);
  EXPECT_EQ(exit->exit_code, 128 + SIGKILL);
  // Stopping what is gone succeeds and removes the exited container.
  auto st = sp.stop(*id, 1s);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_FALSE(f.docker.container_exists("gpumod-svc"));
}

TEST(DockerSpawner, StopEndsTheProcessRemovesTheContainerAndIsIdempotent) {
  Fixture f;
  DockerSpawner sp(f.service, f.docker.client_factory(), f.settings());
  auto id = sp.spawn(f.spec());
  ASSERT_TRUE(id) << id.error().message;
  auto st = sp.stop(*id, 2s);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_FALSE(sp.alive(*id));
  EXPECT_FALSE(infra::process::is_same_process_present(*id));
  EXPECT_FALSE(f.docker.container_exists("gpumod-svc"));
  EXPECT_EQ(f.docker.requests("POST /containers/gpumod-svc/stop?t=2"), 1);
  auto again = sp.stop(*id, 2s);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->known);
}

TEST(DockerSpawner, StopsAnIdentityAdoptedByAFreshSpawner) {
  Fixture f;
  ProcessIdentity id;
  {
    DockerSpawner first(f.service, f.docker.client_factory(), f.settings());
    auto spawned = first.spawn(f.spec());
    ASSERT_TRUE(spawned) << spawned.error().message;
    id = *spawned;
  }
  // A restarted daemon knows only the pid + start time from its database.
  DockerSpawner later(f.service, f.docker.client_factory(), f.settings());
  EXPECT_TRUE(later.alive(id));
  auto st = later.stop(id, 2s);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_FALSE(infra::process::is_same_process_present(id));
  EXPECT_FALSE(f.docker.container_exists("gpumod-svc"));
}

TEST(DockerSpawner, RefusesToStopAProcessThatIsNotTheContainers) {
  Fixture f;
  DockerSpawner sp(f.service, f.docker.client_factory(), f.settings());
  auto id = sp.spawn(f.spec());
  ASSERT_TRUE(id) << id.error().message;
  test_support::ChildProcess other({"/bin/sleep", "30"});
  ASSERT_GT(other.pid(), 0);
  auto other_id = infra::process::identify(other.pid());
  ASSERT_TRUE(other_id);
  auto st = sp.stop(*other_id, 1s);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::failed);
  EXPECT_NE(st.error().message.find("not the main process of container gpumod-svc"), std::string::npos) << st.error().message;
  EXPECT_TRUE(other.running());
  EXPECT_TRUE(sp.alive(*id));  // the container was left alone
  ASSERT_TRUE(sp.stop(*id, 2s));
}

TEST(DockerSpawner, MissingImageSaysDockerPullAndStartsNothing) {
  Fixture f;
  f.service.unit_vars["image"] = "gpumod-test/absent:2";
  DockerSpawner sp(f.service, f.docker.client_factory(), f.settings());
  auto id = sp.spawn(f.spec());
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().code, ErrorCode::not_found);
  EXPECT_NE(id.error().message.find("docker pull gpumod-test/absent:2"), std::string::npos) << id.error().message;
  EXPECT_FALSE(f.docker.container_exists("gpumod-svc"));
}

TEST(DockerSpawner, ContainerThatCannotRunIsAClearError) {
  Fixture f;
  f.docker.add_image("gpumod-test/broken:1", {"/nonexistent/gpumod-entrypoint"});
  f.service.unit_vars["image"] = "gpumod-test/broken:1";
  DockerSpawner sp(f.service, f.docker.client_factory(), f.settings());
  auto id = sp.spawn(f.spec());
  ASSERT_FALSE(id);
  EXPECT_NE(id.error().message.find("starting container gpumod-svc"), std::string::npos) << id.error().message;
  EXPECT_NE(id.error().message.find("/nonexistent/gpumod-entrypoint"), std::string::npos) << id.error().message;
}

TEST(DockerSpawner, MissingSocketAsksWhetherTheDaemonRuns) {
  TempDir tmp;
  const auto sock = tmp.path() / "docker.sock";
  auto svc = docker_service("svc", 1, tmp.path() / "ledger");
  DockerSpawnerSettings settings;
  settings.socket = sock;
  DockerSpawner sp(svc, [sock] { return infra::http::make_unix_client(sock); }, settings);
  infra::process::SpawnSpec spec;
  auto id = sp.spawn(spec);
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().code, ErrorCode::unavailable);
  EXPECT_NE(id.error().message.find("the Docker socket " + sock.string() + " does not exist"), std::string::npos)
      << id.error().message;
  EXPECT_NE(id.error().message.find("is the Docker daemon running, and may this user use " + sock.string() + "?"),
            std::string::npos)
      << id.error().message;
  // Stopping an identity that is gone needs no API.
  EXPECT_TRUE(sp.stop(ProcessIdentity{999999999, 1}, 1s));
}

TEST(DockerSpawner, SocketPathThatIsNoSocketIsNamed) {
  TempDir tmp;
  const auto sock = tmp.path() / "docker.sock";
  std::ofstream(sock) << "not a socket";
  auto svc = docker_service("svc", 1, tmp.path() / "ledger");
  DockerSpawnerSettings settings;
  settings.socket = sock;
  DockerSpawner sp(svc, [sock] { return infra::http::make_unix_client(sock); }, settings);
  auto id = sp.spawn(infra::process::SpawnSpec{});
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().code, ErrorCode::unavailable);
  EXPECT_NE(id.error().message.find(sock.string() + " is not a socket"), std::string::npos) << id.error().message;
}

// Run as a user that may not use the socket (as root: in a child that drops to nobody).
TEST(DockerSpawner, UnwritableSocketSaysPermissionDenied) {
  TempDir tmp;
  ASSERT_EQ(::chmod(tmp.path().c_str(), 0755), 0);
  const auto sock = tmp.path() / "docker.sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ASSERT_EQ(::chmod(sock.c_str(), 0600), 0);
  auto check = [&]() -> int {  // 0: the message is right
    auto svc = docker_service("svc", 1, tmp.path() / "ledger");
    DockerSpawnerSettings settings;
    settings.socket = sock;
    DockerSpawner sp(svc, [sock] { return infra::http::make_unix_client(sock); }, settings);
    auto id = sp.spawn(infra::process::SpawnSpec{});
    if (id || id.error().code != ErrorCode::unavailable) return 1;
    if (id.error().message.find("permission denied on the Docker socket " + sock.string()) == std::string::npos) return 2;
    if (id.error().message.find("is the Docker daemon running") == std::string::npos) return 3;
    return 0;
  };
  int rc = 0;
  if (::geteuid() != 0) {
    ASSERT_EQ(::chmod(sock.c_str(), 0), 0);
    rc = check();
  } else {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
      ::_exit(check());
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    rc = WEXITSTATUS(status);
  }
  ::close(fd);
  EXPECT_EQ(rc, 0) << "1: not unavailable, 2: no permission text, 3: no hint, 10: setuid failed";
}

// DOCKER_HOST as the docker CLI reads it: unset = the default socket, unix:// = that socket,
// anything else is refused with what gpumod needs.
TEST(DockerSocketFromHost, UnixSocketsOnly) {
  EXPECT_EQ(docker_socket_from_host("").value(), std::filesystem::path(k_docker_socket));
  EXPECT_EQ(docker_socket_from_host("unix:///run/user/1000/docker.sock").value(),
            std::filesystem::path("/run/user/1000/docker.sock"));
  for (const char* bad : {"tcp://127.0.0.1:2375", "ssh://me@host", "unix://relative.sock", "unix://", "/var/run/docker.sock"}) {
    auto r = docker_socket_from_host(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, util::ErrorCode::invalid_argument);
    EXPECT_NE(r.error().message.find(std::string("DOCKER_HOST=") + bad), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace gpumod::engine
