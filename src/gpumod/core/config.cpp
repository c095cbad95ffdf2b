#include "gpumod/core/config.hpp"

namespace gpumod::core {

const Service* Config::find_service(std::string_view id) const {
  for (const auto& s : services) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

const Mode* Config::find_mode(std::string_view id) const {
  for (const auto& m : modes) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

std::vector<std::string> Config::service_ids() const {
  std::vector<std::string> out;
  for (const auto& s : services) out.push_back(s.id);
  return out;
}

std::vector<std::string> Config::mode_ids() const {
  std::vector<std::string> out;
  for (const auto& m : modes) out.push_back(m.id);
  return out;
}

}  // namespace gpumod::core
