#include "support/fake_docker.hpp"

#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "gpumod/infra/http/client.hpp"

extern char** environ;

namespace gpumod::test_support {

using json = nlohmann::json;

namespace {

constexpr const char* k_version = R"((?:/v[0-9.]+)?)";

std::string now_rfc3339() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void message(httplib::Response& res, int status, const std::string& text) {
  res.status = status;
  res.set_content(json{{"message", text}}.dump(), "application/json");
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// The label filters of a prune/list request: {"label":["k=v"]} or {"label":{"k=v":true}}.
std::vector<std::string> label_filters(const std::string& text) {
  std::vector<std::string> out;
  const auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("label")) return out;
  const auto& l = j["label"];
  if (l.is_array()) {
    for (const auto& e : l) {
      if (e.is_string()) out.push_back(e.get<std::string>());
    }
  } else if (l.is_object()) {
    for (const auto& [k, v] : l.items()) out.push_back(k);
  }
  return out;
}

bool labels_match(const std::map<std::string, std::string>& labels, const std::vector<std::string>& filters) {
  for (const auto& f : filters) {
    const auto eq = f.find('=');
    const auto it = labels.find(f.substr(0, eq));
    if (it == labels.end()) return false;
    if (eq != std::string::npos && it->second != f.substr(eq + 1)) return false;
  }
  return true;
}

}  // namespace

FakeDocker::FakeDocker(std::filesystem::path work_dir) : m_dir(std::move(work_dir)), m_server(std::make_unique<httplib::Server>()) {
  std::filesystem::create_directories(m_dir);
  install_routes();
  m_port = m_server->bind_to_any_port("127.0.0.1");
  m_thread = std::thread([this] { m_server->listen_after_bind(); });
  while (!m_server->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

FakeDocker::~FakeDocker() {
  m_server->stop();
  if (m_thread.joinable()) m_thread.join();
  std::lock_guard lock(m_mutex);
  for (auto& [name, c] : m_containers) {
    if (c.pid > 0) {
      ::kill(c.pid, SIGKILL);
      int st = 0;
      ::waitpid(c.pid, &st, 0);
      c.pid = 0;
    }
  }
}

std::function<std::unique_ptr<infra::http::HttpClient>()> FakeDocker::client_factory() const {
  const int port = m_port;
  return [port] { return infra::http::make_tcp_client("127.0.0.1", port); };
}

void FakeDocker::add_image(const std::string& name, std::vector<std::string> argv) {
  std::lock_guard lock(m_mutex);
  m_images[name] = std::move(argv);
}

bool FakeDocker::container_exists(const std::string& name) {
  std::lock_guard lock(m_mutex);
  return m_containers.contains(name);
}

pid_t FakeDocker::container_pid(const std::string& name) {
  std::lock_guard lock(m_mutex);
  const auto it = m_containers.find(name);
  if (it == m_containers.end()) return 0;
  refresh_locked(it->second);
  return it->second.pid;
}

std::string FakeDocker::container_status(const std::string& name) {
  std::lock_guard lock(m_mutex);
  const auto it = m_containers.find(name);
  if (it == m_containers.end()) return "";
  refresh_locked(it->second);
  return it->second.status;
}

std::string FakeDocker::create_body(const std::string& name) {
  std::lock_guard lock(m_mutex);
  const auto it = m_containers.find(name);
  return it == m_containers.end() ? "" : it->second.body;
}

int FakeDocker::requests(const std::string& prefix) {
  std::lock_guard lock(m_mutex);
  int n = 0;
  for (const auto& r : m_log) n += r.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

void FakeDocker::refresh_locked(Container& c) {
  if (c.pid <= 0) return;
  int st = 0;
  if (::waitpid(c.pid, &st, WNOHANG) == c.pid) {
    c.pid = 0;
    c.status = "exited";
    c.exit_code = exit_code_of(st);
    c.finished_at = now_rfc3339();
  }
}

void FakeDocker::stop_locked(Container& c, int grace_s) {
  refresh_locked(c);
  if (c.pid <= 0) return;
  ::kill(c.pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(grace_s);
  int st = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(c.pid, &st, WNOHANG) == c.pid) {
      c.pid = 0;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (c.pid > 0) {
    ::kill(c.pid, SIGKILL);
    ::waitpid(c.pid, &st, 0);
    c.pid = 0;
  }
  c.status = "exited";
  c.exit_code = exit_code_of(st);
  c.finished_at = now_rfc3339();
}

std::string FakeDocker::start_locked(Container& c) {
  const auto image = m_images.find(c.image);
  if (image == m_images.end()) return "No such image: " + c.image;
  const auto body = json::parse(c.body, nullptr, false);
  std::string port;
  if (body.contains("HostConfig") && body["HostConfig"].contains("PortBindings")) {
    for (const auto& [key, list] : body["HostConfig"]["PortBindings"].items()) {
      if (port.empty() && list.is_array() && !list.empty()) port = list[0].value("HostPort", "");
    }
  }
  std::vector<std::string> argv;
  for (auto a : image->second) {
    if (const auto at = a.find("{port}"); at != std::string::npos) a.replace(at, 6, port);
    argv.push_back(a);
  }
  if (body.contains("Cmd") && body["Cmd"].is_array()) {
    for (const auto& a : body["Cmd"]) argv.push_back(a.get<std::string>());
  }
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (body.contains("Env") && body["Env"].is_array()) {
    for (const auto& e : body["Env"]) {
      const auto kv = e.get<std::string>();
      const auto eq = kv.find('=');
      if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  std::vector<std::string> env_text;
  for (const auto& [k, v] : env) env_text.push_back(k + "=" + v);
  std::vector<char*> cargv, cenv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  for (auto& e : env_text) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  const std::string log = (m_dir / (c.name + ".log")).string();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, cargv[0], &fa, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return "OCI runtime create failed: exec " + argv[0] + ": " + std::strerror(rc);
  c.pid = pid;
  c.status = "running";
  c.exit_code = 0;
  c.started_at = now_rfc3339();
  return "";
}

void FakeDocker::install_routes() {
  auto& s = *m_server;
  const std::string v = k_version;
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
    std::string q;
    for (const auto& [k, val] : req.params) q += (q.empty() ? "?" : "&") + k + "=" + val;
    std::lock_guard lock(m_mutex);
    m_log.push_back(req.method + " " + req.path + q);
    return httplib::Server::HandlerResponse::Unhandled;
  });

  s.Get(v + "/_ping", [](const httplib::Request&, httplib::Response& res) { res.set_content("OK", "text/plain"); });

  s.Get(v + "/images/(.+)/json", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    std::lock_guard lock(m_mutex);
    if (!m_images.contains(name)) return message(res, 404, "No such image: " + name);
    res.set_content(json{{"Id", "sha256:" + std::string(64, 'a')}, {"RepoTags", {name}}}.dump(), "application/json");
  });

  s.Post(v + "/containers/create", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.get_param_value("name");
    const auto body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("Image") || !body["Image"].is_string())
      return message(res, 400, "invalid JSON body");
    if (name.empty()) return message(res, 400, "a name is needed in this fake");
    std::lock_guard lock(m_mutex);
    if (m_containers.contains(name))
      return message(res, 409, "Conflict. The container name \"/" + name + "\" is already in use by container \"" +
                                   m_containers[name].id + "\". You have to remove (or rename) that container to be able to reuse that name.");
    const std::string image = body["Image"].get<std::string>();
    if (!m_images.contains(image)) return message(res, 404, "No such image: " + image);
    Container c;
    char id[65];
    std::snprintf(id, sizeof id, "%064x", m_next_id++);
    c.id = id;
    c.name = name;
    c.image = image;
    c.body = req.body;
    if (body.contains("Labels") && body["Labels"].is_object()) {
      for (const auto& [k, val] : body["Labels"].items()) {
        if (val.is_string()) c.labels[k] = val.get<std::string>();
      }
    }
    m_containers[name] = c;
    res.status = 201;
    res.set_content(json{{"Id", c.id}, {"Warnings", json::array()}}.dump(), "application/json");
  });

  s.Post(v + "/containers/prune", [this](const httplib::Request& req, httplib::Response& res) {
    const auto filters = label_filters(req.get_param_value("filters"));
    json deleted = json::array();
    std::lock_guard lock(m_mutex);
    for (auto it = m_containers.begin(); it != m_containers.end();) {
      refresh_locked(it->second);
      if (it->second.pid <= 0 && labels_match(it->second.labels, filters)) {
        deleted.push_back(it->second.id);
        it = m_containers.erase(it);
      } else {
        ++it;
      }
    }
    res.set_content(json{{"ContainersDeleted", deleted}, {"SpaceReclaimed", 0}}.dump(), "application/json");
  });

  s.Get(v + "/containers/json", [this](const httplib::Request& req, httplib::Response& res) {
    const bool all = req.get_param_value("all") == "1" || req.get_param_value("all") == "true";
    const auto filters = label_filters(req.get_param_value("filters"));
    json list = json::array();
    std::lock_guard lock(m_mutex);
    for (auto& [name, c] : m_containers) {
      refresh_locked(c);
      if ((!all && c.status != "running") || !labels_match(c.labels, filters)) continue;
      list.push_back({{"Id", c.id}, {"Names", {"/" + name}}, {"Image", c.image}, {"State", c.status}, {"Labels", c.labels}});
    }
    res.set_content(list.dump(), "application/json");
  });

  s.Post(v + "/containers/([^/]+)/start", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    std::lock_guard lock(m_mutex);
    const auto it = m_containers.find(name);
    if (it == m_containers.end()) return message(res, 404, "No such container: " + name);
    refresh_locked(it->second);
    if (it->second.pid > 0) {
      res.status = 304;
      return;
    }
    if (const auto err = start_locked(it->second); !err.empty()) return message(res, 500, err);
    res.status = 204;
  });

  s.Post(v + "/containers/([^/]+)/stop", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    int grace = 10;
    if (req.has_param("t")) grace = std::atoi(req.get_param_value("t").c_str());
    std::lock_guard lock(m_mutex);
    const auto it = m_containers.find(name);
    if (it == m_containers.end()) return message(res, 404, "No such container: " + name);
    refresh_locked(it->second);
    if (it->second.pid <= 0) {
      res.status = 304;
      return;
    }
    stop_locked(it->second, grace);
    res.status = 204;
  });

