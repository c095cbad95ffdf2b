#include "gpumod/app/mcp/tools.hpp"

#include <chrono>

#include "gpumod/app/cli/render.hpp"
#include "gpumod/app/daemon/json_codec.hpp"
#include "gpumod/infra/hf/validate.hpp"
#include "gpumod/util/ids.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::app::mcp {

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// As the CLI: the daemon applies each service's own startup timeout inside.
constexpr std::chrono::milliseconds k_command_timeout{3600 * 1000};
constexpr std::chrono::milliseconds k_read_timeout{30000};

// ---- schema helpers ----

json obj(json properties, std::vector<std::string> required = {}) {
  json s = {{"type", "object"}, {"properties", std::move(properties)}, {"additionalProperties", false}};
  if (!required.empty()) s["required"] = required;
  return s;
}
// Output schemas describe what is always there and leave the rest open.
json out(json properties, std::vector<std::string> required) {
  json s = {{"type", "object"}, {"properties", std::move(properties)}};
  if (!required.empty()) s["required"] = required;
  return s;
}
json str(const std::string& description) { return {{"type", "string"}, {"description", description}}; }
json id_arg(const std::string& description) {
  return {{"type", "string"}, {"description", description}, {"minLength", 1}, {"maxLength", 64},
          {"pattern", "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"}};
}
json integer(const std::string& description, std::int64_t min, std::int64_t max) {
  return {{"type", "integer"}, {"description", description}, {"minimum", min}, {"maximum", max}};
}
json boolean(const std::string& description) { return {{"type", "boolean"}, {"description", description}}; }
json array_of_ids(const std::string& description) {
  return {{"type", "array"}, {"description", description}, {"items", id_arg("id")}, {"maxItems", 64}};
}
json repo_arg() {
  return {{"type", "string"}, {"description", "Hugging Face repository, OWNER/NAME"}, {"minLength", 3}, {"maxLength", 96}};
}
const json k_kv_types = json::array({"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"});

// ---- handler helpers ----

util::Result<ToolOutput> as_json(util::Result<json> r) {
  if (!r) return std::unexpected(r.error());
  return ToolOutput{*r, r->dump(2)};
}

util::Status valid_id(const json& args, const char* key, const char* what) {
  return util::validate_id(args.value(key, std::string()), what);
}

// A value given to a CLI command as a word must not read as an option.
util::Status plain_word(const std::string& value, const char* key) {
  if (value.starts_with("-")) {
    return util::fail(util::ErrorCode::invalid_argument, std::string("argument '") + key + "': must not start with '-'");
  }
  return {};
}

util::Result<ToolOutput> op(Backend& b, const json& args, const std::string& action) {
  if (auto st = valid_id(args, "service_id", "service id"); !st) return std::unexpected(st.error());
  json body = json::object();
  if (action == "sleep" && args.contains("level")) body["level"] = args["level"];
  auto r = b.post("/v1/services/" + args["service_id"].get<std::string>() + "/" + action, body, k_command_timeout);
  if (!r) return std::unexpected(r.error());
  return ToolOutput{*r, render_op(*r)};
}

util::Result<ToolOutput> mode_switch(Backend& b, const json& args, bool dry_run) {
  if (auto st = valid_id(args, "mode_id", "mode id"); !st) return std::unexpected(st.error());
  json body = {{"dry_run", dry_run}, {"no_rollback", args.value("no_rollback", false)}};
  auto r = b.post("/v1/modes/" + args["mode_id"].get<std::string>() + "/switch", body, k_command_timeout);
  if (!r) return std::unexpected(r.error());
  return ToolOutput{*r, render_switch(*r)};
}

util::Result<ToolOutput> service_info(Backend& b, const json& args) {
  if (auto st = valid_id(args, "service_id", "service id"); !st) return std::unexpected(st.error());
  const std::string id = args["service_id"];
  auto list = b.command({"service", "list"});
  if (!list) return std::unexpected(list.error());
  json config;
  std::vector<std::string> ids;
  for (const auto& s : (*list)["services"]) {
    ids.push_back(s["id"]);
    if (s["id"] == id) config = s;
  }
  if (config.is_null()) return util::fail(util::ErrorCode::not_found, "no service '" + id + "'" + util::did_you_mean(id, ids));
  json runtime = nullptr;
  auto st = b.get("/v1/status", k_read_timeout);
  if (!st) return std::unexpected(st.error());
  for (const auto& s : (*st)["services"]) {
    if (s["id"] == id) runtime = s;
  }
  json j = {{"id", id}, {"config", config}, {"runtime", runtime}};
  std::string text = id + " (" + config.value("driver", "") + "): " +
                     (runtime.is_object() ? runtime.value("state", "unknown") : std::string("unknown")) + "\n";
  return ToolOutput{j, text + j.dump(2)};
}

