// Checks tool arguments against the subset of JSON Schema that gpumod's tool input schemas use:
// type (object, string, integer, number, boolean, array), properties, required,
// additionalProperties (false, or a schema for every other key), items, enum, minimum, maximum,
// minLength, maxLength, minItems, maxItems. The message says which argument and what was wrong.
// Thread-safety: a pure function.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "gpumod/util/result.hpp"

namespace gpumod::app::mcp {

// invalid_argument naming the argument path ("argument 'level': expected an integer, got a string").
util::Status check_arguments(const nlohmann::json& schema, const nlohmann::json& value);

}  // namespace gpumod::app::mcp
