// Small string helpers with no gpumod knowledge: splitting, trimming, number parsing with range
// checks, edit distance for "did you mean", thousands separators for tables.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gpumod/util/result.hpp"

namespace gpumod::util {

std::string_view trim(std::string_view s);
std::vector<std::string> split(std::string_view s, char sep);
std::string join(std::span<const std::string> parts, std::string_view sep);
bool starts_with(std::string_view s, std::string_view prefix);
std::string to_lower(std::string_view s);

// Parses a whole decimal integer in [min, max]; `what` names the value in the error.
Result<std::int64_t> parse_int(std::string_view text, std::int64_t min, std::int64_t max,
                               std::string_view what);

// Levenshtein distance.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The closest candidate within a distance that scales with the word's length, if any.
std::optional<std::string> closest_match(std::string_view word,
                                         std::span<const std::string> candidates);

// " (did you mean 'x'?)" or "".
std::string did_you_mean(std::string_view word, std::span<const std::string> candidates);

// 24564 -> "24,564"; negative numbers keep their sign.
std::string group_thousands(std::int64_t value);

}  // namespace gpumod::util