util::Result<ToolOutput> simulate(Backend& b, const json& args) {
  if (auto st = valid_id(args, "mode_id", "mode id"); !st) return std::unexpected(st.error());
  std::vector<std::string> cli{"simulate", "mode", args["mode_id"].get<std::string>()};
  for (const char* key : {"add", "remove"}) {
    for (const auto& s : args.value(key, json::array())) {
      if (auto st = util::validate_id(s.get<std::string>(), "service id"); !st) return std::unexpected(st.error());
      cli.insert(cli.end(), {std::string("--") + key, s.get<std::string>()});
    }
  }
  const json overrides = args.value("context_overrides", json::object());
  for (const auto& [service, tokens] : overrides.items()) {
    if (auto st = util::validate_id(service, "service id"); !st) return std::unexpected(st.error());
    cli.insert(cli.end(), {"--context", service + "=" + std::to_string(tokens.get<std::int64_t>())});
  }
  auto r = b.command(cli);
  if (!r) return std::unexpected(r.error());
  return ToolOutput{*r, r->dump(2)};
}

util::Result<ToolOutput> logs(Backend& b, const json& args) {
  if (auto st = valid_id(args, "service_id", "service id"); !st) return std::unexpected(st.error());
  const std::string id = args["service_id"];
  auto r = b.get("/v1/services/" + id + "/logs?n=" + std::to_string(args.value("lines", 50)), k_read_timeout);
  if (!r) return std::unexpected(r.error());
  json j = {{"service", id}, {"lines", (*r)["lines"]}};  // the log's path stays on the box
  std::string text;
  for (const auto& l : j["lines"]) text += l.get<std::string>() + "\n";
  return ToolOutput{j, text.empty() ? "(the log is empty)\n" : text};
}

util::Result<ToolOutput> events(Backend& b, const json& args) {
  auto r = b.get("/v1/events?after=" + std::to_string(args.value("after", std::int64_t{0})) +
                     "&limit=" + std::to_string(args.value("limit", 200)),
                 k_read_timeout);
  if (!r) return std::unexpected(r.error());
  std::string text;
  for (const auto& e : (*r)["events"]) {
    text += std::to_string(e["id"].get<std::int64_t>()) + "  " + e["kind"].get<std::string>() + "  " +
            e["message"].get<std::string>() + "\n";
  }
  return ToolOutput{*r, text.empty() ? "(no events)\n" : text};
}

// A configured service's id (not_found, with the nearest ids, for another).
util::Status known_service(Backend& b, const std::string& id) {
  auto list = b.command({"service", "list"});
  if (!list) return std::unexpected(list.error());
  std::vector<std::string> ids;
  for (const auto& s : (*list)["services"]) {
    if (s["id"] == id) return {};
    ids.push_back(s["id"]);
  }
  return util::fail(util::ErrorCode::not_found, "no service '" + id + "'" + util::did_you_mean(id, ids));
}

util::Result<ToolOutput> requests(Backend& b, const json& args) {
  std::string path = "/v1/requests?limit=" + std::to_string(args.value("limit", 50));
  if (args.contains("service_id")) {
    if (auto st = valid_id(args, "service_id", "service id"); !st) return std::unexpected(st.error());
    if (auto st = known_service(b, args["service_id"].get<std::string>()); !st) return std::unexpected(st.error());
    path += "&service=" + args["service_id"].get<std::string>();
  }
  if (args.contains("model")) path += "&model=" + infra::hf::url_encode_query(args["model"].get<std::string>());
  auto r = b.get(path, k_read_timeout);
  if (!r) return std::unexpected(r.error());
  return ToolOutput{*r, render_requests(*r)};
}

