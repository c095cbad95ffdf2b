// Shared output pieces of the CLI: memory figures, the GPU header, the simulation report
// (table, visual bar, alternatives), and their JSON forms.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "gpumod/core/gpu.hpp"
#include "gpumod/engine/simulation_request.hpp"

namespace gpumod::app {

std::string mib(std::int64_t value);  // "24,564 MiB"
std::string gpu_lines(const core::GpuSnapshot& gpu, const std::string& note);
nlohmann::json gpu_json(const core::GpuSnapshot& gpu);

std::string simulation_text(const engine::SimulationOutcome& outcome, bool visual);
nlohmann::json simulation_json(const engine::SimulationOutcome& outcome);
// The predecessor's bar: one row per service, █ used, ░ free, then "free: N MB".
std::string visual_bar(const engine::SimulationOutcome& outcome, std::size_t width = 50);

// GET /v1/bench/history's {"runs": [...]} as the table of `gpumod bench --history` (Markdown
// with `markdown`); defined with the bench command (bench_commands.cpp).
std::string render_bench_history(const nlohmann::json& history, bool markdown);

}  // namespace gpumod::app
