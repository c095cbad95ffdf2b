#include "gpumod/app/cli/app_context.hpp"

#include <unistd.h>

#include <cstdlib>
#include <ostream>

#include "gpumod/app/cli/stored_config.hpp"
#include "gpumod/infra/config/config_loader.hpp"
#include "gpumod/infra/gpu/probe.hpp"
#include "gpumod/infra/gpu/select.hpp"
#include "gpumod/infra/gpu/simulated_probe.hpp"
#include "gpumod/infra/gpu/sim_ledger.hpp"
#include "gpumod/infra/state/state_store.hpp"

namespace gpumod::app {

namespace fs = std::filesystem;

namespace {

std::optional<std::string> env(const std::string& name) {
  if (const char* v = std::getenv(name.c_str()); v && *v) return std::string(v);
  return std::nullopt;
}

fs::path executable_dir() {
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path{} : exe.parent_path();
}

constexpr std::chrono::milliseconds k_gpu_deadline{3000};

}  // namespace

AppContext::AppContext(std::ostream& out, std::ostream& err) : m_out(out), m_err(err) {}
AppContext::~AppContext() = default;

int exit_code_for(util::ErrorCode code) {
  using util::ErrorCode;
  switch (code) {
    case ErrorCode::failed: return 1;
    case ErrorCode::invalid_argument: return 2;
    case ErrorCode::config_invalid: return 3;
    case ErrorCode::not_found: return 4;
    case ErrorCode::unavailable: return 5;
    case ErrorCode::timeout: return 6;
    case ErrorCode::insufficient_vram: return 7;
    case ErrorCode::conflict: return 8;
    case ErrorCode::io: return 9;
    case ErrorCode::corrupt: return 10;
    case ErrorCode::internal: return 11;
  }
  return 11;
}

fs::path AppContext::bundled_example_dir() {
  if (auto d = env("GPUMOD_EXAMPLE_DIR")) return *d;
  const auto installed = executable_dir() / ".." / "share" / "gpumod" / "examples" / "config";
  std::error_code ec;
  if (fs::is_directory(installed, ec)) return installed.lexically_normal();
  return GPUMOD_SOURCE_EXAMPLE_DIR;
}

util::Result<fs::path> AppContext::config_root() {
  if (m_config_root) return *m_config_root;
  auto choice = infra::config::resolve_config_root(options.config_dir, env, bundled_example_dir());
  if (!choice) return std::unexpected(choice.error());
  if (choice->bundled) {
    m_err << "gpumod: note: no configuration found (--config, $GPUMOD_CONFIG_DIR, "
             "$XDG_CONFIG_HOME/gpumod); using the bundled example at "
          << choice->root.string() << "\n";
  }
  m_config_root_bundled = choice->bundled;
  m_config_root = choice->root;
  return *m_config_root;
}

util::Result<const core::Config*> AppContext::config() {
  if (m_config) return &*m_config;
  auto root = config_root();
  if (!root) return std::unexpected(root.error());
  auto loaded = infra::config::load_config_or_error(*root);
  if (!loaded) return std::unexpected(loaded.error());
  std::error_code ec;
  loaded->bundled_example = m_config_root_bundled || fs::equivalent(*root, bundled_example_dir(), ec);
  m_config = std::move(*loaded);
  return &*m_config;
}

util::Result<infra::state::StateStore*> AppContext::state() {
  if (m_state) return m_state.get();
  auto cfg = config();
  if (!cfg) return std::unexpected(cfg.error());
  auto store = infra::state::StateStore::open(infra::state::default_db_path());
  if (!store) return std::unexpected(store.error());
  auto owned = std::make_unique<infra::state::StateStore>(std::move(*store));
  // Sync the configuration only when its files changed since the last sync (one transaction).
  const std::string fingerprint =
      (*cfg)->root.string() + "|" + infra::config::config_fingerprint((*cfg)->root);
  auto last = owned->get_setting("config_fingerprint");
  if (!last || !*last || **last != fingerprint) {
    if (auto synced = owned->sync_config(**cfg); !synced) return std::unexpected(synced.error());
    if (auto st = owned->set_setting("config_fingerprint", fingerprint); !st) {
      return std::unexpected(st.error());
    }
  }
  m_state = std::move(owned);
  return m_state.get();
}

void AppContext::warn_config_broken(const util::Error& error) {
  if (m_warned_config_broken) return;
  m_warned_config_broken = true;
  const std::string& why = error.message;
  m_err << "gpumod: warning: the configuration does not load (" << why.substr(0, why.find('\n'))
        << (why.find('\n') != std::string::npos ? " ..." : "")
        << "); showing what was stored when it last loaded. `gpumod config check` lists every problem.\n";
}

util::Result<const core::Config*> AppContext::config_for_reading() {
  if (m_stored_config) return &*m_stored_config;
  auto cfg = config();
  if (cfg || cfg.error().code != util::ErrorCode::config_invalid) return cfg;
  auto store = state_for_reading(false);
  if (!store) return std::unexpected(cfg.error());
  // Only what was stored from this same root (the sync records "<root>|<fingerprint>"); with
  // nothing stored for it, the configuration's own error stands.
  const auto synced = (*store)->get_setting("config_fingerprint");
  if (!synced || !*synced || !(**synced).starts_with(config_root()->string() + "|")) return std::unexpected(cfg.error());
  auto stored = stored_config(**store, *config_root());
  if (!stored) return std::unexpected(cfg.error());
  stored->settings = infra::config::load_config(*config_root()).settings;  // gpumod.yaml as far as it reads
  warn_config_broken(cfg.error());
  m_stored_config = std::move(*stored);
  return &*m_stored_config;
}

util::Result<infra::state::StateStore*> AppContext::state_for_reading(bool warn) {
  if (m_state) return m_state.get();
  const auto path = infra::state::default_db_path();
  std::error_code ec;
  const bool exists = fs::exists(path, ec);
  const bool writable = exists ? ::access(path.c_str(), W_OK) == 0 && ::access(path.parent_path().c_str(), W_OK) == 0
                               : true;
  if (exists && !writable) {
    infra::state::OpenOptions o;
    o.read_only = true;
    auto store = infra::state::StateStore::open(path, o);
    if (!store) return std::unexpected(store.error());
    m_err << "gpumod: note: " << path.parent_path().string()
          << " cannot be written; the state database is opened read-only\n";
    m_state = std::make_unique<infra::state::StateStore>(std::move(*store));
    return m_state.get();
  }
  auto cfg = config();
  if (cfg || cfg.error().code != util::ErrorCode::config_invalid) return state();
  auto store = infra::state::StateStore::open(path);  // the configuration does not load: no sync
  if (!store) return std::unexpected(store.error());
  if (warn) warn_config_broken(cfg.error());
  m_state = std::make_unique<infra::state::StateStore>(std::move(*store));
  return m_state.get();
}

util::Result<const core::GpuSnapshot*> AppContext::gpu() {
  if (m_gpu) return &*m_gpu;
  // A read-only command on a configuration that does not load uses the stored one (its GPU
  // settings are the defaults then).
  auto cfg = m_stored_config ? util::Result<const core::Config*>(&*m_stored_config) : config();
  if (!cfg) return std::unexpected(cfg.error());
  std::optional<core::SimulatedGpu> override_gpu;
  if (options.simulate_gpu) {
    auto parsed = infra::gpu::parse_simulate_gpu_arg(*options.simulate_gpu);
    if (!parsed) return std::unexpected(parsed.error());
    override_gpu = *parsed;
  }
  auto selection = infra::gpu::select_probe((*cfg)->settings, override_gpu,
                                            infra::gpu::default_ledger_dir());
  if (!selection) return std::unexpected(selection.error());
  m_gpu_note = selection->note;
  auto snap = selection->probe->snapshot(k_gpu_deadline);
  if (!snap) return std::unexpected(snap.error());
  m_gpu = std::move(*snap);
  return &*m_gpu;
}

}  // namespace gpumod::app
