// The daemon's OpenAI-compatible endpoint end to end: the real gpumod daemon, gpumod-mock-server
// upstreams, a plain HTTP client. (tests/node/openai drives the same through the official client.)
#include <atomic>
#include <thread>

#include "e2e/openai_fixture.hpp"

namespace gpumod::testing {
namespace {

using test_support::wait_until;

// A streamed chat request; the test sets its receivers.
httplib::Request streamed_chat(const std::string& model) {
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = OpenAiE2E::chat(model, true).dump();
  req.set_header("Content-Type", "application/json");
  return req;
}

std::vector<std::string> ids_of(const json& list) {
  std::vector<std::string> out;
  for (const auto& m : list["data"]) out.push_back(m["id"].get<std::string>());
  return out;
}

TEST_F(OpenAiE2E, ModelsListsEveryNameAndChatStartsTheServiceOnDemand) {
  write_config({{.id = "chat",
                 .vram_mib = 4000,
                 .extra = "aliases: [gpt-local]\nvirtual_models:\n  chat-fast:\n    set: {temperature: 0}\n    strip: [top_p]\n"},
                {.id = "embed", .vram_mib = 2000}},
               {});
  start_daemon();
  auto r = client()->Get("/v1/models");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const auto models = json::parse(r->body);
  const auto ids = ids_of(models);
  for (const char* want : {"test/chat", "gpt-local", "chat-fast", "chat", "test/embed", "embed"}) {
    EXPECT_NE(std::ranges::find(ids, want), ids.end()) << want << " in " << r->body;
  }
  for (const auto& m : models["data"]) {
    if (m["id"] == "gpt-local") {
      EXPECT_EQ(m["gpumod"]["service"], "chat");
      EXPECT_EQ(m["gpumod"]["state"], "stopped");
      EXPECT_EQ(m["gpumod"]["configured_mib"], 4000);
      EXPECT_EQ(m["owned_by"], "gpumod");
    }
  }

  // The alias reaches the service, which is started for it; the upstream sees its own id.
  auto [status, body] = post("/v1/chat/completions", chat("gpt-local"));
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_NE(body["choices"][0]["message"]["content"].get<std::string>().find("model test/chat"), std::string::npos)
      << body.dump();
  EXPECT_EQ(state_of("chat"), "running");
  std::tie(status, body) = post("/v1/embeddings", {{"model", "test/embed"}, {"input", {"a", "b"}}});
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["data"].size(), 2u);

