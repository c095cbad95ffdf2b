// Preflight (W24): what can be known about a service before anything changes. A switch runs it
// for every service it would start or wake and refuses at once, touching nothing, when one
// cannot come up: its program is missing, its preset does not make a command line, its model
// file is not there or is not a GGUF (a real llama-server router then "loads" a missing model
// forever), its vLLM model directory is missing. Cheap: a few stat/open calls, no process, no
// request. The bundled mock server without model files (file-less routers, single models) is not
// file-checked; a mock router with a models_dir is, like the real one.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "gpumod/drivers/llamacpp_driver.hpp"
#include "gpumod/engine/engine_impl.hpp"
#include "gpumod/infra/process/proc_tree.hpp"
#include "gpumod/util/fd.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::engine {

namespace fs = std::filesystem;

namespace {

// "" when `path` is a readable GGUF file, else what is wrong with it (and its kind in `code`).
std::string gguf_problem(const fs::path& path, const std::string& what, util::ErrorCode& code) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  code = util::ErrorCode::not_found;
  if (ec || !fs::exists(st)) return what + " " + path.string() + " does not exist";
  if (!fs::is_regular_file(st)) return what + " " + path.string() + " is not a file";
  code = util::ErrorCode::io;
  util::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) return what + " " + path.string() + " cannot be read: " + std::strerror(errno);
  code = util::ErrorCode::corrupt;
  std::array<char, 4> magic{};
  if (::pread(fd.get(), magic.data(), magic.size(), 0) != static_cast<ssize_t>(magic.size()) ||
      std::string_view(magic.data(), magic.size()) != "GGUF") {
    return what + " " + path.string() + " is not a GGUF file";
  }
  return "";
}

bool is_gguf_name(const fs::path& p) { return util::to_lower(p.extension().string()) == ".gguf"; }

}  // namespace

