#include "gpumod/drivers/llamacpp_driver.hpp"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "gpumod/drivers/common.hpp"
#include "gpumod/infra/http/client.hpp"
#include "gpumod/infra/http/sse.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::drivers {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using util::ErrorCode;
using json = nlohmann::json;

namespace {

constexpr milliseconds k_probe_timeout{2000};
constexpr std::string_view k_load_error_marker = "exiting due to model loading error";

util::Status check_text(const core::Service& s, std::string_view what, std::string_view value) {
  for (char c : value)
    if (c == '\n' || c == '\r' || c == '\0')
      return util::fail(ErrorCode::invalid_argument,
                        "service '" + s.id + "': " + std::string(what) + " holds a line break");
  return {};
}

milliseconds left_until(Clock::time_point deadline) {
  return std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
}

}  // namespace

bool is_router(const core::Service& service) {
  auto d = service.var("models_dir");
  return d && !util::trim(*d).empty();
}

// ---- settings, argv, INI ---------------------------------------------------------------------

util::Result<std::vector<LlamaSetting>> model_settings(const core::Service& s, bool router) {
  std::vector<LlamaSetting> out;
  auto add = [&](std::string key, std::string value) { out.push_back({std::move(key), std::move(value), false}); };
  auto add_flag = [&](std::string key) { out.push_back({std::move(key), "", true}); };

  auto ctx = int_var(s, {"ctx_size", "context_size"}, 0, 16LL * 1024 * 1024);  // W17: both keys
  if (!ctx) return std::unexpected(ctx.error());
  if (*ctx) add("ctx-size", std::to_string(**ctx));
  else if (s.context_size) add("ctx-size", std::to_string(*s.context_size));
  else if (!router) add("ctx-size", "4096");

  if (auto v = s.var("n_gpu_layers")) {
    const std::string t = util::to_lower(util::trim(*v));
    if (t == "all" || t == "auto") {
      add("n-gpu-layers", t);
    } else {
      auto n = util::parse_int(t, -1, 100000, "unit_vars.n_gpu_layers");
      if (!n) return std::unexpected(util::with_context(n.error(), "service '" + s.id + "'"));
      add("n-gpu-layers", std::to_string(*n));
    }
  } else {
    add("n-gpu-layers", "999");
  }

  if (auto v = s.var("flash_attn")) {
    const std::string t = util::to_lower(util::trim(*v));
    if (t == "auto") add("flash-attn", "auto");
    else if (auto b = parse_bool(t)) add("flash-attn", *b ? "on" : "off");
    else return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': unit_vars.flash_attn must be on, off or auto, got '" + *v + "'");
  }

  static const std::set<std::string, std::less<>> cache_types = {
      "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"};
  for (auto [key, opt] : {std::pair{"cache_type_k", "cache-type-k"}, std::pair{"cache_type_v", "cache-type-v"}}) {
    if (auto v = s.var(key)) {
      const std::string t = util::to_lower(util::trim(*v));
      if (!cache_types.contains(t))
        return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': unit_vars." + key + " '" + *v +
                                                           "' is not a KV cache type (f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1)");
      add(opt, t);
    }
  }

  auto moe = int_var(s, {"n_cpu_moe"}, 0, 100000);
  if (!moe) return std::unexpected(moe.error());
  if (*moe) add("n-cpu-moe", std::to_string(**moe));

  auto jinja = bool_var(s, "jinja");
  if (!jinja) return std::unexpected(jinja.error());
  if (*jinja && **jinja) add_flag("jinja");

  auto mmap = bool_var(s, "mmap");
  if (!mmap) return std::unexpected(mmap.error());
  auto no_mmap = bool_var(s, "no_mmap");
  if (!no_mmap) return std::unexpected(no_mmap.error());
  if ((*mmap && !**mmap) || (*no_mmap && **no_mmap)) add_flag("no-mmap");

  auto threads = int_var(s, {"threads"}, 1, 4096);
  if (!threads) return std::unexpected(threads.error());
  if (*threads) add("threads", std::to_string(**threads));

  auto parallel = int_var(s, {"parallel"}, 1, 4096);
  if (!parallel) return std::unexpected(parallel.error());
  if (*parallel) add("parallel", std::to_string(**parallel));

  if (!router) {
    auto alias = word_var(s, {"alias"});
    if (!alias) return std::unexpected(alias.error());
    if (*alias) add("alias", **alias);
  }

  if (auto v = s.var("fit")) {
    auto b = parse_bool(*v);
    if (!b) return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': unit_vars.fit must be on or off, got '" + *v + "'");
    add("fit", *b ? "on" : "off");
  } else {
    add("fit", "off");
  }
  return out;
}

