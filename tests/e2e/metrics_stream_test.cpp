// GET /metrics and GET /v1/events/stream against a real daemon and the mock servers: the
// exposition over the Unix socket passes promtool and reflects a switch; a real Prometheus
// (Debian's package) scrapes the daemon's loopback listener with a bearer token from a file and
// answers one series back through its HTTP API; the event stream delivers engine events as they
// happen and resumes after Last-Event-ID.
#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <mutex>

#include "e2e/openai_fixture.hpp"
#include "e2e/runtime_fixture.hpp"
#include "gpumod/infra/http/client.hpp"
#include "gpumod/infra/http/sse.hpp"
#include "support/promtool.hpp"

namespace gpumod::testing {
namespace {

using ::testing::HasSubstr;

class MetricsE2e : public RuntimeFixture {
 protected:
  fs::path socket() { return runner.home() / "runtime" / "gpumod" / "daemon.sock"; }

  std::string scrape() {
    auto client = infra::http::make_unix_client(socket());
    auto r = client->get("/metrics", 10s);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    if (!r) return "";
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->content_type, HasSubstr("text/plain; version=0.0.4"));
    return r->body;
  }
};

TEST_F(MetricsE2e, ExpositionOverTheSocketReflectsASwitchAndPassesPromtool) {
  add_preset({.id = "chat", .vram_mib = 3000});
  add_mode("talk", {"chat"});
  const auto sw = gpumod({"mode", "switch", "talk"});
  ASSERT_EQ(sw.exit_code, 0) << sw.err;
  const auto text = scrape();
  EXPECT_THAT(text, HasSubstr("gpumod_current_mode{mode=\"talk\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_service_state{service=\"chat\",state=\"running\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_service_operations_total{service=\"chat\",operation=\"start\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_switch_duration_seconds_count{outcome=\"done\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_switch_steps_total{action=\"start\",outcome=\"done\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_gpu_memory_total_bytes{gpu=\"0\""));
  EXPECT_THAT(text, HasSubstr("gpumod_service_measured_memory_bytes{service=\"chat\"} 3145728000\n"));
  if (test_support::promtool_path().empty()) GTEST_SKIP() << "promtool is not installed (make deps installs it)";
  const auto check = test_support::promtool_check_metrics(text);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->exit_code, 0) << check->output;
}

