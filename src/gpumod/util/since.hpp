// Parses a point in time given on the command line (`gpumod events --since`): a duration back
// from now ("90s", "15m", "2h", "7d") or a local date-time ("2026-12-03 14:05",
// "2026-12-03T14:05:30", "2026-12-03"). Returns milliseconds since the epoch.
// Thread-safety: pure (reads the local time zone through localtime_r/mktime).
#pragma once

#include <cstdint>
#include <string_view>

#include "gpumod/util/result.hpp"

namespace gpumod::util {

// Errors: invalid_argument naming the text and the accepted forms.
Result<std::int64_t> parse_since(std::string_view text, std::int64_t now_ms);

}  // namespace gpumod::util
