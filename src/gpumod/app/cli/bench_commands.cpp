// gpumod bench SERVICE|MODEL [--prompt-tokens N] [--gen-tokens N] [--runs N] [--concurrency N]
//                            [--cold [--keep-page-cache]] [--no-thinking] [--start] [--json|--markdown]
// gpumod bench --history [SERVICE|A->B] [--limit N]
// gpumod bench switch A B [--rounds N] [--json|--markdown]
// The daemon measures (engine/bench*.cpp) and stores; this file parses and renders (docs/bench.md).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/app/cli/daemon_client.hpp"
#include "gpumod/app/cli/render.hpp"
#include "gpumod/util/ids.hpp"
#include "gpumod/util/strings.hpp"
#include "gpumod/util/table.hpp"

namespace gpumod::app {

using nlohmann::json;

namespace {

// A bench may run many requests and cold loads; the daemon bounds each request and load itself.
constexpr std::chrono::milliseconds k_bench_timeout{4 * 3600 * 1000};

struct BenchFlags {
  std::string target;
  int prompt_tokens = 512;
  int gen_tokens = 128;
  int runs = 3;
  int concurrency = 1;
  bool cold = false;
  bool keep_page_cache = false;
  bool no_thinking = false;
  bool start = false;
  bool json = false;
  bool markdown = false;
  bool history = false;
  int limit = 20;
  std::string mode_a, mode_b;
  int rounds = 2;
};

std::string number(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  // Thousands separators for the integer part.
  const auto dot = s.find('.');
  std::string ip = s.substr(0, dot == std::string::npos ? s.size() : dot);
  const std::string rest = dot == std::string::npos ? "" : s.substr(dot);
  const bool neg = !ip.empty() && ip[0] == '-';
  if (neg) ip.erase(0, 1);
  for (int i = static_cast<int>(ip.size()) - 3; i > 0; i -= 3) ip.insert(static_cast<std::size_t>(i), ",");
  return (neg ? "-" : "") + ip + rest;
}

// "median (min-max)" of a stat, or "-".
std::string stat_text(const json& st, int decimals) {
  if (!st.is_object() || !st.contains("median")) return "-";
  const double med = st["median"].get<double>();
  if (st["n"].get<int>() <= 1) return number(med, decimals);
  return number(med, decimals) + " (" + number(st["min"].get<double>(), decimals) + "-" +
         number(st["max"].get<double>(), decimals) + ")";
}

std::string ms_text(const json& st) {
  if (!st.is_object() || !st.contains("median")) return "-";
  const double med = st["median"].get<double>();
  if (med < 1000) return stat_text(st, 0) + " ms";
  json s = st;
  for (const char* k : {"median", "min", "max"}) s[k] = st[k].get<double>() / 1000.0;
  return stat_text(s, 2) + " s";
}

std::string when(std::int64_t ms) {
  const std::time_t secs = ms / 1000;
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::localtime(&secs));
  return buf;
}

// A table as text (aligned) or as Markdown (for pasting into a report).
std::string table(const std::vector<util::TextTable::Column>& cols, const std::vector<std::vector<std::string>>& rows,
                  bool markdown) {
  if (!markdown) {
    util::TextTable t(cols);
    for (const auto& r : rows) t.add_row(r);
    return t.render();
  }
  std::string out = "|";
  for (const auto& c : cols) out += " " + c.header + " |";
  out += "\n|";
  for (const auto& c : cols) out += c.numeric ? "---:|" : "---|";
  out += "\n";
  for (const auto& r : rows) {
    out += "|";
    for (const auto& cell : r) out += " " + cell + " |";
    out += "\n";
  }
  return out;
}

std::string render_serve(const json& r, bool md) {
  std::string out;
  const std::string gpu = r.value("gpu_name", std::string("GPU")) + " " + r.value("gpu_uuid", std::string(""));
  out += (md ? "**" : std::string()) + "Bench: " + r["service"].get<std::string>() + " (" +
         r.value("model", std::string("?")) + ", " + r["driver"].get<std::string>() + ")" + (md ? "**" : "") +
         " on " + gpu + "\n";
  out += "Settings: " + r["settings"].get<std::string>() + (r.contains("measured_at_ms") ? ", " + when(r["measured_at_ms"].get<std::int64_t>()) : "") +
         (md ? "\n\n" : "\n");
  std::vector<std::vector<std::string>> rows;
  for (const auto& row : r["rows"]) {
    const bool emb = row.contains("embeddings_per_s");
    rows.push_back({row["label"].get<std::string>(),
                    emb ? "-" : number(row["prompt_n"].get<double>(), 0) + " / " + number(row["gen_n"].get<double>(), 0),
                    ms_text(row["ttft_ms"]), stat_text(row["prompt_tps"], 1),
                    emb ? stat_text(row["embeddings_per_s"], 1) + " emb/s" : stat_text(row["gen_tps"], 1),
                    ms_text(row["e2e_ms"]), emb ? "-" : stat_text(row["aggregate_gen_tps"], 1), row["source"].get<std::string>()});
  }
  out += table({{"ROW"}, {"TOKENS IN/OUT", true}, {"TTFT", true}, {"PROMPT tok/s", true}, {"GEN tok/s", true},
                {"END-TO-END", true}, {"ALL REQUESTS tok/s", true}, {"SOURCE"}},
               rows, md);
  out += md ? "\n" : "";
  out += "Median (min-max) over " + std::to_string(r["runs"].get<int>()) + " run(s) of " +
         std::to_string(r["concurrency"].get<int>()) + " concurrent request(s).\n";
  const auto mib = [](const json& v) { return v.is_number() ? number(v.get<double>(), 0) + " MiB" : std::string("-"); };
  out += "VRAM of the service: before " + mib(r["vram_before_mib"]) + ", after " + mib(r["vram_after_mib"]) + "\n";
  if (r.contains("load_ms")) {
    out += "Load through gpumod (cold): " + ms_text(r["load_ms"]);
    if (r.contains("stop_ms") && r["stop_ms"].is_object()) out += "; stop " + ms_text(r["stop_ms"]);
    out += "; " + r.value("cold_note", std::string("")) + "\n";
  }
  if (r.contains("wake_ms")) out += "Wake through gpumod: " + ms_text(r["wake_ms"]) + "; sleep " + ms_text(r["sleep_ms"]) + "\n";
  for (const auto& n : r["notes"]) out += "Note: " + n.get<std::string>() + "\n";
  if (r.contains("run_id")) out += "Stored as bench run #" + std::to_string(r["run_id"].get<std::int64_t>()) + "\n";
  return out;
}

std::string render_switch_bench(const json& r, bool md) {
  std::string out;
  out += (md ? "**" : std::string()) + "Switch bench: " + r["mode_a"].get<std::string>() + " <-> " +
         r["mode_b"].get<std::string>() + (md ? "**" : "") + ", " + std::to_string(r["rounds"].get<int>()) +
         " round(s), on " + r.value("gpu_name", std::string("GPU")) + " " + r.value("gpu_uuid", std::string("")) + "\n";
  out += md ? "\n" : "";
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : r["directions"]) {
    rows.push_back({d["direction"].get<std::string>(), ms_text(d["total_ms"]),
                    d.contains("router_swap_ms") ? ms_text(d["router_swap_ms"]) : "-",
                    d.contains("ratio") ? number(d["ratio"].get<double>(), 2) + "x" : "-"});
  }
  out += table({{"DIRECTION"}, {"THROUGH GPUMOD", true}, {"ROUTER'S OWN SWAP", true}, {"RATIO", true}}, rows, md);
  for (const auto& d : r["directions"]) {
    out += (md ? "\n" : "") + std::string("Steps ") + d["direction"].get<std::string>() + ":\n" + (md ? "\n" : "");
    std::vector<std::vector<std::string>> st;
    for (const auto& s : d["steps"]) {
      st.push_back({s["action"].get<std::string>(), s["service"].get<std::string>(), ms_text(s["ms"]),
                    s.contains("router_load_ms") ? ms_text(s["router_load_ms"]) : "-",
                    s.contains("ratio") ? number(s["ratio"].get<double>(), 2) + "x" : "-"});
    }
    out += table({{"ACTION"}, {"SERVICE"}, {"THROUGH GPUMOD", true}, {"ROUTER'S OWN LOAD", true}, {"RATIO", true}}, st, md);
  }
  out += md ? "\n" : "";
  for (const auto& n : r["notes"]) out += "Note: " + n.get<std::string>() + "\n";
  if (r.contains("run_id")) out += "Stored as bench run #" + std::to_string(r["run_id"].get<std::int64_t>()) + "\n";
  return out;
}