util::Result<ToolOutput> bench_results(Backend& b, const json& args) {
  std::string path = "/v1/bench/history?limit=" + std::to_string(args.value("limit", 20));
  if (args.contains("service_id")) {
    if (auto st = valid_id(args, "service_id", "service id"); !st) return std::unexpected(st.error());
    if (auto st = known_service(b, args["service_id"].get<std::string>()); !st) return std::unexpected(st.error());
    path += "&subject=" + args["service_id"].get<std::string>();
  }
  auto r = b.get(path, k_read_timeout);
  if (!r) return std::unexpected(r.error());
  return ToolOutput{*r, render_bench_history(*r, false)};
}

util::Result<std::string> repo_of(const json& args, const char* key = "repo_id") {
  const std::string repo = args.value(key, std::string());
  if (auto st = infra::hf::validate_repo_id(repo); !st) return std::unexpected(st.error());
  if (auto st = plain_word(repo, key); !st) return std::unexpected(st.error());
  return repo;
}

util::Result<ToolOutput> quants(Backend& b, const json& args) {
  auto repo = repo_of(args);
  if (!repo) return std::unexpected(repo.error());
  std::vector<std::string> cli{"model", "quants", *repo};
  if (args.contains("ctx")) cli.insert(cli.end(), {"--ctx", std::to_string(args["ctx"].get<std::int64_t>())});
  if (args.contains("vram_mib")) cli.insert(cli.end(), {"--vram", std::to_string(args["vram_mib"].get<std::int64_t>())});
  if (args.contains("mode_id")) {
    if (auto st = valid_id(args, "mode_id", "mode id"); !st) return std::unexpected(st.error());
    cli.insert(cli.end(), {"--mode", args["mode_id"].get<std::string>()});
  }
  if (args.contains("cache_type")) cli.insert(cli.end(), {"--cache-type", args["cache_type"].get<std::string>()});
  return as_json(b.command(cli));
}

util::Result<ToolOutput> gguf_files(Backend& b, const json& args) {
  auto repo = repo_of(args);
  if (!repo) return std::unexpected(repo.error());
  auto r = b.command({"model", "quants", *repo});
  if (!r) return std::unexpected(r.error());
  json files = json::array();
  for (const auto& q : (*r)["quants"]) {
    json f = {{"file", q["file"]}, {"quant", q["quant"]}, {"file_bytes", q["file_bytes"]}, {"parts", q["parts"]}};
    f["estimated_vram_mib"] = q.value("vram_mib", json(nullptr));
    files.push_back(f);
  }
  json j = {{"repo", (*r)["repo"]}, {"commit", (*r)["commit"]}, {"files", files}};
  std::string text;
  for (const auto& f : files) {
    text += f["file"].get<std::string>() + "  " + f["quant"].get<std::string>() + "  " +
            util::group_thousands(static_cast<std::int64_t>(f["file_bytes"].get<std::uint64_t>() / 1048576)) + " MiB\n";
  }
  return ToolOutput{j, text};
}

util::Result<ToolOutput> search(Backend& b, const json& args) {
  const std::string driver = args.value("driver", std::string("llamacpp"));
  if (driver == "vllm") {
    return util::fail(util::ErrorCode::invalid_argument,
                      "search_hf_models searches GGUF repos (llama.cpp); for a vLLM (safetensors) repo you know, "
                      "model_quants gives its weights and VRAM");
  }
  std::vector<std::string> cli{"discover"};
  const std::string query = args.value("query", std::string());
  if (!query.empty()) {
    if (auto st = plain_word(query, "query"); !st) return std::unexpected(st.error());
    cli.push_back(query);
  }
  if (args.contains("author")) {
    if (auto st = plain_word(args["author"], "author"); !st) return std::unexpected(st.error());
    cli.insert(cli.end(), {"--author", args["author"].get<std::string>()});
  }
  if (args.contains("task")) cli.insert(cli.end(), {"--task", args["task"].get<std::string>()});
  if (args.contains("limit")) cli.insert(cli.end(), {"--limit", std::to_string(args["limit"].get<int>())});
  if (args.contains("budget_mib")) cli.insert(cli.end(), {"--budget", std::to_string(args["budget_mib"].get<std::int64_t>())});
  return as_json(b.command(cli));
}