util::Result<LaunchSpec> LlamaCppDriver::launch_spec(const core::Service& s,
                                                     const LaunchOptions& options) const {
  auto port = require_port(s);
  if (!port) return std::unexpected(port.error());
  if (!is_loopback_address(options.host))
    return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': llama-server must listen on loopback, not '" + options.host + "'");
  LaunchSpec spec;
  std::string bin = options.llama_server_bin;
  if (auto b = s.var("llamacpp_bin"); b && !util::trim(*b).empty()) bin = std::string(util::trim(*b));
  spec.argv.push_back(bin);

  const bool router = is_router(s);
  if (router) {
    const std::string dir(util::trim(*s.var("models_dir")));
    if (auto st = check_text(s, "unit_vars.models_dir", dir); !st) return std::unexpected(st.error());
    spec.argv.insert(spec.argv.end(), {"--models-dir", dir});
    auto max = int_var(s, {"models_max"}, 0, 1024);
    if (!max) return std::unexpected(max.error());
    if (*max) spec.argv.insert(spec.argv.end(), {"--models-max", std::to_string(**max)});
    auto autoload = bool_var(s, "models_autoload");
    if (!autoload) return std::unexpected(autoload.error());
    auto no_autoload = bool_var(s, "no_models_autoload");
    if (!no_autoload) return std::unexpected(no_autoload.error());
    if ((*autoload && !**autoload) || (*no_autoload && **no_autoload))
      spec.argv.push_back("--no-models-autoload");
    if (auto p = first_var(s, {"models_preset", "preset_file"}); p && !util::trim(*p).empty()) {
      if (auto st = check_text(s, "unit_vars.models_preset", *p); !st) return std::unexpected(st.error());
      spec.argv.insert(spec.argv.end(), {"--models-preset", std::string(util::trim(*p))});
    }
  } else {
    if (s.sleep_mode == core::SleepMode::router)
      return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': sleep_mode router needs unit_vars.models_dir (router mode)");
    if (s.model_path.empty())
      return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': llama-server needs model_path (or unit_vars.models_dir for router mode)");
    if (auto st = check_text(s, "model_path", s.model_path); !st) return std::unexpected(st.error());
    spec.argv.insert(spec.argv.end(), {"--model", s.model_path});
  }
  spec.argv.insert(spec.argv.end(), {"--host", options.host, "--port", std::to_string(*port)});

  auto settings = model_settings(s, router);
  if (!settings) return std::unexpected(settings.error());
  for (const auto& st : *settings) {
    spec.argv.push_back("--" + st.key);
    if (!st.flag) spec.argv.push_back(st.value);
  }
  auto extra = extra_args(s);
  if (!extra) return std::unexpected(extra.error());
  spec.argv.insert(spec.argv.end(), extra->begin(), extra->end());

  if (auto d = s.var("cuda_devices")) spec.env["CUDA_VISIBLE_DEVICES"] = std::string(util::trim(*d));
  else if (!s.gpu.empty()) spec.env["CUDA_VISIBLE_DEVICES"] = s.gpu;
  for (const auto& [k, v] : s.env) spec.env[k] = v;
  return spec;
}

