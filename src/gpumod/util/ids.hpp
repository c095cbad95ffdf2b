// Validation of identifiers that come from outside (config files, the command line, HTTP):
// service, mode and model ids match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$.
// Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "gpumod/util/result.hpp"

namespace gpumod::util {

bool is_valid_id(std::string_view id);

// An invalid_argument error naming `what` ("service id") when `id` is not valid.
Status validate_id(std::string_view id, std::string_view what);

}  // namespace gpumod::util
