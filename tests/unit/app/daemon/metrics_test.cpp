// render_metrics (GET /metrics): the counters come from engine events through MetricsRecorder,
// the gauges from a status view; the text passes `promtool check metrics`.
#include "gpumod/app/daemon/metrics.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gpumod/infra/state/state_store.hpp"
#include "support/promtool.hpp"

namespace gpumod::app {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

engine::StatusView two_gpu_status() {
  engine::StatusView st;
  core::GpuDevice d0;
  d0.index = 0;
  d0.uuid = "GPU-aaaa";
  d0.name = "Test \"GPU\" \\ 0";
  d0.total_mib = 24000;
  d0.used_mib = 5000;
  d0.free_mib = 19000;
  d0.processes = {{100, 3000, "vllm"}, {200, 2000, "stranger"}};
  core::GpuDevice d1 = d0;
  d1.index = 1;
  d1.uuid = "GPU-bbbb";
  d1.name = "second\nline";
  d1.used_mib = 700;
  d1.free_mib = 23300;
  d1.processes = {{300, 700, "other"}};
  st.gpu.devices = {d0, d1};
  st.current_mode = "code";
  st.external_mib = 2700;
  st.external_mib_by_device = {2000, 700};
  engine::ServiceView chat;
  chat.id = "chat";
  chat.driver = core::DriverKind::vllm;
  chat.port = 8001;
  chat.state = core::ServiceState::running;
  chat.configured_mib = 3500;
  chat.measured_mib = 3000;
  chat.learned_mib = 3100;
  chat.learned_sleep_mib = 400;
  engine::ServiceView embed;
  embed.id = "embed";
  embed.state = core::ServiceState::failed;
  embed.configured_mib = 1000;
  st.services = {chat, embed};
  return st;
}

engine::EngineEvent ev(std::string kind, std::string service, std::string action, std::string outcome,
                       std::string reason, std::optional<std::int64_t> ms) {
  return {std::move(kind), std::move(service), "code", "", std::move(action), std::move(outcome), std::move(reason), ms};
}

std::string rendered(engine::MetricsRecorder& rec, const engine::StatusView* st) {
  MetricsInput in;
  in.status = st;
  in.counters = rec.snapshot();
  in.version = "1.2.3";
  return render_metrics(in);
}

TEST(Metrics, GaugesPerGpuByIndexAndUuidAndPerService) {
  engine::MetricsRecorder rec;
  const auto st = two_gpu_status();
  const auto text = rendered(rec, &st);
  EXPECT_THAT(text, HasSubstr("gpumod_gpu_memory_total_bytes{gpu=\"0\",uuid=\"GPU-aaaa\",name=\"Test \\\"GPU\\\" \\\\ 0\"} 25165824000\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_gpu_memory_used_bytes{gpu=\"1\",uuid=\"GPU-bbbb\",name=\"second\\nline\"} 734003200\n"));
  // Unmanaged memory per device.
  EXPECT_THAT(text, HasSubstr("gpumod_gpu_memory_unmanaged_bytes{gpu=\"0\",uuid=\"GPU-aaaa\",name=\"Test \\\"GPU\\\" \\\\ 0\"} 2097152000\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_gpu_memory_unmanaged_bytes{gpu=\"1\",uuid=\"GPU-bbbb\",name=\"second\\nline\"} 734003200\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_current_mode{mode=\"code\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_service_state{service=\"chat\",state=\"running\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_service_state{service=\"chat\",state=\"stopped\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_service_state{service=\"embed\",state=\"failed\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_service_measured_memory_bytes{service=\"chat\"} 3145728000\n"));
  EXPECT_THAT(text, Not(HasSubstr("gpumod_service_measured_memory_bytes{service=\"embed\"}")));
  EXPECT_THAT(text, HasSubstr("gpumod_service_learned_memory_bytes{service=\"chat\",state=\"sleeping\"} 419430400\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_service_configured_memory_bytes{service=\"embed\"} 1048576000\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_service_info{service=\"chat\",driver=\"vllm\",port=\"8001\"} 1\n"));
  // Counters of configured services exist from the start, at zero.
  EXPECT_THAT(text, HasSubstr("gpumod_service_operations_total{service=\"embed\",operation=\"wake\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_status_ok 1\n"));
}

TEST(Metrics, CountersFollowEngineEvents) {
  engine::MetricsRecorder rec;
  rec.on_event(ev("switch.started", "", "", "", "", {}));
  rec.on_event(ev("service.started", "chat", "start", "done", "", 2500));
  rec.on_event(ev("switch.step", "chat", "start", "done", "", 2500));
  rec.on_event(ev("switch.step", "embed", "sleep", "done", "", 100));
  rec.on_event(ev("switch.done", "", "", "done", "", 3000));
  rec.on_event(ev("service.woken", "chat", "wake", "done", "", 750));
  rec.on_event(ev("health.restarted", "chat", "", "", "", {}));
  rec.on_event(ev("admission.refused", "embed", "start", "refused", "insufficient_vram", {}));
  // A failed switch that rolled back.
  rec.on_event(ev("switch.started", "", "", "", "", {}));
  rec.on_event(ev("switch.step", "embed", "start", "failed", "", 10));
  rec.on_event(ev("switch.undo", "chat", "sleep", "undone", "", 10));
  rec.on_event(ev("switch.failed", "", "", "rolled_back", "", 400));
  rec.on_event(ev("switch.refused", "", "", "refused", "does_not_fit", 1));
  rec.on_event(ev("config.rejected", "", "", "", "", {}));
  const auto st = two_gpu_status();
  const auto text = rendered(rec, &st);
  EXPECT_THAT(text, HasSubstr("gpumod_service_operations_total{service=\"chat\",operation=\"start\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_service_operations_total{service=\"chat\",operation=\"wake\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_service_last_start_seconds{service=\"chat\"} 2.5\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_service_last_wake_seconds{service=\"chat\"} 0.75\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_service_restarts_total{service=\"chat\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_switch_duration_seconds_bucket{outcome=\"done\",le=\"2.5\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_switch_duration_seconds_bucket{outcome=\"done\",le=\"5\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_switch_duration_seconds_bucket{outcome=\"done\",le=\"+Inf\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_switch_duration_seconds_sum{outcome=\"done\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_switch_duration_seconds_count{outcome=\"rolled_back\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_switch_duration_seconds_count{outcome=\"refused\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_switch_steps_total{action=\"start\",outcome=\"done\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_switch_steps_total{action=\"start\",outcome=\"failed\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_switch_steps_total{action=\"sleep\",outcome=\"undone\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_switch_rollbacks_total{outcome=\"complete\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_admission_refusals_total{reason=\"insufficient_vram\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_admission_refusals_total{reason=\"does_not_fit\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_config_valid 0\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_config_reloads_total{outcome=\"rejected\"} 1\n"));
}

TEST(Metrics, WithoutStatusOnlyCountersAndStatusOkZero) {
  engine::MetricsRecorder rec;
  const auto text = rendered(rec, nullptr);
  EXPECT_THAT(text, HasSubstr("gpumod_status_ok 0\n"));
  EXPECT_THAT(text, Not(HasSubstr("gpumod_gpu_memory_total_bytes{")));
}

TEST(Metrics, EscapesLabelValues) {
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(escape_label_value("plain"), "plain");
}

TEST(Metrics, PassesPromtoolCheck) {
  if (test_support::promtool_path().empty()) GTEST_SKIP() << "promtool is not installed (make deps installs Debian's prometheus)";
  engine::MetricsRecorder rec;
  rec.on_event(ev("switch.step", "chat", "start", "done", "", 2500));
  rec.on_event(ev("switch.done", "", "", "done", "", 3000));
  rec.on_event(ev("service.started", "chat", "start", "done", "", 2500));
  const auto st = two_gpu_status();
  const auto r = test_support::promtool_check_metrics(rendered(rec, &st));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->exit_code, 0) << r->output;
  EXPECT_EQ(r->output, "") << "promtool found problems";
}

