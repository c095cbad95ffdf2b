// gpumod daemon install [--force]: a systemd user unit for the daemon, written with
// infra/systemd (render_unit, install_unit: atomic, fsync) into user_unit_dir()
// ($XDG_CONFIG_HOME/systemd/user), carrying the environment this CLI resolved (state database,
// state and runtime directories, the server binaries as absolute paths, PATH, the simulated GPU),
// so the systemd daemon uses the same database and servers as the CLI. A different unit already
// there is kept unless --force (conflict, exit 8).
// Thread-safety: single-threaded (one command per process).
#pragma once

namespace gpumod::app {

class AppContext;

void daemon_install(AppContext& ctx, bool force);

}  // namespace gpumod::app
