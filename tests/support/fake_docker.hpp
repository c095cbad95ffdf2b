// FakeDocker: a Docker Engine API look-alike on a loopback TCP port for tests (the engine's
// ClientFactory makes a TCP client to it instead of the Unix socket). It answers, in the JSON
// shapes the real API uses (errors as {"message": ...}), an optional /v1.NN prefix accepted:
//   GET    /_ping                                 OK
//   GET    /images/<image>/json                   200 {"Id","RepoTags"} | 404 No such image
//   POST   /containers/create?name=N              201 {"Id","Warnings"} | 409 name in use | 404 image
//   POST   /containers/<name>/start               204 | 304 already running | 404
//   POST   /containers/<name>/stop?t=S            204 (SIGTERM, SIGKILL after S s) | 304 | 404
//   GET    /containers/<name>/json                200 inspect {"Id","Name","State":{"Status",
//                                                 "Running","Pid","ExitCode",...},"Config",...}
//   DELETE /containers/<name>?force=1             204 | 409 running without force | 404
//   POST   /containers/prune?filters={"label":..} 200 {"ContainersDeleted","SpaceReclaimed"}
//   GET    /containers/json?all=1                 the list (Id, Names, Image, State, Labels)
// A "container" is a real process: starting one spawns the image's argv (registered with
// add_image; "{port}" becomes the first published host port) followed by the create body's Cmd,
// with the body's Env added to the test's environment, in its own session, output to a file in
// the work directory. So it has a real pid (State.Pid) that the engine can follow. The fake
// reaps the processes it started (only those) and kills what still runs when destroyed.
// Thread-safety: the server runs its own threads; every method is synchronised by one mutex
// (requests are served one at a time, a stop included).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}
namespace gpumod::infra::http {
class HttpClient;
}

namespace gpumod::test_support {

class FakeDocker {
 public:
  explicit FakeDocker(std::filesystem::path work_dir);
  ~FakeDocker();
  FakeDocker(const FakeDocker&) = delete;
  FakeDocker& operator=(const FakeDocker&) = delete;

  int port() const { return m_port; }
  // A factory of TCP clients to this server (EngineSettings::docker_api, DockerDriver).
  std::function<std::unique_ptr<infra::http::HttpClient>()> client_factory() const;

  // An image whose containers run `argv` (argv[0] a path); "{port}" is replaced by the first
  // published host port.
  void add_image(const std::string& name, std::vector<std::string> argv);

  // Test hooks.
  bool container_exists(const std::string& name);
  pid_t container_pid(const std::string& name);      // 0 when not running
  std::string container_status(const std::string& name);  // "" when there is none
  std::string create_body(const std::string& name);  // the JSON body it was created with
  int requests(const std::string& prefix);           // how many "METHOD /path" began with prefix

 private:
  struct Container {
    std::string id;
    std::string name;
    std::string image;
    std::string body;  // create body (JSON text)
    std::map<std::string, std::string> labels;
    pid_t pid = 0;
    std::string status = "created";
    int exit_code = 0;
    std::string started_at = "0001-01-01T00:00:00Z";
    std::string finished_at = "0001-01-01T00:00:00Z";
  };

  void install_routes();
  void refresh_locked(Container& c);          // reaps an exited process
  void stop_locked(Container& c, int grace_s);
  std::string start_locked(Container& c);     // "" or an error

  std::filesystem::path m_dir;
  std::unique_ptr<httplib::Server> m_server;
  std::thread m_thread;
  int m_port = 0;
  std::mutex m_mutex;
  std::map<std::string, std::vector<std::string>> m_images;
  std::map<std::string, Container> m_containers;  // by name
  std::vector<std::string> m_log;                 // "METHOD /path?query"
  int m_next_id = 1;
};

}  // namespace gpumod::test_support
