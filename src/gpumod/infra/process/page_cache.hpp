// Dropping the kernel's page cache, so that the next model load reads its file from disk (a cold
// load for `gpumod bench --cold`). Only root (CAP_SYS_ADMIN) may; others get an error saying so.
// Thread-safety: a free function; safe from any thread.
#pragma once

#include "gpumod/util/result.hpp"

namespace gpumod::infra::process {

// sync(), then writes "1" (clean page cache) to /proc/sys/vm/drop_caches. Errors: unavailable
// (not allowed: not root, or /proc read-only in a container), io (anything else).
util::Status drop_page_cache();

}  // namespace gpumod::infra::process
