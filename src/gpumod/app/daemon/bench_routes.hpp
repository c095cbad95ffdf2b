// The daemon's bench API (docs/daemon-protocol.md): POST /v1/bench, POST /v1/bench/switch,
// GET /v1/bench/history, and the last measured throughput added to each service of /v1/status.
// Thread-safety: handlers run on the server's worker threads; the engine serializes benches with
// its command lock, the store guards itself.
#pragma once

#include <nlohmann/json_fwd.hpp>

namespace httplib {
class Server;
}
namespace gpumod::engine {
class Engine;
}
namespace gpumod::infra::state {
class StateStore;
}

namespace gpumod::app {

void install_bench_routes(httplib::Server& server, engine::Engine& engine, infra::state::StateStore& store);

// Adds "bench": {"prompt_tps", "gen_tps", "ttft_ms", "measured_at_ms", "settings"} (the newest
// serve bench) to each service of a /v1/status answer that has one.
void add_last_bench(nlohmann::json& status, const infra::state::StateStore& store);

}  // namespace gpumod::app
