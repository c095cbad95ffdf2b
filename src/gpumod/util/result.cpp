#include "gpumod/util/result.hpp"

namespace gpumod::util {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::config_invalid: return "config_invalid";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::conflict: return "conflict";
    case ErrorCode::unavailable: return "unavailable";
    case ErrorCode::timeout: return "timeout";
    case ErrorCode::io: return "io";
    case ErrorCode::corrupt: return "corrupt";
    case ErrorCode::insufficient_vram: return "insufficient_vram";
    case ErrorCode::failed: return "failed";
    case ErrorCode::internal: return "internal";
  }
  return "internal";
}

}  // namespace gpumod::util
