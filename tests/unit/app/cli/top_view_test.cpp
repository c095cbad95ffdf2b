// draw_top: golden screens of `gpumod top` (tests/golden/top/; GPUMOD_UPDATE_GOLDEN=1 rewrites
// them) for an empty box, the bundled example in mode code, a switch in progress, a failed
// service, help and the mode picker, in 80x24 and after a resize; and the collecting helpers.
#include "gpumod/app/cli/top_view.hpp"

#include <algorithm>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <nlohmann/json.hpp>

#include "gpumod/infra/config/config_loader.hpp"
#include "support/gpumod_runner.hpp"

namespace gpumod::app {
namespace {

using ::testing::HasSubstr;
using testing::compare_golden;

constexpr std::int64_t k_t0 = 1767225600000;  // 2026-01-01 00:00:00 UTC

class TopView : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
  }
};

TopData empty_box() {
  TopData d;
  d.connected = true;
  d.gpus = {{0, "Test GPU", true, 24000, 0, 0}};
  return d;
}

// The bundled example (examples/config) in mode code: its services, code's running.
TopData bundled_in_code() {
  auto cfg = infra::config::load_config_or_error(testing::example_config_dir());
  EXPECT_TRUE(cfg.has_value());
  TopData d;
  d.connected = true;
  d.mode = "code";
  const auto* code = cfg->find_mode("code");
  std::int64_t used = 0;
  int pid = 4100;
  for (const auto& s : cfg->services) {
    TopService t;
    t.id = s.id;
    t.driver = std::string(core::to_string(s.driver));
    t.port = s.port;
    t.configured_mib = s.vram_mib;
    const bool in_code = std::ranges::find(code->services, s.id) != code->services.end();
    t.state = in_code ? "running" : "stopped";
    if (in_code) {
      t.pid = pid++;
      t.measured_mib = s.vram_mib - 100;
      t.learned_mib = s.vram_mib - 100;
      used += *t.measured_mib;
    }
    d.services.push_back(t);
  }
  d.gpus = {{0, cfg->settings.simulate_gpu->name, true, cfg->settings.simulate_gpu->total_mib, used + 600, 600}};
  apply_event(d, {1, k_t0, "switch.started", "", "code", "switching (none) -> code: 2 steps"});
  apply_event(d, {2, k_t0 + 2100, "switch.step", "nemotron-3-nano", "code", "nemotron-3-nano started and ready in 2100 ms"});
  apply_event(d, {3, k_t0 + 2900, "switch.step", "vllm-embedding-code", "code", "vllm-embedding-code started and ready in 800 ms"});
  apply_event(d, {4, k_t0 + 2901, "switch.done", "", "code", "now in mode code (2901 ms)"});
  return d;
}

TEST_F(TopView, EmptyBox) {
  EXPECT_EQ(compare_golden("top/empty_80x24.txt", screen_text(draw_top(empty_box(), 80, 24))), "");
}

TEST_F(TopView, BundledExampleInModeCode) {
  const auto screen = draw_top(bundled_in_code(), 80, 24);
  ASSERT_EQ(screen.lines.size(), 24u);
  for (const auto& l : screen.lines) EXPECT_EQ(l.size(), 80u) << l;
  EXPECT_EQ(compare_golden("top/bundled_code_80x24.txt", screen_text(screen)), "");
}

TEST_F(TopView, SwitchInProgress) {
  auto d = bundled_in_code();
  apply_event(d, {5, k_t0 + 60000, "switch.started", "", "embeddings", "switching code -> embeddings: 3 steps"});
  apply_event(d, {6, k_t0 + 61000, "switch.step", "nemotron-3-nano", "embeddings", "nemotron-3-nano stopped; memory released (1000 ms)"});
  d.services[0].state = "starting";
  ASSERT_TRUE(d.switching.has_value());
  EXPECT_EQ(d.switching->total_steps, 3);
  EXPECT_EQ(d.switching->done_steps, 1);
  const auto text = screen_text(draw_top(d, 80, 24));
  EXPECT_THAT(text, HasSubstr("Switching to embeddings: step 2 of 3 - nemotron-3-nano stopped"));
  EXPECT_EQ(compare_golden("top/switching_80x24.txt", text), "");
  apply_event(d, {7, k_t0 + 62000, "switch.done", "", "embeddings", "now in mode embeddings"});
  EXPECT_FALSE(d.switching.has_value());
}