  s.Get(v + "/containers/([^/]+)/json", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    std::lock_guard lock(m_mutex);
    const auto it = m_containers.find(name);
    if (it == m_containers.end()) return message(res, 404, "No such container: " + name);
    auto& c = it->second;
    refresh_locked(c);
    const auto body = json::parse(c.body, nullptr, false);
    json state = {{"Status", c.status},       {"Running", c.status == "running"},
                  {"Paused", false},          {"Restarting", false},
                  {"OOMKilled", false},       {"Dead", false},
                  {"Pid", c.pid},             {"ExitCode", c.exit_code},
                  {"Error", ""},              {"StartedAt", c.started_at},
                  {"FinishedAt", c.finished_at}};
    json config = {{"Image", c.image}, {"Labels", c.labels}, {"Env", body.value("Env", json::array())},
                   {"Cmd", body.value("Cmd", json(nullptr))}};
    res.set_content(json{{"Id", c.id},
                         {"Name", "/" + name},
                         {"Image", "sha256:" + std::string(64, 'a')},
                         {"State", state},
                         {"Config", config},
                         {"HostConfig", body.value("HostConfig", json::object())}}
                        .dump(),
                    "application/json");
  });

  s.Delete(v + "/containers/([^/]+)", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    const bool force = req.get_param_value("force") == "1" || req.get_param_value("force") == "true";
    std::lock_guard lock(m_mutex);
    const auto it = m_containers.find(name);
    if (it == m_containers.end()) return message(res, 404, "No such container: " + name);
    refresh_locked(it->second);
    if (it->second.pid > 0) {
      if (!force)
        return message(res, 409, "You cannot remove a running container " + it->second.id + ". Stop the container before attempting removal or force remove");
      stop_locked(it->second, 0);
    }
    m_containers.erase(it);
    res.status = 204;
  });
}

}  // namespace gpumod::test_support
