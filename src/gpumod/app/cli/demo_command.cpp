// gpumod demo: what `make run` shows. On the bundled example (a simulated RTX 4090 when no GPU is
// present) it prints the status and the spike's simulation table.
#include <CLI/CLI.hpp>
#include <ostream>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/app/cli/render.hpp"
#include "gpumod/app/cli/vram_models.hpp"

namespace gpumod::app {

namespace {

void section(AppContext& ctx, const std::string& title) {
  ctx.out() << "\n== " << title << " " << std::string(title.size() < 70 ? 70 - title.size() : 0, '=') << "\n";
}

void run_demo(AppContext& ctx) {
  auto cfg = ctx.config();
  if (!cfg) return ctx.fail(cfg.error());
  auto gpu = ctx.gpu();
  if (!gpu) return ctx.fail(gpu.error());
  section(ctx, "gpumod status");
  ctx.out() << gpu_lines(**gpu, ctx.gpu_note());
  ctx.out() << "Configuration: " << (*cfg)->root.string()
            << ((*cfg)->bundled_example ? " (bundled example)" : "") << "\n";
  ctx.out() << (*cfg)->services.size() << " services, " << (*cfg)->modes.size() << " modes\n";

  const VramModels models(**cfg);
  struct Case {
    std::string title;
    engine::SimulationRequest req;
  };
  std::vector<Case> cases;
  if ((*cfg)->find_mode("nemotron")) cases.push_back({"simulate mode nemotron", {.mode_id = "nemotron"}});
  if ((*cfg)->find_mode("code")) cases.push_back({"simulate mode code", {.mode_id = "code"}});
  if ((*cfg)->find_mode("code") && (*cfg)->find_service("vllm-embedding")) {
    engine::SimulationRequest r{.mode_id = "code"};
    r.add = {"vllm-embedding"};
    cases.push_back({"simulate mode code --add vllm-embedding --visual", r});
  }
  if (cases.empty()) {
    for (const auto& m : (*cfg)->modes) cases.push_back({"simulate mode " + m.id, {.mode_id = m.id}});
  }
  for (const auto& c : cases) {
    section(ctx, "gpumod " + c.title);
    auto outcome = engine::run_simulation(**cfg, **gpu, c.req, models.list());
    if (!outcome) return ctx.fail(outcome.error());
    ctx.out() << simulation_text(*outcome, c.title.find("--visual") != std::string::npos);
  }
}

}  // namespace

void register_demo_command(CLI::App& root, AppContext& ctx) {
  auto* demo = root.add_subcommand("demo", "Show gpumod at work on the current (or bundled example) configuration");
  demo->callback([&ctx] { ctx.set_action([&ctx] { run_demo(ctx); }); });
}

}  // namespace gpumod::app
