#include "gpumod/drivers/vllm_driver.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "gpumod/drivers/common.hpp"
#include "gpumod/infra/http/client.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::drivers {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using util::ErrorCode;
using json = nlohmann::json;
using P = Readiness::Probe;

namespace {
constexpr milliseconds k_probe_timeout{2000};

std::string health_path(const core::Service& s) {
  return s.health_endpoint.empty() || s.health_endpoint.front() != '/' ? "/health" : s.health_endpoint;
}
}  // namespace

util::Result<LaunchSpec> VllmDriver::launch_spec(const core::Service& s, const LaunchOptions& options) const {
  auto port = require_port(s);
  if (!port) return std::unexpected(port.error());
  if (!is_loopback_address(options.host))
    return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': vLLM must listen on loopback, not '" + options.host + "'");
  const std::string model = !s.model_id.empty() ? s.model_id : s.model_path;
  if (model.empty())
    return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': vLLM needs model_id (or model_path)");
  if (model.front() == '-' || model.find_first_of("\r\n") != std::string::npos)
    return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': invalid model '" + model + "'");

  LaunchSpec spec;
  std::string bin = options.vllm_bin;
  if (auto b = s.var("vllm_bin"); b && !util::trim(*b).empty()) bin = std::string(util::trim(*b));
  spec.argv = {bin, "serve", model, "--host", options.host, "--port", std::to_string(*port)};

  double util_frac = 0.9;
  if (auto v = first_var(s, {"gpu_memory_utilization", "gpu_mem_util"})) {
    try {
      std::size_t used = 0;
      const std::string t(util::trim(*v));
      util_frac = std::stod(t, &used);
      if (used != t.size()) throw std::invalid_argument(t);
    } catch (...) {
      return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': unit_vars.gpu_memory_utilization '" + *v + "' is not a number");
    }
    if (!(util_frac > 0.0 && util_frac <= 1.0))
      return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': gpu_memory_utilization must be in (0, 1], got '" + *v + "'");
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", util_frac);
  spec.argv.insert(spec.argv.end(), {"--gpu-memory-utilization", buf});

  auto len = int_var(s, {"max_model_len"}, 1, 16LL * 1024 * 1024);
  if (!len) return std::unexpected(len.error());
  const std::int64_t max_len = *len ? **len : s.context_size.value_or(4096);
  spec.argv.insert(spec.argv.end(), {"--max-model-len", std::to_string(max_len)});

  auto seqs = int_var(s, {"max_num_seqs"}, 1, 65536);
  if (!seqs) return std::unexpected(seqs.error());
  if (*seqs) spec.argv.insert(spec.argv.end(), {"--max-num-seqs", std::to_string(**seqs)});
  for (auto [key, opt] : {std::pair{"dtype", "--dtype"}, std::pair{"task", "--task"},
                          std::pair{"runner", "--runner"}, std::pair{"quantization", "--quantization"},
                          std::pair{"served_model_name", "--served-model-name"}}) {
    auto w = word_var(s, {key});
    if (!w) return std::unexpected(w.error());
    if (*w) spec.argv.insert(spec.argv.end(), {opt, **w});
  }
  if (auto h = s.var("hf_overrides")) {
    const auto j = json::parse(*h, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': unit_vars.hf_overrides must be a JSON object");
    spec.argv.insert(spec.argv.end(), {"--hf-overrides", j.dump()});
  }
  for (auto [key, opt] : {std::pair{"enforce_eager", "--enforce-eager"},
                          std::pair{"trust_remote_code", "--trust-remote-code"}}) {
    auto b = bool_var(s, key);
    if (!b) return std::unexpected(b.error());
    if (*b && **b) spec.argv.push_back(opt);
  }
  const bool sleepy = s.sleep_mode == core::SleepMode::l1 || s.sleep_mode == core::SleepMode::l2;
  auto esm = bool_var(s, "enable_sleep_mode");
  if (!esm) return std::unexpected(esm.error());
  const bool sleep_mode = sleepy || (*esm && **esm);
  if (sleep_mode) spec.argv.push_back("--enable-sleep-mode");
  auto extra = extra_args(s);
  if (!extra) return std::unexpected(extra.error());
  spec.argv.insert(spec.argv.end(), extra->begin(), extra->end());

  if (sleep_mode) spec.env["VLLM_SERVER_DEV_MODE"] = "1";  // W6: /sleep exists only with it
  if (auto d = s.var("cuda_devices")) spec.env["CUDA_VISIBLE_DEVICES"] = std::string(util::trim(*d));
  else if (!s.gpu.empty()) spec.env["CUDA_VISIBLE_DEVICES"] = s.gpu;
  if (auto hf = s.var("hf_home")) spec.env["HF_HOME"] = *hf;
  for (const auto& [k, v] : s.env) spec.env[k] = v;
  return spec;
}

util::Result<bool> vllm_is_sleeping(DriverContext& ctx, milliseconds timeout) {
  auto r = ctx.http.get("/is_sleeping", timeout);
  if (!r) return std::unexpected(util::with_context(r.error(), "GET /is_sleeping on " + ctx.http.describe()));
  if (r->status == 404)
    return util::fail(ErrorCode::failed, "GET /is_sleeping on " + ctx.http.describe() +
                                             " answered 404: vLLM runs without VLLM_SERVER_DEV_MODE=1, so it has no sleep endpoints");
  if (r->status != 200)
    return util::fail(ErrorCode::failed, "GET /is_sleeping on " + ctx.http.describe() + " answered " +
                                             std::to_string(r->status) + ": " + error_text(r->body));
  const auto j = json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("is_sleeping") || !j["is_sleeping"].is_boolean())
    return util::fail(ErrorCode::corrupt, "GET /is_sleeping on " + ctx.http.describe() + " answered an unexpected body: " + error_text(r->body));
  return j["is_sleeping"].get<bool>();
}

Observation VllmDriver::observe(const core::Service& s, DriverContext& ctx) const {
  Observation o;
  const std::string path = health_path(s);
  auto h = ctx.http.get(path, k_probe_timeout);
  if (!h) {
    o.state = ctx.alive() ? core::ServiceState::unhealthy : core::ServiceState::stopped;
    o.reason = ctx.alive() ? "the process runs but " + path + " does not answer: " + h.error().message : "not running";
    return o;
  }
  o.reachable = true;
  if (h->status != 200) {
    o.state = core::ServiceState::unhealthy;
    o.reason = path + " answered " + std::to_string(h->status) + ": " + error_text(h->body);
    return o;
  }
  o.healthy = true;
  o.state = core::ServiceState::running;
  o.reason = "serving";
  auto asleep = vllm_is_sleeping(ctx, k_probe_timeout);
  if (asleep && *asleep) {
    o.sleeping = true;
    o.state = core::ServiceState::sleeping;
    o.reason = "asleep (vLLM sleep mode)";
  }
  return o;
}

util::Status VllmDriver::await_ready(const core::Service& s, DriverContext& ctx, milliseconds timeout) const {
  const std::string path = health_path(s);
  return Readiness::wait("vLLM " + describe(s) + " to answer " + path + " and /v1/models", ctx, timeout,
                         [&](milliseconds left) -> P {
                           auto h = ctx.http.get(path, call_timeout(left));
                           if (!h) return P::not_yet(h.error().message);
                           if (h->status != 200)
                             return P::not_yet(path + " answered " + std::to_string(h->status));
                           auto m = ctx.http.get("/v1/models", call_timeout(left));
                           if (!m) return P::not_yet("/v1/models: " + m.error().message);
                           if (m->status != 200) return P::not_yet("/v1/models answered " + std::to_string(m->status));
                           // A 200 with garbage is not a serving vLLM (half-started, or another program).
                           const auto list = json::parse(m->body, nullptr, false);
                           if (list.is_discarded() || !list.is_object() || !list.contains("data") || !list["data"].is_array())
                             return P::not_yet("/v1/models answered 200 with a body that is not a model list: " +
                                               error_text(m->body));
                           return P::ready();
                         });
}

namespace {

// Polls /is_sleeping until it equals `want`.
util::Status confirm_sleeping(const core::Service& s, DriverContext& ctx, bool want, Clock::time_point deadline) {
  const auto left = std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
  return Readiness::wait("vLLM " + describe(s) + " to report is_sleeping=" + (want ? "true" : "false"), ctx, left,
                         [&](milliseconds l) -> P {
                           auto v = vllm_is_sleeping(ctx, call_timeout(l));
                           if (!v) {
                             if (v.error().code == ErrorCode::unavailable || v.error().code == ErrorCode::timeout)
                               return P::not_yet(v.error().message);
                             return P::failed(v.error().message, v.error().code);
                           }
                           if (*v == want) return P::ready();
                           return P::not_yet(std::string("is_sleeping=") + (*v ? "true" : "false"));
                         });
}

}  // namespace

util::Status VllmDriver::sleep(const core::Service& s, DriverContext& ctx, int level, milliseconds timeout) const {
  if (level == 0) {
    if (s.sleep_mode == core::SleepMode::l1) level = 1;
    else if (s.sleep_mode == core::SleepMode::l2) level = 2;
    else
      return util::fail(ErrorCode::failed, "service '" + s.id + "': sleep_mode is " +
                                               std::string(core::to_string(s.sleep_mode)) + "; vLLM sleeps at l1 or l2");
  }
  if (level != 1 && level != 2)
    return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': vLLM sleep level must be 1 or 2, got " + std::to_string(level));
  const auto deadline = Clock::now() + timeout;
  const std::string where = "sleeping vLLM " + describe(s) + " at level " + std::to_string(level);
  auto r = ctx.http.post("/sleep?level=" + std::to_string(level), "", "application/json", call_timeout(timeout, std::chrono::minutes(5)));
  if (!r) return std::unexpected(util::with_context(r.error(), where));
  if (r->status == 404)
    return util::fail(ErrorCode::failed, where + ": POST /sleep answered 404: the server runs without VLLM_SERVER_DEV_MODE=1 (dev mode off), so it cannot sleep");
  if (r->status < 200 || r->status >= 300)
    return util::fail(ErrorCode::failed, where + ": POST /sleep answered " + std::to_string(r->status) + ": " + error_text(r->body));
  auto st = confirm_sleeping(s, ctx, true, deadline);
  if (!st) return std::unexpected(util::with_context(st.error(), where));
  return {};
}

util::Status VllmDriver::wake(const core::Service& s, DriverContext& ctx, milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  const std::string where = "waking vLLM " + describe(s);
  auto r = ctx.http.post("/wake_up", "", "application/json", call_timeout(timeout, std::chrono::minutes(5)));
  if (!r) return std::unexpected(util::with_context(r.error(), where));
  if (r->status == 404)
    return util::fail(ErrorCode::failed, where + ": POST /wake_up answered 404: the server runs without VLLM_SERVER_DEV_MODE=1 (dev mode off)");
  if (r->status < 200 || r->status >= 300)
    return util::fail(ErrorCode::failed, where + ": POST /wake_up answered " + std::to_string(r->status) + ": " + error_text(r->body));
  auto st = confirm_sleeping(s, ctx, false, deadline);
  if (!st) return std::unexpected(util::with_context(st.error(), where));
  return {};
}

}  // namespace gpumod::drivers
