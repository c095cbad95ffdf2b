// The OpenAI-compatible endpoint's commands:
//   gpumod serve [--listen HOST:PORT]   the daemon in the foreground with the endpoint on
//   gpumod requests [-n N] [--json]      the requests it answered (the state database's ring)
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <ostream>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/app/daemon/daemon.hpp"
#include "gpumod/app/daemon/json_codec.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/util/table.hpp"

namespace gpumod::app {

using nlohmann::json;

namespace {

struct ServeFlags {
  std::string listen;
  int limit = 50;
  bool json = false;
};

std::string time_of_day(std::int64_t ts_ms) {
  const std::time_t t = static_cast<std::time_t>(ts_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ts_ms % 1000));
  return buf;
}

void requests(AppContext& ctx, const ServeFlags& f) {
  auto store = ctx.state();
  if (!store) return ctx.fail(store.error());
  auto list = (*store)->list_requests(f.limit);
  if (!list) return ctx.fail(list.error());
  if (f.json) {
    json arr = json::array();
    for (const auto& r : *list) arr.push_back(to_json(r));
    ctx.out() << json{{"requests", arr}}.dump(2) << "\n";
    return;
  }
  if (list->empty()) {
    ctx.out() << "no requests recorded yet (the OpenAI endpoint records each one it answers)\n";
    return;
  }
  util::TextTable table({{"TIME (UTC)"}, {"MODEL"}, {"SERVICE"}, {"STATUS", true}, {"QUEUE ms", true},
                         {"TTFB ms", true}, {"TOTAL ms", true}, {"TOKENS in/out", true}, {"ACTION"}});
  for (const auto& r : *list) {
    const auto tok = [](const std::optional<std::int64_t>& v) { return v ? std::to_string(*v) : std::string("-"); };
    table.add_row({time_of_day(r.ts_ms), r.model, r.service_id.empty() ? "-" : r.service_id, std::to_string(r.status),
                   std::to_string(r.queue_ms), r.ttfb_ms < 0 ? "-" : std::to_string(r.ttfb_ms),
                   std::to_string(r.duration_ms), tok(r.prompt_tokens) + "/" + tok(r.completion_tokens),
                   r.action.empty() ? "-" : r.action});
  }
  ctx.out() << table.render();
}

}  // namespace

void register_serve_commands(CLI::App& root, AppContext& ctx) {
  {
    auto f = std::make_shared<ServeFlags>();
    auto* sub = root.add_subcommand("serve", "Run the daemon in the foreground with the OpenAI-compatible endpoint");
    sub->add_option("--listen", f->listen, "HOST:PORT of the endpoint (default: serve.listen in gpumod.yaml, 127.0.0.1:7979)");
    sub->callback([&ctx, f] {
      ctx.set_action([&ctx, f] {
        DaemonOptions o;
        o.serve_required = true;
        if (!f->listen.empty()) o.serve_listen = f->listen;
        if (auto st = run_daemon(ctx, o); !st) ctx.fail(st.error());
      });
    });
  }
  {
    auto f = std::make_shared<ServeFlags>();
    auto* sub = root.add_subcommand("requests", "The requests the OpenAI-compatible endpoint answered");
    sub->add_option("-n,--limit", f->limit, "How many of the newest (default 50)")->check(CLI::Range(1, 1000000));
    sub->add_flag("--json", f->json, "JSON");
    sub->callback([&ctx, f] { ctx.set_action([&ctx, f] { requests(ctx, *f); }); });
  }
}

}  // namespace gpumod::app