// A real Prometheus (Debian's package) on a free loopback port scraping one target every second
// (with a bearer token from a file when one is given); queries go through its HTTP API.
class PrometheusServer {
 public:
  PrometheusServer(const fs::path& dir, int target_port, const std::string& token = "") {
    fs::create_directories(dir / "data");
    std::ofstream config(dir / "prometheus.yml");
    config << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
           << "scrape_configs:\n  - job_name: gpumod\n    scrape_interval: 1s\n";
    if (!token.empty()) {
      std::ofstream(dir / "token") << token;
      fs::permissions(dir / "token", fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
      config << "    authorization:\n      credentials_file: " << (dir / "token").string() << "\n";
    }
    config << "    static_configs:\n      - targets: ['127.0.0.1:" << target_port << "']\n";
    config.close();
    m_port = test_support::free_loopback_port();
    m_child = std::make_unique<test_support::ChildProcess>(std::vector<std::string>{
        "/usr/bin/prometheus", "--config.file=" + (dir / "prometheus.yml").string(),
        "--storage.tsdb.path=" + (dir / "data").string(), "--web.listen-address=127.0.0.1:" + std::to_string(m_port)});
    m_started = m_child->pid() > 0 && test_support::wait_for_port(m_port, 60s);
  }
  ~PrometheusServer() { stop(); }
  void stop() {
    if (m_child) m_child->terminate();
  }
  bool started() const { return m_started; }
  std::string output() { return m_child->error() + m_child->output(); }

  // The first series of an instant query once it has one (waits, bounded); nullopt when none came.
  std::optional<json> first_result(const std::string& query) {
    httplib::Client api("127.0.0.1", m_port);
    json result;
    const bool got = test_support::wait_until(
        [&] {
          auto r = api.Get("/api/v1/query?query=" + httplib::detail::encode_query_param(query));
          if (!r || r->status != 200) return false;
          const auto j = json::parse(r->body, nullptr, false);
          if (j.is_discarded() || j["status"] != "success" || j["data"]["result"].empty()) return false;
          result = j["data"]["result"][0];
          return true;
        },
        90s, 200ms);
    if (!got) return std::nullopt;
    return result;
  }
  std::string targets() {
    httplib::Client api("127.0.0.1", m_port);
    auto r = api.Get("/api/v1/targets");
    return r ? r->body : "";
  }

 private:
  int m_port = 0;
  bool m_started = false;
  std::unique_ptr<test_support::ChildProcess> m_child;
};

TEST_F(MetricsE2e, RealPrometheusScrapesTheDaemonWithABearerToken) {
  if (::access("/usr/bin/prometheus", X_OK) != 0) GTEST_SKIP() << "prometheus is not installed (make deps installs it)";
  add_preset({.id = "chat", .vram_mib = 3000});
  add_mode("talk", {"chat"});
  const std::string token = "metrics-test-token-0123456789";
  const int daemon_port = test_support::free_loopback_port();
  test_support::ChildOptions dopts;
  dopts.env = runner.env();
  dopts.env["GPUMOD_DAEMON_TOKEN"] = token;
  test_support::ChildProcess daemon({GPUMOD_BIN, "--config", root().string(), "daemon", "run", "--listen",
                                     "127.0.0.1:" + std::to_string(daemon_port)},
                                    dopts);
  ASSERT_GT(daemon.pid(), 0) << daemon.error();
  ASSERT_TRUE(test_support::wait_for_port(daemon_port, 20s)) << daemon.output();
  ASSERT_EQ(gpumod({"mode", "switch", "talk"}).exit_code, 0);
  // Without the token: 401.
  {
    httplib::Client c("127.0.0.1", daemon_port);
    auto r = c.Get("/metrics");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
  }

  PrometheusServer prom(runner.home() / "prometheus", daemon_port, token);
  ASSERT_TRUE(prom.started()) << prom.output();
  const auto result = prom.first_result("gpumod_service_state{service=\"chat\",state=\"running\"}");
  ASSERT_TRUE(result.has_value()) << prom.output();
  EXPECT_EQ((*result)["metric"]["job"], "gpumod");
  EXPECT_EQ((*result)["metric"]["service"], "chat");
  EXPECT_EQ((*result)["value"][1], "1");
  // The scrape target is healthy (the token file was sent).
  EXPECT_THAT(prom.targets(), HasSubstr("\"health\":\"up\""));
  prom.stop();
  daemon.terminate();
}

// Reads the event stream in a thread until stopped; collects (id, kind).
class StreamReader {
 public:
  StreamReader(const fs::path& socket, std::string last_event_id)
      : m_client(std::make_unique<httplib::Client>(socket.string())) {
    m_client->set_address_family(AF_UNIX);
    m_client->set_read_timeout(60, 0);
    m_thread = std::thread([this, last_event_id] {
      auto& c = *m_client;
      httplib::Headers h;
      if (!last_event_id.empty()) h.emplace("Last-Event-ID", last_event_id);
      infra::http::SseParser parser;
      c.Get("/v1/events/stream", h, [&](const char* data, std::size_t n) {
        parser.feed(std::string_view(data, n), [&](const infra::http::SseEvent& e) {
          const auto j = json::parse(e.data, nullptr, false);
          std::lock_guard lock(m_mutex);
          m_events.emplace_back(std::stoll(e.id), j.is_discarded() ? "" : j.value("kind", ""));
        });
        m_connected = true;
        return !m_stop.load();
      });
    });
  }
  ~StreamReader() {
    m_stop = true;
    m_client->stop();  // ends the blocking read
    if (m_thread.joinable()) m_thread.join();
  }
  std::vector<std::pair<std::int64_t, std::string>> events() {
    std::lock_guard lock(m_mutex);
    return m_events;
  }
  bool has(const std::string& kind) {
    for (const auto& [id, k] : events()) {
      if (k == kind) return true;
    }
    return false;
  }
  bool connected() const { return m_connected; }