std::optional<std::string> static_model_id(const core::Service& s) {
  if (auto m = s.var("default_model"); m && !util::trim(*m).empty()) return std::string(util::trim(*m));
  if (!s.model_path.empty()) {
    const std::filesystem::path p(s.model_path);
    if (util::to_lower(p.extension().string()) == ".gguf" && !p.stem().empty()) return p.stem().string();
  }
  return std::nullopt;
}

util::Result<std::string> resolve_model_id(const core::Service& s, std::span<const std::string> ids) {
  if (auto id = static_model_id(s)) return *id;
  if (s.model_id.empty())
    return util::fail(ErrorCode::not_found, "service '" + s.id + "': no model id (set unit_vars.default_model, a .gguf model_path or model_id)");
  std::string stem = s.model_id.substr(s.model_id.rfind('/') == std::string::npos ? 0 : s.model_id.rfind('/') + 1);
  for (std::string_view suffix : {"-GGUF", "-gguf"})
    if (stem.size() > suffix.size() && stem.ends_with(suffix)) {
      stem.resize(stem.size() - suffix.size());
      break;
    }
  const std::string lower = util::to_lower(stem);
  for (const auto& id : ids)
    if (util::to_lower(id) == lower) return id;
  std::vector<std::string> containing;
  for (const auto& id : ids)
    if (util::to_lower(id).find(lower) != std::string::npos) containing.push_back(id);
  if (containing.size() == 1) return containing.front();
  std::string known = ids.empty() ? "none" : util::join(ids, ", ");
  if (containing.size() > 1)
    return util::fail(ErrorCode::not_found, "service '" + s.id + "': model_id '" + s.model_id + "' matches several models (" +
                                                util::join(containing, ", ") + "); set unit_vars.default_model");
  return util::fail(ErrorCode::not_found, "service '" + s.id + "': no model on the router matches model_id '" + s.model_id +
                                              "' (offered: " + known + ")");
}

util::Result<std::string> render_models_preset_ini(const std::vector<core::Service>& services) {
  struct Section {
    std::string id;
    std::vector<std::pair<std::string, std::string>> keys;
  };
  std::vector<Section> sections;
  std::set<std::string> seen;
  for (const auto& s : services) {
    auto id = static_model_id(s);
    if (!id)
      return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': a router preset needs a model id (unit_vars.default_model or a .gguf model_path)");
    if (id->find_first_of("[]\r\n=;#") != std::string::npos || util::trim(*id) != *id)
      return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': model id '" + *id + "' cannot be an INI section name");
    if (!seen.insert(*id).second)
      return util::fail(ErrorCode::conflict, "service '" + s.id + "': model id '" + *id + "' is used by another service in the same router");
    Section sec{*id, {}};
    if (!s.model_path.empty()) {
      if (auto st = check_text(s, "model_path", s.model_path); !st) return std::unexpected(st.error());
      sec.keys.emplace_back("model", s.model_path);
    }
    auto settings = model_settings(s, true);
    if (!settings) return std::unexpected(settings.error());
    for (const auto& st : *settings) sec.keys.emplace_back(st.key, st.flag ? "true" : st.value);
    if (auto a = word_var(s, {"alias"}); a && *a) sec.keys.emplace_back("alias", **a);
    sections.push_back(std::move(sec));
  }
  // Settings that every section has with the same value go to [*] (only with two or more).
  std::vector<std::pair<std::string, std::string>> shared;
  if (sections.size() >= 2) {
    for (const auto& kv : sections.front().keys) {
      if (kv.first == "model" || kv.first == "alias") continue;
      const bool everywhere = std::all_of(sections.begin(), sections.end(), [&](const Section& sec) {
        return std::find(sec.keys.begin(), sec.keys.end(), kv) != sec.keys.end();
      });
      if (everywhere) shared.push_back(kv);
    }
    for (auto& sec : sections)
      std::erase_if(sec.keys, [&](const auto& kv) { return std::find(shared.begin(), shared.end(), kv) != shared.end(); });
  }
  std::string out = "; generated by gpumod: one section per model; no top-level keys\n[*]\n";
  for (const auto& [k, v] : shared) out += k + " = " + v + "\n";
  for (const auto& sec : sections) {
    out += "\n[" + sec.id + "]\n";
    for (const auto& [k, v] : sec.keys) out += k + " = " + v + "\n";
  }
  return out;
}