void bench(AppContext& ctx, const BenchFlags& f) {
  if (f.json && f.markdown) return ctx.fail({util::ErrorCode::invalid_argument, "--json and --markdown exclude each other"});
  auto client = DaemonClient::connect(ctx, true);
  if (!client) return ctx.fail(client.error());
  if (f.history) {
    std::string path = "/v1/bench/history?limit=" + std::to_string(f.limit);
    if (!f.target.empty()) {
      for (unsigned char c : f.target) {
        if (!std::isalnum(c) && std::string_view("-_.>/:").find(static_cast<char>(c)) == std::string_view::npos) {
          return ctx.fail({util::ErrorCode::invalid_argument, "bench --history: '" + f.target + "' is not a service, model or A->B"});
        }
      }
      std::string enc;
      for (char c : f.target) enc += c == '>' ? std::string("%3E") : c == '/' ? std::string("%2F") : std::string(1, c);
      path += "&subject=" + enc;
    }
    auto r = client->get(path, std::chrono::milliseconds(30000));
    if (!r) return ctx.fail(r.error());
    ctx.out() << (f.json ? r->dump(2) + "\n" : render_bench_history(*r, f.markdown));
    return;
  }
  if (f.target.empty()) return ctx.fail({util::ErrorCode::invalid_argument, "bench: name a service or model (or use --history, or bench switch A B)"});
  json body = {{"target", f.target},     {"prompt_tokens", f.prompt_tokens}, {"gen_tokens", f.gen_tokens},
               {"runs", f.runs},         {"concurrency", f.concurrency},     {"cold", f.cold},
               {"no_thinking", f.no_thinking}, {"start", f.start}, {"keep_page_cache", f.keep_page_cache}};
  auto r = client->post("/v1/bench", body, k_bench_timeout);
  if (!r) return ctx.fail(r.error());
  ctx.out() << (f.json ? r->dump(2) + "\n" : render_serve(*r, f.markdown));
}

