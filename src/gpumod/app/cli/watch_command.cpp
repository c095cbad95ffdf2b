// gpumod watch: follows the daemon's event stream and prints what each live configuration reload
// did (services added, removed, restarted, updated; or why a broken edit was not applied). The
// daemon does the watching (inotify on the configuration root, and SIGHUP); this only reports.
#include <CLI/CLI.hpp>
#include <ctime>
#include <nlohmann/json.hpp>
#include <ostream>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/app/cli/daemon_client.hpp"

namespace gpumod::app {

using nlohmann::json;

namespace {

std::string clock_text(std::int64_t ts_ms) {
  const std::time_t secs = ts_ms / 1000;
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S", std::localtime(&secs));
  return buf;
}

void watch(AppContext& ctx, bool as_json) {
  auto root = ctx.config_root();
  if (!root) return ctx.fail(root.error());
  auto client = DaemonClient::connect(ctx, true);
  if (!client) return ctx.fail(client.error());
  const auto opened = [&] {
    if (as_json) return;
    ctx.out() << "watching " << root->string() << ": the daemon applies each edit; Ctrl-C stops watching\n";
    ctx.out().flush();
  };
  auto st = client->follow_events(-1, [&](const json& e) {
    const std::string kind = e.value("kind", "");
    if (kind != "config.reloaded" && kind != "config.rejected") return true;
    if (as_json) {
      ctx.out() << e.dump() << "\n";
    } else {
      ctx.out() << clock_text(e.value("ts_ms", std::int64_t{0})) << "  " << e.value("message", "") << "\n";
    }
    ctx.out().flush();
    return true;
  }, opened);
  if (!st) ctx.fail(st.error());
}

}  // namespace

void register_watch_command(CLI::App& root, AppContext& ctx) {
  auto as_json = std::make_shared<bool>(false);
  auto* sub = root.add_subcommand("watch", "Print what the daemon does with each configuration edit (live reload)");
  sub->add_flag("--json", *as_json, "One JSON event per line");
  sub->callback([&ctx, as_json] { ctx.set_action([&ctx, as_json] { watch(ctx, *as_json); }); });
}

}  // namespace gpumod::app
