// gpumod service list, gpumod mode list, gpumod mode show ID
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <ostream>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/app/cli/render.hpp"
#include "gpumod/util/ids.hpp"
#include "gpumod/util/strings.hpp"
#include "gpumod/util/table.hpp"

namespace gpumod::app {

using nlohmann::json;
using util::group_thousands;

namespace {

std::vector<std::string> modes_of(const core::Config& cfg, const std::string& service_id) {
  std::vector<std::string> out;
  for (const auto& m : cfg.modes) {
    if (std::ranges::find(m.services, service_id) != m.services.end()) out.push_back(m.id);
  }
  return out;
}

std::int64_t mode_total(const core::Config& cfg, const core::Mode& m) {
  std::int64_t total = 0;
  for (const auto& id : m.services) {
    if (const auto* s = cfg.find_service(id)) total += s->vram_mib;
  }
  return total;
}

json service_json(const core::Config& cfg, const core::Service& s) {
  json j = {{"id", s.id},
            {"name", s.name},
            {"driver", core::to_string(s.driver)},
            {"vram_mib", s.vram_mib},
            {"sleep_mode", core::to_string(s.sleep_mode)},
            {"supervisor", core::to_string(s.supervisor)},
            {"model_id", s.model_id},
            {"model_path", s.model_path},
            {"modes", modes_of(cfg, s.id)},
            {"defined_at", s.defined_at.to_string()}};
  j["port"] = s.port ? json(*s.port) : json(nullptr);
  j["context_size"] = s.context_size ? json(*s.context_size) : json(nullptr);
  return j;
}

void service_list(AppContext& ctx, bool as_json) {
  auto cfg = ctx.config_for_reading();
  if (!cfg) return ctx.fail(cfg.error());
  const auto& c = **cfg;
  if (as_json) {
    json arr = json::array();
    for (const auto& s : c.services) arr.push_back(service_json(c, s));
    ctx.out() << json{{"services", arr}}.dump(2) << "\n";
    return;
  }
  util::TextTable t({{"ID"}, {"DRIVER"}, {"PORT", true}, {"VRAM MiB", true}, {"SLEEP"}, {"MODES"}});
  for (const auto& s : c.services) {
    const auto modes = modes_of(c, s.id);
    t.add_row({s.id, std::string(core::to_string(s.driver)), s.port ? std::to_string(*s.port) : "-",
               group_thousands(s.vram_mib), std::string(core::to_string(s.sleep_mode)),
               modes.empty() ? "-" : util::join(modes, ",")});
  }
  ctx.out() << t.render();
}

void mode_list(AppContext& ctx, bool as_json) {
  auto cfg = ctx.config_for_reading();
  if (!cfg) return ctx.fail(cfg.error());
  const auto& c = **cfg;
  if (as_json) {
    json arr = json::array();
    for (const auto& m : c.modes) {
      arr.push_back({{"id", m.id}, {"name", m.name}, {"description", m.description},
                     {"services", m.services}, {"total_vram_mib", mode_total(c, m)}});
    }
    ctx.out() << json{{"modes", arr}}.dump(2) << "\n";
    return;
  }
  util::TextTable t({{"ID"}, {"NAME"}, {"SERVICES"}, {"VRAM MiB", true}});
  for (const auto& m : c.modes) {
    t.add_row({m.id, m.name, util::join(m.services, ","), group_thousands(mode_total(c, m))});
  }
  ctx.out() << t.render();
}

void mode_show(AppContext& ctx, const std::string& id, bool as_json) {
  if (auto st = util::validate_id(id, "mode id"); !st) return ctx.fail(st.error());
  auto cfg = ctx.config_for_reading();
  if (!cfg) return ctx.fail(cfg.error());
  const auto& c = **cfg;
  const auto* m = c.find_mode(id);
  if (!m) {
    const auto ids = c.mode_ids();
    return ctx.fail({util::ErrorCode::not_found, "no mode '" + id + "'" + util::did_you_mean(id, ids)});
  }
  if (as_json) {
    json services = json::array();
    for (const auto& sid : m->services) {
      if (const auto* s = c.find_service(sid)) services.push_back(service_json(c, *s));
    }
    ctx.out() << json{{"id", m->id}, {"name", m->name}, {"description", m->description},
                      {"services", services}, {"total_vram_mib", mode_total(c, *m)},
                      {"defined_at", m->defined_at.to_string()}}.dump(2)
              << "\n";
    return;
  }
  ctx.out() << "Mode " << m->id << ": " << m->name << "\n";
  if (!m->description.empty()) ctx.out() << m->description << "\n";
  ctx.out() << "Defined in " << m->defined_at.to_string() << "\n\n";
  util::TextTable t({{"#", true}, {"SERVICE"}, {"DRIVER"}, {"PORT", true}, {"VRAM MiB", true}, {"SLEEP"}});
  int n = 1;
  for (const auto& sid : m->services) {
    const auto* s = c.find_service(sid);
    if (!s) continue;
    t.add_row({std::to_string(n++), s->id, std::string(core::to_string(s->driver)),
               s->port ? std::to_string(*s->port) : "-", group_thousands(s->vram_mib),
               std::string(core::to_string(s->sleep_mode))});
  }
  ctx.out() << t.render() << "Total: " << mib(mode_total(c, *m)) << "\n";
}

}  // namespace

void register_inventory_commands(CLI::App& root, AppContext& ctx) {
  auto* service = root.add_subcommand("service", "Services (one per preset)");
  service->require_subcommand(1);
  {
    auto* list = service->add_subcommand("list", "List the configured services");
    auto as_json = std::make_shared<bool>(false);
    list->add_flag("--json", *as_json, "Print JSON");
    list->callback([&ctx, as_json] { ctx.set_action([&ctx, as_json] { service_list(ctx, *as_json); }); });
  }
  auto* mode = root.add_subcommand("mode", "Modes (sets of services that run together)");
  mode->require_subcommand(1);
  {
    auto* list = mode->add_subcommand("list", "List the modes");
    auto as_json = std::make_shared<bool>(false);
    list->add_flag("--json", *as_json, "Print JSON");
    list->callback([&ctx, as_json] { ctx.set_action([&ctx, as_json] { mode_list(ctx, *as_json); }); });
  }
  {
    auto* show = mode->add_subcommand("show", "Show one mode");
    auto as_json = std::make_shared<bool>(false);
    auto id = std::make_shared<std::string>();
    show->add_option("ID", *id, "Mode id")->required();
    show->add_flag("--json", *as_json, "Print JSON");
    show->callback([&ctx, as_json, id] { ctx.set_action([&ctx, as_json, id] { mode_show(ctx, *id, *as_json); }); });
  }
}

}  // namespace gpumod::app