void bench_switch(AppContext& ctx, const BenchFlags& f) {
  if (f.json && f.markdown) return ctx.fail({util::ErrorCode::invalid_argument, "--json and --markdown exclude each other"});
  for (const auto* id : {&f.mode_a, &f.mode_b}) {
    if (auto st = util::validate_id(*id, "mode id"); !st) return ctx.fail(st.error());
  }
  auto client = DaemonClient::connect(ctx, true);
  if (!client) return ctx.fail(client.error());
  auto r = client->post("/v1/bench/switch", json{{"mode_a", f.mode_a}, {"mode_b", f.mode_b}, {"rounds", f.rounds}},
                        k_bench_timeout);
  if (!r) return ctx.fail(r.error());
  ctx.out() << (f.json ? r->dump(2) + "\n" : render_switch_bench(*r, f.markdown));
}

}  // namespace

std::string render_bench_history(const json& h, bool md) {
  std::vector<std::vector<std::string>> rows;
  const auto rate = [](const json& v) { return v.is_number() ? number(v.get<double>(), 1) : std::string("-"); };
  for (const auto& run : h["runs"]) {
    std::string summary;
    if (run["kind"] == "switch" && run["report"].is_object()) {
      for (const auto& d : run["report"]["directions"]) {
        summary += (summary.empty() ? "" : ", ") + d["direction"].get<std::string>() + " " + ms_text(d["total_ms"]);
      }
    }
    rows.push_back({std::to_string(run["id"].get<std::int64_t>()), when(run["measured_at_ms"].get<std::int64_t>()),
                    run["kind"].get<std::string>(), run["subject"].get<std::string>(),
                    run["model"].get<std::string>().empty() ? "-" : run["model"].get<std::string>(),
                    run["settings"].get<std::string>(), rate(run["gen_tps"]), rate(run["prompt_tps"]),
                    run["ttft_ms"].is_number() ? rate(run["ttft_ms"]) + " ms" : summary.empty() ? "-" : summary});
  }
  if (rows.empty()) return "no bench runs recorded\n";
  return table({{"ID", true}, {"WHEN"}, {"KIND"}, {"SUBJECT"}, {"MODEL"}, {"SETTINGS"}, {"GEN tok/s", true},
                {"PROMPT tok/s", true}, {"TTFT / SWITCH"}},
               rows, md);
}

