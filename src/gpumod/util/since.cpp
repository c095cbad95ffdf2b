#include "gpumod/util/since.hpp"

#include <charconv>
#include <ctime>
#include <string>

namespace gpumod::util {

namespace {

Error bad(std::string_view text) {
  return {ErrorCode::invalid_argument,
          "--since '" + std::string(text) +
              "' is neither a duration (90s, 15m, 2h, 7d) nor a local time (YYYY-MM-DD[ HH:MM[:SS]])"};
}

bool read_int(std::string_view s, int& out) {
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

}  // namespace

Result<std::int64_t> parse_since(std::string_view text, std::int64_t now_ms) {
  if (text.empty()) return std::unexpected(bad(text));
  const char unit = text.back();
  if (text.size() >= 2 && (unit == 's' || unit == 'm' || unit == 'h' || unit == 'd') &&
      text.find('-') == std::string_view::npos) {
    std::int64_t n = 0;
    const auto digits = text.substr(0, text.size() - 1);
    const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec != std::errc{} || p != digits.data() + digits.size() || n < 0 || n > 100LL * 365 * 86400) {
      return std::unexpected(bad(text));
    }
    const std::int64_t seconds = unit == 's' ? n : unit == 'm' ? n * 60 : unit == 'h' ? n * 3600 : n * 86400;
    return now_ms - seconds * 1000;
  }
  // YYYY-MM-DD, then optionally ' ' or 'T' and HH:MM[:SS].
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return std::unexpected(bad(text));
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!read_int(text.substr(0, 4), y) || !read_int(text.substr(5, 2), mo) || !read_int(text.substr(8, 2), d)) {
    return std::unexpected(bad(text));
  }
  if (text.size() > 10) {
    if ((text[10] != ' ' && text[10] != 'T') || (text.size() != 16 && text.size() != 19) || text[13] != ':') {
      return std::unexpected(bad(text));
    }
    if (!read_int(text.substr(11, 2), h) || !read_int(text.substr(14, 2), mi)) return std::unexpected(bad(text));
    if (text.size() == 19 && (text[16] != ':' || !read_int(text.substr(17, 2), s))) return std::unexpected(bad(text));
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || y < 1970) {
    return std::unexpected(bad(text));
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  tm.tm_isdst = -1;
  const std::time_t t = std::mktime(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::unexpected(bad(text));
  return static_cast<std::int64_t>(t) * 1000;
}

}  // namespace gpumod::util