util::Result<ToolOutput> preset(Backend& b, const json& args) {
  auto repo = repo_of(args);
  if (!repo) return std::unexpected(repo.error());
  const std::string quant = args.value("gguf_file", std::string());
  if (auto st = plain_word(quant, "gguf_file"); !st) return std::unexpected(st.error());
  std::vector<std::string> cli{"preset", "generate", *repo, "--quant", quant};
  if (args.contains("ctx_size")) cli.insert(cli.end(), {"--ctx", std::to_string(args["ctx_size"].get<std::int64_t>())});
  if (args.contains("port")) cli.insert(cli.end(), {"--port", std::to_string(args["port"].get<int>())});
  if (args.contains("id")) {
    if (auto st = valid_id(args, "id", "preset id"); !st) return std::unexpected(st.error());
    cli.insert(cli.end(), {"--id", args["id"].get<std::string>()});
  }
  if (args.contains("vram_mib")) cli.insert(cli.end(), {"--vram", std::to_string(args["vram_mib"].get<std::int64_t>())});
  auto r = b.command(cli);  // never --out: the preset is returned, not written
  if (!r) return std::unexpected(r.error());
  return ToolOutput{*r, (*r)["yaml"].get<std::string>()};
}

util::Result<ToolOutput> estimate(Backend& b, const json& args) {
  const bool has_model = args.contains("model"), has_repo = args.contains("repo_id");
  if (has_model == has_repo) {
    return util::fail(util::ErrorCode::invalid_argument,
                      "give either 'model' (a registered model id or a .gguf file) or 'repo_id' with 'quant'");
  }
  const std::string ctx = std::to_string(args.value("ctx", std::int64_t{8192}));
  if (has_repo) {
    auto repo = repo_of(args);
    if (!repo) return std::unexpected(repo.error());
    const std::string quant = args.value("quant", std::string());
    if (quant.empty()) return util::fail(util::ErrorCode::invalid_argument, "argument 'quant': is required with 'repo_id'");
    std::vector<std::string> cli{"model", "quants", *repo, "--ctx", ctx};
    if (args.contains("cache_type_k")) cli.insert(cli.end(), {"--cache-type", args["cache_type_k"].get<std::string>()});
    auto r = b.command(cli);
    if (!r) return std::unexpected(r.error());
    std::vector<std::string> labels;
    for (const auto& q : (*r)["quants"]) {
      labels.push_back(q["quant"]);
      if (util::to_lower(q["quant"].get<std::string>()) == util::to_lower(quant) || q["file"] == quant) {
        json j = {{"repo", (*r)["repo"]}, {"commit", (*r)["commit"]}, {"context_size", (*r)["context_size"]}, {"quant", q}};
        return ToolOutput{j, j.dump(2)};
      }
    }
    return util::fail(util::ErrorCode::not_found, "no quant '" + quant + "' in " + *repo + util::did_you_mean(quant, labels));
  }
  const std::string model = args["model"];
  if (auto st = plain_word(model, "model"); !st) return std::unexpected(st.error());
  if (!util::is_valid_id(model) && !model.ends_with(".gguf")) {
    return util::fail(util::ErrorCode::invalid_argument, "argument 'model': '" + model +
                                                             "' is neither a model id nor a .gguf file");
  }
  std::vector<std::string> cli{"model", "estimate", model, "--ctx", ctx};
  if (args.contains("cache_type_k")) cli.insert(cli.end(), {"--cache-type-k", args["cache_type_k"].get<std::string>()});
  if (args.contains("cache_type_v")) cli.insert(cli.end(), {"--cache-type-v", args["cache_type_v"].get<std::string>()});
  if (args.contains("flash_attn")) cli.insert(cli.end(), {"--flash-attn", args["flash_attn"].get<bool>() ? "on" : "off"});
  return as_json(b.command(cli));
}

