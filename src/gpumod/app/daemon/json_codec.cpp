#include "gpumod/app/daemon/json_codec.hpp"

#include <algorithm>
#include <cstdio>

#include "gpumod/app/cli/render.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/util/strings.hpp"
#include "gpumod/util/table.hpp"

namespace gpumod::app {

using nlohmann::json;
using util::ErrorCode;
using util::group_thousands;

namespace {
json opt(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); }

std::string fmt_mib(const json& v) {
  return v.is_number() ? group_thousands(v.get<std::int64_t>()) : std::string("-");
}

// "850 ms", "12.4 s".
std::string fmt_seconds(std::int64_t ms) {
  if (ms < 1000) return std::to_string(ms) + " ms";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  return buf;
}

std::string fmt_rate(const json& v) {
  if (!v.is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v.get<double>());
  return buf;
}

json step_json(const engine::StepOutcome& o) {
  return {{"service", o.step.service_id},
          {"action", core::to_string(o.step.action)},
          {"reason", o.step.reason},
          {"as_dependency", o.step.as_dependency},
          {"sleep_level", o.step.sleep_level},
          {"need_mib", o.step.need_mib},
          {"frees_mib", o.step.frees_mib},
          {"predicted_free_mib", o.step.predicted_free_mib},
          {"outcome", o.outcome},
          {"message", o.message},
          {"elapsed_ms", o.elapsed_ms}};
}
}  // namespace

json to_json(const engine::StatusView& v) {
  json services = json::array();
  for (const auto& s : v.services) {
    json models = json::array();
    for (const auto& m : s.models) {
      json mj = {{"id", m.id}, {"status", m.value}, {"failed", m.failed}};
      if (m.exit_code) mj["exit_code"] = *m.exit_code;
      models.push_back(std::move(mj));
    }
    json j = {{"id", s.id},
              {"driver", core::to_string(s.driver)},
              {"state", core::to_string(s.state)},
              {"reason", s.reason},
              {"pid", s.pid},
              {"configured_mib", s.configured_mib},
              {"measured_mib", opt(s.measured_mib)},
              {"learned_mib", opt(s.learned_mib)},
              {"learned_sleep_mib", opt(s.learned_sleep_mib)},
              {"models", models}};
    j["port"] = s.port ? json(*s.port) : json(nullptr);
    services.push_back(std::move(j));
  }
  json out = {{"gpu", gpu_json(v.gpu)}, {"services", services}, {"external_mib", v.external_mib}};
  out["current_mode"] = v.current_mode ? json(*v.current_mode) : json(nullptr);
  out["mode_modified"] = v.mode_modified;
  out["switch_in_progress"] = v.switch_in_progress.empty() ? json(nullptr) : json(v.switch_in_progress);
  if (!v.config_problem.empty()) out["config_problem"] = v.config_problem;
  return out;
}

json to_json(const engine::OpResult& r) {
  return {{"service", r.service_id}, {"action", r.action},   {"changed", r.changed},
          {"state", core::to_string(r.state)}, {"message", r.message}, {"elapsed_ms", r.elapsed_ms}};
}

json to_json(const engine::SwitchResult& r) {
  json steps = json::array(), rollback = json::array();
  for (const auto& s : r.steps) steps.push_back(step_json(s));
  for (const auto& s : r.rollback) rollback.push_back(step_json(s));
  if (r.dry_run) {
    for (const auto& p : r.plan.steps) {
      engine::StepOutcome o;
      o.step = p;
      o.outcome = "planned";
      steps.push_back(step_json(o));
    }
  }
  // Expected durations (measured before): parallel to plan.steps, as steps are.
  if (steps.size() == r.expected_step_ms.size()) {
    for (std::size_t i = 0; i < steps.size(); ++i) {
      if (r.expected_step_ms[i]) steps[i]["expected_ms"] = *r.expected_step_ms[i];
    }
  }
  json out = {{"success", r.success},     {"dry_run", r.dry_run},       {"joined", r.joined},
              {"to_mode", r.to_mode},     {"steps", steps},             {"rollback", rollback},
              {"rolled_back", r.rolled_back}, {"message", r.message},   {"elapsed_ms", r.elapsed_ms},
              {"started", r.started},     {"woken", r.woken},           {"restarted", r.restarted},
              {"slept", r.slept},         {"stopped", r.stopped},       {"kept", r.kept},
              {"dependencies", r.dependencies},
              {"predicted_to_fit", r.plan.predicted_to_fit},
              {"predicted_free_mib", r.plan.predicted_free_mib},
              {"fit_problem", r.plan.fit_problem},
              {"preflight", r.preflight}};
  if (!r.success) out["error_code"] = util::to_string(r.failure);
  out["from_mode"] = r.from_mode ? json(*r.from_mode) : json(nullptr);
  out["expected_total_ms"] = r.expected_total_ms ? json(*r.expected_total_ms) : json(nullptr);
  return out;
}

