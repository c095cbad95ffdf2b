#include "gpumod/app/cli/render.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "gpumod/util/strings.hpp"
#include "gpumod/util/table.hpp"

namespace gpumod::app {

using nlohmann::json;
using util::group_thousands;

std::string mib(std::int64_t value) { return group_thousands(value) + " MiB"; }

namespace {
std::string_view source_name(core::GpuSource s) {
  switch (s) {
    case core::GpuSource::nvml: return "nvml";
    case core::GpuSource::nvidia_smi: return "nvidia-smi";
    case core::GpuSource::simulated: return "simulated";
  }
  return "simulated";
}

std::string change_text(const core::Change& c, const engine::SimulationOutcome& o) {
  switch (c.kind) {
    case core::ChangeKind::lower_context: {
      std::string from;
      for (const auto& e : o.result.services) {
        if (e.id == c.service_id && e.context) from = group_thousands(*e.context) + " -> ";
      }
      return "lower the context of " + c.service_id + " (" + from +
             group_thousands(c.context.value_or(0)) + " tokens)";
    }
    case core::ChangeKind::sleep: {
      std::string level;
      for (const auto& e : o.result.services) {
        if (e.id == c.service_id) level = std::string(core::to_string(e.sleep_mode));
      }
      return "sleep " + c.service_id + " (" + level + ")";
    }
    case core::ChangeKind::stop: return "stop " + c.service_id;
  }
  return "";
}
}  // namespace

std::string gpu_lines(const core::GpuSnapshot& gpu, const std::string& note) {
  std::string out;
  for (const auto& d : gpu.devices) {
    out += "GPU " + std::to_string(d.index) + ": " + d.name;
    if (gpu.simulated()) out += " [SIMULATED]";
    out += "  total " + mib(d.total_mib) + ", used " + mib(d.used_mib) + ", free " +
           mib(d.free_mib) + "\n";
  }
  if (gpu.devices.empty()) out += "GPU: none found\n";
  if (!note.empty()) out += "     (" + note + ")\n";
  return out;
}

json gpu_json(const core::GpuSnapshot& gpu) {
  json devices = json::array();
  for (const auto& d : gpu.devices) {
    json procs = json::array();
    for (const auto& p : d.processes) {
      procs.push_back({{"pid", p.pid}, {"used_mib", p.used_mib}, {"name", p.name}});
    }
    devices.push_back({{"index", d.index},
                       {"uuid", d.uuid},
                       {"name", d.name},
                       {"total_mib", d.total_mib},
                       {"used_mib", d.used_mib},
                       {"free_mib", d.free_mib},
                       {"processes", procs}});
  }
  return {{"source", source_name(gpu.source)},
          {"simulated", gpu.simulated()},
          {"driver_version", gpu.driver_version},
          {"devices", devices}};
}

std::string visual_bar(const engine::SimulationOutcome& o, std::size_t width) {
  const auto& r = o.result;
  const std::int64_t total = std::max<std::int64_t>(1, r.gpu_total_mib);
  std::size_t name_w = 8;
  for (const auto& e : r.services) name_w = std::max(name_w, e.id.size());
  std::string out;
  const auto cells = [&](std::int64_t v) {
    return static_cast<std::size_t>(std::clamp<std::int64_t>((v * static_cast<std::int64_t>(width) + total / 2) / total, 0,
                                                             static_cast<std::int64_t>(width)));
  };
  for (const auto& e : r.services) {
    const std::size_t used = cells(e.vram_mib);
    std::string bar;
    for (std::size_t i = 0; i < width; ++i) bar += i < used ? "\u2588" : "\u2591";
    out += e.id + std::string(name_w - e.id.size() + 2, ' ') + bar + "  " +
           group_thousands(e.vram_mib) + " MB\n";
  }
  {
    const std::size_t used = cells(std::min(r.proposed_mib + r.external_mib, total));
    std::string bar;
    for (std::size_t i = 0; i < width; ++i) bar += i < used ? "\u2588" : "\u2591";
    out += std::string("total") + std::string(name_w - 5 + 2, ' ') + bar + "  " +
           group_thousands(r.proposed_mib + r.external_mib) + " / " + group_thousands(r.gpu_total_mib) + " MB\n";
  }
  out += "free: " + group_thousands(r.headroom_mib) + " MB\n";
  return out;
}

std::string simulation_text(const engine::SimulationOutcome& o, bool visual) {
  const auto& r = o.result;
  std::string out = "Simulation: " + o.title + "\n";
  out += "GPU: " + o.gpu_name + (o.gpu_simulated ? " [SIMULATED]" : "") + ", " +
         mib(r.gpu_total_mib) + " total\n\n";
  util::TextTable t({{"SERVICE"}, {"VRAM MiB", true}, {"SOURCE"}, {"SLEEP"}, {"CONTEXT", true}});
  for (const auto& e : r.services) {
    t.add_row({e.id, group_thousands(e.vram_mib), e.vram_source,
               std::string(core::to_string(e.sleep_mode)),
               e.context ? group_thousands(*e.context) : "-"});
  }
  out += t.render() + "\n";
  if (visual) out += visual_bar(o) + "\n";
  out += "Proposed total: " + mib(r.proposed_mib) + "\n";
  if (r.external_mib > 0) out += "Other processes: " + mib(r.external_mib) + " (not managed by gpumod)\n";
  out += "Headroom:       " + mib(r.headroom_mib) + "\n";
  out += std::string("Fits:           ") +
         (r.fits ? "yes" : "NO (" + mib(-r.headroom_mib) + " over)") + "\n";
  if (!r.fits) {
    if (r.alternatives.empty()) {
      out += "\nNo combination of sleeping, stopping or lowering context makes it fit.\n";
    } else {
      out += "\nAlternatives that fit (smallest change first):\n";
      int n = 1;
      for (const auto& a : r.alternatives) {
        std::vector<std::string> parts;
        for (const auto& c : a.changes) parts.push_back(change_text(c, o));
        out += "  " + std::to_string(n++) + ". " + util::join(parts, " + ") + ": frees " +
               mib(a.freed_mib) + " -> total " + mib(a.projected_total_mib) + ", headroom " +
               mib(a.headroom_mib) + "\n";
      }
    }
  }
  return out;
}

json simulation_json(const engine::SimulationOutcome& o) {
  const auto& r = o.result;
  json services = json::array();
  for (const auto& e : r.services) {
    json s = {{"id", e.id},
              {"vram_mib", e.vram_mib},
              {"source", e.vram_source},
              {"sleep_mode", core::to_string(e.sleep_mode)},
              {"sleep_residue_mib", e.sleep_residue_mib}};
    s["context"] = e.context ? json(*e.context) : json(nullptr);
    services.push_back(std::move(s));
  }
  json alts = json::array();
  for (const auto& a : r.alternatives) {
    json changes = json::array();
    for (const auto& c : a.changes) {
      json cj = {{"service", c.service_id}, {"action", core::to_string(c.kind)}, {"freed_mib", c.freed_mib}};
      if (c.context) cj["context"] = *c.context;
      changes.push_back(std::move(cj));
    }
    alts.push_back({{"changes", changes},
                    {"freed_mib", a.freed_mib},
                    {"projected_total_mib", a.projected_total_mib},
                    {"headroom_mib", a.headroom_mib}});
  }
  return {{"title", o.title},
          {"gpu", {{"name", o.gpu_name}, {"simulated", o.gpu_simulated}, {"total_mib", r.gpu_total_mib}}},
          {"services", services},
          {"proposed_mib", r.proposed_mib},
          {"external_mib", r.external_mib},
          {"headroom_mib", r.headroom_mib},
          {"fits", r.fits},
          {"alternatives", alts}};
}

}  // namespace gpumod::app
