// gpumod simulate mode ID [--add ID]... [--remove ID]... [--context SERVICE=TOKENS]... [--visual]
// gpumod simulate services A,B,...
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <ostream>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/engine/bench.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/app/cli/render.hpp"
#include "gpumod/app/cli/vram_models.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::app {

namespace {

struct SimulateArgs {
  std::string mode_id;
  std::string services_csv;
  std::vector<std::string> add, remove, context;
  bool visual = false;
  bool json = false;
};

void run_simulate(AppContext& ctx, const SimulateArgs& args, bool by_mode) {
  auto cfg = ctx.config();
  if (!cfg) return ctx.fail(cfg.error());
  auto gpu = ctx.gpu();
  if (!gpu) return ctx.fail(gpu.error());
  engine::SimulationRequest req;
  if (by_mode) {
    req.mode_id = args.mode_id;
  } else {
    for (auto& id : util::split(args.services_csv, ',')) {
      const auto t = std::string(util::trim(id));
      if (!t.empty()) req.services.push_back(t);
    }
    if (req.services.empty()) {
      return ctx.fail({util::ErrorCode::invalid_argument, "simulate services: give at least one service id"});
    }
  }
  req.add = args.add;
  req.remove = args.remove;
  for (const auto& c : args.context) {
    auto parsed = engine::parse_context_override(c);
    if (!parsed) return ctx.fail(parsed.error());
    req.context[parsed->first] = parsed->second;
  }
  const VramModels models(**cfg);
  auto outcome = engine::run_simulation(**cfg, **gpu, req, models.list());
  if (!outcome) return ctx.fail(outcome.error());
  // Expected start durations, from what gpumod measured (gpumod bench, earlier switches).
  nlohmann::json expected = nlohmann::json::object();
  std::int64_t total_ms = 0;
  bool complete = true;
  if (auto store = ctx.state(); store) {
    for (const auto& e : outcome->result.services) {
      const auto ms = engine::expected_bring_up_ms(**store, e.id, false);
      if (ms) total_ms += *ms, expected[e.id] = *ms;
      else complete = false;
    }
  }
  if (args.json) {
    auto j = simulation_json(*outcome);
    j["expected_start_ms"] = expected;
    j["expected_total_start_ms"] = complete && !expected.empty() ? nlohmann::json(total_ms) : nlohmann::json(nullptr);
    ctx.out() << j.dump(2) << "\n";
  } else {
    ctx.out() << simulation_text(*outcome, args.visual);
    if (!expected.empty()) {
      std::string line = "Expected start (measured):";
      for (const auto& [id, ms] : expected.items()) line += " " + id + " " + std::to_string(ms.get<std::int64_t>()) + " ms;";
      ctx.out() << line << (complete ? " all, one after another: " + std::to_string(total_ms) + " ms" : " others never measured") << "\n";
    }
  }
  if (!outcome->result.fits) ctx.set_exit_code(exit_code_for(util::ErrorCode::insufficient_vram));
}

void add_common(CLI::App* sub, SimulateArgs& a) {
  sub->add_option("--add", a.add, "Add a service (repeatable)");
  sub->add_option("--remove", a.remove, "Remove a service (repeatable)");
  sub->add_option("--context", a.context, "Simulate SERVICE at TOKENS of context (SERVICE=TOKENS, repeatable)");
  sub->add_flag("--visual", a.visual, "Draw the memory bar");
  sub->add_flag("--json", a.json, "Print JSON");
}

}  // namespace

void register_simulate_commands(CLI::App& root, AppContext& ctx) {
  auto* sim = root.add_subcommand("simulate", "What if: does a set of services fit the GPU? (exit 7 when not)");
  sim->require_subcommand(1);
  auto args = std::make_shared<SimulateArgs>();
  auto* mode = sim->add_subcommand("mode", "Simulate a mode, optionally changed");
  mode->add_option("ID", args->mode_id, "Mode id")->required();
  add_common(mode, *args);
  mode->callback([&ctx, args] { ctx.set_action([&ctx, args] { run_simulate(ctx, *args, true); }); });
  auto* services = sim->add_subcommand("services", "Simulate a list of services");
  services->add_option("IDS", args->services_csv, "Comma-separated service ids")->required();
  add_common(services, *args);
  services->callback([&ctx, args] { ctx.set_action([&ctx, args] { run_simulate(ctx, *args, false); }); });
}

}  // namespace gpumod::app