// ---- /models ---------------------------------------------------------------------------------

namespace {

std::optional<ModelStatus> model_from_json(const json& m) {
  if (!m.is_object()) return std::nullopt;
  ModelStatus ms;
  if (m.contains("id") && m["id"].is_string()) ms.id = m["id"].get<std::string>();
  else if (m.contains("model") && m["model"].is_string()) ms.id = m["model"].get<std::string>();
  else if (m.contains("name") && m["name"].is_string()) ms.id = m["name"].get<std::string>();
  else return std::nullopt;
  if (m.contains("status")) {
    const auto& st = m["status"];
    const json* holder = nullptr;
    if (st.is_string()) {
      ms.value = st.get<std::string>();
      holder = &m;
    } else if (st.is_object()) {
      if (st.contains("value") && st["value"].is_string()) ms.value = st["value"].get<std::string>();
      holder = &st;
    }
    if (holder) {
      if (holder->contains("failed") && (*holder)["failed"].is_boolean()) ms.failed = (*holder)["failed"].get<bool>();
      if (holder->contains("exit_code") && (*holder)["exit_code"].is_number_integer())
        ms.exit_code = (*holder)["exit_code"].get<int>();
    }
  }
  return ms;
}

}  // namespace

util::Result<std::vector<ModelStatus>> parse_models(std::string_view body) {
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded())
    return util::fail(ErrorCode::corrupt, "GET /models answered malformed JSON: " + error_text(body));
  const json* list = nullptr;
  if (j.is_array()) list = &j;
  else if (j.is_object() && j.contains("data") && j["data"].is_array()) list = &j["data"];
  else if (j.is_object() && j.contains("models") && j["models"].is_array()) list = &j["models"];
  if (!list) return util::fail(ErrorCode::corrupt, "GET /models answered JSON without a model list: " + error_text(body));
  std::vector<ModelStatus> out;
  for (const auto& m : *list)
    if (auto ms = model_from_json(m)) out.push_back(std::move(*ms));
  return out;
}

util::Result<std::vector<ModelStatus>> list_models(DriverContext& ctx, milliseconds timeout) {
  auto r = ctx.http.get("/models", timeout);
  if (!r) return std::unexpected(util::with_context(r.error(), "GET /models on " + ctx.http.describe()));
  if (r->status != 200)
    return util::fail(ErrorCode::failed, "GET /models on " + ctx.http.describe() + " answered " +
                                             std::to_string(r->status) + ": " + error_text(r->body));
  auto models = parse_models(r->body);
  if (!models) return std::unexpected(util::with_context(models.error(), ctx.http.describe()));
  return models;
}

