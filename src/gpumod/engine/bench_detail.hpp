// Internal to the engine's bench (bench.cpp, bench_switch.cpp): statistics as JSON. Not part of
// the public API.
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <vector>

namespace gpumod::engine::bench_detail {

// {"median", "min", "max", "n"} of the finite values; null when there are none.
nlohmann::json stat_json(std::vector<double> values);
// The median of a stat_json value; nullopt for null.
std::optional<double> median_of(const nlohmann::json& stat);
double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b);

}  // namespace gpumod::engine::bench_detail
