// GET /metrics and GET /v1/events/stream against a real daemon and the mock servers: the
// exposition over the Unix socket passes promtool and reflects a switch; a real Prometheus
// (Debian's package) scrapes the daemon's loopback listener with a bearer token from a file and
// answers one series back through its HTTP API; the event stream delivers engine events as they
// happen and resumes after Last-Event-ID.
#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <mutex>

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

  const fs::path dir = runner.home() / "prometheus";
  fs::create_directories(dir / "data");
  {
    std::ofstream(dir / "token") << token;
    fs::permissions(dir / "token", fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  }
  std::ofstream(dir / "prometheus.yml") << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                                        << "scrape_configs:\n  - job_name: gpumod\n    scrape_interval: 1s\n"
                                        << "    authorization:\n      credentials_file: " << (dir / "token").string() << "\n"
                                        << "    static_configs:\n      - targets: ['127.0.0.1:" << daemon_port << "']\n";
  const int prom_port = test_support::free_loopback_port();
  test_support::ChildProcess prom({"/usr/bin/prometheus", "--config.file=" + (dir / "prometheus.yml").string(),
                                   "--storage.tsdb.path=" + (dir / "data").string(),
                                   "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)});
  ASSERT_GT(prom.pid(), 0) << prom.error();
  ASSERT_TRUE(test_support::wait_for_port(prom_port, 60s)) << prom.output();

  // Wait (bounded) for the series to arrive through Prometheus's query API.
  httplib::Client api("127.0.0.1", prom_port);
  json result;
  const bool got = test_support::wait_until(
      [&] {
        auto r = api.Get("/api/v1/query?query=gpumod_service_state%7Bservice%3D%22chat%22%2Cstate%3D%22running%22%7D");
        if (!r || r->status != 200) return false;
        const auto j = json::parse(r->body, nullptr, false);
        if (j.is_discarded() || j["status"] != "success" || j["data"]["result"].empty()) return false;
        result = j["data"]["result"][0];
        return true;
      },
      90s, 200ms);
  ASSERT_TRUE(got) << prom.output();
  EXPECT_EQ(result["metric"]["job"], "gpumod");
  EXPECT_EQ(result["metric"]["service"], "chat");
  EXPECT_EQ(result["value"][1], "1");
  // The scrape target is healthy (the token file was sent).
  auto targets = api.Get("/api/v1/targets");
  ASSERT_TRUE(targets);
  EXPECT_THAT(targets->body, HasSubstr("\"health\":\"up\""));
  prom.terminate();
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

}  // namespace
}  // namespace gpumod::testing