namespace {

// The log lines written after `before` was taken (all of `after` when they do not overlap).
std::vector<std::string> new_log_lines(const std::vector<std::string>& before, const std::vector<std::string>& after) {
  if (before.empty()) return after;
  // Find the last occurrence of before's last lines (up to 3) as a block in `after`.
  const std::size_t k = std::min<std::size_t>(3, before.size());
  for (std::size_t end = after.size(); end >= k; --end) {
    bool match = true;
    for (std::size_t i = 0; i < k && match; ++i)
      match = after[end - k + i] == before[before.size() - k + i];
    if (match) return {after.begin() + static_cast<std::ptrdiff_t>(end), after.end()};
    if (end == k) break;
  }
  return after;
}

// True when a new log line says that the child for `id` exited on a load error. A line with a
// "[other-model]" prefix belongs to another model's child.
bool log_shows_load_error(const std::vector<std::string>& lines, std::string_view id) {
  for (const auto& l : lines) {
    if (l.find(k_load_error_marker) == std::string::npos) continue;
    if (l.find(id) != std::string::npos) return true;
    const auto t = util::trim(l);
    if (!t.empty() && t.front() == '[') continue;  // another model's child
    return true;
  }
  return false;
}

enum class Goal { loaded, unloaded };

std::string status_text(const ModelStatus& m) {
  std::string s = "'" + m.id + "' " + (m.value.empty() ? "(no status)" : m.value);
  if (m.failed) s += " (failed" + (m.exit_code ? ", exit code " + std::to_string(*m.exit_code) : std::string()) + ")";
  return s;
}

// The verdict on one model status for a goal.
Readiness::Probe judge(const ModelStatus& m, Goal goal) {
  using P = Readiness::Probe;
  if (goal == Goal::loaded) {
    if (m.value == "loaded" || m.value == "sleeping") return P::ready();
    if (m.value == "unloaded" || m.value == "failed" || m.value == "error")
      return P::failed("load of model '" + m.id + "' failed: the router reports " + status_text(m));
    return P::not_yet(status_text(m));
  }
  if (m.value == "unloaded") return P::ready();
  return P::not_yet(status_text(m));
}

bool in_progress(const std::string& value, Goal goal) {
  if (goal == Goal::loaded) return value == "loading" || value == "downloading" || value.empty();
  return value != "unloaded";
}

// Waits for model `id` to reach `goal`, following /models/sse when offered.
util::Status await_model(DriverContext& ctx, std::string_view id, Goal goal, Clock::time_point deadline,
                         const std::vector<std::string>& log_before) {
  using P = Readiness::Probe;
  const std::string verb = goal == Goal::loaded ? "load" : "unload";
  const std::string what = "model '" + std::string(id) + "' to " + verb + " on " + ctx.http.describe();
  bool sse = true;
  const auto start = Clock::now();
  const auto timeout = std::max(milliseconds(1), left_until(deadline));
  // Readiness drives the loop (fast backoff, process and deadline checks); with SSE the probe
  // itself blocks on the event stream for a short while, so the backoff sleeps stay tiny.
  auto check = [&](milliseconds left) -> P {
    auto models = list_models(ctx, call_timeout(left));
    if (!models) {
      if (models.error().code == ErrorCode::corrupt || models.error().code == ErrorCode::failed)
        return P::failed(models.error().message, models.error().code);
      return P::not_yet(models.error().message);  // transport: the router may be busy
    }
    auto it = std::find_if(models->begin(), models->end(), [&](const ModelStatus& m) { return m.id == id; });
    if (it == models->end())
      return P::failed("the router no longer lists model '" + std::string(id) + "'", ErrorCode::not_found);
    P verdict = judge(*it, goal);
    if (verdict.kind != P::Kind::not_yet) return verdict;
    if (goal == Goal::loaded && log_shows_load_error(new_log_lines(log_before, ctx.tail(200)), id))
      return P::failed("load of model '" + std::string(id) + "' failed: its llama-server child logged \"" +
                       std::string(k_load_error_marker) + "\" (the router still says " + it->value + ")");
    if (left <= milliseconds(1)) {
      const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
      return P::failed("model '" + std::string(id) + "' is still " + status_text(*it) + " after " +
                           std::to_string(waited) + " ms; deadline passed",
                       ErrorCode::timeout);
    }
    return verdict;
  };
  // Readiness drives the loop (fast backoff, process and deadline checks). With /models/sse the
  // probe also blocks on the event stream for up to ~0.5 s and re-checks as soon as an event
  // says the model left its in-between state.
  return Readiness::wait(what, ctx, timeout, [&](milliseconds left) -> P {
    P verdict = check(left);
    if (verdict.kind != P::Kind::not_yet || !sse) return verdict;
    infra::http::SseParser parser;
    bool changed = false;
    const auto stream_start = Clock::now();
    auto r = ctx.http.stream(
        "/models/sse",
        [&](std::string_view chunk) {
          parser.feed(chunk, [&](const infra::http::SseEvent& ev) {
            const json j = json::parse(ev.data, nullptr, false);
            auto m = model_from_json(j);
            if (m && m->id == id && !in_progress(m->value, goal)) changed = true;
          });
          return !changed && Clock::now() - stream_start < milliseconds(500) && Clock::now() < deadline;
        },
        std::min(call_timeout(left), milliseconds(300)));
    if (r && (r->status < 200 || r->status >= 300)) sse = false;  // 404: no event stream here
    if (changed) return check(std::max(milliseconds(1), left_until(deadline)));
    return verdict;
  });
}

}  // namespace

