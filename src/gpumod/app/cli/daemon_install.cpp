#include "gpumod/app/cli/daemon_install.hpp"

#include <cstdlib>
#include <fstream>
#include <optional>
#include <ostream>
#include <sstream>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/daemon/environment.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/infra/systemd/unit.hpp"
#include "gpumod/util/subprocess.hpp"

namespace gpumod::app {

namespace fs = std::filesystem;

namespace {

constexpr const char* k_unit = "gpumod.service";

std::optional<std::string> env(const char* name) {
  if (const char* v = std::getenv(name); v && *v) return std::string(v);
  return std::nullopt;
}

// A binary as the daemon should get it: an absolute path (systemd's PATH is not the shell's).
std::string absolute_program(const std::string& program) {
  if (program.empty() || program.front() == '/') return program;
  const std::string found = util::find_program(program);
  return found.empty() ? program : fs::absolute(found).string();
}

}  // namespace

void daemon_install(AppContext& ctx, bool force) {
  auto cfg = ctx.config();
  if (!cfg) return ctx.fail(cfg.error());
  auto dir = infra::systemd::user_unit_dir();
  if (!dir) return ctx.fail(dir.error());
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return ctx.fail({util::ErrorCode::io, "cannot read /proc/self/exe: " + ec.message()});

  infra::systemd::UnitSpec spec;
  spec.unit_name = k_unit;
  spec.description = "gpumod daemon (GPU inference service manager)";
  spec.comment = "Written by gpumod daemon install; `gpumod daemon install --force` rewrites it.";
  spec.argv = {exe.string(), "--config", fs::absolute((*cfg)->root).string()};
  if (ctx.options.simulate_gpu) spec.argv.insert(spec.argv.end(), {"--simulate-gpu", *ctx.options.simulate_gpu});
  spec.argv.insert(spec.argv.end(), {"daemon", "run"});
  spec.restart = "on-failure";
  spec.restart_sec = std::chrono::seconds(2);
  spec.kill_mode = "process";  // stopping the daemon leaves the services it started running
  // The environment this CLI resolved, so the systemd daemon uses the same database and servers.
  spec.env["GPUMOD_DB_PATH"] = fs::absolute(infra::state::default_db_path()).string();
  for (const char* name : {"XDG_STATE_HOME", "XDG_RUNTIME_DIR", "GPUMOD_SIM_GPU_DIR", "GPUMOD_USE_MOCK_SERVERS",
                           "DOCKER_HOST", "PATH"}) {
    if (auto v = env(name)) spec.env[name] = *v;
  }
  const auto resolved = current_environment(**cfg, ctx.options.simulate_gpu);
  spec.env["GPUMOD_LLAMA_SERVER_BIN"] = absolute_program(resolved.llama_server_bin);
  spec.env["GPUMOD_VLLM_BIN"] = absolute_program(resolved.vllm_bin);
  auto text = infra::systemd::render_unit(spec);
  if (!text) return ctx.fail(text.error());

  const fs::path path = *dir / k_unit;
  if (!force && fs::exists(path, ec)) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream existing;
    existing << in.rdbuf();
    if (existing.str() != *text) {
      return ctx.fail({util::ErrorCode::conflict, path.string() +
                                                      " exists with other contents; it was kept. "
                                                      "`gpumod daemon install --force` replaces it"});
    }
  }
  auto changed = infra::systemd::install_unit(*dir, k_unit, *text);
  if (!changed) return ctx.fail(changed.error());
  ctx.out() << (*changed ? "wrote " : "unchanged: ") << path.string() << "\n"
            << "enable it with: systemctl --user daemon-reload && systemctl --user enable --now gpumod.service\n"
            << "(KillMode=process: stopping the daemon leaves the services it started running)\n";
}

}  // namespace gpumod::app