  const auto reqs = requests_when(2);
  ASSERT_GE(reqs.size(), 2u);
  EXPECT_EQ(reqs[0]["model"], "gpt-local");
  EXPECT_EQ(reqs[0]["service"], "chat");
  EXPECT_EQ(reqs[0]["status"], 200);
  EXPECT_EQ(reqs[0]["action"], "start");
  EXPECT_GT(reqs[0]["prompt_tokens"].get<int>(), 0);  // the mock counts the prompt's words
  EXPECT_GT(reqs[0]["completion_tokens"].get<int>(), 0);
  EXPECT_EQ(reqs[1]["service"], "embed");
}

TEST_F(OpenAiE2E, ErrorsHaveOpenAiShapeAndStatus) {
  write_config({{.id = "chat", .extra = "aliases: [gpt-local]\n"}}, {}, "  max_body_mib: 1\n");
  start_daemon();
  auto [status, body] = post("/v1/chat/completions", chat("gpt-locl"));
  EXPECT_EQ(status, 404);
  EXPECT_EQ(body["error"]["code"], "model_not_found");
  EXPECT_NE(body["error"]["message"].get<std::string>().find("gpt-local"), std::string::npos) << body.dump();

  auto r = client()->Post("/v1/chat/completions", "{not json", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"]["type"], "invalid_request_error");

  r = client()->Post("/v1/chat/completions", R"({"messages":[]})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << "no model";

  const std::string big(2u << 20, 'x');
  r = client()->Post("/v1/chat/completions", json{{"model", "chat"}, {"pad", big}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("\"error\""), std::string::npos) << r->body;
  EXPECT_EQ(state_of("chat"), "stopped") << "nothing was started for refused requests";
}

TEST_F(OpenAiE2E, ApiKeysAreRequiredWhenSet) {
  write_config({{.id = "chat"}}, {}, "  api_keys: [\"k-0123456789abcdef\"]\n");
  start_daemon();
  auto r = client()->Get("/v1/models");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = client()->Get("/v1/models", {{"Authorization", "Bearer k-0123456789abcdeX"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = client()->Get("/v1/models", {{"Authorization", "Bearer k-0123456789abcdef"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(OpenAiE2E, NonLoopbackListenWithoutKeysIsRefused) {
  write_config({{.id = "chat"}}, {});
  const auto r = gpumod({"serve", "--listen", "0.0.0.0:" + std::to_string(port)}, 20000);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not a loopback address"), std::string::npos) << r.err;
}

// Pieces reach the client as the upstream sends them (not gathered into one body).
TEST_F(OpenAiE2E, StreamingIsPassedThroughChunkByChunk) {
  write_config({{.id = "chat", .env = {{"GPUMOD_MOCK_CHUNK_DELAY_MS", "40"}, {"GPUMOD_MOCK_REPLY_WORDS", "12"}}}}, {});
  start_daemon();
  ASSERT_EQ(gpumod({"service", "start", "chat"}).exit_code, 0);
  std::vector<std::string> pieces;
  std::string all;
  auto req = streamed_chat("chat");
  int status = 0;
  req.response_handler = [&](const httplib::Response& res) {
    status = res.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    pieces.emplace_back(data, n);
    all.append(data, n);
    return true;
  };
  auto c = client();
  auto res = c->send(req);
  ASSERT_TRUE(res);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
  // 1 role chunk + 12 words + stop + [DONE], 40 ms apart upstream: arriving apart, not as one.
  EXPECT_GE(pieces.size(), 10u) << all;
  EXPECT_NE(all.find("data: [DONE]"), std::string::npos);
  EXPECT_NE(all.find(" w11\""), std::string::npos) << all;
}

TEST_F(OpenAiE2E, ClientThatDisconnectsCancelsTheUpstreamRequest) {
  write_config({{.id = "chat", .env = {{"GPUMOD_MOCK_CHUNK_DELAY_MS", "50"}, {"GPUMOD_MOCK_REPLY_WORDS", "400"}}}}, {});
  start_daemon();
  ASSERT_EQ(gpumod({"service", "start", "chat"}).exit_code, 0);
  auto req = streamed_chat("chat");
  int got = 0;
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++got < 3; };
  (void)client()->send(req);
  EXPECT_EQ(got, 3);
  // The mock logs when its client (gpumod) goes away before the end of its 400+ chunks.
  EXPECT_TRUE(wait_until([&] { return logs("chat").find("stream cancelled by the client") != std::string::npos; }, 20s, 100ms))
      << logs("chat");
  EXPECT_TRUE(wait_until([&] {
    const auto r = requests();
    return !r.empty() && r.back()["status"] == 499;
  }, 10s, 100ms)) << requests().dump(2);
}

TEST_F(OpenAiE2E, QueueThatFillsAnswers429WithRetryAfter) {
  write_config({{.id = "slow", .env = {{"GPUMOD_MOCK_LOAD_DELAY_MS", "3000"}}}}, {}, "  max_queue: 1\n");
  start_daemon();
  std::pair<int, json> first;
  std::thread t([&] { first = post("/v1/chat/completions", chat("slow")); });
  ASSERT_TRUE(wait_until([&] { return state_of("slow") == "starting"; }, 10s, 20ms));
  auto r = client()->Post("/v1/chat/completions", chat("slow").dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429) << r->body;
  EXPECT_FALSE(r->get_header_value("Retry-After").empty());
  EXPECT_EQ(json::parse(r->body)["error"]["type"], "rate_limit_error");
  t.join();
  EXPECT_EQ(first.first, 200) << first.second.dump();
}

TEST_F(OpenAiE2E, IdleTtlSleepsTheServiceAndTheNextRequestWakesIt) {
  write_config({{.id = "chat", .extra = "ttl_s: 1\n"}}, {});
  start_daemon();
  ASSERT_EQ(post("/v1/chat/completions", chat("chat")).first, 200);
  EXPECT_TRUE(wait_until([&] { return state_of("chat") == "sleeping"; }, 15s, 100ms));
  auto [status, body] = post("/v1/chat/completions", chat("chat"));
  EXPECT_EQ(status, 200) << body.dump();
  EXPECT_EQ(state_of("chat"), "running");
  const auto reqs = requests_when(2);
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1]["action"], "wake");
}

TEST_F(OpenAiE2E, PinnedServiceBlocksTheEvictionAnd503SaysThePlan) {
  write_config({{.id = "big", .vram_mib = 16000, .extra = "pin: true\n"}, {.id = "other", .vram_mib = 12000}}, {});
  start_daemon();
  ASSERT_EQ(gpumod({"service", "start", "big"}).exit_code, 0);
  auto [status, body] = post("/v1/chat/completions", chat("other"));
  EXPECT_EQ(status, 503) << body.dump();
  const auto message = body["error"]["message"].get<std::string>();
  EXPECT_NE(message.find("needs 12,000 MiB"), std::string::npos) << message;
  EXPECT_NE(message.find("pinned: big holds 16,000 MiB"), std::string::npos) << message;
  EXPECT_EQ(state_of("big"), "running");
}

TEST_F(OpenAiE2E, OnDemandSwitchesToTheModeThatHoldsTheModel) {
  write_config({{.id = "a", .vram_mib = 14000}, {.id = "b", .vram_mib = 14000}}, {{"ma", {"a"}}, {"mb", {"b"}}});
  start_daemon();
  ASSERT_EQ(gpumod({"mode", "switch", "ma"}).exit_code, 0);
  auto [code, body] = post("/v1/chat/completions", chat("test/b"));
  ASSERT_EQ(code, 200) << body.dump();
  EXPECT_EQ(status()["current_mode"], "mb");
  EXPECT_EQ(state_of("b"), "running");
  EXPECT_NE(state_of("a"), "running");
  EXPECT_EQ(requests_when(1).back()["action"], "switch_mode:mb");
}

// #17: the wake times real switches measured are stored; after a daemon restart (the new daemon
// measured nothing itself) they order an on-demand request's evictions: b wakes fast, a slowly,
// so b is slept for t (with no measurement, equal estimates would pick a by its id).
TEST_F(OpenAiE2E, StoredWakeTimesOrderTheEvictionsAfterADaemonRestart) {
  write_config({{.id = "a", .vram_mib = 8000, .env = {{"GPUMOD_MOCK_WAKE_DELAY_MS", "1200"}}},
                {.id = "b", .vram_mib = 8000},
                {.id = "t", .vram_mib = 10000, .sleep_mode = "none"},
                {.id = "x", .vram_mib = 1000, .sleep_mode = "none"}},
               {{"ab", {"a", "b"}}, {"x", {"x"}}});
  start_daemon();
  for (const std::string mode : {"ab", "x", "ab"}) {  // the second switch to ab wakes a and b: measured
    const auto r = gpumod({"mode", "switch", mode});
    ASSERT_EQ(r.exit_code, 0) << mode << ": " << r.out << r.err;
  }
  ASSERT_EQ(gpumod({"daemon", "stop"}).exit_code, 0);
  start_daemon();
  ASSERT_EQ(state_of("a"), "running");
  ASSERT_EQ(state_of("b"), "running");

  auto [code, body] = post("/v1/chat/completions", chat("test/t"));
  ASSERT_EQ(code, 200) << body.dump();
  EXPECT_EQ(state_of("b"), "sleeping");
  EXPECT_EQ(state_of("a"), "running");
  EXPECT_EQ(state_of("t"), "running");
  EXPECT_EQ(requests_when(1).back()["action"], "evict");
}

// Concurrent requests for two models of one router at models_max 1: each model is loaded once
// and serves all its queued requests before the other takes its place (no thrash).
TEST_F(OpenAiE2E, TwoRouterModelsAtModelsMaxOneDoNotThrash) {
  const int router = test_support::free_loopback_port();
  write_config({router_model("r-alpha", "alpha", router, 6000), router_model("r-beta", "beta", router, 8000)}, {},
               "  min_residency_s: 1\n");
  start_daemon();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      if (post("/v1/chat/completions", chat(i % 2 ? "alpha" : "beta")).first == 200) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  int swaps = 0;
  for (const auto& e : events()) {
    if ((e["kind"] == "service.started" || e["kind"] == "service.woken") &&
        (e["service"] == "r-alpha" || e["service"] == "r-beta")) {
      ++swaps;
    }
  }
  EXPECT_EQ(swaps, 2) << "one load per model";
}

TEST_F(OpenAiE2E, UpstreamThatDiesMidStreamIs502) {
  write_config({{.id = "chat", .env = {{"GPUMOD_MOCK_FAULT", "die-mid-stream"}, {"GPUMOD_MOCK_REPLY_WORDS", "20"}}}}, {});
  start_daemon();
  ASSERT_EQ(gpumod({"service", "start", "chat"}).exit_code, 0);
  auto r = client()->Post("/v1/chat/completions", chat("chat", true).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("\"status\":502"), std::string::npos) << r->body;
  EXPECT_EQ(r->body.find("[DONE]"), std::string::npos);
  EXPECT_TRUE(wait_until([&] {
    const auto q = requests();
    return !q.empty() && q.back()["status"] == 502;
  }, 10s, 100ms));
  EXPECT_TRUE(wait_until([&] { return state_of("chat") == "failed"; }, 10s, 100ms)) << status().dump(2);
}

}  // namespace
}  // namespace gpumod::testing