infra::state::RequestRecord request(std::string model, std::string service, int status, std::int64_t queue_ms,
                                    std::int64_t ttfb_ms, std::optional<std::int64_t> prompt = {},
                                    std::optional<std::int64_t> completion = {}) {
  infra::state::RequestRecord r;
  r.model = std::move(model);
  r.service_id = std::move(service);
  r.status = status;
  r.queue_ms = queue_ms;
  r.ttfb_ms = ttfb_ms;
  r.prompt_tokens = prompt;
  r.completion_tokens = completion;
  return r;
}

std::string endpoint_text(const engine::RequestMetrics& m) {
  EndpointMetricsInput in;
  in.requests = m.snapshot();
  in.load = {{"chat", {.in_flight = 2, .waiting = 0}}, {"embed", {.in_flight = 0, .waiting = 3}}};
  in.services = {"chat", "embed", "idle"};
  return render_endpoint_metrics(in);
}

TEST(EndpointMetrics, RequestsByModelServiceStatusWithTokensAndHistograms) {
  engine::RequestMetrics m;
  m.observe(request("qwen", "chat", 200, 0, 30, 12, 5));
  m.observe(request("qwen", "chat", 200, 1500, 1600, 3, 4));
  m.observe(request("qwen-fast", "chat", 429, 0, -1));
  const auto text = endpoint_text(m);
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_requests_total{model=\"qwen\",service=\"chat\",status=\"200\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_requests_total{model=\"qwen-fast\",service=\"chat\",status=\"429\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_prompt_tokens_total{model=\"qwen\",service=\"chat\"} 15\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_completion_tokens_total{model=\"qwen\",service=\"chat\"} 9\n"));
  // Queue wait: one at 0 s, one at 1.5 s (over the 1 s bound, under 2.5 s).
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_queue_wait_seconds_bucket{model=\"qwen\",service=\"chat\",le=\"1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_queue_wait_seconds_bucket{model=\"qwen\",service=\"chat\",le=\"2.5\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_queue_wait_seconds_sum{model=\"qwen\",service=\"chat\"} 1.5\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_time_to_first_byte_seconds_bucket{model=\"qwen\",service=\"chat\",le=\"0.05\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_time_to_first_byte_seconds_count{model=\"qwen\",service=\"chat\"} 2\n"));
  // A request with no first byte (refused) has no time-to-first-byte series.
  EXPECT_THAT(text, Not(HasSubstr("gpumod_endpoint_time_to_first_byte_seconds_count{model=\"qwen-fast\"")));
  // Gauges of the moment for every configured service.
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_queue_depth{service=\"embed\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_queue_depth{service=\"idle\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_requests_in_flight{service=\"chat\"} 2\n"));
}

