// gpumod bench for one service (see bench.hpp): exact prompts through the server's own
// tokenizer, streamed requests, the server's own timings where it sends them.
#include "gpumod/engine/bench.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <future>
#include <nlohmann/json.hpp>

#include "gpumod/drivers/llamacpp_driver.hpp"
#include "gpumod/engine/bench_detail.hpp"
#include "gpumod/engine/engine_impl.hpp"
#include "gpumod/infra/http/sse.hpp"
#include "gpumod/infra/process/page_cache.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::engine {

using json = nlohmann::json;
using core::ServiceState;
using util::ErrorCode;
using std::chrono::milliseconds;

namespace bench_detail {

json stat_json(std::vector<double> values) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return !std::isfinite(v); }), values.end());
  if (values.empty()) return nullptr;
  std::ranges::sort(values);
  const std::size_t n = values.size();
  const double median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
  return json{{"median", median}, {"min", values.front()}, {"max", values.back()}, {"n", n}};
}

std::optional<double> median_of(const json& stat) {
  if (!stat.is_object() || !stat.contains("median")) return std::nullopt;
  return stat["median"].get<double>();
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace bench_detail

using namespace bench_detail;

util::Status validate(const BenchRequest& r) {
  auto range = [](int v, int lo, int hi, const char* what) -> util::Status {
    if (v < lo || v > hi) return util::fail(ErrorCode::invalid_argument, fmt::format("{} must be between {} and {}, got {}", what, lo, hi, v));
    return {};
  };
  if (r.target.empty()) return util::fail(ErrorCode::invalid_argument, "bench: name a service or a model");
  if (auto s = range(r.prompt_tokens, 1, 131072, "--prompt-tokens"); !s) return s;
  if (auto s = range(r.gen_tokens, 1, 32768, "--gen-tokens"); !s) return s;
  if (auto s = range(r.runs, 1, 100, "--runs"); !s) return s;
  if (auto s = range(r.concurrency, 1, 64, "--concurrency"); !s) return s;
  return {};
}

namespace {

// What one request measured.
struct Sample {
  double ttft_ms = NAN;
  double e2e_ms = NAN;
  double prompt_tps = NAN;
  double gen_tps = NAN;
  std::int64_t prompt_n = -1;
  std::int64_t gen_n = 0;
  bool server_timings = false;
};

std::string excerpt(std::string_view body) {
  std::string s(body.substr(0, 300));
  std::ranges::replace(s, '\n', ' ');
  return s;
}

// The error message of a JSON error body ({"error":{"message":..}} or {"error":".."}), else the body.
std::string error_text(const std::string& body) {
  const auto j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error")) {
    const auto& e = j["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
    if (e.is_string()) return e.get<std::string>();
  }
  return excerpt(body);
}

bool is_embedding_service(const core::Service& s) {
  for (const char* key : {"runner", "task"}) {
    if (auto v = s.var(key)) {
      const auto t = util::to_lower(util::trim(*v));
      if (t == "pooling" || t == "embed" || t == "embedding" || t == "embeddings") return true;
    }
  }
  for (const char* key : {"embedding", "embeddings"}) {
    if (auto v = s.var(key); v && util::to_lower(util::trim(*v)) == "true") return true;
  }
  if (auto extra = s.var("extra_args")) {
    if (extra->find("--embedding") != std::string::npos) return true;
  }
  return std::ranges::find(s.command, "--embedding") != s.command.end() ||
         std::ranges::find(s.command, "--embeddings") != s.command.end();
}

// The streamed body of one request, read into a Sample. `openai`: OpenAI chunks (choices[0]
// delta.content / reasoning_content / text); else llama-server /completion chunks (content, stop).
util::Result<Sample> stream_request(infra::http::HttpClient& http, const std::string& path, const json& body,
                                    bool openai, milliseconds idle_timeout) {
  Sample out;
  infra::http::SseParser parser;
  std::optional<util::Error> problem;
  std::int64_t chunks_with_tokens = 0;
  Clock::time_point first{}, last{};
  json timings;
  json usage;
  const auto t0 = Clock::now();
  const auto on_event = [&](const infra::http::SseEvent& ev) {
    if (problem || ev.data == "[DONE]") return;
    const auto j = json::parse(ev.data, nullptr, false);
    if (!j.is_object()) {
      problem = util::Error{ErrorCode::failed, path + " sent an event that is not JSON: " + excerpt(ev.data)};
      return;
    }
    if (j.contains("error")) {
      problem = util::Error{ErrorCode::failed, path + " failed mid-stream: " + error_text(ev.data)};
      return;
    }
    bool token = false;
    if (openai) {
      if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty()) {
        const auto& c = j["choices"][0];
        if (c.contains("delta") && c["delta"].is_object()) {
          for (const char* k : {"content", "reasoning_content", "reasoning"}) {
            if (c["delta"].contains(k) && c["delta"][k].is_string() && !c["delta"][k].get<std::string>().empty()) token = true;
          }
        }
        if (c.contains("text") && c["text"].is_string() && !c["text"].get<std::string>().empty()) token = true;
      }
      if (j.contains("usage") && j["usage"].is_object()) usage = j["usage"];
    } else {
      if (j.contains("content") && j["content"].is_string() && !j["content"].get<std::string>().empty()) token = true;
      if (j.contains("tokens_evaluated") && j["tokens_evaluated"].is_number_integer()) usage["prompt_tokens"] = j["tokens_evaluated"];
      if (j.contains("tokens_predicted") && j["tokens_predicted"].is_number_integer()) usage["completion_tokens"] = j["tokens_predicted"];
    }
    if (j.contains("timings") && j["timings"].is_object()) timings = j["timings"];
    if (token) {
      const auto now = Clock::now();
      if (chunks_with_tokens == 0) first = now;
      last = now;
      ++chunks_with_tokens;
    }
  };
  auto r = http.stream_post(path, body.dump(), "application/json", [&](std::string_view chunk) {
    parser.feed(chunk, on_event);
    return !problem.has_value();
  }, idle_timeout);
  if (!r) return std::unexpected(util::with_context(r.error(), "POST " + path));
  if (r->status < 200 || r->status >= 300) {
    return util::fail(ErrorCode::failed, fmt::format("POST {} answered HTTP {}: {}", path, r->status, error_text(r->body)));
  }
  if (problem) return std::unexpected(*problem);
  const auto end = Clock::now();
  if (chunks_with_tokens == 0) return util::fail(ErrorCode::failed, "POST " + path + " streamed no token");
  out.e2e_ms = ms_between(t0, end);
  out.ttft_ms = ms_between(t0, first);
  auto num = [](const json& o, const char* k) -> std::optional<double> {
    if (o.is_object() && o.contains(k) && o[k].is_number()) return o[k].get<double>();
    return std::nullopt;
  };
  if (auto pps = num(timings, "prompt_per_second"), gps = num(timings, "predicted_per_second"); pps && gps) {
    out.server_timings = true;
    out.prompt_tps = *pps;
    out.gen_tps = *gps;
    out.prompt_n = static_cast<std::int64_t>(num(timings, "prompt_n").value_or(-1));
    out.gen_n = static_cast<std::int64_t>(num(timings, "predicted_n").value_or(static_cast<double>(chunks_with_tokens)));
  } else {
    out.gen_n = static_cast<std::int64_t>(num(usage, "completion_tokens").value_or(static_cast<double>(chunks_with_tokens)));
    out.prompt_n = static_cast<std::int64_t>(num(usage, "prompt_tokens").value_or(-1));
    const double gen_ms = ms_between(first, last);
    if (out.gen_n > 1 && gen_ms > 0) out.gen_tps = static_cast<double>(out.gen_n - 1) * 1000.0 / gen_ms;
    if (out.prompt_n > 0 && out.ttft_ms > 0) out.prompt_tps = static_cast<double>(out.prompt_n) * 1000.0 / out.ttft_ms;
  }
  return out;
}

util::Result<Sample> embedding_request(infra::http::HttpClient& http, const json& body, milliseconds timeout) {
  const auto t0 = Clock::now();
  auto r = http.post_json("/v1/embeddings", body.dump(), timeout);
  if (!r) return std::unexpected(util::with_context(r.error(), "POST /v1/embeddings"));
  if (r->status < 200 || r->status >= 300) {
    return util::fail(ErrorCode::failed, fmt::format("POST /v1/embeddings answered HTTP {}: {}", r->status, error_text(r->body)));
  }
  Sample out;
  out.e2e_ms = ms_between(t0, Clock::now());
  const auto j = json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("data") || !j["data"].is_array() || j["data"].empty()) {
    return util::fail(ErrorCode::failed, "POST /v1/embeddings answered no embedding: " + excerpt(r->body));
  }
  out.gen_n = static_cast<std::int64_t>(j["data"].size());
  if (j.contains("usage") && j["usage"].is_object() && j["usage"].contains("prompt_tokens") && j["usage"]["prompt_tokens"].is_number_integer()) {
    out.prompt_n = j["usage"]["prompt_tokens"].get<std::int64_t>();
    if (out.e2e_ms > 0) out.prompt_tps = static_cast<double>(out.prompt_n) * 1000.0 / out.e2e_ms;
  }
  return out;
}

