#include "gpumod/engine/simulation_request.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "gpumod/util/ids.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::engine {

using util::ErrorCode;

std::optional<std::int64_t> PresetKvModel::vram_at_context(const core::Service& service,
                                                           std::int64_t context) const {
  if (!service.context_size || !service.kv_cache_per_1k_mib) return std::nullopt;
  const double delta = static_cast<double>(context - *service.context_size) *
                       *service.kv_cache_per_1k_mib / 1024.0;
  return std::max<std::int64_t>(0, service.vram_mib + static_cast<std::int64_t>(std::llround(delta)));
}

util::Result<std::pair<std::string, std::int64_t>> parse_context_override(std::string_view text) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos) {
    return util::fail(ErrorCode::invalid_argument,
                      "--context expects SERVICE=TOKENS, got '" + std::string(text) + "'");
  }
  const std::string id(text.substr(0, eq));
  if (auto st = util::validate_id(id, "service id"); !st) return std::unexpected(st.error());
  auto tokens = util::parse_int(text.substr(eq + 1), 1, k_max_context_tokens, "--context " + id);
  if (!tokens) return std::unexpected(tokens.error());
  return std::pair{id, *tokens};
}

namespace {

util::Result<const core::Service*> lookup(const core::Config& config, const std::string& id) {
  if (auto st = util::validate_id(id, "service id"); !st) return std::unexpected(st.error());
  if (const auto* s = config.find_service(id)) return s;
  const auto ids = config.service_ids();
  return util::fail(ErrorCode::not_found,
                    "no service '" + id + "'" + util::did_you_mean(id, ids));
}

// The configuration's rule for services in one mode (infra/config/checks.cpp): services on one
// port cannot run together, except models of one llama-server router (same port and models_dir)
// up to its models_max. A simulation that breaks it describes a set gpumod would never start.
util::Status check_ports(const core::Config& config, const std::vector<std::string>& ids) {
  std::map<int, std::vector<const core::Service*>> by_port;
  for (const auto& id : ids) {
    if (const auto* s = config.find_service(id); s && s->port) by_port[*s->port].push_back(s);
  }
  for (const auto& [port, group] : by_port) {
    if (group.size() < 2) continue;
    std::vector<std::string> names;
    for (const auto* s : group) names.push_back(s->id);
    const auto router_dir = [](const core::Service& s) -> std::optional<std::string> {
      if (s.driver != core::DriverKind::llamacpp || s.sleep_mode != core::SleepMode::router) return std::nullopt;
      return s.var("models_dir");
    };
    const auto dir = router_dir(*group.front());
    const bool one_router = dir && std::ranges::all_of(group, [&](const core::Service* s) { return router_dir(*s) == dir; });
    if (!one_router) {
      return util::fail(ErrorCode::invalid_argument, util::join(names, ", ") + " all listen on port " + std::to_string(port) +
                                                         ": they cannot run together");
    }
    std::int64_t models_max = 1024;
    for (const auto* s : group) {
      auto v = util::parse_int(util::trim(s->var("models_max").value_or("1")), 1, 1024, "models_max");
      models_max = std::min<std::int64_t>(models_max, v ? *v : 1);
    }
    if (static_cast<std::int64_t>(group.size()) > models_max) {
      return util::fail(ErrorCode::invalid_argument, util::join(names, ", ") + " share the llama-server router on port " +
                                                         std::to_string(port) + " (models_max " + std::to_string(models_max) +
                                                         "): they cannot be loaded together");
    }
  }
  return {};
}

const core::GpuDevice* pick_device(const core::Config& config, const core::GpuSnapshot& gpu) {
  if (gpu.devices.empty()) return nullptr;
  if (!config.settings.gpu_uuid.empty()) {
    for (const auto& d : gpu.devices) {
      if (d.uuid == config.settings.gpu_uuid) return &d;
    }
  }
  return &gpu.devices.front();
}

}  // namespace

