// The unit_vars keys each driver reads (its launch_spec and the estimators that read the same
// preset), so `config check` can flag a key no code reads ("jinjja") with a suggestion. Kept
// beside the drivers that read them; tests/unit/drivers/unit_var_keys_test.cpp checks that every
// llama.cpp and vLLM key listed changes the launch or is refused when malformed.
// Thread-safety: constant data.
#pragma once

#include <span>
#include <string>

#include "gpumod/core/service.hpp"

namespace gpumod::drivers {

std::span<const std::string> known_unit_var_keys(core::DriverKind kind);

}  // namespace gpumod::drivers