TEST_F(TopView, FailedServiceShowsItsReasonWhenSelected) {
  auto d = bundled_in_code();
  d.services[1].state = "failed";
  d.services[1].reason = "exited with status 1 (see its log)";
  d.selected = 1;
  apply_event(d, {5, k_t0 + 70000, "service.failed", d.services[1].id, "", d.services[1].id + " did not become ready"});
  const auto screen = draw_top(d, 80, 24);
  EXPECT_EQ(compare_golden("top/failed_80x24.txt", screen_text(screen)), "");
  // The failed row is drawn selected (it is); the event line as bad.
  bool bad_event = false;
  for (std::size_t i = 0; i < screen.lines.size(); ++i) {
    if (screen.lines[i].find("service.failed") != std::string::npos) bad_event = screen.styles[i] == LineStyle::bad;
  }
  EXPECT_TRUE(bad_event);
}

TEST_F(TopView, ResizeKeepsTheSelectedServiceVisibleAndLinesFit) {
  auto d = bundled_in_code();
  d.selected = d.services.size() - 1;
  const auto small = draw_top(d, 60, 12);
  ASSERT_EQ(small.lines.size(), 12u);
  for (const auto& l : small.lines) EXPECT_EQ(l.size(), 60u);
  EXPECT_THAT(screen_text(small), HasSubstr("> " + d.services.back().id));
  EXPECT_EQ(compare_golden("top/bundled_code_60x12.txt", screen_text(small)), "");
  const auto big = draw_top(d, 120, 40);
  ASSERT_EQ(big.lines.size(), 40u);
  EXPECT_EQ(big.lines[0].size(), 120u);
}

// The bundled example in mode code with the endpoint listening and three requests answered.
TopData with_requests() {
  auto d = bundled_in_code();
  apply_requests(d, nlohmann::json::parse(R"({"endpoint": "127.0.0.1:7979", "requests": [
    {"ts_ms": 1767225610000, "model": "nemotron-3-nano", "service": "nemotron-3-nano", "status": 200,
     "queue_ms": 2100, "ttfb_ms": 2180, "duration_ms": 4200, "prompt_tokens": 35, "completion_tokens": 412},
    {"ts_ms": 1767225612500, "model": "no-such-model", "service": "", "status": 404,
     "queue_ms": 0, "ttfb_ms": -1, "duration_ms": 0, "prompt_tokens": null, "completion_tokens": null},
    {"ts_ms": 1767225613000, "model": "qwen3-embedding", "service": "vllm-embedding-code", "status": 200,
     "queue_ms": 0, "ttfb_ms": 12, "duration_ms": 15, "prompt_tokens": 8, "completion_tokens": 0}]})"));
  return d;
}

TEST_F(TopView, LastRequestsWhenTheEndpointListens) {
  const auto d = with_requests();
  ASSERT_EQ(d.endpoint, "127.0.0.1:7979");
  ASSERT_EQ(d.requests.size(), 3u);
  EXPECT_EQ(d.requests[1].ttfb_ms, -1);
  EXPECT_FALSE(d.requests[1].prompt_tokens.has_value());
  const auto screen = draw_top(d, 80, 24);
  ASSERT_EQ(screen.lines.size(), 24u);
  for (const auto& l : screen.lines) EXPECT_EQ(l.size(), 80u) << l;
  const auto text = screen_text(screen);
  // Every request and the last events fit in 80x24 beside the services.
  EXPECT_THAT(text, HasSubstr("00:00:10 nemotron-3-nano     nemotron-3-nano     200  2.1s  2.2s  4.2s 35/412"));
  // A long service name is cut to its column.
  EXPECT_THAT(text, HasSubstr("00:00:13 qwen3-embedding     vllm-embedding-code 200   0ms  12ms  15ms 8/0"));
  EXPECT_THAT(text, HasSubstr("switch.done"));
  EXPECT_THAT(text, HasSubstr("> glm-code"));
  EXPECT_EQ(compare_golden("top/requests_80x24.txt", text), "");
  // The refused request is drawn as bad.
  for (std::size_t i = 0; i < screen.lines.size(); ++i) {
    if (screen.lines[i].find("no-such-model") != std::string::npos) EXPECT_EQ(screen.styles[i], LineStyle::bad);
  }
  // The small terminal keeps the requests' header and the selected service.
  const auto small = draw_top(d, 60, 12);
  ASSERT_EQ(small.lines.size(), 12u);
  EXPECT_EQ(compare_golden("top/requests_60x12.txt", screen_text(small)), "");
}