json error_json(const util::Error& e) {
  return {{"error", {{"code", util::to_string(e.code)}, {"message", e.message}}}};
}

int http_status_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_argument: return 400;
    case ErrorCode::config_invalid: return 422;
    case ErrorCode::not_found: return 404;
    case ErrorCode::conflict: return 409;
    case ErrorCode::unavailable: return 503;
    case ErrorCode::timeout: return 504;
    case ErrorCode::insufficient_vram: return 507;
    case ErrorCode::failed: return 500;
    case ErrorCode::io:
    case ErrorCode::corrupt:
    case ErrorCode::internal: return 500;
  }
  return 500;
}

ErrorCode error_code_from_string(std::string_view s) {
  for (const auto c : {ErrorCode::invalid_argument, ErrorCode::config_invalid, ErrorCode::not_found,
                       ErrorCode::conflict, ErrorCode::unavailable, ErrorCode::timeout, ErrorCode::io,
                       ErrorCode::corrupt, ErrorCode::insufficient_vram, ErrorCode::failed,
                       ErrorCode::internal}) {
    if (util::to_string(c) == s) return c;
  }
  return ErrorCode::internal;
}

std::string render_status(const json& st) {
  std::string out;
  for (const auto& d : st["gpu"]["devices"]) {
    out += "GPU " + std::to_string(d["index"].get<int>()) + ": " + d["name"].get<std::string>() +
           (st["gpu"]["simulated"].get<bool>() ? " [SIMULATED]" : "") + "  total " +
           fmt_mib(d["total_mib"]) + " MiB, used " + fmt_mib(d["used_mib"]) + " MiB, free " +
           fmt_mib(d["free_mib"]) + " MiB\n";
  }
  out += "Mode: " + (st["current_mode"].is_string() ? st["current_mode"].get<std::string>() : "(none)");
  if (st.contains("mode_modified") && !st["mode_modified"].empty()) {
    out += ", modified: " + util::join(st["mode_modified"].get<std::vector<std::string>>(), ", ");
  }
  out += "\n";
  if (st.contains("switch_in_progress") && st["switch_in_progress"].is_string()) {
    out += "Switch in progress: " + st["switch_in_progress"].get<std::string>() + "\n";
  }
  if (st.contains("external_mib") && st["external_mib"].is_number() && st["external_mib"].get<std::int64_t>() > 0) {
    out += "Other processes on the GPU: " + fmt_mib(st["external_mib"]) + " MiB\n";
  }
  if (st.contains("config_problem")) {
    out += "Configuration: the files on disk were not applied (the last valid configuration runs): " +
           st["config_problem"].get<std::string>() + "\n";
  }
  out += "\n";
  util::TextTable t({{"SERVICE"}, {"DRIVER"}, {"PORT", true}, {"STATE"}, {"PID", true},
                     {"CONFIGURED MiB", true}, {"MEASURED MiB", true}, {"LEARNED MiB", true}});
  for (const auto& s : st["services"]) {
    std::string state = s["state"].get<std::string>();
    std::string reason = s["reason"].get<std::string>();
    reason = reason.substr(0, reason.find('\n'));
    if (reason.size() > 60) reason = reason.substr(0, 57) + "...";
    if (!reason.empty()) state += " (" + reason + ")";
    t.add_row({s["id"].get<std::string>(), s["driver"].get<std::string>(),
               s["port"].is_number() ? std::to_string(s["port"].get<int>()) : "-", state,
               s["pid"].get<int>() ? std::to_string(s["pid"].get<int>()) : "-", fmt_mib(s["configured_mib"]),
               fmt_mib(s["measured_mib"]), fmt_mib(s["learned_mib"])});
  }
  out += t.render();
  // The last measured throughput (gpumod bench), for services that have one.
  std::string bench;
  for (const auto& s : st["services"]) {
    if (!s.contains("bench") || !s["bench"].is_object()) continue;
    const auto& b = s["bench"];
    bench += "  " + s["id"].get<std::string>() + ": generation " + fmt_rate(b["gen_tps"]) + " tok/s, prompt " +
             fmt_rate(b["prompt_tps"]) + " tok/s, TTFT " + fmt_rate(b["ttft_ms"]) + " ms (" +
             b["settings"].get<std::string>() + ")\n";
  }
  if (!bench.empty()) out += "\nLast measured (gpumod bench):\n" + bench;
  return out;
}

