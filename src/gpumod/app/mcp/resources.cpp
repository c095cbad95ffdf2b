#include "gpumod/app/mcp/resources.hpp"

#include <ctime>

#include "gpumod/app/mcp/tools.hpp"
#include "gpumod/util/ids.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::app::mcp {

using nlohmann::json;
using util::group_thousands;

namespace {

constexpr std::string_view k_scheme = "gpumod://";
constexpr std::chrono::milliseconds k_read_timeout{30000};

std::string cell(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    for (auto& c : s) {
      if (c == '|' || c == '\n') c = ' ';
    }
    return s.empty() ? "-" : s;
  }
  if (v.is_number_integer()) return group_thousands(v.get<std::int64_t>());
  if (v.is_array()) {
    std::vector<std::string> parts;
    for (const auto& e : v) parts.push_back(cell(e));
    return parts.empty() ? "-" : util::join(parts, ", ");
  }
  return v.dump();
}

std::string port(const json& v) { return v.is_number_integer() ? std::to_string(v.get<std::int64_t>()) : "-"; }

std::string table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::string out = "|";
  for (const auto& h : headers) out += " " + h + " |";
  out += "\n|";
  for (std::size_t i = 0; i < headers.size(); ++i) out += "---|";
  out += "\n";
  for (const auto& r : rows) {
    out += "|";
    for (const auto& c : r) out += " " + c + " |";
    out += "\n";
  }
  return out;
}

// A model's location is a file path for local models: only hf:// locations are shown.
std::string location(const json& m) {
  const std::string loc = m.value("location", "");
  return loc.starts_with("hf://") ? loc : "-";
}

util::Result<std::string> help() {
  std::string md = "# gpumod\n\ngpumod manages the LLM inference services (llama.cpp, vLLM, ...) that share this GPU box. "
                   "It groups services into **modes** that fit the GPU and switches between them, every step confirmed "
                   "and rolled back on failure. Every change goes through the gpumod daemon, one at a time.\n\n"
                   "## Tools\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : tools()) {
    rows.push_back({"`" + t.name + "`", t.read_only ? "read" : (t.destructive ? "changes (destructive)" : "changes"),
                    t.description});
  }
  md += table({"tool", "kind", "what"}, rows);
  md += "\n## Resources\n\n"
        "- `gpumod://status`: the GPU, the current mode, each service's state\n"
        "- `gpumod://config`: the services and modes configured\n"
        "- `gpumod://modes`, `gpumod://modes/{id}`: modes\n"
        "- `gpumod://services`, `gpumod://services/{id}`: services\n"
        "- `gpumod://models`, `gpumod://models/{id}`: the model registry\n"
        "- `gpumod://events`: the latest events\n\n"
        "Figures are MiB. A typical flow: `gpu_status`, `list_modes`, `plan_switch` (or `simulate_mode`), then "
        "`switch_mode`.\n";
  return md;
}

std::string services_table(const json& services) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : services) {
    rows.push_back({"`" + cell(s["id"]) + "`", cell(s["driver"]), port(s["port"]), cell(s["vram_mib"]),
                    cell(s["sleep_mode"]), cell(s["modes"])});
  }
  return table({"service", "driver", "port", "VRAM MiB", "sleep", "modes"}, rows);
}

std::string modes_table(const json& modes) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : modes) {
    rows.push_back({"`" + cell(m["id"]) + "`", cell(m["name"]), cell(m["services"]), cell(m["total_vram_mib"])});
  }
  return table({"mode", "name", "services", "VRAM MiB"}, rows);
}

util::Result<std::string> status(Backend& b) {
  auto st = b.get("/v1/status", k_read_timeout);
  if (!st) return std::unexpected(st.error());
  std::string md = "# gpumod status\n\n";
  for (const auto& d : (*st)["gpu"]["devices"]) {
    md += "- GPU " + cell(d["index"]) + ": " + cell(d["name"]) + ((*st)["gpu"].value("simulated", false) ? " (simulated)" : "") +
          ": total " + cell(d["total_mib"]) + " MiB, used " + cell(d["used_mib"]) + " MiB, free " + cell(d["free_mib"]) + " MiB\n";
  }
  md += "- Current mode: " + ((*st)["current_mode"].is_string() ? "`" + (*st)["current_mode"].get<std::string>() + "`" : std::string("none")) + "\n";
  if ((*st).value("external_mib", 0) > 0) md += "- Other processes on the GPU: " + cell((*st)["external_mib"]) + " MiB\n";
  md += "\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : (*st)["services"]) {
    std::string state = cell(s["state"]);
    if (!s.value("reason", "").empty()) state += " (" + cell(s["reason"]) + ")";
    rows.push_back({"`" + cell(s["id"]) + "`", cell(s["driver"]), port(s["port"]), state, cell(s["configured_mib"]),
                    cell(s["measured_mib"])});
  }
  md += table({"service", "driver", "port", "state", "configured MiB", "measured MiB"}, rows);
  return md;
}