TEST_F(TopView, NoRequestsPanelWithoutTheEndpoint) {
  auto d = with_requests();
  apply_requests(d, nlohmann::json::parse(R"({"endpoint": null, "requests": []})"));
  EXPECT_EQ(screen_text(draw_top(d, 80, 24)), screen_text(draw_top(bundled_in_code(), 80, 24)));
  apply_requests(d, nlohmann::json::parse(R"({"endpoint": "127.0.0.1:7979", "requests": []})"));
  EXPECT_THAT(screen_text(draw_top(d, 80, 24)), HasSubstr("(none yet"));
}

TEST_F(TopView, BacklogEventsAreNotAddedTwice) {
  auto d = bundled_in_code();  // events 1..4 read as the backlog
  apply_event(d, {4, k_t0 + 2901, "switch.done", "", "code", "now in mode code (2901 ms)"});
  apply_event(d, {3, k_t0 + 2900, "switch.step", "vllm-embedding-code", "code", "again"});
  EXPECT_EQ(d.events.size(), 4u);
  apply_event(d, {5, k_t0 + 5000, "service.slept", "nemotron-3-nano", "", "slept"});
  ASSERT_EQ(d.events.size(), 5u);
  EXPECT_EQ(d.events.back().id, 5);
}

TEST_F(TopView, HelpAndModePicker) {
  auto d = bundled_in_code();
  d.overlay = TopOverlay::help;
  EXPECT_EQ(compare_golden("top/help_80x24.txt", screen_text(draw_top(d, 80, 24))), "");
  d.overlay = TopOverlay::modes;
  d.modes = {"code", "embeddings", "glm", "nemotron"};
  d.mode_cursor = 2;
  const auto text = screen_text(draw_top(d, 80, 24));
  EXPECT_THAT(text, HasSubstr("  code  (current)\n"));
  EXPECT_THAT(text, HasSubstr("> glm\n"));
}

TEST_F(TopView, NoDaemonIsSaid) {
  TopData d;
  d.error = "no gpumod daemon answers";
  EXPECT_THAT(screen_text(draw_top(d, 80, 24)), HasSubstr("No daemon answers: no gpumod daemon answers"));
}

TEST_F(TopView, ApplyStatusReadsTheDaemonsJson) {
  const auto st = nlohmann::json::parse(R"({"gpu":{"simulated":true,"devices":[{"index":0,"name":"G","total_mib":24000,"used_mib":5000,"free_mib":19000}]},
    "current_mode":"talk","external_mib":700,"config_problem":"presets/x.yaml:3: bad",
    "services":[{"id":"chat","driver":"vllm","port":8001,"state":"running","reason":"","pid":12,"configured_mib":3000,"measured_mib":2900,"learned_mib":null}]})");
  TopData d;
  d.selected = 5;
  apply_status(d, st);
  EXPECT_TRUE(d.connected);
  EXPECT_EQ(d.mode, "talk");
  ASSERT_EQ(d.gpus.size(), 1u);
  EXPECT_EQ(d.gpus[0].external_mib, 700);
  ASSERT_EQ(d.services.size(), 1u);
  EXPECT_EQ(d.services[0].measured_mib, 2900);
  EXPECT_FALSE(d.services[0].learned_mib.has_value());
  EXPECT_EQ(d.selected, 0u);
  EXPECT_EQ(d.config_problem, "presets/x.yaml:3: bad");
}

}  // namespace
}  // namespace gpumod::app