// The words of the text that is tokenized for prompts (any text works: only its token ids are used).
std::string seed_text(std::size_t words) {
  static constexpr std::array<std::string_view, 32> k_words = {
      "the", "river", "carried", "seven", "boats", "past", "a", "quiet", "town", "where", "people",
      "measured", "time", "by", "bells", "and", "bread", "while", "engineers", "counted", "tokens",
      "on", "warm", "machines", "under", "grey", "clouds", "every", "morning", "before", "coffee", "arrived"};
  std::string out;
  for (std::size_t i = 0; i < words; ++i) {
    if (i) out += ' ';
    out += k_words[(i * 7 + i / 32) % k_words.size()];
  }
  return out;
}

std::vector<int> int_tokens(const json& tokens) {
  std::vector<int> out;
  if (!tokens.is_array()) return out;
  for (const auto& t : tokens) {
    if (t.is_number_integer()) out.push_back(t.get<int>());
    else if (t.is_object() && t.contains("id") && t["id"].is_number_integer()) out.push_back(t["id"].get<int>());
  }
  return out;
}

// At least `need` token ids from the server's own tokenizer. nullopt (with a note) when the
// server has no /tokenize.
util::Result<std::optional<std::vector<int>>> token_pool(infra::http::HttpClient& http, bool vllm,
                                                         const std::string& model, std::size_t need,
                                                         milliseconds timeout) {
  std::size_t words = need + 16;
  for (int attempt = 0; attempt < 8; ++attempt) {
    json body = vllm ? json{{"model", model}, {"prompt", seed_text(words)}, {"add_special_tokens", false}}
                     : json{{"model", model}, {"content", seed_text(words)}, {"add_special", false}};  // model: a router routes by it
    auto r = http.post_json("/tokenize", body.dump(), timeout);
    if (!r) return std::unexpected(util::with_context(r.error(), "POST /tokenize"));
    if (r->status == 404) return std::optional<std::vector<int>>{};
    if (r->status < 200 || r->status >= 300) {
      return util::fail(ErrorCode::failed, fmt::format("POST /tokenize answered HTTP {}: {}", r->status, error_text(r->body)));
    }
    const auto j = json::parse(r->body, nullptr, false);
    auto tokens = int_tokens(j.is_object() && j.contains("tokens") ? j["tokens"] : json());
    if (tokens.empty()) return util::fail(ErrorCode::failed, "POST /tokenize answered no tokens: " + excerpt(r->body));
    if (tokens.size() >= need) return std::optional<std::vector<int>>(std::move(tokens));
    words = words * 2 + (need - tokens.size()) * 2;
  }
  return util::fail(ErrorCode::failed, fmt::format("the server's tokenizer gave fewer than {} tokens for a long text", need));
}

