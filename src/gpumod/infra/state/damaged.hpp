// A damaged or lost state database (issue 19, F3) is never deleted or silently re-initialised:
// the daemon moves it (with its -wal and -shm files) aside under a name that says so and when,
// and starts a fresh one that it rebuilds from the servers that run.
// Thread-safety: a free function over the filesystem.
#pragma once

#include <filesystem>

#include "gpumod/util/result.hpp"

namespace gpumod::infra::state {

// Renames `db` (and `db`-wal, `db`-shm when present) to `db`.damaged-<UTC time>; returns the new
// name of the database file. Errors: io.
util::Result<std::filesystem::path> set_aside_damaged(const std::filesystem::path& db);

}  // namespace gpumod::infra::state