util::Status load_model(DriverContext& ctx, std::string_view id, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const auto log_before = ctx.tail(64);
  const std::string where = "loading model '" + std::string(id) + "' on " + ctx.http.describe();
  auto r = ctx.http.post_json("/models/load", json{{"model", std::string(id)}}.dump(), call_timeout(timeout, milliseconds(10000)));
  if (!r) return std::unexpected(util::with_context(r.error(), where));
  if (r->status == 404)
    return util::fail(ErrorCode::not_found, where + ": the router has no such model (404: " + error_text(r->body) + ")");
  if (r->status == 400 && error_text(r->body).find("already running") != std::string::npos) {
    // Loaded or loading already: the wait below returns at once when it is loaded.
  } else if (r->status < 200 || r->status >= 300) {
    return util::fail(ErrorCode::failed, where + ": POST /models/load answered " + std::to_string(r->status) + ": " + error_text(r->body));
  }
  auto st = await_model(ctx, id, Goal::loaded, deadline, log_before);
  if (!st && (st.error().code == ErrorCode::timeout || st.error().code == ErrorCode::failed) && ctx.alive()) {
    // A child that died on a load error stays "loading" on a real router: unload it so it does
    // not hold a models-max slot. Best effort; the error below is what matters.
    (void)ctx.http.post_json("/models/unload", json{{"model", std::string(id)}}.dump(), milliseconds(500));
  }
  return st;
}

util::Status unload_model(DriverContext& ctx, std::string_view id, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::string where = "unloading model '" + std::string(id) + "' on " + ctx.http.describe();
  auto r = ctx.http.post_json("/models/unload", json{{"model", std::string(id)}}.dump(), call_timeout(timeout, milliseconds(10000)));
  if (!r) return std::unexpected(util::with_context(r.error(), where));
  if (r->status == 404)
    return util::fail(ErrorCode::not_found, where + ": the router has no such model (404: " + error_text(r->body) + ")");
  if (r->status == 400 && error_text(r->body).find("not running") != std::string::npos) return {};
  if (r->status < 200 || r->status >= 300)
    return util::fail(ErrorCode::failed, where + ": POST /models/unload answered " + std::to_string(r->status) + ": " + error_text(r->body));
  return await_model(ctx, id, Goal::unloaded, deadline, {});
}

// ---- the driver ------------------------------------------------------------------------------

namespace {

std::string health_path(const core::Service& s) {
  return s.health_endpoint.empty() || s.health_endpoint.front() != '/' ? "/health" : s.health_endpoint;
}

util::Result<std::string> model_id_on_router(const core::Service& s, DriverContext& ctx, milliseconds timeout) {
  if (auto id = static_model_id(s)) return *id;
  auto models = list_models(ctx, timeout);
  if (!models) return std::unexpected(models.error());
  std::vector<std::string> ids;
  for (const auto& m : *models) ids.push_back(m.id);
  return resolve_model_id(s, ids);
}

}  // namespace