util::Result<SimulationOutcome> run_simulation(const core::Config& config,
                                               const core::GpuSnapshot& gpu,
                                               const SimulationRequest& request,
                                               const std::vector<const VramModel*>& models,
                                               std::int64_t external_mib) {
  SimulationOutcome out;
  std::vector<std::string> ids;
  if (request.mode_id) {
    if (auto st = util::validate_id(*request.mode_id, "mode id"); !st) return std::unexpected(st.error());
    const auto* mode = config.find_mode(*request.mode_id);
    if (!mode) {
      const auto mids = config.mode_ids();
      return util::fail(ErrorCode::not_found, "no mode '" + *request.mode_id + "'" +
                                                  util::did_you_mean(*request.mode_id, mids));
    }
    ids = mode->services;
    out.title = "mode " + mode->id;
  } else {
    ids = request.services;
    out.title = "services " + util::join(ids, ", ");
  }
  // Each service counts once: a list that names one twice is a mistake, not a second copy.
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (std::find(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(i), ids[i]) != ids.begin() + static_cast<std::ptrdiff_t>(i)) {
      return util::fail(ErrorCode::invalid_argument, "service '" + ids[i] + "' is listed twice");
    }
  }
  for (const auto& id : request.add) {
    if (auto s = lookup(config, id); !s) return std::unexpected(s.error());
    if (std::ranges::find(ids, id) != ids.end()) {
      return util::fail(ErrorCode::invalid_argument, "--add " + id + ": '" + id + "' is already among the simulated services");
    }
    ids.push_back(id);
    out.title += " +" + id;
  }
  for (const auto& id : request.remove) {
    if (auto s = lookup(config, id); !s) return std::unexpected(s.error());
    if (std::erase(ids, id) == 0) {
      return util::fail(ErrorCode::invalid_argument, "--remove " + id + ": '" + id + "' is not among the simulated services (" +
                                                         util::join(ids, ", ") + ")");
    }
    out.title += " -" + id;
  }
  if (auto st = check_ports(config, ids); !st) return std::unexpected(st.error());
  for (const auto& [id, tokens] : request.context) {
    if (std::ranges::find(ids, id) == ids.end()) {
      if (auto s = lookup(config, id); !s) return std::unexpected(s.error());
      return util::fail(ErrorCode::invalid_argument,
                        "--context " + id + ": '" + id + "' is not among the simulated services");
    }
  }

  const auto estimate = [&models](const core::Service& s, std::int64_t ctx) -> std::optional<std::int64_t> {
    for (const auto* m : models) {
      if (auto v = m->vram_at_context(s, ctx)) return v;
    }
    return std::nullopt;
  };
  // Like with like: a service's figure at another context is its configured figure plus the
  // model's estimated change between its configured context and that one (both ends from the
  // same estimate), never an absolute estimate set against a configured figure. Without a
  // configured context there is nothing to compare with: the estimate itself.
  const auto at_context = [estimate](const core::Service& s, std::int64_t ctx) -> std::optional<std::int64_t> {
    const auto there = estimate(s, ctx);
    if (!there || !s.context_size) return there;
    const auto here = estimate(s, *s.context_size);
    if (!here) return std::nullopt;
    return std::max<std::int64_t>(0, s.vram_mib + (*there - *here));
  };

  core::SimInput input;
  input.external_mib = external_mib;
  for (const auto& id : ids) {
    auto svc = lookup(config, id);
    if (!svc) return std::unexpected(svc.error());
    const core::Service& s = **svc;
    core::SimEntry e;
    e.id = s.id;
    e.vram_mib = s.vram_mib;
    e.vram_source = "configured";
    e.sleep_mode = s.sleep_mode;
    e.can_sleep = s.can_sleep();
    e.context = s.context_size;
    if (auto it = request.context.find(id); it != request.context.end()) {
      const auto v = at_context(s, it->second);
      if (!v) {
        return util::fail(ErrorCode::invalid_argument,
                          "--context " + id + "=" + std::to_string(it->second) +
                              ": cannot estimate '" + id +
                              "' at another context (it has no readable model file and no "
                              "context_size with kv_cache_per_1k in " + s.defined_at.file + ")");
      }
      e.vram_mib = *v;
      e.vram_source = s.context_size ? "configured + estimated change to " + std::to_string(it->second) + " tokens"
                                     : "estimated at " + std::to_string(it->second) + " tokens";
      e.context = it->second;
    }
    e.sleep_residue_mib = core::default_sleep_residue_mib(s.sleep_mode, e.vram_mib);
    if (e.context && at_context(s, *e.context)) {
      e.vram_at_context = [svc = s, at_context](std::int64_t ctx) { return at_context(svc, ctx); };
    }
    input.services.push_back(std::move(e));
  }
  const auto* device = pick_device(config, gpu);
  if (!device) return util::fail(ErrorCode::unavailable, "the GPU snapshot has no device");
  input.gpu_total_mib = device->total_mib;
  out.gpu_name = device->name;
  out.gpu_simulated = gpu.simulated();
  out.result = core::simulate(std::move(input));
  // The context functions refer to this call's arguments; do not let them outlive it.
  for (auto& e : out.result.services) e.vram_at_context = nullptr;
  return out;
}

}  // namespace gpumod::engine
