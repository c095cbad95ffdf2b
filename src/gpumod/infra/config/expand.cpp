#include "gpumod/infra/config/expand.hpp"

#include <cstdlib>

namespace gpumod::infra::config {

namespace {
bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
}  // namespace

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (const char* value = std::getenv(name.c_str())) return std::string(value);
    return std::nullopt;
  };
}

std::string expand_vars(std::string_view text, const EnvLookup& getenv) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto dollar = text.find('$', i);
    if (dollar == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, dollar - i));
    std::size_t end = dollar + 1;  // one past the reference, when there is one
    std::string name;
    bool matched = false;
    if (end < text.size() && text[end] == '{') {
      const auto close = text.find('}', end + 1);
      if (close != std::string_view::npos) {
        name = std::string(text.substr(end + 1, close - end - 1));
        end = close + 1;
        matched = true;
      }
    } else {
      while (end < text.size() && is_word_char(text[end])) ++end;
      if (end > dollar + 1) {
        name = std::string(text.substr(dollar + 1, end - dollar - 1));
        matched = true;
      }
    }
    if (!matched) {
      out += '$';
      i = dollar + 1;
      continue;
    }
    const auto value = getenv ? getenv(name) : std::nullopt;
    if (value) {
      out += *value;
    } else {
      out.append(text.substr(dollar, end - dollar));
    }
    i = end;
  }
  return out;
}

}  // namespace gpumod::infra::config