util::Result<std::string> detokenize(infra::http::HttpClient& http, bool vllm, const std::string& model,
                                     const std::vector<int>& tokens, milliseconds timeout) {
  json body = {{"model", model}, {"tokens", tokens}};
  auto r = http.post_json("/detokenize", body.dump(), timeout);
  if (!r) return std::unexpected(util::with_context(r.error(), "POST /detokenize"));
  if (r->status < 200 || r->status >= 300) {
    return util::fail(ErrorCode::failed, fmt::format("POST /detokenize answered HTTP {}: {}", r->status, error_text(r->body)));
  }
  const auto j = json::parse(r->body, nullptr, false);
  const char* key = vllm ? "prompt" : "content";
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) {
    return util::fail(ErrorCode::failed, "POST /detokenize answered no text: " + excerpt(r->body));
  }
  return j[key].get<std::string>();
}

// The model name requests carry: a router model's id, else what /v1/models lists first.
template <class Impl>  // Engine::Impl (private: named by deduction only)
std::string request_model(Impl& m, Slot& s) {
  const auto& svc = *s.service;
  auto ctx = m.context(s);
  if (svc.driver == core::DriverKind::llamacpp && drivers::is_router(svc)) {
    if (auto id = drivers::static_model_id(svc)) return *id;
    if (auto models = drivers::list_models(ctx, milliseconds(5000))) {
      std::vector<std::string> ids;
      for (const auto& x : *models) ids.push_back(x.id);
      if (auto id = drivers::resolve_model_id(svc, ids)) return *id;
    }
  }
  if (auto r = ctx.http.get("/v1/models", milliseconds(5000)); r && r->status == 200) {
    const auto j = json::parse(r->body, nullptr, false);
    if (j.is_object() && j.contains("data") && j["data"].is_array() && !j["data"].empty() &&
        j["data"][0].contains("id") && j["data"][0]["id"].is_string()) {
      return j["data"][0]["id"].template get<std::string>();
    }
  }
  return svc.model_id.empty() ? svc.id : svc.model_id;
}