Observation LlamaCppDriver::observe(const core::Service& s, DriverContext& ctx) const {
  Observation o;
  const std::string path = health_path(s);
  auto h = ctx.http.get(path, k_probe_timeout);
  if (!h) {
    if (ctx.alive()) {
      o.state = core::ServiceState::unhealthy;
      o.reason = "the process runs but " + ctx.http.describe() + path + " does not answer: " + h.error().message;
    } else {
      o.state = core::ServiceState::stopped;
      o.reason = "not running";
    }
    return o;
  }
  o.reachable = true;
  if (!is_router(s)) {
    if (h->status == 200) {
      o.healthy = true;
      o.state = core::ServiceState::running;
      o.reason = "serving";
    } else if (h->status == 503) {
      o.state = core::ServiceState::loading;
      o.reason = "loading its model (" + error_text(h->body) + ")";
    } else {
      o.state = core::ServiceState::unhealthy;
      o.reason = path + " answered " + std::to_string(h->status) + ": " + error_text(h->body);
    }
    return o;
  }
  if (h->status != 200) {
    o.state = core::ServiceState::unhealthy;
    o.reason = "router " + path + " answered " + std::to_string(h->status) + ": " + error_text(h->body);
    return o;
  }
  o.healthy = true;
  auto models = list_models(ctx, k_probe_timeout);
  if (!models) {
    o.state = core::ServiceState::unhealthy;
    o.reason = "router is up but its model list is unusable: " + models.error().message;
    return o;
  }
  o.models = *models;
  std::vector<std::string> ids;
  for (const auto& m : o.models) ids.push_back(m.id);
  auto id = resolve_model_id(s, ids);
  if (!id) {
    o.state = core::ServiceState::unhealthy;
    o.reason = id.error().message;
    return o;
  }
  auto it = std::find_if(o.models.begin(), o.models.end(), [&](const ModelStatus& m) { return m.id == *id; });
  if (it == o.models.end()) {
    o.state = core::ServiceState::unhealthy;
    o.reason = "router is up but does not offer model '" + *id + "'";
    return o;
  }
  const auto& v = it->value;
  if (v == "loaded") {
    o.state = core::ServiceState::running;
    o.reason = "model '" + *id + "' loaded";
  } else if (v == "loading" || v == "downloading") {
    o.state = core::ServiceState::loading;
    o.reason = "model '" + *id + "' " + v;
  } else if (v == "sleeping") {
    o.state = core::ServiceState::sleeping;
    o.sleeping = true;
    o.reason = "model '" + *id + "' idle-sleeping in the router";
  } else if (v == "unloaded" && it->failed) {
    o.state = core::ServiceState::failed;
    o.reason = "model '" + *id + "' failed to load" + (it->exit_code ? " (exit code " + std::to_string(*it->exit_code) + ")" : "");
  } else if (v == "unloaded") {
    o.state = core::ServiceState::sleeping;
    o.sleeping = true;
    o.reason = "router up, model '" + *id + "' not loaded";
  } else {
    o.state = core::ServiceState::unknown;
    o.reason = "model '" + *id + "' has status '" + v + "'";
  }
  return o;
}

util::Status LlamaCppDriver::await_ready(const core::Service& s, DriverContext& ctx, milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  const std::string path = health_path(s);
  const bool router = is_router(s);
  const std::string what = "llama-server " + describe(s) + " to answer " + path;
  auto st = Readiness::wait(what, ctx, timeout, [&](milliseconds left) -> Readiness::Probe {
    auto h = ctx.http.get(path, call_timeout(left));
    if (!h) return Readiness::Probe::not_yet(h.error().message);
    if (h->status == 200) return Readiness::Probe::ready();
    return Readiness::Probe::not_yet(path + " answered " + std::to_string(h->status) + ": " + error_text(h->body));
  });
  if (!st || !router) return st;
  auto id = model_id_on_router(s, ctx, call_timeout(left_until(deadline)));
  if (!id) return std::unexpected(util::with_context(id.error(), "service '" + s.id + "'"));
  auto loaded = load_model(ctx, *id, std::max(milliseconds(1), left_until(deadline)));
  if (!loaded) return std::unexpected(util::with_context(loaded.error(), "service '" + s.id + "'"));
  return {};
}

