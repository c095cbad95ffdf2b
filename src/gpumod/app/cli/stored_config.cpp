#include "gpumod/app/cli/stored_config.hpp"

#include <map>
#include <nlohmann/json.hpp>

#include "gpumod/infra/state/state_store.hpp"

namespace gpumod::app {

using nlohmann::json;

namespace {

util::Result<core::Service> service_from_json(const std::string& text) {
  const auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return util::fail(util::ErrorCode::corrupt, "a stored service definition is not JSON");
  try {
    core::Service s;
    s.id = j.at("id").get<std::string>();
    s.name = j.value("name", "");
    s.driver = core::parse_driver_kind(j.value("driver", "llamacpp")).value_or(core::DriverKind::llamacpp);
    if (j.contains("port") && j["port"].is_number_integer()) s.port = j["port"].get<int>();
    s.vram_mib = j.value("vram_mib", std::int64_t{0});
    if (j.contains("context_size") && j["context_size"].is_number_integer()) s.context_size = j["context_size"].get<std::int64_t>();
    s.model_id = j.value("model_id", "");
    s.model_path = j.value("model_path", "");
    s.health_endpoint = j.value("health_endpoint", s.health_endpoint);
    s.supports_sleep = j.value("supports_sleep", false);
    s.sleep_mode = core::parse_sleep_mode(j.value("sleep_mode", "none")).value_or(core::SleepMode::none);
    s.supervisor = core::parse_supervisor_kind(j.value("supervisor", "process")).value_or(core::SupervisorKind::process);
    s.unit_template = j.value("unit_template", "");
    if (j.contains("unit_vars")) s.unit_vars = j["unit_vars"].get<std::map<std::string, std::string>>();
    if (j.contains("depends_on")) s.depends_on = j["depends_on"].get<std::vector<std::string>>();
    if (j.contains("command")) s.command = j["command"].get<std::vector<std::string>>();
    s.gpu = j.value("gpu", "");
    if (j.contains("defined_at") && j["defined_at"].is_object()) {
      s.defined_at = {j["defined_at"].value("file", ""), j["defined_at"].value("line", 0), j["defined_at"].value("column", 0)};
    }
    return s;
  } catch (const json::exception& e) {
    return util::fail(util::ErrorCode::corrupt, std::string("a stored service definition: ") + e.what());
  }
}

}  // namespace

util::Result<core::Config> stored_config(const infra::state::StateStore& store, const std::filesystem::path& root) {
  core::Config cfg;
  cfg.root = root;
  auto services = store.list_services();
  if (!services) return std::unexpected(services.error());
  for (const auto& row : *services) {
    auto s = service_from_json(row.definition_json);
    if (!s) return std::unexpected(util::with_context(s.error(), "service " + row.id));
    cfg.services.push_back(std::move(*s));
  }
  auto modes = store.list_modes();
  if (!modes) return std::unexpected(modes.error());
  for (const auto& m : *modes) {
    cfg.modes.push_back(core::Mode{m.id, m.name, m.description, m.service_ids, {m.source_file, 0, 0}});
  }
  return cfg;
}

}  // namespace gpumod::app
