// Mode: a named set of services meant to run together on the GPU, in start order.
// Thread-safety: plain values.
#pragma once

#include <string>
#include <vector>

#include "gpumod/core/service.hpp"

namespace gpumod::core {

struct Mode {
  std::string id;
  std::string name;
  std::string description;
  std::vector<std::string> services;  // service ids, in start order
  SourceLocation defined_at;
};

}  // namespace gpumod::core