void register_bench_commands(CLI::App& root, AppContext& ctx) {
  auto f = std::make_shared<BenchFlags>();
  auto* b = root.add_subcommand("bench", "Measure a service (TTFT, prompt and generation tok/s, load) or switches between modes");
  b->add_option("TARGET", f->target, "Service id or model name (with --history: a service, or A->B)");
  b->add_option("--prompt-tokens", f->prompt_tokens, "Prompt length in tokens (exact, by the server's tokenizer)")->check(CLI::Range(1, 131072));
  b->add_option("--gen-tokens", f->gen_tokens, "Tokens to generate per request")->check(CLI::Range(1, 32768));
  b->add_option("--runs", f->runs, "Runs (medians and spread are over them)")->check(CLI::Range(1, 100));
  b->add_option("--concurrency", f->concurrency, "Concurrent requests per run")->check(CLI::Range(1, 64));
  b->add_flag("--cold", f->cold, "Also measure the load (and wake) through gpumod, page cache dropped when allowed");
  b->add_flag("--keep-page-cache", f->keep_page_cache, "With --cold: keep the page cache (measure a warm load)");
  b->add_flag("--no-thinking", f->no_thinking, "Add a chat row with the reasoning off (chat_template_kwargs)");
  b->add_flag("--start", f->start, "Start (or wake) the service when it is stopped (asleep) instead of refusing");
  b->add_flag("--json", f->json, "Print JSON");
  b->add_flag("--markdown", f->markdown, "Print Markdown tables (for a report)");
  b->add_flag("--history", f->history, "List past bench runs");
  b->add_option("--limit", f->limit, "With --history: at most this many runs")->check(CLI::Range(1, 10000));
  b->callback([&ctx, f, b] {
    if (b->get_subcommands().empty()) ctx.set_action([&ctx, f] { bench(ctx, *f); });
  });
  auto* sw = b->add_subcommand("switch", "Alternate real switches A->B->A and compare with the router's own swap");
  sw->add_option("A", f->mode_a, "First mode")->required();
  sw->add_option("B", f->mode_b, "Second mode")->required();
  sw->add_option("--rounds", f->rounds, "Rounds of A->B->A")->check(CLI::Range(1, 50));
  sw->add_flag("--json", f->json, "Print JSON");
  sw->add_flag("--markdown", f->markdown, "Print Markdown tables");
  sw->callback([&ctx, f] { ctx.set_action([&ctx, f] { bench_switch(ctx, *f); }); });
}

}  // namespace gpumod::app
