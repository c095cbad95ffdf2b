// gpumod status: GPU(s), current mode, each service with state and configured / measured VRAM.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <ostream>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/app/cli/daemon_client.hpp"
#include "gpumod/app/daemon/json_codec.hpp"
#include "gpumod/app/cli/render.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/util/strings.hpp"
#include "gpumod/util/table.hpp"

namespace gpumod::app {

using nlohmann::json;

namespace {

struct Row {
  const core::Service* service;
  core::ServiceState state = core::ServiceState::stopped;
  std::string reason;
  std::optional<std::int64_t> measured_mib;
};

void run_status(AppContext& ctx, bool as_json) {
  // A running daemon knows the live state: ask it (without reading the configuration here).
  auto client = DaemonClient::connect(ctx, false);
  if (!client && client.error().code != util::ErrorCode::unavailable) return ctx.fail(client.error());
  if (client) {
    auto st = client->get("/v1/status", std::chrono::milliseconds(30000));
    if (!st) return ctx.fail(st.error());
    (*st)["source"] = "daemon";
    if (st->value("recovering", false)) {  // the daemon answers during its recovery (#19)
      ctx.err() << "gpumod: note: the daemon is recovering (" << st->value("recovery", std::string()) << ")\n";
    } else if (const std::string busy = st->value("busy", ""); !busy.empty()) {
      ctx.err() << "gpumod: note: the daemon is busy with " << busy << "\n";
    }
    ctx.out() << (as_json ? st->dump(2) + "\n" : render_status(*st));
    return;
  }
  auto cfg = ctx.config();
  if (!cfg) return ctx.fail(cfg.error());
  auto store = ctx.state();
  if (!store) return ctx.fail(store.error());
  auto gpu = ctx.gpu();
  if (!gpu) return ctx.fail(gpu.error());
  auto current = (*store)->get_current_mode();
  if (!current) return ctx.fail(current.error());

  std::vector<Row> rows;
  for (const auto& s : (*cfg)->services) {
    Row row{&s};
    if (auto rt = (*store)->get_runtime(s.id); rt && *rt) {
      row.state = (*rt)->state;
      row.reason = (*rt)->reason;
      row.measured_mib = (*rt)->learned_vram_mib;
    }
    rows.push_back(row);
  }

  if (as_json) {
    json services = json::array();
    for (const auto& r : rows) {
      json j = {{"id", r.service->id},
                {"driver", core::to_string(r.service->driver)},
                {"state", core::to_string(r.state)},
                {"reason", r.reason},
                {"configured_mib", r.service->vram_mib}};
      j["port"] = r.service->port ? json(*r.service->port) : json(nullptr);
      j["estimated_mib"] = nullptr;
      j["measured_mib"] = r.measured_mib ? json(*r.measured_mib) : json(nullptr);
      services.push_back(std::move(j));
    }
    json out = {{"source", "database (no daemon running; states as last recorded)"},
                {"gpu", gpu_json(**gpu)},
                {"gpu_note", ctx.gpu_note()},
                {"config", {{"root", (*cfg)->root.string()}, {"bundled_example", (*cfg)->bundled_example}}},
                {"services", services}};
    out["current_mode"] = *current ? json(**current) : json(nullptr);
    ctx.out() << out.dump(2) << "\n";
    return;
  }
  ctx.out() << gpu_lines(**gpu, ctx.gpu_note());
  ctx.out() << "Mode: " << (*current ? **current : std::string("(none)")) << "\n";
  ctx.out() << "(no daemon running: states as last recorded)\n\n";
  util::TextTable t({{"SERVICE"}, {"DRIVER"}, {"PORT", true}, {"STATE"}, {"CONFIGURED MiB", true},
                     {"ESTIMATED MiB", true}, {"MEASURED MiB", true}});
  for (const auto& r : rows) {
    std::string state(core::to_string(r.state));
    if (!r.reason.empty()) state += " (" + r.reason + ")";
    t.add_row({r.service->id, std::string(core::to_string(r.service->driver)),
               r.service->port ? std::to_string(*r.service->port) : "-", state,
               util::group_thousands(r.service->vram_mib), "-",
               r.measured_mib ? util::group_thousands(*r.measured_mib) : "-"});
  }
  ctx.out() << t.render();
}

}  // namespace

void register_status_command(CLI::App& root, AppContext& ctx) {
  auto* status = root.add_subcommand("status", "GPU, current mode and every service's state and memory");
  auto as_json = std::make_shared<bool>(false);
  status->add_flag("--json", *as_json, "Print JSON");
  status->callback([&ctx, as_json] { ctx.set_action([&ctx, as_json] { run_status(ctx, *as_json); }); });
}

}  // namespace gpumod::app