std::vector<Tool> build() {
  const json op_out = out({{"service", {{"type", "string"}}}, {"action", {{"type", "string"}}},
                           {"changed", {{"type", "boolean"}}}, {"state", {{"type", "string"}}},
                           {"message", {{"type", "string"}}}, {"elapsed_ms", {{"type", "integer"}}}},
                          {"service", "action", "changed", "state", "message"});
  const json switch_out = out({{"success", {{"type", "boolean"}}}, {"dry_run", {{"type", "boolean"}}},
                               {"joined", {{"type", "boolean"}}}, {"to_mode", {{"type", "string"}}},
                               {"steps", {{"type", "array"}}}, {"rollback", {{"type", "array"}}},
                               {"message", {{"type", "string"}}}, {"preflight", {{"type", "array"}}}},
                              {"success", "dry_run", "to_mode", "steps", "message"});
  const json service_arg = obj({{"service_id", id_arg("Service id (see list_services)")}}, {"service_id"});
  std::vector<Tool> t;
  auto add = [&](Tool tool) { t.push_back(std::move(tool)); };

  add({"gpu_status", "GPU status",
       "The GPU(s) (total, used, free MiB; simulated GPUs are labelled), the current mode, and every service's observed "
       "state with its configured and measured VRAM.",
       obj(json::object()),
       out({{"gpu", {{"type", "object"}}}, {"services", {{"type", "array"}}}, {"external_mib", {{"type", "integer"}}}},
           {"gpu", "services"}),
       true, false, true,
       [](Backend& b, const json&) -> util::Result<ToolOutput> {
         auto r = b.get("/v1/status", k_read_timeout);
         if (!r) return std::unexpected(r.error());
         return ToolOutput{*r, render_status(*r)};
       }});
  add({"list_services", "List services", "The configured services: driver, port, VRAM, sleep mode, the modes each belongs to.",
       obj(json::object()), out({{"services", {{"type", "array"}}}}, {"services"}), true, false, true,
       [](Backend& b, const json&) { return as_json(b.command({"service", "list"})); }});
  add({"list_modes", "List modes", "The modes (sets of services that run together) with their services and total VRAM.",
       obj(json::object()), out({{"modes", {{"type", "array"}}}}, {"modes"}), true, false, true,
       [](Backend& b, const json&) { return as_json(b.command({"mode", "list"})); }});
  add({"service_info", "Service details", "One service: its configuration and its observed runtime state.",
       service_arg, out({{"id", {{"type", "string"}}}, {"config", {{"type", "object"}}}}, {"id", "config"}), true, false,
       true, service_info});
  add({"model_info", "Model details", "One model of the model registry: source, architecture, quant, parameters, VRAM figures.",
       obj({{"model_id", id_arg("Model id (see the gpumod://models resource)")}}, {"model_id"}),
       out({{"id", {{"type", "string"}}}, {"source", {{"type", "string"}}}}, {"id"}), true, false, true,
       [](Backend& b, const json& a) -> util::Result<ToolOutput> {
         if (auto st = valid_id(a, "model_id", "model id"); !st) return std::unexpected(st.error());
         return as_json(b.command({"model", "show", a["model_id"].get<std::string>()}));
       }});
  add({"simulate_mode", "Simulate a mode",
       "Does a mode fit the GPU, optionally with services added or removed and at other context sizes? If not, the "
       "smallest changes that fit. Changes nothing.",
       obj({{"mode_id", id_arg("Mode id")},
            {"add", array_of_ids("Services to add")},
            {"remove", array_of_ids("Services to remove")},
            {"context_overrides", {{"type", "object"},
                                   {"description", "Context size in tokens per service id"},
                                   {"additionalProperties", integer("tokens", 1, 1048576)}}}},
           {"mode_id"}),
       out({{"fits", {{"type", "boolean"}}}, {"services", {{"type", "array"}}}}, {"fits"}), true, false, true, simulate});
  add({"switch_mode", "Switch mode",
       "Switch the GPU to a mode: services of other modes are slept or stopped, the mode's services woken or started, "
       "each step confirmed; rolled back on failure. Serialized with every other change (CLI included).",
       obj({{"mode_id", id_arg("Mode id (see list_modes)")}, {"no_rollback", boolean("On failure, leave things as they are")}},
           {"mode_id"}),
       switch_out, false, true, true, [](Backend& b, const json& a) { return mode_switch(b, a, false); }});
  add({"plan_switch", "Plan a mode switch",
       "Dry run of switch_mode: the steps it would take, with the VRAM each needs or frees and the free VRAM predicted "
       "after each step, and the preflight problems. Changes nothing.",
       obj({{"mode_id", id_arg("Mode id (see list_modes)")}}, {"mode_id"}), switch_out, true, false, true,
       [](Backend& b, const json& a) { return mode_switch(b, a, true); }});
  add({"start_service", "Start a service", "Start one service (admission from measured free VRAM; readiness confirmed).",
       service_arg, op_out, false, false, true, [](Backend& b, const json& a) { return op(b, a, "start"); }});
  add({"stop_service", "Stop a service", "Stop one service (its process group; GPU memory release confirmed).", service_arg,
       op_out, false, true, true, [](Backend& b, const json& a) { return op(b, a, "stop"); }});
  add({"sleep_service", "Put a service to sleep",
       "vLLM sleep (level 1 keeps weights in host RAM, level 2 drops them) or a llama.cpp router unload.",
       obj({{"service_id", id_arg("Service id")}, {"level", integer("Sleep level (default: the preset's)", 1, 2)}},
           {"service_id"}),
       op_out, false, true, true, [](Backend& b, const json& a) { return op(b, a, "sleep"); }});
  add({"wake_service", "Wake a service", "Wake a sleeping service (vLLM wake_up, router load).", service_arg, op_out, false,
       false, true, [](Backend& b, const json& a) { return op(b, a, "wake"); }});
  add({"service_logs", "Service log", "The last lines of a service's log.",
       obj({{"service_id", id_arg("Service id")}, {"lines", integer("Lines (default 50)", 1, 10000)}}, {"service_id"}),
       out({{"service", {{"type", "string"}}}, {"lines", {{"type", "array"}, {"items", {{"type", "string"}}}}}},
           {"service", "lines"}),
       true, false, true, logs});
  add({"events", "Events", "What gpumod did (starts, stops, switches, failures), oldest first, after an event id.",
       obj({{"after", integer("Only events after this id (default 0)", 0, std::numeric_limits<std::int32_t>::max())},
            {"limit", integer("At most this many (default 200)", 1, 10000)}}),
       out({{"events", {{"type", "array"}}}}, {"events"}), true, false, true, events});
  add({"requests", "Recent requests",
       "The newest requests the OpenAI-compatible endpoint answered (oldest first): model, service, status, time "
       "queued for a load, to the first byte and in total, tokens, and what was done for it (serve, wake, start, "
       "switch_mode, evict).",
       obj({{"model", {{"type", "string"}, {"description", "Only requests for this model, as the client named it"},
                       {"minLength", 1}, {"maxLength", 256}}},
            {"service_id", id_arg("Only requests routed to this service")},
            {"limit", integer("At most this many, the newest (default 50)", 1, 10000)}}),
       out({{"requests", {{"type", "array"},
                          {"items", out({{"id", {{"type", "integer"}}}, {"ts_ms", {{"type", "integer"}}},
                                         {"model", {{"type", "string"}}}, {"service", {{"type", "string"}}},
                                         {"status", {{"type", "integer"}}}, {"queue_ms", {{"type", "integer"}}},
                                         {"ttfb_ms", {{"type", "integer"}}}, {"duration_ms", {{"type", "integer"}}},
                                         {"action", {{"type", "string"}}}, {"error", {{"type", "string"}}}},
                                        {"id", "ts_ms", "model", "service", "status", "duration_ms", "action"})}}}},
           {"requests"}),
       true, false, true, requests});
  add({"bench_results", "Bench results",
       "Past `gpumod bench` runs, newest first: per serve run the medians of generation and prompt tok/s and TTFT with "
       "the settings and GPU, per switch run its directions; each with its full report.",
       obj({{"service_id", id_arg("Only runs of this service")},
            {"limit", integer("At most this many, the newest (default 20)", 1, 1000)}}),
       out({{"runs", {{"type", "array"},
                      {"items", out({{"id", {{"type", "integer"}}}, {"kind", {{"type", "string"}}},
                                     {"subject", {{"type", "string"}}}, {"model", {{"type", "string"}}},
                                     {"settings", {{"type", "string"}}}, {"measured_at_ms", {{"type", "integer"}}},
                                     {"gen_tps", {{"type", {"number", "null"}}}},
                                     {"prompt_tps", {{"type", {"number", "null"}}}},
                                     {"ttft_ms", {{"type", {"number", "null"}}}}},
                                    {"id", "kind", "subject", "settings", "measured_at_ms"})}}}},
           {"runs"}),
       true, false, true, bench_results});
  add({"search_hf_models", "Search Hugging Face",
       "Search Hugging Face for GGUF repos and the best quant of each that fits the GPU (by file size).",
       obj({{"query", {{"type", "string"}, {"description", "Search text"}, {"maxLength", 200}}},
            {"author", {{"type", "string"}, {"description", "User or organisation (e.g. unsloth)"}, {"maxLength", 96}}},
            {"driver", {{"type", "string"}, {"enum", {"llamacpp", "vllm"}}, {"description", "llamacpp (GGUF)"}}},
            {"task", {{"type", "string"}, {"enum", {"code", "chat", "embed", "reasoning"}}}},
            {"limit", integer("Repos (default 10)", 1, 50)},
            {"budget_mib", integer("VRAM budget in MiB (default: the GPU's total)", 256, 10000000)}}),
       out({{"results", {{"type", "array"}}}}, {"results"}), true, false, true, search});
  add({"list_gguf_files", "List GGUF files", "The GGUF model files of a Hugging Face repo (split files grouped) with sizes and estimated VRAM.",
       obj({{"repo_id", repo_arg()}}, {"repo_id"}),
       out({{"repo", {{"type", "string"}}}, {"files", {{"type", "array"}}}}, {"repo", "files"}), true, false, true, gguf_files});
  add({"model_quants", "Quant table",
       "Every quant of a Hugging Face GGUF repo with its VRAM at a context (from the file headers, read by Range), "
       "whether it fits, and the best that fits; a safetensors (vLLM) repo gives one row.",
       obj({{"repo_id", repo_arg()},
            {"ctx", integer("Context size (default 8192)", 256, 1048576)},
            {"vram_mib", integer("GPU memory in MiB (default: this GPU's total)", 256, 10000000)},
            {"mode_id", id_arg("Subtract the services of this mode from the budget")},
            {"cache_type", {{"type", "string"}, {"enum", k_kv_types}, {"description", "KV cache type"}}}},
           {"repo_id"}),
       out({{"repo", {{"type", "string"}}}, {"quants", {{"type", "array"}}}}, {"repo", "quants"}), true, false, true, quants});
  add({"generate_preset", "Generate a preset",
       "A llama.cpp preset (YAML) for a Hugging Face GGUF quant: a free port, a context that fits, n_cpu_moe when needed. "
       "Returned, not written.",
       obj({{"repo_id", repo_arg()},
            {"gguf_file", {{"type", "string"}, {"description", "Quant label (Q4_K_M) or file name"}, {"minLength", 1}, {"maxLength", 200}}},
            {"ctx_size", integer("Context size (default: the largest that fits, up to 32,768)", 256, 1048576)},
            {"port", integer("Port (default: the first free one from 7071)", 1024, 65535)},
            {"id", id_arg("Preset id (default: from the repo name)")},
            {"vram_mib", integer("GPU memory in MiB (default: this GPU's total)", 256, 10000000)}},
           {"repo_id", "gguf_file"}),
       out({{"id", {{"type", "string"}}}, {"yaml", {{"type", "string"}}}, {"port", {{"type", "integer"}}}}, {"id", "yaml"}),
       true, false, true, preset});
  add({"estimate_model", "Estimate VRAM",
       "The VRAM estimator's breakdown (weights, KV, compute, overhead) for a registered model or GGUF file, or for a "
       "Hugging Face repo's quant, at a context and KV cache type.",
       obj({{"model", {{"type", "string"}, {"description", "Registered model id or a .gguf file on the gpumod host"}, {"maxLength", 4096}}},
            {"repo_id", repo_arg()},
            {"quant", {{"type", "string"}, {"description", "Quant label with repo_id"}, {"maxLength", 200}}},
            {"ctx", integer("Context size (default 8192)", 256, 1048576)},
            {"cache_type_k", {{"type", "string"}, {"enum", k_kv_types}}},
            {"cache_type_v", {{"type", "string"}, {"enum", k_kv_types}}},
            {"flash_attn", boolean("Flash attention")}}),
       out(json::object(), {}), true, false, true, estimate});
  return t;
}

}  // namespace

const std::vector<Tool>& tools() {
  static const std::vector<Tool> table = build();
  return table;
}

const Tool* find_tool(std::string_view name) {
  for (const auto& t : tools()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

json tool_descriptor(const Tool& t) {
  return {{"name", t.name},
          {"title", t.title},
          {"description", t.description},
          {"inputSchema", t.input_schema},
          {"outputSchema", t.output_schema},
          {"annotations",
           {{"title", t.title},
            {"readOnlyHint", t.read_only},
            {"destructiveHint", t.destructive},
            {"idempotentHint", t.idempotent},
            {"openWorldHint", t.name == "search_hf_models" || t.name == "list_gguf_files" ||
                                  t.name == "model_quants" || t.name == "generate_preset"}}}};
}

}  // namespace gpumod::app::mcp
