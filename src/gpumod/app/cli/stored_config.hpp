// The configuration as last stored in the state database (sync_config writes every service's
// full definition), for read-only commands when the configuration files do not load: `status`,
// `service list`, `mode list|show`, `model list` then show what is stored, with the problem as a
// warning, instead of failing.
// Thread-safety: pure over the store it is given.
#pragma once

#include "gpumod/core/config.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::state {
class StateStore;
}

namespace gpumod::app {

// Services and modes from the store (settings are defaults). corrupt when a stored definition
// is not the JSON sync_config wrote.
util::Result<core::Config> stored_config(const infra::state::StateStore& store, const std::filesystem::path& root);

}  // namespace gpumod::app