util::Status LlamaCppDriver::sleep(const core::Service& s, DriverContext& ctx, int, milliseconds timeout) const {
  if (!is_router(s))
    return util::fail(ErrorCode::failed, "service '" + s.id + "': a single-model llama-server cannot sleep (only router services, by unloading their model)");
  const auto deadline = Clock::now() + timeout;
  auto id = model_id_on_router(s, ctx, call_timeout(timeout));
  if (!id) return std::unexpected(util::with_context(id.error(), "sleeping service '" + s.id + "'"));
  auto st = unload_model(ctx, *id, std::max(milliseconds(1), left_until(deadline)));
  if (!st) return std::unexpected(util::with_context(st.error(), "sleeping service '" + s.id + "'"));
  return {};
}

util::Status LlamaCppDriver::wake(const core::Service& s, DriverContext& ctx, milliseconds timeout) const {
  if (!is_router(s))
    return util::fail(ErrorCode::failed, "service '" + s.id + "': a single-model llama-server cannot sleep or wake");
  const auto deadline = Clock::now() + timeout;
  auto id = model_id_on_router(s, ctx, call_timeout(timeout));
  if (!id) return std::unexpected(util::with_context(id.error(), "waking service '" + s.id + "'"));
  auto st = load_model(ctx, *id, std::max(milliseconds(1), left_until(deadline)));
  if (!st) return std::unexpected(util::with_context(st.error(), "waking service '" + s.id + "'"));
  return {};
}

// ---- buffer sizes ----------------------------------------------------------------------------

double BufferSizes::gpu_mib() const {
  double sum = 0;
  for (const auto& [dev, b] : devices) {
    if (dev.ends_with("_Host") || dev.ends_with("_Mapped")) continue;
    for (std::string_view p : {"CUDA", "ROCm", "Vulkan", "Metal", "SYCL", "MUSA", "CANN"})
      if (util::starts_with(dev, p)) {
        sum += b.total_mib();
        break;
      }
  }
  return sum;
}

BufferSizes parse_buffer_sizes(std::string_view log_text) {
  BufferSizes out;
  bool seen_non_model = false;
  std::size_t pos = 0;
  while (pos <= log_text.size()) {
    auto nl = log_text.find('\n', pos);
    if (nl == std::string_view::npos) nl = log_text.size();
    const std::string_view line = log_text.substr(pos, nl - pos);
    pos = nl + 1;
    const auto at = line.find(" buffer size");
    if (at == std::string_view::npos) continue;
    if (line.find('|') != std::string_view::npos) continue;  // the memory-breakdown table
    // "...<fn>: <device> <kind> buffer size = <X> MiB"
    const auto eq = line.find('=', at);
    if (eq == std::string_view::npos) continue;
    std::string_view num = util::trim(line.substr(eq + 1));
    const auto mib_at = num.find("MiB");
    if (mib_at == std::string_view::npos) continue;
    num = util::trim(num.substr(0, mib_at));
    double value = 0;
    try {
      std::size_t used = 0;
      value = std::stod(std::string(num), &used);
      if (used != num.size() || value < 0 || value > 1e9) continue;
    } catch (...) {
      continue;
    }
    auto before = util::trim(line.substr(0, at));
    const auto sp = before.find_last_of(" \t");
    if (sp == std::string_view::npos) continue;
    const std::string kind(before.substr(sp + 1));
    before = util::trim(before.substr(0, sp));
    const auto sp2 = before.find_last_of(" \t:");
    const std::string device(before.substr(sp2 == std::string_view::npos ? 0 : sp2 + 1));
    if (device.empty()) continue;
    if (kind != "model" && kind != "KV" && kind != "RS" && kind != "compute" && kind != "output") continue;
    if (kind == "model") {
      if (seen_non_model) {  // a new load starts: the last one wins
        out = BufferSizes{};
        seen_non_model = false;
      }
    } else {
      seen_non_model = true;
    }
    auto& d = out.devices[device];
    if (kind == "model") d.model_mib += value, out.model_mib += value;
    else if (kind == "KV" || kind == "RS") d.kv_mib += value, out.kv_mib += value;
    else if (kind == "compute") d.compute_mib += value, out.compute_mib += value;
    else if (kind == "output") d.output_mib += value, out.output_mib += value;
  }
  return out;
}

}  // namespace gpumod::drivers