// A service by id, or the one service whose model is `target`.
template <class Impl>
util::Result<Slot*> resolve_target(Impl& m, const std::string& target) {
  if (auto s = m.find_slot(target)) return s;
  std::vector<Slot*> found;
  std::vector<std::string> names = m.config.service_ids();
  for (auto& [id, s] : m.slots) {
    const auto& svc = *s.service;
    std::vector<std::string> models;
    if (!svc.model_id.empty()) models.push_back(svc.model_id);
    if (auto sid = drivers::static_model_id(svc)) models.push_back(*sid);
    if (!svc.model_path.empty()) models.push_back(std::filesystem::path(svc.model_path).stem().string());
    for (const auto& x : models) names.push_back(x);
    if (std::ranges::find(models, target) != models.end()) found.push_back(&s);
  }
  if (found.size() == 1) return found.front();
  if (found.size() > 1) {
    std::vector<std::string> ids;
    for (auto* s : found) ids.push_back(s->service->id);
    return util::fail(ErrorCode::invalid_argument, "model '" + target + "' is served by several services (" +
                                                       util::join(ids, ", ") + "); name the service");
  }
  return util::fail(ErrorCode::not_found, "no service or model '" + target + "'" + util::did_you_mean(target, names));
}

struct RowSpec {
  std::string label;
  std::string endpoint;
  bool openai = true;
  bool chat = false;
  bool thinking_off = false;
  bool embeddings = false;
};

}  // namespace