TEST(EndpointMetrics, ClientInputNeverBecomesALabel) {
  engine::RequestMetrics m;
  // Unrouted requests (an unknown model, bad JSON) carry what the client sent as their model.
  for (int i = 0; i < 50; ++i) m.observe(request("made-up-" + std::to_string(i) + "\"}", "", 404, 0, -1));
  const auto text = endpoint_text(m);
  EXPECT_THAT(text, Not(HasSubstr("made-up")));
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_requests_total{model=\"\",service=\"\",status=\"404\"} 50\n"));
  EXPECT_EQ(m.snapshot().series.size(), 1u);
}

TEST(EndpointMetrics, LabelSetsAreBounded) {
  engine::RequestMetrics m;
  const auto n = engine::RequestMetrics::k_max_series + 20;
  for (std::size_t i = 0; i < n; ++i) m.observe(request("m" + std::to_string(i), "svc", 200, 0, 1));
  const auto snap = m.snapshot();
  // What did not fit is still counted, under the unrouted set.
  EXPECT_EQ(snap.series.size(), engine::RequestMetrics::k_max_series + 1);
  EXPECT_EQ(snap.series.at({"", ""}).by_status.at(200), 20u);
  std::uint64_t total = 0;
  for (const auto& [key, s] : snap.series) total += s.by_status.at(200);
  EXPECT_EQ(total, n);
}

TEST(EndpointMetrics, PassesPromtoolCheck) {
  if (test_support::promtool_path().empty()) GTEST_SKIP() << "promtool is not installed (make deps installs Debian's prometheus)";
  engine::RequestMetrics m;
  m.observe(request("qwen", "chat", 200, 0, 30, 12, 5));
  m.observe(request("x", "", 404, 0, -1));
  engine::MetricsRecorder rec;
  const auto st = two_gpu_status();
  const auto r = test_support::promtool_check_metrics(rendered(rec, &st) + endpoint_text(m));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->exit_code, 0) << r->output;
  EXPECT_EQ(r->output, "") << "promtool found problems";
}

}  // namespace
}  // namespace gpumod::app
