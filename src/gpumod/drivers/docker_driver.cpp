#include "gpumod/drivers/docker_driver.hpp"

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "gpumod/drivers/common.hpp"
#include "gpumod/infra/http/client.hpp"
#include "gpumod/util/ids.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::drivers {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using util::ErrorCode;
using json = nlohmann::json;
using P = Readiness::Probe;

namespace {
constexpr milliseconds k_api_timeout{10000};

util::Result<json> parse_json(const infra::http::HttpResponse& r, std::string_view what) {
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return util::fail(ErrorCode::corrupt, std::string(what) + ": the Docker API answered malformed JSON: " + error_text(r.body));
  return j;
}

bool under(const fs::path& p, const fs::path& root) {
  if (root.empty()) return false;
  auto r = root.lexically_normal();
  auto rel = p.lexically_relative(r);
  return !rel.empty() && *rel.begin() != ".." && !rel.is_absolute();
}

util::Result<std::vector<int>> parse_port_pair(std::string_view text, std::string_view sid) {
  auto parts = util::split(text, ':');
  if (parts.size() != 2)
    return util::fail(ErrorCode::invalid_argument, "service '" + std::string(sid) + "': port mapping '" + std::string(text) + "' must be host:container");
  std::vector<int> out;
  for (const auto& p : parts) {
    auto n = util::parse_int(util::trim(p), 1, 65535, "port");
    if (!n) return std::unexpected(util::with_context(n.error(), "service '" + std::string(sid) + "'"));
    out.push_back(static_cast<int>(*n));
  }
  return out;
}

util::Result<std::int64_t> parse_mem(std::string_view text, std::string_view sid) {
  std::string t = util::to_lower(util::trim(text));
  std::int64_t mult = 1;
  if (!t.empty() && (t.back() == 'b')) t.pop_back();
  if (!t.empty()) {
    if (t.back() == 'k') mult = 1024;
    else if (t.back() == 'm') mult = 1024 * 1024;
    else if (t.back() == 'g') mult = 1024LL * 1024 * 1024;
    if (mult != 1) t.pop_back();
  }
  auto n = util::parse_int(t, 4LL * 1024 * 1024 / mult + (mult > 4LL * 1024 * 1024 ? 1 : 0), (1LL << 50) / mult, "mem_limit");
  if (!n) return std::unexpected(util::with_context(n.error(), "service '" + std::string(sid) + "'"));
  return *n * mult;
}

}  // namespace