util::Result<BenchOutcome> Engine::bench(const BenchRequest& request) {
  if (auto v = validate(request); !v) return std::unexpected(v.error());
  auto found = resolve_target(*m, request.target);
  if (!found) return std::unexpected(found.error());
  Slot& s = **found;
  const auto& svc = *s.service;
  if (svc.driver != core::DriverKind::llamacpp && svc.driver != core::DriverKind::vllm) {
    return util::fail(ErrorCode::invalid_argument, "bench measures llama.cpp and vLLM services; " + svc.id +
                                                       " has driver " + std::string(core::to_string(svc.driver)));
  }
  std::lock_guard lock(m->command_mutex);
  const bool vllm = svc.driver == core::DriverKind::vllm;
  const bool embeddings = is_embedding_service(svc);
  const milliseconds timeout = m->settings.control_timeout;
  json report = {{"kind", "serve"}, {"service", svc.id}, {"driver", std::string(core::to_string(svc.driver))},
                 {"prompt_tokens", request.prompt_tokens}, {"gen_tokens", request.gen_tokens},
                 {"runs", request.runs}, {"concurrency", request.concurrency}, {"cold", request.cold},
                 {"keep_page_cache", request.keep_page_cache},
                 {"no_thinking", request.no_thinking}};
  json notes = json::array();
  std::vector<infra::state::StepTiming> timings;
  std::string gpu_uuid;
  if (auto snap = m->snapshot()) {
    if (const auto* d = m->device(*snap)) {
      gpu_uuid = d->uuid;
      report["gpu_name"] = d->name;
    }
  }
  report["gpu_uuid"] = gpu_uuid;
  const auto timed = [&](const char* action, auto&& op) -> util::Result<double> {
    const auto t0 = Clock::now();
    auto r = op();
    if (!r) return std::unexpected(util::with_context(r.error(), fmt::format("bench {}: {}", svc.id, action)));
    const double ms = ms_between(t0, Clock::now());
    timings.push_back({svc.id, action, static_cast<std::int64_t>(std::llround(ms)), gpu_uuid, 0});
    return ms;
  };

  // The service up: cold loads measured, or started/woken when asked, else refused.
  if (request.cold) {
    std::vector<double> load_ms, stop_ms;
    std::string cache_note;
    for (int i = 0; i < request.runs; ++i) {
      if (m->observe(s).state != ServiceState::stopped) {
        auto st = timed("stop", [&] { return m->do_stop(s); });
        if (!st) return std::unexpected(st.error());
        stop_ms.push_back(*st);
      }
      if (request.keep_page_cache) {
        cache_note = "page cache kept (warm load)";
      } else {
        auto dropped = infra::process::drop_page_cache();
        cache_note = dropped ? "page cache dropped before each load" : dropped.error().message;
      }
      auto st = timed("start", [&] { return m->do_start(s); });
      if (!st) return std::unexpected(st.error());
      load_ms.push_back(*st);
    }
    report["load_ms"] = stat_json(load_ms);
    report["stop_ms"] = stat_json(stop_ms);
    report["cold_note"] = cache_note;
    if (svc.can_sleep() && svc.sleep_mode != core::SleepMode::router) {
      std::vector<double> sleep_ms, wake_ms;
      const int level = svc.sleep_mode == core::SleepMode::l2 ? 2 : 1;
      for (int i = 0; i < request.runs; ++i) {
        auto sl = timed("sleep", [&] { return m->do_sleep(s, level); });
        if (!sl) return std::unexpected(sl.error());
        sleep_ms.push_back(*sl);
        auto wk = timed("wake", [&] { return m->do_wake(s); });
        if (!wk) return std::unexpected(wk.error());
        wake_ms.push_back(*wk);
      }
      report["sleep_ms"] = stat_json(sleep_ms);
      report["wake_ms"] = stat_json(wake_ms);
    }
  } else {
    const auto obs = m->observe(s);
    if (obs.state == ServiceState::sleeping) {
      if (!request.start) {
        return util::fail(ErrorCode::conflict, svc.id + " is asleep; wake it (gpumod service wake " + svc.id +
                                                   ") or pass --start to let bench wake it");
      }
      if (auto w = m->do_wake(s); !w) return std::unexpected(w.error());
      notes.push_back("woken for the bench");
    } else if (obs.state == ServiceState::stopped || obs.state == ServiceState::failed) {
      if (!request.start) {
        return util::fail(ErrorCode::conflict, svc.id + " is " + std::string(core::to_string(obs.state)) +
                                                   "; start it (gpumod service start " + svc.id +
                                                   ") or pass --start to let bench start it");
      }
      if (auto w = m->do_start(s); !w) return std::unexpected(w.error());
      notes.push_back("started for the bench");
    } else if (obs.state != ServiceState::running) {
      return util::fail(ErrorCode::unavailable, svc.id + " is " + std::string(core::to_string(obs.state)) +
                                                    (obs.reason.empty() ? "" : ": " + obs.reason) + "; bench needs it running");
    }
  }

  const auto vram = [&]() -> json {
    auto snap = m->snapshot();
    if (!snap) return nullptr;
    return m->memory_of(*snap, s.instance_key);
  };
  report["vram_before_mib"] = vram();
  if (s.instance_key != svc.id) notes.push_back("VRAM is the router process's (all its loaded models)");

  infra::http::HttpClient& http = m->http(svc);
  const std::string model = request_model(*m, s);
  report["model"] = model;
  const std::size_t extra = static_cast<std::size_t>(request.runs * request.concurrency + 1);
  auto pool = token_pool(http, vllm, model, static_cast<std::size_t>(request.prompt_tokens) + extra, timeout);
  if (!pool) return std::unexpected(util::with_context(pool.error(), "bench " + svc.id));
  if (!*pool) notes.push_back("the server has no /tokenize: prompts are text and their token count is the server's");
  // Prompt k: prompt_tokens ids starting at offset k (a different prefix each request, so no
  // prompt cache serves it).
  const auto prompt_ids = [&](std::size_t k) -> json {
    if (!*pool) return nullptr;
    const auto& ids = **pool;
    const std::size_t off = k % (ids.size() - static_cast<std::size_t>(request.prompt_tokens) + 1);
    return json(std::vector<int>(ids.begin() + static_cast<std::ptrdiff_t>(off),
                                 ids.begin() + static_cast<std::ptrdiff_t>(off) + request.prompt_tokens));
  };
  const auto prompt_text = [&](std::size_t k) -> util::Result<std::string> {
    if (!*pool) return std::to_string(k) + " " + seed_text(static_cast<std::size_t>(request.prompt_tokens));
    std::vector<int> ids = prompt_ids(k).get<std::vector<int>>();
    return detokenize(http, vllm, model, ids, timeout);
  };

  std::vector<RowSpec> rows;
  if (embeddings) {
    rows.push_back({"embeddings", "/v1/embeddings", true, false, false, true});
  } else {
    rows.push_back({"completion", vllm ? "/v1/completions" : "/completion", vllm, false, false, false});
    if (request.no_thinking) rows.push_back({"chat, thinking off", "/v1/chat/completions", true, true, true, false});
  }

  const auto body_for = [&](const RowSpec& row, std::size_t k, int prompt_n, int gen_n) -> util::Result<json> {
    json b;
    if (row.embeddings) {
      b = {{"model", model}, {"input", *pool ? prompt_ids(k) : json(seed_text(static_cast<std::size_t>(prompt_n)))}};
      return b;
    }
    if (row.chat) {
      auto text = prompt_text(k);
      if (!text) return std::unexpected(text.error());
      b = {{"model", model}, {"messages", json::array({{{"role", "user"}, {"content", *text}}})}, {"max_tokens", gen_n}};
      if (row.thinking_off) b["chat_template_kwargs"] = {{"enable_thinking", false}};
    } else {
      json prompt = *pool ? prompt_ids(k) : json(*prompt_text(k));
      if (prompt.is_array() && prompt_n < request.prompt_tokens) prompt = json(std::vector<int>(prompt.begin(), prompt.begin() + prompt_n));
      b = {{"model", model}, {"prompt", prompt}};
      b[vllm ? "max_tokens" : "n_predict"] = gen_n;
    }
    b["stream"] = true;
    b["ignore_eos"] = true;
    b["temperature"] = 0;
    if (vllm) b["stream_options"] = {{"include_usage", true}};
    else b["cache_prompt"] = false;
    return b;
  };
  const auto one = [&](const RowSpec& row, const json& body) -> util::Result<Sample> {
    if (row.embeddings) return embedding_request(http, body, timeout);
    return stream_request(http, row.endpoint, body, row.openai, timeout);
  };

  json rows_json = json::array();
  std::size_t k = 0;
  for (const auto& row : rows) {
    // One small warm-up request first (not counted): the measured runs are warm.
    auto warm_body = body_for(row, k++, std::min(request.prompt_tokens, 8), 1);
    if (!warm_body) return std::unexpected(warm_body.error());
    if (auto w = one(row, *warm_body); !w) return std::unexpected(util::with_context(w.error(), "bench " + svc.id + ", warm-up"));
    std::vector<double> ttft, ptps, gtps, e2e, agg, eps;
    std::vector<double> prompt_n, gen_n;
    bool server_timings = true;
    for (int run = 0; run < request.runs; ++run) {
      std::vector<json> bodies;
      for (int c = 0; c < request.concurrency; ++c) {
        auto b = body_for(row, k++, request.prompt_tokens, request.gen_tokens);
        if (!b) return std::unexpected(b.error());
        bodies.push_back(std::move(*b));
      }
      const auto t0 = Clock::now();
      std::vector<std::future<util::Result<Sample>>> futures;
      for (const auto& b : bodies) futures.push_back(std::async(std::launch::async, [&, b] { return one(row, b); }));
      std::vector<util::Result<Sample>> results;
      for (auto& f : futures) results.push_back(f.get());
      const double wall_ms = ms_between(t0, Clock::now());
      std::int64_t tokens = 0;
      for (auto& r : results) {
        if (!r) {
          return std::unexpected(util::with_context(
              r.error(), fmt::format("bench {} ({}), run {} of {}; nothing was stored", svc.id, row.label, run + 1, request.runs)));
        }
        ttft.push_back(r->ttft_ms);
        ptps.push_back(r->prompt_tps);
        gtps.push_back(r->gen_tps);
        e2e.push_back(r->e2e_ms);
        if (r->prompt_n >= 0) prompt_n.push_back(static_cast<double>(r->prompt_n));
        gen_n.push_back(static_cast<double>(r->gen_n));
        tokens += r->gen_n;
        server_timings = server_timings && r->server_timings;
      }
      if (wall_ms > 0) {
        if (row.embeddings) eps.push_back(static_cast<double>(tokens) * 1000.0 / wall_ms);
        else agg.push_back(static_cast<double>(tokens) * 1000.0 / wall_ms);
      }
    }
    json r = {{"label", row.label}, {"endpoint", row.endpoint},
              {"source", row.embeddings ? "client clock" : server_timings ? "server timings" : "stream"},
              {"requests", request.runs * request.concurrency},
              {"prompt_n", median_of(stat_json(prompt_n)).value_or(-1)},
              {"ttft_ms", row.embeddings ? json(nullptr) : stat_json(ttft)},
              {"prompt_tps", stat_json(ptps)},
              {"e2e_ms", stat_json(e2e)}};
    if (row.embeddings) {
      r["embeddings_per_s"] = stat_json(eps);
    } else {
      r["gen_n"] = median_of(stat_json(gen_n)).value_or(0);
      r["gen_tps"] = stat_json(gtps);
      r["aggregate_gen_tps"] = stat_json(agg);
    }
    rows_json.push_back(std::move(r));
  }
  report["rows"] = rows_json;
  report["vram_after_mib"] = vram();
  report["notes"] = notes;
  report["measured_at_ms"] = now_ms();
  std::string settings = fmt::format("prompt={} gen={} runs={} concurrency={}", request.prompt_tokens,
                                     request.gen_tokens, request.runs, request.concurrency);
  if (request.cold) settings += request.keep_page_cache ? " cold-load-warm-cache" : " cold";
  if (request.no_thinking) settings += " no-thinking";
  report["settings"] = settings;

  infra::state::BenchRun run;
  run.kind = "serve";
  run.subject = svc.id;
  run.model = model;
  run.settings = settings;
  run.gpu_uuid = gpu_uuid;
  run.measured_at_ms = report["measured_at_ms"].get<std::int64_t>();
  const auto& first = rows_json[0];
  run.prompt_tps = median_of(first["prompt_tps"]);
  if (first.contains("gen_tps")) run.gen_tps = median_of(first["gen_tps"]);
  run.ttft_ms = median_of(first["ttft_ms"]);
  run.result_json = report.dump();
  auto id = m->store.add_bench_run(run, timings);
  if (!id) return std::unexpected(id.error());
  report["run_id"] = *id;
  m->emit("bench.done", svc.id, "", fmt::format("bench {} ({}): {}", svc.id, settings, rows_json[0]["label"].get<std::string>()));
  return BenchOutcome{*id, report.dump()};
}

}  // namespace gpumod::engine
