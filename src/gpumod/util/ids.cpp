#include "gpumod/util/ids.hpp"

#include <string>

namespace gpumod::util {

namespace {
bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
}  // namespace

bool is_valid_id(std::string_view id) {
  if (id.empty() || id.size() > 64 || !is_alnum(id.front())) return false;
  for (const char c : id) {
    if (!is_alnum(c) && c != '_' && c != '-') return false;
  }
  return true;
}

Status validate_id(std::string_view id, std::string_view what) {
  if (is_valid_id(id)) return {};
  return fail(ErrorCode::invalid_argument,
              std::string(what) + " '" + std::string(id) +
                  "' is not valid: expected 1-64 characters, letters, digits, '_' or '-', "
                  "starting with a letter or digit");
}

}  // namespace gpumod::util
