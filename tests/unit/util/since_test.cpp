#include "gpumod/util/since.hpp"

#include <gtest/gtest.h>

#include <ctime>

namespace gpumod::util {
namespace {

constexpr std::int64_t k_now = 1'800'000'000'000;  // ms

TEST(ParseSince, DurationsCountBackFromNow) {
  EXPECT_EQ(parse_since("90s", k_now), k_now - 90'000);
  EXPECT_EQ(parse_since("15m", k_now), k_now - 15 * 60'000);
  EXPECT_EQ(parse_since("2h", k_now), k_now - 2 * 3'600'000);
  EXPECT_EQ(parse_since("7d", k_now), k_now - 7 * 86'400'000LL);
  EXPECT_EQ(parse_since("0s", k_now), k_now);
}

TEST(ParseSince, LocalDateTimes) {
  std::tm tm{};
  tm.tm_year = 2026 - 1900;
  tm.tm_mon = 11;
  tm.tm_mday = 3;
  tm.tm_hour = 14;
  tm.tm_min = 5;
  tm.tm_sec = 30;
  tm.tm_isdst = -1;
  const std::int64_t expected = static_cast<std::int64_t>(std::mktime(&tm)) * 1000;
  EXPECT_EQ(parse_since("2026-12-03 14:05:30", k_now), expected);
  EXPECT_EQ(parse_since("2026-12-03T14:05:30", k_now), expected);
  EXPECT_EQ(parse_since("2026-12-03 14:05", k_now), expected - 30'000);
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  tm.tm_isdst = -1;
  EXPECT_EQ(parse_since("2026-12-03", k_now), static_cast<std::int64_t>(std::mktime(&tm)) * 1000);
}

TEST(ParseSince, RejectsWhatItCannotRead) {
  for (const char* bad : {"", "yesterday", "5", "5x", "-5m", "m", "2026-13-01", "2026-12-03 25:00", "2026-12-3",
                          "2026-12-03 14:5", "2026-12-03X14:05", "99999999999999999999s"}) {
    SCOPED_TRACE(bad);
    auto r = parse_since(bad, k_now);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::invalid_argument);
    EXPECT_NE(r.error().message.find("--since"), std::string::npos);
  }
}

}  // namespace
}  // namespace gpumod::util