std::string render_op(const json& op) { return op["message"].get<std::string>() + "\n"; }

std::string render_switch(const json& sw) {
  std::string out;
  const bool dry = sw["dry_run"].get<bool>();
  out += std::string(dry ? "Plan" : "Switch") + ": " +
         (sw["from_mode"].is_string() ? sw["from_mode"].get<std::string>() : "(none)") + " -> " +
         sw["to_mode"].get<std::string>() + (sw["joined"].get<bool>() ? " (joined a switch in progress)" : "") + "\n";
  // Expected durations (from gpumod bench and earlier switches) only when something was measured.
  const bool expected = std::ranges::any_of(sw["steps"], [](const json& s) { return s.contains("expected_ms"); });
  const auto expected_text = [](const json& s) {
    return s.contains("expected_ms") ? fmt_seconds(s["expected_ms"].get<std::int64_t>()) : std::string("?");
  };
  util::TextTable t({{"#", true}, {"ACTION"}, {"SERVICE"}, {dry ? "PREDICTED FREE MiB" : "OUTCOME", !dry},
                     {dry ? (expected ? "EXPECTED" : "WHY") : "MS", !dry}, {dry ? (expected ? "WHY" : "") : "DETAIL"}});
  int n = 1;
  for (const auto& s : sw["steps"]) {
    std::string action = s["action"].get<std::string>();
    if (action == "sleep") {
      const int level = s["sleep_level"].get<int>();
      action = level == 0 ? "unload (router)" : "sleep (level " + std::to_string(level) + ")";
    }
    if (s["as_dependency"].get<bool>()) action += " (dependency)";
    if (dry && expected) {
      t.add_row({std::to_string(n++), action, s["service"].get<std::string>(),
                 fmt_mib(s["predicted_free_mib"]), expected_text(s), s["reason"].get<std::string>()});
    } else if (dry) {
      t.add_row({std::to_string(n++), action, s["service"].get<std::string>(),
                 fmt_mib(s["predicted_free_mib"]), s["reason"].get<std::string>(), ""});
    } else {
      t.add_row({std::to_string(n++), action, s["service"].get<std::string>(), s["outcome"].get<std::string>(),
                 std::to_string(s["elapsed_ms"].get<std::int64_t>()), s["message"].get<std::string>()});
    }
  }
  out += t.render();
  if (!sw["rollback"].empty()) {
    out += "Rollback:\n";
    for (const auto& s : sw["rollback"]) {
      out += "  undo " + s["action"].get<std::string>() + " " + s["service"].get<std::string>() + ": " +
             s["outcome"].get<std::string>() + " - " + s["message"].get<std::string>() + "\n";
    }
  }
  const auto list = [&](const char* key, const char* label) {
    if (!sw[key].empty()) {
      std::vector<std::string> ids = sw[key].get<std::vector<std::string>>();
      out += std::string(label) + ": " + util::join(ids, ", ") + "\n";
    }
  };
  list("started", "Started");
  list("dependencies", "Started as dependencies");
  list("woken", "Woken");
  list("restarted", "Restarted");
  list("slept", "Slept");
  list("stopped", "Stopped");
  list("kept", "Kept");
  if (dry && !sw["predicted_to_fit"].get<bool>()) out += "Predicted NOT to fit: " + sw["fit_problem"].get<std::string>() + "\n";
  if (dry && sw.contains("preflight") && !sw["preflight"].empty()) {
    out += "Preflight problems (the switch would be refused):\n";
    for (const auto& p : sw["preflight"]) out += "  " + p.get<std::string>() + "\n";
  }
  if (dry && sw.contains("expected_total_ms") && sw["expected_total_ms"].is_number()) {
    out += "Expected duration: " + fmt_seconds(sw["expected_total_ms"].get<std::int64_t>()) +
           " (measured durations; outgoing steps run in parallel)\n";
  }
  out += sw["message"].get<std::string>() + "\n";
  return out;
}

json to_json(const infra::state::RequestRecord& r) {
  return json{{"id", r.id},
              {"ts_ms", r.ts_ms},
              {"method", r.method},
              {"path", r.path},
              {"model", r.model},
              {"service", r.service_id},
              {"status", r.status},
              {"queue_ms", r.queue_ms},
              {"ttfb_ms", r.ttfb_ms},
              {"duration_ms", r.duration_ms},
              {"prompt_tokens", r.prompt_tokens ? json(*r.prompt_tokens) : json(nullptr)},
              {"completion_tokens", r.completion_tokens ? json(*r.completion_tokens) : json(nullptr)},
              {"action", r.action},
              {"error", r.error}};
}

}  // namespace gpumod::app
