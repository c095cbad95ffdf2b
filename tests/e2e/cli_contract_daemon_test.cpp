// The CLI contract (docs/cli-contract.md) where a daemon answers: the same status document with
// and without it, the schemas of service operations, switches and events, and the daemon's
// environment (server binaries, simulated GPU) made visible and applied.
#include <set>
#include <sstream>

#include "e2e/runtime_fixture.hpp"
#include "support/json_schema.hpp"

namespace gpumod::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class CliContractDaemonTest : public RuntimeFixture {
 protected:
  static json one_document(const RunResult& r, const std::string& schema) {
    return test_support::expect_one_document(r.out, r.err, schema);
  }
  static std::set<std::string> keys(const json& j) {
    std::set<std::string> out;
    for (const auto& [k, v] : j.items()) out.insert(k);
    return out;
  }
};

TEST_F(CliContractDaemonTest, StatusIsTheSameDocumentWithAndWithoutADaemon) {
  add_preset({.id = "emb", .vram_mib = 1500});
  auto r = gpumod({"status", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto offline = one_document(r, "status");
  EXPECT_EQ(offline["source"], "database");

  r = gpumod({"service", "start", "emb", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(one_document(r, "service-op")["state"], "running");
  r = gpumod({"status", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto live = one_document(r, "status");
  EXPECT_EQ(live["source"], "daemon");
  EXPECT_EQ(keys(live), keys(offline));
  EXPECT_EQ(keys(live["services"][0]), keys(offline["services"][0]));
  one_document(gpumod({"service", "status", "emb", "--json"}), "service-status");

  // Stopped daemon: the database's view, same shape, the last recorded state.
  ASSERT_EQ(gpumod({"daemon", "stop"}).exit_code, 0);
  r = gpumod({"status", "--json"});
  const auto after = one_document(r, "status");
  EXPECT_EQ(after["source"], "database");
  EXPECT_EQ(after["services"][0]["state"], "running");
  EXPECT_GT(after["services"][0]["pid"].get<int>(), 0);
  // The text table is the daemon's too: a multi-line reason stays on its row.
  r = gpumod({"status"});
  EXPECT_THAT(r.out, HasSubstr("(no daemon running: states as last recorded)"));
  EXPECT_THAT(r.out, HasSubstr("SERVICE"));
}

// A runtime directory too deep for a Unix socket path is named, with what to do, instead of a
// bare "cannot listen".
TEST_F(CliContractDaemonTest, ASocketPathTooLongIsSaidWithTheFix) {
  const fs::path deep = runner.home() / std::string(100, 'd');
  fs::create_directories(deep);
  runner.env()["XDG_RUNTIME_DIR"] = deep.string();
  const auto r = gpumod({"daemon", "start"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("longer than a Unix socket path may be (107)")) << r.err;
  EXPECT_THAT(r.err, HasSubstr("set XDG_RUNTIME_DIR to a shorter directory")) << r.err;
}

TEST_F(CliContractDaemonTest, OfflineStatusKeepsALongMultiLineReasonOnItsRow) {
  add_preset({.id = "crashy", .env = {{"GPUMOD_MOCK_FAULT", "crash-on-start"}}});
  ASSERT_NE(gpumod({"service", "start", "crashy"}).exit_code, 0);
  ASSERT_EQ(gpumod({"daemon", "stop"}).exit_code, 0);
  const auto r = gpumod({"status"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::size_t widest = 0;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) widest = std::max(widest, line.size());
  EXPECT_LT(widest, 200u) << r.out;  // the reason is cut to its first line and 60 characters
}

TEST_F(CliContractDaemonTest, SwitchAndEventsMatchTheirSchemas) {
  add_preset({.id = "a", .vram_mib = 1000});
  add_preset({.id = "b", .vram_mib = 30000});
  add_mode("small", {"a"});
  add_mode("big", {"b"});
  auto r = gpumod({"mode", "switch", "small", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(one_document(r, "switch")["success"].get<bool>());
  r = gpumod({"mode", "switch", "big", "--dry-run", "--json"});
  one_document(r, "switch");
  r = gpumod({"mode", "switch", "big", "--json"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  const auto j = one_document(r, "switch");  // one document: the result, not a second error document
  EXPECT_EQ(j["error_code"], "insufficient_vram");
  r = gpumod({"events", "--json", "--limit", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto ev = one_document(r, "events");
  ASSERT_EQ(ev["events"].size(), 2u);
  EXPECT_EQ(ev["events"][1]["kind"], "switch.refused");  // the newest last
}

// The daemon launches what it resolved when it started; a command that asks for another server
// binary restarts it (services re-adopted), and --simulate-gpu is never silently ignored.
TEST_F(CliContractDaemonTest, TheDaemonsEnvironmentIsVisibleAndAnExplicitChangeRestartsIt) {
  add_preset({.id = "emb", .vram_mib = 1500});
  runner.env().erase("GPUMOD_LLAMA_SERVER_BIN");
  ASSERT_EQ(gpumod({"daemon", "start"}).exit_code, 0);
  const int first = daemon_pid();
  auto r = gpumod({"daemon", "status"});
  EXPECT_THAT(r.out, HasSubstr("llama-server: "));
  ASSERT_EQ(gpumod({"service", "start", "emb"}).exit_code, 0);
  const int emb_pid = service("emb")["pid"].get<int>();

  // A read-only command asking for another simulated GPU: answered by the daemon, and said.
  r = gpumod({"--simulate-gpu", "Other:8000", "status"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--simulate-gpu"));
  EXPECT_EQ(daemon_pid(), first);

  // A mutating command from a shell that sets the llama-server binary: the daemon is restarted.
  const std::string bin = mock_named("llama-server");
  runner.env()["GPUMOD_LLAMA_SERVER_BIN"] = bin;
  r = gpumod({"service", "start", "emb"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("the llama-server binary"));
  EXPECT_THAT(r.err, HasSubstr("restarting the daemon"));
  const int second = daemon_pid();
  EXPECT_NE(second, first);
  EXPECT_EQ(service("emb")["pid"], emb_pid) << "the service was re-adopted, not restarted";
  r = gpumod({"daemon", "status"});
  EXPECT_THAT(r.out, HasSubstr("llama-server: " + bin));
  // The same environment again: no restart.
  ASSERT_EQ(gpumod({"service", "start", "emb"}).exit_code, 0);
  EXPECT_EQ(daemon_pid(), second);
}

}  // namespace
}  // namespace gpumod::testing
