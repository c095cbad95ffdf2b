// Mode switches end to end: the real gpumod binary and daemon, mock vLLM servers on loopback and
// a simulated GPU. The predecessor's worked example (§6.3) and pinned behaviours (§16.1), and
// one regression test per weak spot W1–W14 that fails on the predecessor's behaviour.
#include "e2e/switch_fixture.hpp"

namespace gpumod::testing {
namespace {

using test_support::ChildProcess;
using test_support::wait_until;

// The predecessor's fixture: code = {svc-embed, svc-devstral (l1)},
// rag = {svc-embed, svc-reranker 3000, svc-rag-llm 5000} (declared in that order, which is not
// the lexicographic one the predecessor used).
class WorkedExample : public SwitchE2E {
 protected:
  void SetUp() override {
    write_config({{.id = "svc-embed", .vram_mib = 2000},
                  {.id = "svc-devstral", .vram_mib = 10000, .sleep_mode = "l1"},
                  {.id = "svc-rag-llm", .vram_mib = 5000},
                  {.id = "svc-reranker", .vram_mib = 3000}},
                 {{"code", {"svc-embed", "svc-devstral"}}, {"rag", {"svc-embed", "svc-reranker", "svc-rag-llm"}}},
                 24000);
  }
};

TEST_F(WorkedExample, CodeToRagSleepsDevstralKeepsEmbedStartsInDeclaredOrder) {
  auto [rc, j] = switch_to("code");
  ASSERT_EQ(rc, 0) << j.dump(2);
  EXPECT_EQ(strings(j["started"]), (std::vector<std::string>{"svc-embed", "svc-devstral"}));
  auto before = services();
  const int embed_pid = before["svc-embed"]["pid"].get<int>();
  const int devstral_pid = before["svc-devstral"]["pid"].get<int>();
  ASSERT_GT(embed_pid, 0);
  ASSERT_GT(devstral_pid, 0);

  std::tie(rc, j) = switch_to("rag");
  ASSERT_EQ(rc, 0) << j.dump(2);
  EXPECT_TRUE(j["success"].get<bool>());
  EXPECT_EQ(j["from_mode"], "code");
  // W11: the kinds are never merged.
  EXPECT_EQ(strings(j["slept"]), std::vector<std::string>{"svc-devstral"});
  EXPECT_TRUE(j["stopped"].empty());
  EXPECT_EQ(strings(j["started"]), (std::vector<std::string>{"svc-reranker", "svc-rag-llm"}));
  EXPECT_EQ(strings(j["kept"]), std::vector<std::string>{"svc-embed"});
  EXPECT_TRUE(j["woken"].empty());
  // Every sleep/stop comes before any start (§16.1), and the starts follow the mode's order (W12).
  EXPECT_EQ(step_list(j), (std::vector<std::string>{"sleep:svc-devstral", "keep:svc-embed", "start:svc-reranker",
                                                    "start:svc-rag-llm"}));
  EXPECT_EQ(j["steps"][0]["sleep_level"], 1);

  const auto st = status();
  EXPECT_EQ(st["current_mode"], "rag");
  auto after = services(st);
  EXPECT_EQ(after["svc-embed"]["pid"], embed_pid) << "the shared service is untouched";
  EXPECT_EQ(after["svc-embed"]["state"], "running");
  EXPECT_EQ(after["svc-devstral"]["state"], "sleeping") << "slept, not stopped";
  EXPECT_EQ(after["svc-devstral"]["pid"], devstral_pid);
  EXPECT_EQ(after["svc-rag-llm"]["state"], "running");
  EXPECT_EQ(after["svc-reranker"]["state"], "running");
  // Learned footprints appear in status after a start (the mock holds what the preset says).
  EXPECT_EQ(after["svc-rag-llm"]["learned_mib"], 5000);
  EXPECT_EQ(after["svc-reranker"]["learned_mib"], 3000);
  EXPECT_EQ(after["svc-rag-llm"]["measured_mib"], 5000);
  // The sleeping vLLM keeps only its residue (the mock's default 500 MiB), learned as well.
  EXPECT_EQ(after["svc-devstral"]["learned_sleep_mib"], 500);

  // And back: devstral is woken (not started), the rag-only services go.
  std::tie(rc, j) = switch_to("code");
  ASSERT_EQ(rc, 0) << j.dump(2);
  EXPECT_EQ(strings(j["woken"]), std::vector<std::string>{"svc-devstral"});
  EXPECT_TRUE(j["started"].empty());
  EXPECT_EQ(services()["svc-devstral"]["pid"], devstral_pid);
}

// §16.1: an unknown mode fails with an error and changes nothing.
TEST_F(WorkedExample, UnknownModeFailsWithoutChanges) {
  const auto r = gpumod({"mode", "switch", "rga"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no mode 'rga'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'rag'"), std::string::npos) << r.err;
}

// §16.1: switching to the current mode with nothing else running is a full no-op.
TEST_F(WorkedExample, SameModeTwiceIsANoOp) {
  ASSERT_EQ(switch_to("code").first, 0);
  const auto pids = services();
  auto [rc, j] = switch_to("code");
  ASSERT_EQ(rc, 0) << j.dump(2);
  for (const auto& s : j["steps"]) EXPECT_EQ(s["action"], "keep") << s.dump();
  EXPECT_TRUE(j["started"].empty());
  EXPECT_TRUE(j["stopped"].empty());
  EXPECT_TRUE(j["slept"].empty());
  auto now = services();
  EXPECT_EQ(now["svc-embed"]["pid"], pids.at("svc-embed")["pid"]);
  EXPECT_EQ(now["svc-devstral"]["pid"], pids.at("svc-devstral")["pid"]);
}

// --dry-run prints the plan with the predicted free VRAM after each step and changes nothing.
TEST_F(WorkedExample, DryRunPrintsThePlanAndChangesNothing) {
  ASSERT_EQ(switch_to("code").first, 0);
  const auto before = services();
  const auto events_before = events().size();

  auto r = gpumod({"mode", "switch", "rag", "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Plan: code -> rag"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PREDICTED FREE MiB"), std::string::npos) << r.out;
  // 24,000 total - 2,000 embed - 10,000 devstral = 12,000 free; sleeping devstral frees all but
  // its residue; then 3,000 and 5,000 are taken.
  auto [rc, j] = switch_to("rag", {"--dry-run"});
  ASSERT_EQ(rc, 0) << j.dump(2);
  EXPECT_TRUE(j["dry_run"].get<bool>());
  ASSERT_EQ(j["steps"].size(), 4u) << j.dump(2);
  std::vector<std::int64_t> predicted;
  for (const auto& s : j["steps"]) {
    EXPECT_EQ(s["outcome"], "planned");
    predicted.push_back(s["predicted_free_mib"].get<std::int64_t>());
  }
  EXPECT_GT(predicted[0], 12000) << "sleeping devstral frees memory";
  EXPECT_EQ(predicted[1], predicted[0]) << "keeping embed changes nothing";
  EXPECT_EQ(predicted[2], predicted[1] - 3000);
  EXPECT_EQ(predicted[3], predicted[2] - 5000);
  for (const auto& p : predicted) {
    EXPECT_NE(r.out.find(util::group_thousands(p)), std::string::npos) << "the text plan shows " << p << "\n" << r.out;
  }

  const auto st = status();
  EXPECT_EQ(st["current_mode"], "code");
  auto after = services(st);
  for (const auto& [id, s] : before) {
    EXPECT_EQ(after[id]["state"], s["state"]) << id;
    EXPECT_EQ(after[id]["pid"], s["pid"]) << id;
  }
  for (const auto& e : events()) {
    if (e["id"].get<std::size_t>() > events_before) {
      EXPECT_NE(e["kind"], "switch.started") << "a dry run journals no switch";
      EXPECT_NE(e["kind"], "service.started");
    }
  }
}

// W1: a shared service that crashed is restarted by switching to the same mode (the predecessor
// trusted the recorded mode and did nothing).
TEST_F(WorkedExample, W1SameModeRepairsACrashedSharedService) {
  ASSERT_EQ(switch_to("code").first, 0);
  const int embed_pid = services()["svc-embed"]["pid"].get<int>();
  ASSERT_GT(embed_pid, 0);
  ASSERT_EQ(::kill(embed_pid, SIGKILL), 0);  // a service this test started, through gpumod
  ASSERT_TRUE(wait_until([&] { return services()["svc-embed"]["state"] != "running"; }, 10s, 50ms));

  auto [rc, j] = switch_to("code");
  ASSERT_EQ(rc, 0) << j.dump(2);
  EXPECT_EQ(strings(j["started"]), std::vector<std::string>{"svc-embed"});
  auto now = services();
  EXPECT_EQ(now["svc-embed"]["state"], "running");
  EXPECT_NE(now["svc-embed"]["pid"], embed_pid);
  EXPECT_TRUE(pid_alive(now["svc-embed"]["pid"].get<int>()));
}

// The same with a shared service that is asleep: switching to a mode that holds it wakes it.
TEST_F(WorkedExample, W1SharedSleepingServiceIsWoken) {
  ASSERT_EQ(switch_to("code").first, 0);
  auto r = gpumod({"service", "sleep", "svc-devstral"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(services()["svc-devstral"]["state"], "sleeping");
  auto [rc, j] = switch_to("code");
  ASSERT_EQ(rc, 0) << j.dump(2);
  EXPECT_EQ(strings(j["woken"]), std::vector<std::string>{"svc-devstral"});
  EXPECT_EQ(services()["svc-devstral"]["state"], "running");
}

// An orphan (running, in no mode of the switch) is stopped by a switch.
TEST_F(WorkedExample, OrphanIsStopped) {
  auto r = gpumod({"service", "start", "svc-rag-llm"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const int orphan_pid = services()["svc-rag-llm"]["pid"].get<int>();
  ASSERT_GT(orphan_pid, 0);
  auto [rc, j] = switch_to("code");
  ASSERT_EQ(rc, 0) << j.dump(2);
  EXPECT_EQ(strings(j["stopped"]), std::vector<std::string>{"svc-rag-llm"});
  auto now = services();
  EXPECT_EQ(now["svc-rag-llm"]["state"], "stopped");
  EXPECT_EQ(now["svc-rag-llm"]["pid"], 0);
  EXPECT_TRUE(wait_until([&] { return !pid_alive(orphan_pid); }, 5s));
  // The mock shut down gracefully on SIGTERM (a kept-alive connection from gpumod used to hold
  // it until its 2 s forced exit).
  const auto logs = gpumod({"service", "logs", "svc-rag-llm", "-n", "50"});
  EXPECT_NE(logs.out.find("finished server process"), std::string::npos) << logs.out;
  EXPECT_EQ(logs.out.find("forced exit"), std::string::npos) << logs.out;
}

// A start that fails halfway (the second incoming service crashes on start): the switch fails
// with a non-zero exit and a structured result, and rolls back: the slept service is woken, the
// started one stopped, the current mode unchanged (W10).
TEST_F(SwitchE2E, FailedStartHalfwayRollsBack) {
  write_config({{.id = "svc-embed", .vram_mib = 2000},
                {.id = "svc-devstral", .vram_mib = 10000, .sleep_mode = "l1"},
                {.id = "svc-rag-llm", .vram_mib = 5000, .env = {{"GPUMOD_MOCK_FAULT", "crash-on-start"}}},
                {.id = "svc-reranker", .vram_mib = 3000}},
               {{"code", {"svc-embed", "svc-devstral"}}, {"rag", {"svc-embed", "svc-reranker", "svc-rag-llm"}}});
  ASSERT_EQ(switch_to("code").first, 0);
  const auto before = services();

  auto [rc, j] = switch_to("rag");
  EXPECT_EQ(rc, 1) << j.dump(2);
  EXPECT_FALSE(j["success"].get<bool>());
  EXPECT_TRUE(j["rolled_back"].get<bool>()) << j.dump(2);
  EXPECT_NE(j["message"].get<std::string>().find("svc-rag-llm"), std::string::npos) << j["message"];
  std::map<std::string, std::string> outcome;
  for (const auto& s : j["steps"]) outcome[s["service"].get<std::string>()] = s["outcome"].get<std::string>();
  EXPECT_EQ(outcome["svc-devstral"], "done");
  EXPECT_EQ(outcome["svc-reranker"], "done");
  EXPECT_EQ(outcome["svc-rag-llm"], "failed");
  std::vector<std::string> undone;
  for (const auto& s : j["rollback"]) {
    EXPECT_EQ(s["outcome"], "undone") << s.dump();
    undone.push_back(s["action"].get<std::string>() + ":" + s["service"].get<std::string>());
  }
  EXPECT_EQ(undone, (std::vector<std::string>{"start:svc-reranker", "sleep:svc-devstral"})) << "newest first";

  const auto st = status();
  EXPECT_EQ(st["current_mode"], "code");
  auto after = services(st);
  EXPECT_EQ(after["svc-devstral"]["state"], "running") << "woken again";
  EXPECT_EQ(after["svc-devstral"]["pid"], before.at("svc-devstral")["pid"]);
  EXPECT_EQ(after["svc-embed"]["pid"], before.at("svc-embed")["pid"]);
  EXPECT_EQ(after["svc-reranker"]["state"], "stopped");
  EXPECT_NE(after["svc-rag-llm"]["state"], "running");

  // The text form exits 1 too and says it rolled back.
  auto r = gpumod({"mode", "switch", "rag"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE((r.out + r.err).find("rolled back"), std::string::npos) << r.out << r.err;
}

// --no-rollback leaves what was done; the mode is not recorded.
TEST_F(SwitchE2E, FailedStartWithNoRollbackLeavesStateAndKeepsMode) {
  write_config({{.id = "a", .vram_mib = 1000}, {.id = "b", .vram_mib = 1000},
                {.id = "c", .vram_mib = 1000, .env = {{"GPUMOD_MOCK_FAULT", "crash-on-start"}}}},
               {{"one", {"a"}}, {"two", {"b", "c"}}});
  ASSERT_EQ(switch_to("one").first, 0);
  auto [rc, j] = switch_to("two", {"--no-rollback"});
  EXPECT_EQ(rc, 1) << j.dump(2);
  EXPECT_FALSE(j["rolled_back"].get<bool>());
  EXPECT_TRUE(j["rollback"].empty());
  const auto st = status();
  EXPECT_EQ(st["current_mode"], "one");
  auto s = services(st);
  EXPECT_EQ(s["a"]["state"], "stopped");
  EXPECT_EQ(s["b"]["state"], "running");
}

// W2: services already resident need no memory. `big` runs (started by hand); the mode needs only
// `small` on top. The predecessor waited for max(vram) + 512 free (5,512 > 1,600) and timed out.
TEST_F(SwitchE2E, W2ResidentServicesNeedNoMemory) {
  write_config({{.id = "big", .vram_mib = 5000}, {.id = "small", .vram_mib = 1000}}, {{"m", {"big", "small"}}},
               6600);
  ASSERT_EQ(gpumod({"service", "start", "big"}).exit_code, 0);
  auto [rc, j] = switch_to("m");
  ASSERT_EQ(rc, 0) << j.dump(2);
  EXPECT_EQ(strings(j["kept"]), std::vector<std::string>{"big"});
  EXPECT_EQ(strings(j["started"]), std::vector<std::string>{"small"});
  EXPECT_EQ(j["steps"][0]["need_mib"], 0);
  EXPECT_EQ(j["steps"][1]["need_mib"], 1000);
}

// W3: memory is re-checked against the measured GPU before each start. `x` is configured at
// 2,000 MiB but really takes 6,000 MiB: after x and y, z (3,000 + 512) no longer fits. The
// predecessor checked max(vram) once, started all three and let the third OOM; here z is refused
// by admission and the switch rolls back.
TEST_F(SwitchE2E, W3MemoryRecheckedBeforeEachStart) {
  write_config({{.id = "x", .vram_mib = 2000, .unit_vars = {{"extra_args", "--mock-vram-mib 6000"}}},
                {.id = "y", .vram_mib = 1000},
                {.id = "z", .vram_mib = 3000}},
               {{"m", {"x", "y", "z"}}}, 10000);
  auto [rc, j] = switch_to("m");
  EXPECT_EQ(rc, 7) << "does not fit => 7, as from service start\n" << j.dump(2);
  EXPECT_EQ(j["error_code"], "insufficient_vram");
  EXPECT_TRUE(j["predicted_to_fit"].get<bool>()) << "the plan (from configured sizes) fits";
  EXPECT_FALSE(j["success"].get<bool>());
  const auto msg = j["message"].get<std::string>();
  EXPECT_NE(msg.find("z needs 3,000 MiB"), std::string::npos) << msg;
  EXPECT_TRUE(j["rolled_back"].get<bool>()) << j.dump(2);
  const auto st = status();
  EXPECT_TRUE(st["current_mode"].is_null());
  for (const auto& [id, s] : services(st)) EXPECT_EQ(s["state"], "stopped") << id << " left half-switched";
  // x's real footprint was learned on the way.
  EXPECT_EQ(services(st)["x"]["learned_mib"], 6000);
}

// A mode whose sum does not fit is refused before any change (§16.1: nothing started or stopped,
// mode not recorded), with a message that says why; the predecessor's max check would pass.
TEST_F(SwitchE2E, ModeThatDoesNotFitIsRefusedBeforeAnyChange) {
  write_config({{.id = "a", .vram_mib = 1000}, {.id = "p", .vram_mib = 4000}, {.id = "q", .vram_mib = 4000},
                {.id = "r", .vram_mib = 4000}},
               {{"small", {"a"}}, {"big", {"p", "q", "r"}}}, 10000);
  ASSERT_EQ(switch_to("small").first, 0);
  const int a_pid = services()["a"]["pid"].get<int>();
  auto [rc, j] = switch_to("big");
  EXPECT_EQ(rc, 7) << "does not fit => 7 (README exit codes)\n" << j.dump(2);
  EXPECT_EQ(j["error_code"], "insufficient_vram");
  EXPECT_FALSE(j["success"].get<bool>());
  EXPECT_FALSE(j["predicted_to_fit"].get<bool>());
  const auto msg = j["message"].get<std::string>();
  EXPECT_NE(msg.find("does not fit"), std::string::npos) << msg;
  EXPECT_NE(msg.find("r needs 4,000 MiB"), std::string::npos) << msg;
  for (const auto& s : j["steps"]) EXPECT_NE(s["outcome"], "done") << s.dump();
  EXPECT_TRUE(j["rollback"].empty());
  const auto st = status();
  EXPECT_EQ(st["current_mode"], "small");
  auto s = services(st);
  EXPECT_EQ(s["a"]["state"], "running");
  EXPECT_EQ(s["a"]["pid"], a_pid);
  for (const char* id : {"p", "q", "r"}) EXPECT_EQ(s[id]["state"], "stopped") << id;
}

// W4: memory held by a process gpumod does not manage counts. A fake process outside gpumod holds
// 20,000 of 24,000 MiB; a 4,000 MiB mode (which the predecessor compared with the total) is
// refused, naming the process that holds the memory.
TEST_F(SwitchE2E, W4MemoryOfUnmanagedProcessesCounts) {
  write_config({{.id = "a", .vram_mib = 4000}}, {{"m", {"a"}}}, 24000);
  const int port = test_support::free_loopback_port();
  ChildProcess hog({GPUMOD_MOCK_SERVER_BIN, "--mock-flavor", "http", "--host", "127.0.0.1", "--port",
                    std::to_string(port), "--mock-vram-mib", "20000", "--mock-ledger-dir", runner.ledger_dir().string()});
  ASSERT_GT(hog.pid(), 0) << hog.error();
  ASSERT_TRUE(test_support::wait_for_port(port, 10s)) << hog.output();
  ASSERT_EQ(gpumod({"daemon", "start"}).exit_code, 0);
  EXPECT_EQ(status()["external_mib"], 20000);

  auto [rc, j] = switch_to("m");
  EXPECT_NE(rc, 0) << j.dump(2);
  const auto msg = j["message"].get<std::string>();
  EXPECT_NE(msg.find("pid " + std::to_string(hog.pid())), std::string::npos) << msg;
  EXPECT_EQ(services()["a"]["state"], "stopped");

  // Once the other process is gone, the same switch succeeds.
  hog.terminate();
  std::tie(rc, j) = switch_to("m");
  EXPECT_EQ(rc, 0) << j.dump(2);
}

// VRAM not released in time: devstral's sleep frees nothing (its mock keeps all its memory
// asleep), so the incoming service does not fit: a clear error naming the process that still
// holds the memory, and a rollback that wakes devstral.
TEST_F(SwitchE2E, MemoryNotReleasedFailsWithHolderAndRollsBack) {
  write_config({{.id = "svc-devstral", .vram_mib = 15000, .sleep_mode = "l1",
                 .env = {{"GPUMOD_MOCK_SLEEP_RESIDUE_MIB", "15000"}}},
                {.id = "svc-rag-llm", .vram_mib = 12000}},
               {{"code", {"svc-devstral"}}, {"rag", {"svc-rag-llm"}}}, 24000);
  ASSERT_EQ(switch_to("code").first, 0);
  const int devstral_pid = services()["svc-devstral"]["pid"].get<int>();
  auto [rc, j] = switch_to("rag");
  EXPECT_EQ(rc, 7) << j.dump(2);
  const auto msg = j["message"].get<std::string>();
  EXPECT_NE(msg.find("svc-rag-llm needs 12,000 MiB"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pid " + std::to_string(devstral_pid)), std::string::npos) << msg;
  EXPECT_TRUE(j["rolled_back"].get<bool>()) << j.dump(2);
  const auto st = status();
  EXPECT_EQ(st["current_mode"], "code");
  auto s = services(st);
  EXPECT_EQ(s["svc-devstral"]["state"], "running");
  EXPECT_EQ(s["svc-devstral"]["pid"], devstral_pid);
  EXPECT_EQ(s["svc-rag-llm"]["state"], "stopped");
}

// W5: an l2 service sleeps at level 2 (the predecessor always used level 1).
TEST_F(SwitchE2E, W5L2SleepsAtLevel2) {
  write_config({{.id = "emb", .vram_mib = 5000, .sleep_mode = "l2"}, {.id = "other", .vram_mib = 1000}},
               {{"one", {"emb"}}, {"two", {"other"}}});
  ASSERT_EQ(switch_to("one").first, 0);
  auto [rc, j] = switch_to("two");
  ASSERT_EQ(rc, 0) << j.dump(2);
  ASSERT_EQ(strings(j["slept"]), std::vector<std::string>{"emb"});
  EXPECT_EQ(j["steps"][0]["sleep_level"], 2);
  const auto logs = gpumod({"service", "logs", "emb", "-n", "200"});
  EXPECT_NE(logs.out.find("Sleep mode (level 2)"), std::string::npos) << logs.out;
  EXPECT_EQ(logs.out.find("Sleep mode (level 1)"), std::string::npos) << logs.out;
}

// W6: a sleep the server refuses is a failure, not "slept": /sleep answers 500, or 404 when the
// server runs without VLLM_SERVER_DEV_MODE=1. The switch fails and rolls back.
TEST_F(SwitchE2E, W6RefusedSleepFallsBackToAStopAndSaysSo) {
  // A sleep the server refuses (500, or 404 without sleep mode) no longer blocks every switch
  // away from its mode (#19): the service is stopped instead, and the step says why.
  write_config({{.id = "s500", .vram_mib = 2000, .sleep_mode = "l1", .env = {{"GPUMOD_MOCK_FAULT", "http-500"}}},
                {.id = "s404", .vram_mib = 2000, .sleep_mode = "l1", .env = {{"VLLM_SERVER_DEV_MODE", "0"}}},
                {.id = "other", .vram_mib = 1000}},
               {{"a", {"s500"}}, {"b", {"s404"}}, {"c", {"other"}}});
  for (const std::string from : {"a", "b"}) {
    SCOPED_TRACE(from);
    ASSERT_EQ(switch_to(from).first, 0);
    const std::string svc = from == "a" ? "s500" : "s404";
    auto [rc, j] = switch_to("c");
    EXPECT_EQ(rc, 0) << j.dump(2);
    EXPECT_TRUE(j["slept"].empty()) << j.dump(2);
    EXPECT_EQ(j["stopped"], json::array({svc})) << j.dump(2);
    std::string step_messages;
    for (const auto& st : j["steps"]) step_messages += st["message"].get<std::string>() + "\n";
    EXPECT_NE(step_messages.find("stopped instead"), std::string::npos) << step_messages;
    EXPECT_NE(step_messages.find(from == "a" ? "500" : "404"), std::string::npos) << step_messages;
    auto s = services();
    EXPECT_EQ(s[svc]["state"], "stopped");
    EXPECT_EQ(s["other"]["state"], "running");
    EXPECT_EQ(status()["current_mode"], "c");
  }
}

// W7: an outgoing service that is unhealthy is stopped (the predecessor left it holding memory).
TEST_F(SwitchE2E, W7OutgoingUnhealthyServiceIsStopped) {
  write_config({{.id = "sick", .vram_mib = 3000, .env = {{"GPUMOD_MOCK_FAULT", "unhealthy-after-ms=1000"}}},
                {.id = "other", .vram_mib = 1000}},
               {{"a", {"sick"}}, {"b", {"other"}}});
  ASSERT_EQ(switch_to("a").first, 0);
  const int pid = services()["sick"]["pid"].get<int>();
  ASSERT_TRUE(wait_until([&] { return services()["sick"]["state"] == "unhealthy"; }, 10s, 100ms));
  auto [rc, j] = switch_to("b");
  ASSERT_EQ(rc, 0) << j.dump(2);
  EXPECT_EQ(strings(j["stopped"]), std::vector<std::string>{"sick"});
  EXPECT_EQ(services()["sick"]["state"], "stopped");
  EXPECT_TRUE(wait_until([&] { return !pid_alive(pid); }, 5s));
  EXPECT_EQ(status()["gpu"]["devices"][0]["used_mib"], 1000) << "its memory is released";
}

// W11 + W12: the result names dependencies started as a side effect; the mode's declared order
// is kept, each service's dependencies first.
TEST_F(SwitchE2E, W12ModeOrderAndDependencyOrder) {
  write_config({{.id = "zeta", .vram_mib = 500},
                {.id = "alpha", .vram_mib = 500, .depends_on = {"beta"}},
                {.id = "beta", .vram_mib = 500},
                {.id = "mid", .vram_mib = 500}},
               {{"m", {"zeta", "alpha", "mid"}}});
  auto [rc, j] = switch_to("m");
  ASSERT_EQ(rc, 0) << j.dump(2);
  EXPECT_EQ(step_list(j), (std::vector<std::string>{"start:zeta", "start:beta", "start:alpha", "start:mid"}));
  EXPECT_EQ(strings(j["started"]), (std::vector<std::string>{"zeta", "alpha", "mid"}));
  EXPECT_EQ(strings(j["dependencies"]), std::vector<std::string>{"beta"});
  EXPECT_TRUE(j["steps"][1]["as_dependency"].get<bool>());
  // The services really started in that order (the event log).
  std::vector<std::string> started;
  for (const auto& e : events()) {
    if (e["kind"] == "service.started") started.push_back(e["service"].get<std::string>());
  }
  EXPECT_EQ(started, (std::vector<std::string>{"zeta", "beta", "alpha", "mid"}));
}

// W13: 20 concurrent `gpumod mode switch` processes are serialized by the daemon; requests for the
// target already being switched to join it; the final state is consistent.
TEST_F(SwitchE2E, W13ConcurrentSwitchesAreSerialized) {
  write_config({{.id = "a1", .vram_mib = 3000, .env = {{"GPUMOD_MOCK_LOAD_DELAY_MS", "150"}}},
                {.id = "b1", .vram_mib = 3000, .env = {{"GPUMOD_MOCK_LOAD_DELAY_MS", "150"}}},
                {.id = "shared", .vram_mib = 1000}},
               {{"a", {"shared", "a1"}}, {"b", {"shared", "b1"}}}, 8000);
  ASSERT_EQ(gpumod({"daemon", "start"}).exit_code, 0);
  constexpr int n = 20;
  std::vector<std::pair<int, json>> results(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] { results[i] = switch_to(i % 2 == 0 ? "a" : "b"); });
  }
  for (auto& t : threads) t.join();
  int joined = 0;
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(results[i].first, 0) << i << ": " << results[i].second.dump(2);
    if (results[i].second.value("joined", false)) ++joined;
  }
  EXPECT_GT(joined, 0) << "requests for a target already being switched to join it";
  const auto st = status();
  ASSERT_TRUE(st["current_mode"].is_string());
  const std::string mode = st["current_mode"].get<std::string>();
  auto s = services(st);
  EXPECT_EQ(s["shared"]["state"], "running");
  EXPECT_EQ(s[mode + "1"]["state"], "running");
  EXPECT_EQ(s[mode == "a" ? "b1" : "a1"]["state"], "stopped");
  EXPECT_EQ(st["gpu"]["devices"][0]["used_mib"], 4000) << "never both modes' memory";
  // The journal holds no overlapping switches: each started switch finished before the next.
  int open = 0;
  for (const auto& e : events()) {
    if (e["kind"] == "switch.started") {
      EXPECT_EQ(open++, 0) << "two switches ran at once";
    }
    if (e["kind"] == "switch.done" || e["kind"] == "switch.failed") --open;
  }
}

}  // namespace
}  // namespace gpumod::testing