util::Result<std::string> events(Backend& b) {
  auto r = b.get("/v1/events?after=0&limit=10000", k_read_timeout);
  if (!r) return std::unexpected(r.error());
  const auto& all = (*r)["events"];
  const std::size_t first = all.size() > 50 ? all.size() - 50 : 0;
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = first; i < all.size(); ++i) {
    const auto& e = all[i];
    const std::time_t secs = e["ts_ms"].get<std::int64_t>() / 1000;
    char buf[32];
    std::tm tm{};
    gmtime_r(&secs, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
    rows.push_back({cell(e["id"]), buf, cell(e["kind"]), cell(e["service"]), cell(e["mode"]), cell(e["message"])});
  }
  return "# gpumod events (latest " + std::to_string(rows.size()) + ")\n\n" +
         (rows.empty() ? std::string("No events yet.\n")
                       : table({"id", "time (UTC)", "kind", "service", "mode", "message"}, rows));
}

util::Result<std::string> config(Backend& b) {
  auto services = b.command({"service", "list"});
  if (!services) return std::unexpected(services.error());
  auto modes = b.command({"mode", "list"});
  if (!modes) return std::unexpected(modes.error());
  return "# gpumod configuration\n\n" + std::to_string((*services)["services"].size()) + " services, " +
         std::to_string((*modes)["modes"].size()) + " modes.\n\n## Services\n\n" + services_table((*services)["services"]) +
         "\n## Modes\n\n" + modes_table((*modes)["modes"]);
}

util::Result<std::string> one_mode(Backend& b, const std::string& id) {
  auto m = b.command({"mode", "show", id});
  if (!m) return std::unexpected(m.error());
  std::string md = "# Mode `" + id + "`: " + cell((*m)["name"]) + "\n\n";
  if (!(*m).value("description", "").empty()) md += (*m)["description"].get<std::string>() + "\n\n";
  md += "Total configured VRAM: " + cell((*m)["total_vram_mib"]) + " MiB\n\n" + services_table((*m)["services"]);
  return md;
}

util::Result<std::string> one_service(Backend& b, const std::string& id) {
  const Tool* info = find_tool("service_info");
  auto r = info->run(b, json{{"service_id", id}});
  if (!r) return std::unexpected(r.error());
  const auto& c = r->structured["config"];
  const auto& rt = r->structured["runtime"];
  std::string md = "# Service `" + id + "`: " + cell(c["name"]) + "\n\n";
  md += "- Driver: " + cell(c["driver"]) + "\n- Port: " + port(c["port"]) + "\n- Configured VRAM: " + cell(c["vram_mib"]) +
        " MiB\n- Sleep mode: " + cell(c["sleep_mode"]) + "\n- Supervisor: " + cell(c["supervisor"]) +
        "\n- Model id: " + cell(c["model_id"]) + "\n- Context size: " + cell(c["context_size"]) +
        "\n- Modes: " + cell(c["modes"]) + "\n";
  if (rt.is_object()) {
    md += "- State: " + cell(rt["state"]) + (rt.value("reason", "").empty() ? "" : " (" + cell(rt["reason"]) + ")") +
          "\n- Measured VRAM: " + cell(rt["measured_mib"]) + " MiB\n- Learned VRAM: " + cell(rt["learned_mib"]) + " MiB\n";
    for (const auto& m : rt.value("models", json::array())) md += "- Model `" + cell(m["id"]) + "`: " + cell(m["status"]) + "\n";
  }
  return md;
}

util::Result<std::string> models(Backend& b) {
  auto r = b.command({"model", "list"});
  if (!r) return std::unexpected(r.error());
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : (*r)["models"]) {
    rows.push_back({"`" + cell(m["id"]) + "`", cell(m["source"]), cell(m["architecture"]), cell(m["quant"]),
                    cell(m["base_vram_mib"]), location(m)});
  }
  return "# Model registry\n\n" + (rows.empty() ? std::string("No models registered.\n")
                                                 : table({"model", "source", "architecture", "quant", "base VRAM MiB", "location"}, rows));
}

