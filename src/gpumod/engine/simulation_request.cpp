#include "gpumod/engine/simulation_request.hpp"

#include <algorithm>
#include <cmath>

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
  for (const auto& id : request.add) {
    if (auto s = lookup(config, id); !s) return std::unexpected(s.error());
    if (std::ranges::find(ids, id) == ids.end()) {
      ids.push_back(id);
      out.title += " +" + id;
    }
  }
  for (const auto& id : request.remove) {
    if (auto s = lookup(config, id); !s) return std::unexpected(s.error());
    if (std::erase(ids, id) > 0) out.title += " -" + id;
  }
  for (const auto& [id, tokens] : request.context) {
    if (std::ranges::find(ids, id) == ids.end()) {
      if (auto s = lookup(config, id); !s) return std::unexpected(s.error());
      return util::fail(ErrorCode::invalid_argument,
                        "--context " + id + ": '" + id + "' is not among the simulated services");
    }
  }

  const auto at_context = [&models](const core::Service& s, std::int64_t ctx) -> std::optional<std::int64_t> {
    for (const auto* m : models) {
      if (auto v = m->vram_at_context(s, ctx)) return v;
    }
    return std::nullopt;
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
      e.vram_source = "at " + std::to_string(it->second) + " tokens";
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
