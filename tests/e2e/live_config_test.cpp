// The daemon follows its configuration live (inotify on the root, SIGHUP): only the difference is
// applied — a renamed service keeps its process, a changed port restarts it, a removed one is
// stopped — and a broken edit changes nothing and is reported (event, status, /metrics).
#include "e2e/runtime_fixture.hpp"
#include "gpumod/infra/http/client.hpp"

namespace gpumod::testing {
namespace {

using ::testing::HasSubstr;

class LiveConfig : public RuntimeFixture {
 protected:
  // Events straight from the daemon's socket (the CLI refuses to run while the files are broken).
  json events_after(std::int64_t after) {
    auto c = infra::http::make_unix_client(runner.home() / "runtime" / "gpumod" / "daemon.sock");
    auto r = c->get("/v1/events?limit=10000&after=" + std::to_string(after), 10s);
    if (!r || r->status != 200) return json::array();
    const auto j = json::parse(r->body, nullptr, false);
    return j.is_discarded() ? json::array() : j["events"];
  }
  std::int64_t last_event_id() {
    std::int64_t last = 0;
    for (const auto& e : events_after(0)) last = std::max<std::int64_t>(last, e["id"].get<std::int64_t>());
    return last;
  }
  // The first event of `kind` after event `after` (bounded wait); null when none came.
  json wait_event(const std::string& kind, std::int64_t after) {
    json found;
    test_support::wait_until(
        [&] {
          for (const auto& e : events_after(after)) {
            if (e["kind"] == kind) {
              found = e;
              return true;
            }
          }
          return false;
        },
        30s, 50ms);
    return found;
  }
  std::string preset_text(const std::string& id) {
    std::ifstream in(root() / "presets" / (id + ".yaml"));
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  // Replaces the file in one step (as editors do: write elsewhere, rename over it).
  void write_preset_text(const std::string& id, const std::string& text) {
    const auto tmp = root() / ("." + id + ".tmp");
    std::ofstream(tmp, std::ios::trunc) << text;
    fs::rename(tmp, root() / "presets" / (id + ".yaml"));
  }
  // What the daemon said (for failure messages).
  std::string daemon_log() {
    std::ifstream in(runner.state_dir() / "gpumod" / "daemon.log");
    return "daemon.log:\n" + std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  std::string scrape() {
    auto c = infra::http::make_unix_client(runner.home() / "runtime" / "gpumod" / "daemon.sock");
    auto r = c->get("/metrics", 10s);
    return r ? r->body : "";
  }
};

TEST_F(LiveConfig, AppliesOnlyTheDifferenceAndKeepsTheOldConfigOnABrokenEdit) {
  add_preset({.id = "chat", .vram_mib = 3000});
  add_preset({.id = "embed", .vram_mib = 1000});
  add_mode("both", {"chat", "embed"});
  ASSERT_EQ(gpumod({"mode", "switch", "both"}).exit_code, 0);
  const int chat_pid = service("chat")["pid"].get<int>();
  const int embed_pid = service("embed")["pid"].get<int>();
  ASSERT_GT(chat_pid, 0);
  ASSERT_GT(embed_pid, 0);

  // A new display name: applied in place, the process stays.
  auto after = last_event_id();
  write_preset_text("chat", replace_all(preset_text("chat"), "name: chat", "name: Chat model"));
  auto ev = wait_event("config.reloaded", after);
  ASSERT_FALSE(ev.is_null()) << events_after(0).dump(1) << daemon_log();
  EXPECT_THAT(ev["message"].get<std::string>(), HasSubstr("updated chat"));
  EXPECT_EQ(service("chat")["pid"].get<int>(), chat_pid);

  // A new port: the running service is restarted on it.
  after = last_event_id();
  const int new_port = test_support::free_loopback_port();
  add_preset({.id = "embed", .port = new_port, .vram_mib = 1000});
  ev = wait_event("config.reloaded", after);
  ASSERT_FALSE(ev.is_null()) << events_after(0).dump(1) << daemon_log();
  EXPECT_THAT(ev["message"].get<std::string>(), HasSubstr("restarted embed"));
  const auto embed = service("embed");
  EXPECT_EQ(embed["state"], "running");
  EXPECT_EQ(embed["port"].get<int>(), new_port);
  EXPECT_NE(embed["pid"].get<int>(), embed_pid);
  EXPECT_TRUE(wait_dead(embed_pid, 10s));

  // A broken edit: nothing changes, and it is said.
  after = last_event_id();
  write_preset_text("chat", preset_text("chat") + "vram_mb: [unclosed\n");
  ev = wait_event("config.rejected", after);
  ASSERT_FALSE(ev.is_null()) << events_after(0).dump(1) << daemon_log();
  EXPECT_THAT(ev["message"].get<std::string>(), HasSubstr("chat.yaml"));
  const auto st = status();
  ASSERT_TRUE(st.contains("config_problem")) << st.dump();
  EXPECT_THAT(st["config_problem"].get<std::string>(), HasSubstr("chat.yaml"));
  for (const auto& s : st["services"]) {
    if (s["id"] == "chat") EXPECT_EQ(s["pid"].get<int>(), chat_pid);  // (service status refuses broken files)
  }
  EXPECT_THAT(scrape(), HasSubstr("gpumod_config_valid 0\n"));

  // Fixed, and embed removed (its preset and its place in the mode): embed is stopped.
  after = last_event_id();
  int embed_now = 0;
  for (const auto& s : st["services"]) {
    if (s["id"] == "embed") embed_now = s["pid"].get<int>();
  }
  add_mode("both", {"chat"});
  fs::remove(root() / "presets" / "embed.yaml");
  write_preset_text("chat", replace_all(preset_text("chat"), "vram_mb: [unclosed\n", ""));
  ev = wait_event("config.reloaded", after);
  ASSERT_FALSE(ev.is_null()) << events_after(0).dump(1) << daemon_log();
  EXPECT_THAT(ev["message"].get<std::string>(), HasSubstr("removed embed"));
  EXPECT_THAT(ev["message"].get<std::string>(), HasSubstr("stopped embed"));
  EXPECT_TRUE(wait_dead(embed_now, 10s));
  EXPECT_EQ(service("chat")["pid"].get<int>(), chat_pid);
  EXPECT_FALSE(status().contains("config_problem"));
  EXPECT_THAT(scrape(), HasSubstr("gpumod_config_valid 1\n"));
  // The daemon that applied the edit is the one that answers (no restart by the CLI).
  EXPECT_EQ(gpumod({"service", "status", "chat"}).exit_code, 0);
}

TEST_F(LiveConfig, SighupReloadsAndTheDaemonKeepsRunning) {
  add_preset({.id = "chat", .vram_mib = 3000});
  ASSERT_EQ(gpumod({"daemon", "start"}).exit_code, 0);
  const int pid = daemon_pid();
  ASSERT_GT(pid, 0);
  const auto after = last_event_id();
  ASSERT_EQ(::kill(pid, SIGHUP), 0);
  const auto ev = wait_event("config.reloaded", after);
  ASSERT_FALSE(ev.is_null()) << events_after(0).dump(1) << daemon_log();
  EXPECT_THAT(ev["message"].get<std::string>(), HasSubstr("nothing changed"));
  EXPECT_TRUE(pid_alive(pid));
  EXPECT_EQ(daemon_pid(), pid);
}

TEST_F(LiveConfig, WatchPrintsWhatAReloadDid) {
  add_preset({.id = "chat", .vram_mib = 3000});
  ASSERT_EQ(gpumod({"daemon", "start"}).exit_code, 0);
  test_support::ChildOptions opts;
  opts.env = runner.env();
  test_support::ChildProcess w({GPUMOD_BIN, "--config", root().string(), "watch"}, opts);
  ASSERT_TRUE(test_support::wait_until([&] { return w.output().find("watching ") != std::string::npos; }, 20s))
      << w.output();
  // The stream is open once `watch` said so; an edit now is reported.
  add_preset({.id = "embed", .vram_mib = 1000});
  EXPECT_TRUE(test_support::wait_until(
      [&] { return w.output().find("configuration reloaded: added embed") != std::string::npos; }, 30s))
      << w.output();
  w.terminate();
}

}  // namespace
}  // namespace gpumod::testing
