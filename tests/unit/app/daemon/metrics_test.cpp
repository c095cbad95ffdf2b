// render_metrics (GET /metrics): the counters come from engine events through MetricsRecorder,
// the gauges from a status view; the text passes `promtool check metrics`.
#include "gpumod/app/daemon/metrics.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace gpumod::app
