// gpumod demo: what `make run` shows. On the bundled example (a simulated RTX 4090 when no GPU is
// present) it prints the status and the spike's simulation table.
#include <CLI/CLI.hpp>
#include <ostream>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/app/cli/render.hpp"
#include "gpumod/app/cli/vram_models.hpp"
#include "gpumod/app/cli/daemon_client.hpp"
#include "gpumod/app/daemon/json_codec.hpp"
#include "gpumod/app/daemon/launch.hpp"
#include "gpumod/util/strings.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <nlohmann/json.hpp>

namespace gpumod::app {

namespace {

void section(AppContext& ctx, const std::string& title) {
  ctx.out() << "\n== " << title << " " << std::string(title.size() < 70 ? 70 - title.size() : 0, '=') << "\n";
}

void run_live(AppContext& ctx, const core::Config& cfg);

void run_demo(AppContext& ctx, bool live) {
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
  if (live) run_live(ctx, **cfg);
}

// The live part: on the bundled example with the bundled mock servers, in a private sandbox
// (its own runtime, state and simulated-GPU directories, removed afterwards), start the daemon,
// switch modes and show memory moving. Nothing outside the sandbox is touched.
void run_live(AppContext& ctx, const core::Config& cfg) {
  const auto launch = resolve_launch(cfg);
  if (!cfg.bundled_example || !launch.llama_is_mock || !launch.vllm_is_mock) {
    ctx.out() << "\n(live part skipped: it runs on the bundled example with the bundled mock servers)\n";
    return;
  }
  namespace fs = std::filesystem;
  const fs::path sandbox = fs::temp_directory_path() / ("gpumod-demo-" + std::to_string(::getpid()));
  fs::create_directories(sandbox / "run");
  fs::permissions(sandbox / "run", fs::perms::owner_all, fs::perm_options::replace);
  ::setenv("XDG_RUNTIME_DIR", (sandbox / "run").c_str(), 1);
  ::setenv("XDG_STATE_HOME", (sandbox / "state").c_str(), 1);
  ::setenv("GPUMOD_DB_PATH", (sandbox / "state" / "gpumod.db").c_str(), 1);
  ::setenv("GPUMOD_SIM_GPU_DIR", (sandbox / "simgpu").c_str(), 1);
  ctx.options.simulate_gpu = std::nullopt;
  auto client = DaemonClient::connect(ctx, true);
  if (!client) return ctx.fail(client.error());
  const auto show_status = [&] {
    if (auto st = client->get("/v1/status", std::chrono::milliseconds(30000))) ctx.out() << render_status(*st);
  };
  // A switch that fails makes the demo fail (exit code of the first failure, as `mode switch`).
  std::vector<std::string> failed;
  std::optional<util::ErrorCode> first_code;
  for (const std::string mode : {"code", "glm", "code"}) {
    section(ctx, "gpumod mode switch " + mode + "   (mock servers, simulated GPU)");
    auto r = client->post("/v1/modes/" + mode + "/switch", nlohmann::json{{"dry_run", false}}, std::chrono::milliseconds(120000));
    if (!r) {
      ctx.fail(r.error());
      break;
    }
    ctx.out() << render_switch(*r) << "\n";
    if (!(*r)["success"].get<bool>()) {
      failed.push_back(mode);
      if (!first_code) first_code = error_code_from_string((*r).value("error_code", std::string("failed")));
    }
    show_status();
  }
  section(ctx, "gpumod daemon stop --with-services");
  if (auto st = stop_daemon(std::move(*client), true, std::chrono::milliseconds(60000)); !st) ctx.fail(st.error());
  ctx.out() << "daemon and mock servers stopped; sandbox " << sandbox.string() << " removed\n";
  std::error_code ec;
  fs::remove_all(sandbox, ec);
  if (!failed.empty()) {
    ctx.fail({*first_code, "the demo's live switches failed (" + util::join(failed, ", ") +
                               "): see the switch output above"});
  }
}

}  // namespace

void register_demo_command(CLI::App& root, AppContext& ctx) {
  auto* demo = root.add_subcommand("demo", "Show gpumod at work on the current (or bundled example) configuration");
  auto static_only = std::make_shared<bool>(false);
  demo->add_flag("--no-live", *static_only, "Skip the live part (daemon, mock servers, mode switches)");
  demo->callback([&ctx, static_only] { ctx.set_action([&ctx, static_only] { run_demo(ctx, !*static_only); }); });
}

}  // namespace gpumod::app
