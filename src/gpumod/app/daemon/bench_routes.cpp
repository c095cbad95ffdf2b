#include "gpumod/app/daemon/bench_routes.hpp"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "gpumod/app/daemon/json_codec.hpp"
#include "gpumod/engine/engine.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/util/ids.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::app {

using nlohmann::json;
using util::ErrorCode;

namespace {

void reply_json(httplib::Response& res, const util::Result<json>& r) {
  if (r) {
    res.status = 200;
    res.set_content(r->dump(), "application/json");
  } else {
    res.status = http_status_for(r.error().code);
    res.set_content(error_json(r.error()).dump(), "application/json");
  }
}

util::Result<json> body_of(const httplib::Request& req) {
  if (req.body.empty()) return json::object();
  auto j = json::parse(req.body, nullptr, false);
  if (!j.is_object()) return util::fail(ErrorCode::invalid_argument, "the request body must be a JSON object");
  return j;
}

util::Result<int> int_field(const json& body, const char* key, int def) {
  if (!body.contains(key)) return def;
  if (!body[key].is_number_integer()) return util::fail(ErrorCode::invalid_argument, std::string(key) + " must be an integer");
  const auto v = body[key].get<std::int64_t>();
  if (v < -1000000 || v > 1000000) return util::fail(ErrorCode::invalid_argument, std::string(key) + " is out of range");
  return static_cast<int>(v);
}

util::Result<bool> bool_field(const json& body, const char* key) {
  if (!body.contains(key)) return false;
  if (!body[key].is_boolean()) return util::fail(ErrorCode::invalid_argument, std::string(key) + " must be true or false");
  return body[key].get<bool>();
}

// A service id or a model name (a Hugging Face repo id, a file stem): printable, bounded.
util::Status check_target(const std::string& t) {
  if (t.empty() || t.size() > 256) return util::fail(ErrorCode::invalid_argument, "target must be 1 to 256 characters");
  for (unsigned char c : t) {
    if (c < 0x21 || c == 0x7f) return util::fail(ErrorCode::invalid_argument, "target contains a space or control character");
  }
  return {};
}

util::Result<json> bench(engine::Engine& engine, const httplib::Request& req) {
  auto body = body_of(req);
  if (!body) return std::unexpected(body.error());
  engine::BenchRequest r;
  if (!body->contains("target") || !(*body)["target"].is_string()) return util::fail(ErrorCode::invalid_argument, "target (a service or model) is required");
  r.target = (*body)["target"].get<std::string>();
  if (auto st = check_target(r.target); !st) return std::unexpected(st.error());
  for (auto [key, field] : {std::pair{"prompt_tokens", &r.prompt_tokens}, std::pair{"gen_tokens", &r.gen_tokens},
                            std::pair{"runs", &r.runs}, std::pair{"concurrency", &r.concurrency}}) {
    auto v = int_field(*body, key, *field);
    if (!v) return std::unexpected(v.error());
    *field = *v;
  }
  for (auto [key, field] : {std::pair{"cold", &r.cold}, std::pair{"no_thinking", &r.no_thinking}, std::pair{"start", &r.start},
                             std::pair{"keep_page_cache", &r.keep_page_cache}}) {
    auto v = bool_field(*body, key);
    if (!v) return std::unexpected(v.error());
    *field = *v;
  }
  auto out = engine.bench(r);
  if (!out) return std::unexpected(out.error());
  return json::parse(out->report_json);
}

util::Result<json> bench_switch(engine::Engine& engine, const httplib::Request& req) {
  auto body = body_of(req);
  if (!body) return std::unexpected(body.error());
  engine::SwitchBenchRequest r;
  for (auto [key, field] : {std::pair{"mode_a", &r.mode_a}, std::pair{"mode_b", &r.mode_b}}) {
    if (!body->contains(key) || !(*body)[key].is_string()) return util::fail(ErrorCode::invalid_argument, std::string(key) + " is required");
    *field = (*body)[key].get<std::string>();
    if (auto st = util::validate_id(*field, "mode id"); !st) return std::unexpected(st.error());
  }
  auto rounds = int_field(*body, "rounds", r.rounds);
  if (!rounds) return std::unexpected(rounds.error());
  r.rounds = *rounds;
  auto out = engine.bench_switch(r);
  if (!out) return std::unexpected(out.error());
  return json::parse(out->report_json);
}

json run_json(const infra::state::BenchRun& b) {
  json j = {{"id", b.id}, {"kind", b.kind}, {"subject", b.subject}, {"model", b.model}, {"settings", b.settings},
            {"gpu_uuid", b.gpu_uuid}, {"measured_at_ms", b.measured_at_ms},
            {"prompt_tps", b.prompt_tps ? json(*b.prompt_tps) : json(nullptr)},
            {"gen_tps", b.gen_tps ? json(*b.gen_tps) : json(nullptr)},
            {"ttft_ms", b.ttft_ms ? json(*b.ttft_ms) : json(nullptr)}};
  auto report = json::parse(b.result_json, nullptr, false);
  j["report"] = report.is_discarded() ? json(nullptr) : report;
  return j;
}

util::Result<json> history(infra::state::StateStore& store, const httplib::Request& req) {
  std::string subject = req.has_param("subject") ? req.get_param_value("subject") : "";
  if (!subject.empty()) {
    if (auto st = check_target(subject); !st) return std::unexpected(st.error());
  }
  int limit = 50;
  if (req.has_param("limit")) {
    auto l = util::parse_int(req.get_param_value("limit"), 1, 10000, "limit");
    if (!l) return std::unexpected(l.error());
    limit = static_cast<int>(*l);
  }
  auto runs = store.list_bench_runs(subject, limit);
  if (!runs) return std::unexpected(runs.error());
  json out = json::array();
  for (const auto& b : *runs) out.push_back(run_json(b));
  return json{{"runs", out}};
}

}  // namespace

void install_bench_routes(httplib::Server& server, engine::Engine& engine, infra::state::StateStore& store) {
  server.Post("/v1/bench", [&engine](const httplib::Request& req, httplib::Response& res) { reply_json(res, bench(engine, req)); });
  server.Post("/v1/bench/switch",
              [&engine](const httplib::Request& req, httplib::Response& res) { reply_json(res, bench_switch(engine, req)); });
  server.Get("/v1/bench/history", [&store](const httplib::Request& req, httplib::Response& res) { reply_json(res, history(store, req)); });
}

void add_last_bench(json& status, const infra::state::StateStore& store) {
  if (!status.contains("services") || !status["services"].is_array()) return;
  for (auto& s : status["services"]) {
    if (!s.contains("id") || !s["id"].is_string()) continue;
    auto runs = store.list_bench_runs(s["id"].get<std::string>(), 20);
    if (!runs) continue;
    for (const auto& b : *runs) {
      if (b.kind != "serve") continue;
      s["bench"] = {{"prompt_tps", b.prompt_tps ? json(*b.prompt_tps) : json(nullptr)},
                    {"gen_tps", b.gen_tps ? json(*b.gen_tps) : json(nullptr)},
                    {"ttft_ms", b.ttft_ms ? json(*b.ttft_ms) : json(nullptr)},
                    {"measured_at_ms", b.measured_at_ms},
                    {"settings", b.settings}};
      break;
    }
  }
}

}  // namespace gpumod::app