std::vector<std::string> Engine::Impl::preflight(const Slot& s, bool new_process, util::ErrorCode* code) {
  std::vector<std::string> problems;
  const auto& svc = *s.service;
  util::ErrorCode kind = util::ErrorCode::failed;
  const auto add_kind = [&](const std::string& text, util::ErrorCode k) {
    if (problems.empty() && code) *code = k;
    problems.push_back(svc.id + ": " + text);
  };
  const auto add = [&](const std::string& text) { add_kind(text, kind); };
  const auto add_error = [&](const util::Error& e) {
    add_kind(e.message, e.code == util::ErrorCode::invalid_argument ? util::ErrorCode::config_invalid : e.code);
  };
  if (svc.driver == core::DriverKind::docker) return problems;  // the container's spawner checks its image

  bool mock = false;
  if (new_process || svc.driver == core::DriverKind::llamacpp) {
    auto spec = driver(svc).launch_spec(svc, settings.launch);
    if (!spec) {
      add_error(spec.error());
      return problems;
    }
    mock = !spec->argv.empty() && fs::path(spec->argv.front()).filename() == "gpumod-mock-server";
    if (new_process && svc.supervisor == core::SupervisorKind::process) {
      infra::process::SpawnSpec sp;
      sp.argv = spec->argv;
      sp.env = spec->env;
      for (const auto& [k, v] : svc.env) sp.env[k] = v;
      if (auto st = spawner_for(s.instance_key).can_start(sp); !st) add_error(st.error());
    }
  }
  // The bundled mock's file-less demo mode (a router whose models_dir does not exist: its models
  // come from the presets) reads no files. A mock router given a models_dir behaves like
  // llama-server there and is checked like it (#11).
  if (mock) {
    std::error_code dir_ec;
    const bool router_with_dir = svc.driver == core::DriverKind::llamacpp && drivers::is_router(svc) &&
                                 fs::is_directory(std::string(util::trim(svc.var("models_dir").value_or(""))), dir_ec);
    if (router_with_dir) {
      // checked like llama-server, below
    } else if (svc.driver == core::DriverKind::llamacpp && drivers::is_router(svc) && !new_process &&
               instance_alive(s.instance_key)) {
      // No files to look at, but the router runs: it says itself which models it offers (one it
      // does not list cannot be loaded).
      auto ctx = context(s);
      const auto obs = driver(svc).observe(svc, ctx);
      if (obs.healthy && !obs.models.empty()) {
        std::vector<std::string> ids;
        for (const auto& m : obs.models) ids.push_back(m.id);
        auto id = drivers::resolve_model_id(svc, ids);
        if (!id) {
          add("the running router does not offer its model: " + id.error().message);
        } else if (std::ranges::find(ids, *id) == ids.end()) {
          add("the running router on port " + std::to_string(svc.port.value_or(0)) + " does not offer model " + *id +
              " (offered: " + util::join(ids, ", ") + "); it would wait for a model it cannot load");
        }
      }
      return problems;
    } else {
      return problems;
    }
  }

  if (svc.driver == core::DriverKind::llamacpp) {
    if (drivers::is_router(svc)) {
      const fs::path dir(std::string(util::trim(*svc.var("models_dir"))));
      std::error_code ec;
      if (!fs::is_directory(dir, ec)) {
        kind = util::ErrorCode::not_found;
        add("the router's models_dir " + dir.string() + " is not a directory");
        return problems;
      }
      if (!svc.model_path.empty() && is_gguf_name(svc.model_path)) {
        if (auto p = gguf_problem(svc.model_path, "model file", kind); !p.empty()) add(p);
      } else if (auto id = drivers::static_model_id(svc)) {
        // The router lists a single-file model as <dir>/<id>.gguf and a split or multimodal one
        // as the folder <dir>/<id>/.
        const fs::path file = dir / (*id + ".gguf");
        if (!fs::exists(file, ec) && !fs::is_directory(dir / *id, ec)) {
          kind = util::ErrorCode::not_found;
          add("model " + *id + ": neither " + file.string() + " nor the folder " + (dir / *id).string() +
              " exists (llama-server would wait for a model it cannot load)");
        } else if (fs::exists(file, ec)) {
          if (auto p = gguf_problem(file, "model file", kind); !p.empty()) add(p);
        }
      }
    } else if (new_process && !svc.model_path.empty()) {
      if (auto p = gguf_problem(svc.model_path, "model file", kind); !p.empty()) add(p);
    }
  } else if (svc.driver == core::DriverKind::vllm && new_process) {
    // A local model (a path) must be a folder with the model's config; a Hugging Face id is
    // vLLM's own to fetch.
    const std::string& model = !svc.model_id.empty() ? svc.model_id : svc.model_path;  // as the driver passes it
    if (model.starts_with('/') || model.starts_with("./") || model.starts_with("../")) {
      const std::string& local = model;
      std::error_code ec;
      kind = util::ErrorCode::not_found;
      if (!fs::is_directory(local, ec)) {
        add("model folder " + local + " does not exist");
      } else if (!fs::exists(fs::path(local) / "config.json", ec)) {
        add("model folder " + local + " has no config.json");
      }
    }
  }
  return problems;
}

}  // namespace gpumod::engine

namespace gpumod::engine {

// A port taken by a process gpumod does not manage is found before the switch touches anything
// (#19): a server of the mode being left may hold it (it is released by its stop), a stranger
// may not. "" when free or held by one of ours.
std::string Engine::Impl::port_problem(const Slot& s) {
  if (!s.service->port || s.service->driver == core::DriverKind::docker) return {};
  const int port = *s.service->port;
  if (infra::process::listen_socket_inodes(port).empty()) return {};  // the usual case: free
  std::set<int> ours;
  std::set<std::string> keys;
  {
    std::lock_guard lock(state_mutex);
    for (const auto& [key, inst] : instances) keys.insert(key);
  }
  for (const auto& key : keys) ours.merge(pids_of(key));
  for (const int pid : infra::process::listening_pids_for_port(port)) {
    if (ours.contains(pid)) continue;
    auto cmd = infra::process::read_cmdline(pid);
    return s.service->id + ": port " + std::to_string(port) + " is already in use by pid " + std::to_string(pid) +
           (cmd ? " (" + cmd->substr(0, 120) + ")" : std::string()) + ", a process gpumod did not start";
  }
  return {};
}

}  // namespace gpumod::engine