util::Result<std::string> one_model(Backend& b, const std::string& id) {
  auto m = b.command({"model", "show", id});
  if (!m) return std::unexpected(m.error());
  const auto& j = *m;
  std::string md = "# Model `" + id + "`\n\n";
  md += "- Source: " + cell(j["source"]) + "\n- Location: " + location(j) + "\n- Architecture: " + cell(j["architecture"]) +
        "\n- Quant: " + cell(j["quant"]) + "\n- Parameters (B): " + cell(j["parameters_b"]) + "\n- File size: " +
        cell(j["file_bytes"]) + " bytes\n- Base VRAM: " + cell(j["base_vram_mib"]) + " MiB\n- KV per 1k tokens: " +
        cell(j["kv_per_1k_mib"]) + " MiB\n";
  return md;
}

struct Fixed {
  const char* path;
  const char* name;
  const char* description;
};
constexpr Fixed k_fixed[] = {
    {"help", "help", "What gpumod is, its tools and resources"},
    {"status", "status", "The GPU, the current mode and each service's observed state"},
    {"config", "config", "The configured services and modes"},
    {"modes", "modes", "The modes"},
    {"services", "services", "The services"},
    {"models", "models", "The model registry"},
    {"events", "events", "The latest events"},
};

json resource(const std::string& path, const std::string& name, const std::string& description) {
  return {{"uri", std::string(k_scheme) + path}, {"name", name}, {"description", description}, {"mimeType", "text/markdown"}};
}

}  // namespace

json resource_list(Backend& b) {
  json list = json::array();
  for (const auto& f : k_fixed) list.push_back(resource(f.path, f.name, f.description));
  if (auto m = b.command({"mode", "list"})) {
    for (const auto& x : (*m)["modes"]) list.push_back(resource("modes/" + x["id"].get<std::string>(), "mode " + x["id"].get<std::string>(), "Mode " + x["id"].get<std::string>()));
  }
  if (auto s = b.command({"service", "list"})) {
    for (const auto& x : (*s)["services"]) list.push_back(resource("services/" + x["id"].get<std::string>(), "service " + x["id"].get<std::string>(), "Service " + x["id"].get<std::string>()));
  }
  if (auto s = b.command({"model", "list"})) {
    for (const auto& x : (*s)["models"]) list.push_back(resource("models/" + x["id"].get<std::string>(), "model " + x["id"].get<std::string>(), "Model " + x["id"].get<std::string>()));
  }
  return list;
}

json resource_templates() {
  json list = json::array();
  for (const char* kind : {"modes", "services", "models"}) {
    const std::string singular = std::string(kind).substr(0, std::string(kind).size() - 1);
    list.push_back({{"uriTemplate", std::string(k_scheme) + kind + "/{id}"},
                    {"name", singular},
                    {"description", "One " + singular + " by id"},
                    {"mimeType", "text/markdown"}});
  }
  return list;
}

util::Result<std::string> read_resource(Backend& b, const std::string& uri) {
  if (!uri.starts_with(k_scheme)) {
    return util::fail(util::ErrorCode::not_found, "unknown resource '" + uri + "' (gpumod resources start with gpumod://)");
  }
  const std::string path = uri.substr(k_scheme.size());
  if (path == "help") return help();
  if (path == "status") return status(b);
  if (path == "config") return config(b);
  if (path == "events") return events(b);
  if (path == "modes") {
    auto m = b.command({"mode", "list"});
    if (!m) return std::unexpected(m.error());
    return "# Modes\n\n" + modes_table((*m)["modes"]);
  }
  if (path == "services") {
    auto s = b.command({"service", "list"});
    if (!s) return std::unexpected(s.error());
    return "# Services\n\n" + services_table((*s)["services"]);
  }
  if (path == "models") return models(b);
  const auto slash = path.find('/');
  if (slash != std::string::npos) {
    const std::string kind = path.substr(0, slash), id = path.substr(slash + 1);
    if (kind == "modes" || kind == "services" || kind == "models") {
      const std::string what = kind.substr(0, kind.size() - 1) + " id";
      if (auto st = util::validate_id(id, what); !st) return std::unexpected(st.error());
      if (kind == "modes") return one_mode(b, id);
      if (kind == "services") return one_service(b, id);
      return one_model(b, id);
    }
  }
  std::vector<std::string> known;
  for (const auto& f : k_fixed) known.push_back(std::string(k_scheme) + f.path);
  return util::fail(util::ErrorCode::not_found, "unknown resource '" + uri + "'" + util::did_you_mean(uri, known));
}

}  // namespace gpumod::app::mcp