std::string url_encode(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string container_name(const core::Service& s) { return "gpumod-" + s.id; }

util::Status validate_docker_image(std::string_view image) {
  static const std::regex re(R"(^[a-z0-9][a-z0-9._/-]{0,127}(:[A-Za-z0-9._-]{1,128})?$)");
  if (!std::regex_match(image.begin(), image.end(), re))
    return util::fail(ErrorCode::invalid_argument, "invalid Docker image name '" + std::string(image) + "'");
  return {};
}

util::Status validate_docker_volume(std::string_view spec) {
  auto bad = [&](const std::string& why) {
    return util::fail(ErrorCode::invalid_argument, "volume '" + std::string(spec) + "': " + why);
  };
  auto parts = util::split(spec, ':');
  if (parts.size() < 2 || parts.size() > 3) return bad("expected host:container[:ro|rw]");
  if (parts.size() == 3 && parts[2] != "ro" && parts[2] != "rw") return bad("mode must be ro or rw");
  const fs::path host(parts[0]);
  const fs::path cont(parts[1]);
  if (!host.is_absolute()) return bad("the host path must be absolute");
  if (!cont.is_absolute()) return bad("the container path must be absolute");
  std::error_code ec;
  fs::path norm = fs::weakly_canonical(host, ec);
  if (ec) norm = host.lexically_normal();
  const char* home = std::getenv("HOME");
  const fs::path home_path = home && *home ? fs::weakly_canonical(fs::path(home), ec) : fs::path();
  if (!under(norm, home_path) && !under(norm, fs::path("/tmp")))
    return bad("the host path " + norm.string() + " is not under $HOME or /tmp");
  return {};
}

util::Status validate_docker_env(std::string_view key, std::string_view value) {
  static const std::regex re(R"(^[A-Z_][A-Z0-9_]{0,127}$)");
  if (!std::regex_match(key.begin(), key.end(), re))
    return util::fail(ErrorCode::invalid_argument, "environment variable name '" + std::string(key) + "' must match ^[A-Z_][A-Z0-9_]*$");
  if (value.find_first_of("\r\n") != std::string_view::npos || value.find('\0') != std::string_view::npos)
    return util::fail(ErrorCode::invalid_argument, "environment variable " + std::string(key) + " holds a line break");
  return {};
}

util::Result<std::string> docker_create_body(const core::Service& s) {
  if (auto st = util::validate_id(s.id, "service id"); !st) return std::unexpected(st.error());
  auto image = s.var("image");
  if (!image || util::trim(*image).empty())
    return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': the docker driver needs unit_vars.image");
  const std::string img(util::trim(*image));
  if (auto st = validate_docker_image(img); !st) return std::unexpected(util::with_context(st.error(), "service '" + s.id + "'"));

  json body = {{"Image", img}, {"Labels", {{"gpumod.service", s.id}}}};
  json host = {{"Privileged", false}, {"Init", true}};

  json env = json::array();
  for (const auto& [k, v] : s.env) {
    if (auto st = validate_docker_env(k, v); !st) return std::unexpected(util::with_context(st.error(), "service '" + s.id + "'"));
    env.push_back(k + "=" + v);
  }
  body["Env"] = env;

  if (!s.command.empty()) body["Cmd"] = s.command;

  if (auto v = s.var("volumes")) {
    const auto j = json::parse(*v, nullptr, false);
    if (j.is_discarded() || !j.is_array())
      return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': unit_vars.volumes must be a JSON list of \"host:container[:ro]\"");
    json binds = json::array();
    for (const auto& e : j) {
      if (!e.is_string()) return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': unit_vars.volumes holds a non-string");
      const auto spec = e.get<std::string>();
      if (auto st = validate_docker_volume(spec); !st) return std::unexpected(util::with_context(st.error(), "service '" + s.id + "'"));
      auto parts = util::split(spec, ':');
      std::error_code ec;
      fs::path norm = fs::weakly_canonical(parts[0], ec);
      if (ec) norm = fs::path(parts[0]).lexically_normal();
      std::string bind = norm.string() + ":" + fs::path(parts[1]).lexically_normal().string();
      if (parts.size() == 3) bind += ":" + parts[2];
      binds.push_back(bind);
    }
    host["Binds"] = binds;
  }

  std::vector<std::pair<int, int>> ports;  // host, container
  if (s.port) {
    if (*s.port < 1 || *s.port > 65535)
      return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': port must be 1..65535");
    auto cp = int_var(s, {"container_port"}, 1, 65535);
    if (!cp) return std::unexpected(cp.error());
    ports.emplace_back(*s.port, *cp ? static_cast<int>(**cp) : *s.port);
  }
  if (auto v = s.var("ports")) {
    const auto j = json::parse(*v, nullptr, false);
    if (j.is_discarded() || !j.is_array())
      return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': unit_vars.ports must be a JSON list of \"host:container\"");
    for (const auto& e : j) {
      if (!e.is_string()) return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': unit_vars.ports holds a non-string");
      auto pp = parse_port_pair(e.get<std::string>(), s.id);
      if (!pp) return std::unexpected(pp.error());
      ports.emplace_back((*pp)[0], (*pp)[1]);
    }
  }
  if (!ports.empty()) {
    json exposed = json::object();
    json bindings = json::object();
    for (auto [hp, cp] : ports) {
      const std::string key = std::to_string(cp) + "/tcp";
      exposed[key] = json::object();
      if (!bindings.contains(key)) bindings[key] = json::array();
      bindings[key].push_back({{"HostIp", "127.0.0.1"}, {"HostPort", std::to_string(hp)}});
    }
    body["ExposedPorts"] = exposed;
    host["PortBindings"] = bindings;
  }

  if (auto v = s.var("mem_limit")) {
    auto m = parse_mem(*v, s.id);
    if (!m) return std::unexpected(m.error());
    host["Memory"] = *m;
  }

  const auto gpus = s.var("gpus");
  if (!(gpus && util::to_lower(util::trim(*gpus)) == "none")) {
    json req = {{"Driver", "nvidia"}, {"Capabilities", json::array({json::array({"gpu"})})}};
    if (!s.gpu.empty()) {
      json ids = json::array();
      for (const auto& g : util::split(s.gpu, ',')) {
        const std::string t(util::trim(g));
        if (t.empty() || t.find_first_not_of("abcdefABCDEF0123456789-GPUgpu") != std::string::npos)
          return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': invalid GPU id '" + t + "'");
        ids.push_back(t);
      }
      req["DeviceIDs"] = ids;
    } else {
      req["Count"] = -1;
    }
    host["DeviceRequests"] = json::array({req});
  }
  body["HostConfig"] = host;
  return body.dump();
}

DockerDriver::DockerDriver()
    : m_api([] { return infra::http::make_unix_client("/var/run/docker.sock"); }) {}

DockerDriver::DockerDriver(ClientFactory docker_api) : m_api(std::move(docker_api)) {}

util::Result<LaunchSpec> DockerDriver::launch_spec(const core::Service& s, const LaunchOptions&) const {
  return util::fail(ErrorCode::failed, "service '" + s.id + "': docker services run as containers through the Docker Engine API (DockerDriver::start), not as a process");
}

namespace {

struct ContainerState {
  bool exists = false;
  std::string status;  // created, running, paused, restarting, removing, exited, dead
  int exit_code = 0;
  std::string image;
  std::string error;
};

util::Result<ContainerState> inspect(infra::http::HttpClient& api, const std::string& name, milliseconds timeout) {
  auto r = api.get("/containers/" + name + "/json", timeout);
  if (!r) return std::unexpected(util::with_context(r.error(), "inspecting container " + name + " via " + api.describe()));
  ContainerState st;
  if (r->status == 404) return st;
  if (r->status != 200)
    return util::fail(ErrorCode::failed, "inspecting container " + name + ": the Docker API answered " + std::to_string(r->status) + ": " + error_text(r->body));
  auto j = parse_json(*r, "inspecting container " + name);
  if (!j) return std::unexpected(j.error());
  st.exists = true;
  const auto& state = (*j)["State"];
  if (state.is_object()) {
    if (state.contains("Status") && state["Status"].is_string()) st.status = state["Status"].get<std::string>();
    if (state.contains("ExitCode") && state["ExitCode"].is_number_integer()) st.exit_code = state["ExitCode"].get<int>();
    if (state.contains("Error") && state["Error"].is_string()) st.error = state["Error"].get<std::string>();
  }
  if ((*j).contains("Config") && (*j)["Config"].is_object() && (*j)["Config"].contains("Image") && (*j)["Config"]["Image"].is_string())
    st.image = (*j)["Config"]["Image"].get<std::string>();
  return st;
}

util::Status post_ok(infra::http::HttpClient& api, const std::string& path, std::string_view what, milliseconds timeout) {
  auto r = api.post(path, "", "application/json", timeout);
  if (!r) return std::unexpected(util::with_context(r.error(), std::string(what)));
  if (r->status == 204 || r->status == 304 || r->status == 200) return {};
  return util::fail(ErrorCode::failed, std::string(what) + ": the Docker API answered " + std::to_string(r->status) + ": " + error_text(r->body));
}

}  // namespace

util::Status DockerDriver::start(const core::Service& s, milliseconds timeout) const {
  auto body = docker_create_body(s);
  if (!body) return std::unexpected(body.error());
  const std::string name = container_name(s);
  const std::string image(util::trim(*s.var("image")));
  auto api = m_api();
  if (!api) return util::fail(ErrorCode::unavailable, "no Docker API client");
  const auto t = call_timeout(timeout, k_api_timeout);
  auto st = inspect(*api, name, t);
  if (!st) return std::unexpected(st.error());
  if (st->exists) {
    if (!st->image.empty() && st->image != image)
      return util::fail(ErrorCode::conflict, "container " + name + " exists with image " + st->image + ", not " + image + "; stop the service first so that it is recreated");
    if (st->status == "running" || st->status == "restarting") return {};
    if (st->status == "paused") return post_ok(*api, "/containers/" + name + "/unpause", "unpausing container " + name, t);
    if (st->status == "removing" || st->status == "dead")
      return util::fail(ErrorCode::conflict, "container " + name + " is " + st->status + "; remove it (docker rm " + name + ") and start again");
    return post_ok(*api, "/containers/" + name + "/start", "starting container " + name, t);
  }
  auto img = api->get("/images/" + image + "/json", t);
  if (!img) return std::unexpected(util::with_context(img.error(), "looking up image " + image));
  if (img->status == 404)
    return util::fail(ErrorCode::not_found, "service '" + s.id + "': image " + image + " is not present locally; gpumod never pulls: run `docker pull " + image + "`");
  if (img->status != 200)
    return util::fail(ErrorCode::failed, "looking up image " + image + ": the Docker API answered " + std::to_string(img->status) + ": " + error_text(img->body));
  auto c = api->post("/containers/create?name=" + name, *body, "application/json", t);
  if (!c) return std::unexpected(util::with_context(c.error(), "creating container " + name));
  if (c->status == 404)
    return util::fail(ErrorCode::not_found, "service '" + s.id + "': image " + image + " is not present locally; run `docker pull " + image + "`");
  if (c->status != 201 && c->status != 409)  // 409: created meanwhile by someone else
    return util::fail(ErrorCode::failed, "creating container " + name + ": the Docker API answered " + std::to_string(c->status) + ": " + error_text(c->body));
  return post_ok(*api, "/containers/" + name + "/start", "starting container " + name, t);
}

util::Status DockerDriver::stop(const core::Service& s, milliseconds timeout) const {
  const std::string name = container_name(s);
  auto api = m_api();
  if (!api) return util::fail(ErrorCode::unavailable, "no Docker API client");
  const auto grace = std::chrono::duration_cast<std::chrono::seconds>(s.stop_timeout).count();
  auto r = api->post("/containers/" + name + "/stop?t=" + std::to_string(grace), "", "application/json",
                     std::max(timeout, milliseconds((grace + 5) * 1000)));
  if (!r) return std::unexpected(util::with_context(r.error(), "stopping container " + name));
  if (r->status == 404) return {};
  if (r->status != 204 && r->status != 304)
    return util::fail(ErrorCode::failed, "stopping container " + name + ": the Docker API answered " + std::to_string(r->status) + ": " + error_text(r->body));
  // Remove it, so that the next start applies the current preset. HttpClient has no DELETE;
  // a prune filtered on our label removes exactly this (now stopped) container.
  auto pr = api->post("/containers/prune?filters=" + url_encode(json{{"label", {"gpumod.service=" + s.id}}}.dump()),
                      "", "application/json", call_timeout(timeout, k_api_timeout));
  if (!pr) return std::unexpected(util::with_context(pr.error(), "removing container " + name));
  if (pr->status != 200)
    return util::fail(ErrorCode::failed, "removing container " + name + ": the Docker API answered " + std::to_string(pr->status) + ": " + error_text(pr->body));
  return {};
}

Observation DockerDriver::observe(const core::Service& s, DriverContext& ctx) const {
  Observation o;
  auto api = m_api();
  if (!api) {
    o.state = core::ServiceState::unknown;
    o.reason = "no Docker API client";
    return o;
  }
  auto st = inspect(*api, container_name(s), milliseconds(2000));
  if (!st) {
    o.state = core::ServiceState::unknown;
    o.reason = st.error().message;
    return o;
  }
  if (!st->exists) {
    o.state = core::ServiceState::stopped;
    o.reason = "no container " + container_name(s);
    return o;
  }
  const auto& v = st->status;
  if (v == "running") {
    const std::string path = s.health_endpoint.empty() ? "/health" : s.health_endpoint;
    auto h = ctx.http.get(path, milliseconds(2000));
    o.reachable = h.has_value();
    o.healthy = h && h->status >= 200 && h->status < 300;
    o.state = o.healthy ? core::ServiceState::running : core::ServiceState::unhealthy;
    o.reason = o.healthy ? "container running, healthy"
                         : "container running but " + path + (h ? " answered " + std::to_string(h->status) : " does not answer");
  } else if (v == "restarting") {
    o.state = core::ServiceState::starting;
    o.reason = "container restarting";
  } else if (v == "created") {
    o.state = core::ServiceState::stopped;
    o.reason = "container created, not started";
  } else if (v == "exited") {
    o.state = st->exit_code == 0 ? core::ServiceState::stopped : core::ServiceState::failed;
    o.reason = "container exited with code " + std::to_string(st->exit_code);
  } else if (v == "paused") {
    o.state = core::ServiceState::unhealthy;
    o.reason = "container paused (it keeps its memory and serves nothing)";
  } else if (v == "dead") {
    o.state = core::ServiceState::failed;
    o.reason = "container dead" + (st->error.empty() ? std::string() : ": " + st->error);
  } else if (v == "removing") {
    o.state = core::ServiceState::stopped;
    o.reason = "container being removed";
  } else {
    o.state = core::ServiceState::unknown;
    o.reason = "container status '" + v + "'";
  }
  return o;
}

util::Status DockerDriver::await_ready(const core::Service& s, DriverContext& ctx, milliseconds timeout) const {
  const std::string path = s.health_endpoint.empty() ? "/health" : s.health_endpoint;
  auto api = m_api();
  if (!api) return util::fail(ErrorCode::unavailable, "no Docker API client");
  const std::string name = container_name(s);
  return Readiness::wait("container " + name + " to run and answer " + path, ctx, timeout, [&](milliseconds left) -> P {
    auto st = inspect(*api, name, call_timeout(left));
    if (!st) return P::not_yet(st.error().message);
    if (!st->exists) return P::failed("container " + name + " does not exist", ErrorCode::not_found);
    if (st->status == "exited" || st->status == "dead")
      return P::failed("container " + name + " " + st->status + " (exit code " + std::to_string(st->exit_code) + ")" +
                       (st->error.empty() ? std::string() : ": " + st->error));
    if (st->status != "running") return P::not_yet("container " + st->status);
    auto h = ctx.http.get(path, call_timeout(left));
    if (!h) return P::not_yet(h.error().message);
    if (h->status >= 200 && h->status < 300) return P::ready();
    return P::not_yet(path + " answered " + std::to_string(h->status));
  });
}

}  // namespace gpumod::drivers
