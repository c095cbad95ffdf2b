// The OpenAI-compatible endpoint's commands:
//   gpumod serve [--listen HOST:PORT]   the daemon in the foreground with the endpoint on
//   gpumod requests [-n N] [--model M] [--service S] [--json]
//                                        the requests it answered (the state database's ring)
#include <CLI/CLI.hpp>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <ostream>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/app/daemon/daemon.hpp"
#include "gpumod/app/daemon/json_codec.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/util/ids.hpp"

namespace gpumod::app {

using nlohmann::json;

namespace {

struct ServeFlags {
  std::string listen;
  int limit = 50;
  std::string model;    // requests: only those naming this model
  std::string service;  // requests: only those routed to this service
  bool json = false;
};

void requests(AppContext& ctx, const ServeFlags& f) {
  if (!f.service.empty()) {
    if (auto st = util::validate_id(f.service, "--service: service id"); !st) return ctx.fail(st.error());
  }
  if (f.model.size() > 256 || std::ranges::any_of(f.model, [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
    return ctx.fail({util::ErrorCode::invalid_argument, "--model: a model name is at most 256 printable characters"});
  }
  auto store = ctx.state();
  if (!store) return ctx.fail(store.error());
  auto list = (*store)->list_requests(f.limit, f.model, f.service);
  if (!list) return ctx.fail(list.error());
  json arr = json::array();
  for (const auto& r : *list) arr.push_back(to_json(r));
  const json doc{{"requests", arr}};
  ctx.out() << (f.json ? doc.dump(2) + "\n" : render_requests(doc));
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
    sub->add_option("--model", f->model, "Only requests for this model (as the client named it)");
    sub->add_option("--service", f->service, "Only requests routed to this service");
    sub->add_flag("--json", f->json, "JSON");
    sub->callback([&ctx, f] { ctx.set_action([&ctx, f] { requests(ctx, *f); }); });
  }
}

}  // namespace gpumod::app
