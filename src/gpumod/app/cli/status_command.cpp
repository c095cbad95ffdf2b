// gpumod status: GPU(s), current mode, each service with state and configured / measured VRAM.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <ostream>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/app/cli/daemon_client.hpp"
#include "gpumod/app/daemon/bench_routes.hpp"
#include "gpumod/app/daemon/json_codec.hpp"
#include "gpumod/app/cli/render.hpp"
#include "gpumod/core/router_mates.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::app {

using nlohmann::json;

namespace {

// Without a daemon: the same document as the daemon's /v1/status (docs/schemas/status.schema.json),
// from what is stored: each service's last recorded state, pid and learned memory, and its last
// measured throughput (gpumod bench); nothing is observed, so measured_mib is null, models is
// empty and external_mib is null.
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
  auto cfg = ctx.config_for_reading();
  if (!cfg) return ctx.fail(cfg.error());
  auto store = ctx.state_for_reading();
  if (!store) return ctx.fail(store.error());
  auto gpu = ctx.gpu();
  if (!gpu) return ctx.fail(gpu.error());
  auto current = (*store)->get_current_mode();
  if (!current) return ctx.fail(current.error());

  json services = json::array();
  std::vector<std::pair<std::string, core::ServiceNow>> now;  // for mode_modified, as the daemon computes it
  for (const auto& s : (*cfg)->services) {
    json j = {{"id", s.id},
              {"driver", core::to_string(s.driver)},
              {"state", core::to_string(core::ServiceState::stopped)},
              {"reason", ""},
              {"pid", 0},
              {"configured_mib", s.vram_mib},
              {"measured_mib", nullptr},
              {"learned_mib", nullptr},
              {"learned_sleep_mib", nullptr},
              {"models", json::array()}};
    j["port"] = s.port ? json(*s.port) : json(nullptr);
    if (auto rt = (*store)->get_runtime(s.id); rt && *rt) {
      j["state"] = core::to_string((*rt)->state);
      j["reason"] = (*rt)->reason;
      j["pid"] = (*rt)->pid;
      if ((*rt)->learned_vram_mib) j["learned_mib"] = *(*rt)->learned_vram_mib;
      if ((*rt)->learned_sleep_vram_mib) j["learned_sleep_mib"] = *(*rt)->learned_sleep_vram_mib;
    }
    core::ServiceNow state_now;
    if (auto rt = (*store)->get_runtime(s.id); rt && *rt) {
      state_now = {(*rt)->state, (*rt)->reason.starts_with("evicted")};
    }
    now.emplace_back(s.id, state_now);
    services.push_back(std::move(j));
  }
  json out = {{"source", "database"}, {"gpu", gpu_json(**gpu)}, {"services", services}, {"external_mib", nullptr}};
  out["current_mode"] = *current ? json(**current) : json(nullptr);
  // The same fields as the daemon's answer (one schema): no daemon runs, so nothing is busy or
  // recovering; a switch a killed daemon left unfinished is resumed when the next one starts.
  out["mode_modified"] = *current ? core::mode_modifications(**cfg, **current, now) : std::vector<std::string>{};
  add_last_bench(out, **store);
  out["busy"] = "";
  out["recovering"] = false;
  out["switch_in_progress"] = nullptr;
  if (auto unfinished = (*store)->unfinished_switch(); unfinished && *unfinished) {
    out["switch_in_progress"] = "interrupted switch to " + (*unfinished)->to_mode + " (resumed when the daemon starts)";
  }
  if (as_json) {
    ctx.out() << out.dump(2) << "\n";
    return;
  }
  if (!ctx.gpu_note().empty()) ctx.out() << "(" << ctx.gpu_note() << ")\n";
  ctx.out() << "(no daemon running: states as last recorded)\n" << render_status(out);
}

}  // namespace

void register_status_command(CLI::App& root, AppContext& ctx) {
  auto* status = root.add_subcommand("status", "GPU, current mode and every service's state and memory");
  auto as_json = std::make_shared<bool>(false);
  status->add_flag("--json", *as_json, "Print JSON");
  status->callback([&ctx, as_json] { ctx.set_action([&ctx, as_json] { run_status(ctx, *as_json); }); });
}

}  // namespace gpumod::app