 private:
  std::unique_ptr<httplib::Client> m_client;
  std::thread m_thread;
  std::atomic<bool> m_stop{false};
  std::atomic<bool> m_connected{false};
  std::mutex m_mutex;
  std::vector<std::pair<std::int64_t, std::string>> m_events;
};

TEST_F(MetricsE2e, EventStreamDeliversEventsAndResumesAfterLastEventId) {
  add_preset({.id = "chat", .vram_mib = 3000});
  add_preset({.id = "embed", .vram_mib = 1000});
  ASSERT_EQ(gpumod({"daemon", "start"}).exit_code, 0);
  std::int64_t started_id = 0;
  {
    StreamReader live(socket(), "");
    ASSERT_TRUE(test_support::wait_until([&] { return live.connected(); }, 20s));
    ASSERT_EQ(gpumod({"service", "start", "chat"}).exit_code, 0);
    ASSERT_TRUE(test_support::wait_until([&] { return live.has("service.started"); }, 20s));
    for (const auto& [id, kind] : live.events()) {
      if (kind == "service.started") started_id = id;
    }
  }
  ASSERT_EQ(gpumod({"service", "start", "embed"}).exit_code, 0);
  ASSERT_GT(started_id, 0);
  // Resuming after the first start gets the second one (the event that came after it) first.
  StreamReader resumed(socket(), std::to_string(started_id));
  ASSERT_TRUE(test_support::wait_until([&] { return resumed.has("service.started"); }, 20s));
  const auto evs = resumed.events();
  ASSERT_FALSE(evs.empty());
  EXPECT_GT(evs.front().first, started_id);
  for (const auto& [id, kind] : evs) EXPECT_GT(id, started_id);
}

// The endpoint's families after real requests through it: values agree with the request log,
// promtool accepts the whole exposition, and a real Prometheus scraping the endpoint's listener
// answers a request counter back.
TEST_F(OpenAiE2E, MetricsCountTheEndpointsRequests) {
  write_config({{.id = "chat", .vram_mib = 3000, .extra = "aliases: [gpt-local]\n"}}, {});
  start_daemon();
  auto [status, body] = post("/v1/chat/completions", chat("gpt-local"));  // starts it on demand
  ASSERT_EQ(status, 200) << body.dump();
  std::tie(status, body) = post("/v1/chat/completions", chat("gpt-local"));
  ASSERT_EQ(status, 200) << body.dump();
  std::tie(status, body) = post("/v1/chat/completions", chat("no-such-model-from-a-client"));
  ASSERT_EQ(status, 404) << body.dump();
  const auto reqs = requests_when(3);
  ASSERT_EQ(reqs.size(), 3u);
  std::int64_t prompt = 0, completion = 0, queued_ms = 0;
  for (const auto& r : reqs) {
    if (r["service"] != "chat") continue;
    prompt += r["prompt_tokens"].get<std::int64_t>();
    completion += r["completion_tokens"].get<std::int64_t>();
    queued_ms += r["queue_ms"].get<std::int64_t>();
  }
  ASSERT_GT(queued_ms, 0) << "the first request waited for the start";

  auto r = client()->Get("/metrics");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const std::string text = r->body;
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_requests_total{model=\"gpt-local\",service=\"chat\",status=\"200\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_requests_total{model=\"\",service=\"\",status=\"404\"} 1\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("no-such-model-from-a-client")));
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_prompt_tokens_total{model=\"gpt-local\",service=\"chat\"} " +
                              std::to_string(prompt) + "\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_completion_tokens_total{model=\"gpt-local\",service=\"chat\"} " +
                              std::to_string(completion) + "\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_queue_wait_seconds_count{model=\"gpt-local\",service=\"chat\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_queue_wait_seconds_sum{model=\"gpt-local\",service=\"chat\"} "));
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_time_to_first_byte_seconds_count{model=\"gpt-local\",service=\"chat\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_queue_depth{service=\"chat\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("gpumod_endpoint_requests_in_flight{service=\"chat\"} 0\n"));
  // The queue wait sum is the log's queue_ms in seconds.
  const auto sum_at = text.find("gpumod_endpoint_queue_wait_seconds_sum{model=\"gpt-local\",service=\"chat\"} ");
  ASSERT_NE(sum_at, std::string::npos);
  const double sum = std::stod(text.substr(text.find("} ", sum_at) + 2));
  EXPECT_NEAR(sum, static_cast<double>(queued_ms) / 1000.0, 1e-9);
  if (!test_support::promtool_path().empty()) {
    const auto check = test_support::promtool_check_metrics(text);
    ASSERT_TRUE(check.has_value());
    EXPECT_EQ(check->exit_code, 0) << check->output;
  }

  if (::access("/usr/bin/prometheus", X_OK) != 0) GTEST_SKIP() << "prometheus is not installed (make deps installs it)";
  PrometheusServer prom(runner.home() / "prometheus", port);
  ASSERT_TRUE(prom.started()) << prom.output();
  const auto series = prom.first_result("gpumod_endpoint_requests_total{model=\"gpt-local\",status=\"200\"}");
  ASSERT_TRUE(series.has_value()) << prom.output();
  EXPECT_EQ((*series)["metric"]["service"], "chat");
  EXPECT_EQ((*series)["value"][1], "2");
}

}  // namespace
}  // namespace gpumod::testing
