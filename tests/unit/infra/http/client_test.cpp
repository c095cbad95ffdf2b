#include "gpumod/infra/http/client.hpp"

#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gpumod/infra/http/listen.hpp"
#include "gpumod/infra/http/sse.hpp"

namespace gpumod::infra::http {
namespace {

using namespace std::chrono_literals;
using util::ErrorCode;

// Waits (bounded) until the test lets it go, so a "slow" handler never outlives the test.
void wait_for(const std::atomic<bool>& flag, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!flag.load() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(5ms);
}

// Starts listen_after_bind on a thread and waits until the server runs, so that a stop() right
// after cannot come before the accept loop starts (which would leave the thread running).
std::thread run_server(httplib::Server& server) {
  std::thread t([&server] { server.listen_after_bind(); });
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (!server.is_running() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(1ms);
  }
  return t;
}

void add_routes(httplib::Server& server, std::atomic<bool>& release,
                std::atomic<int>& stream_pieces_sent) {
  server.Get("/hello", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("hello", "text/plain");
  });
  server.Get("/missing", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content("no such thing", "text/plain");
  });
  server.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
    res.status = 201;
    res.set_content(req.body, req.get_header_value("Content-Type").c_str());
  });
  server.Get("/host", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.get_header_value("Host"), "text/plain");
  });
  server.Get("/port", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(std::to_string(req.remote_port), "text/plain");
  });
  server.Get("/slow", [&release](const httplib::Request&, httplib::Response& res) {
    wait_for(release, 3000ms);
    res.set_content("late", "text/plain");
  });
  server.Get("/unavailable", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content(R"({"error":"loading model"})", "application/json");
  });
  server.Get("/sse", [](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(
        "text/event-stream", [](std::size_t, httplib::DataSink& sink) {
          const std::string pieces[] = {"data: one\n\n", "event: tick\ndata: t", "wo\n\n",
                                        ": keep-alive\n\n", "data: [DONE]\n\n"};
          for (const auto& p : pieces) {
            sink.write(p.data(), p.size());
            std::this_thread::sleep_for(2ms);
          }
          sink.done();
          return true;
        });
  });
  // Sends pieces until the client goes away (or 200 pieces, so it always ends).
  server.Get("/endless", [&stream_pieces_sent](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(
        "text/event-stream", [&stream_pieces_sent](std::size_t, httplib::DataSink& sink) {
          for (int i = 0; i < 200 && sink.is_writable(); ++i) {
            const std::string piece = "data: " + std::to_string(i) + "\n\n";
            if (!sink.write(piece.data(), piece.size())) break;
            ++stream_pieces_sent;
            std::this_thread::sleep_for(2ms);
          }
          sink.done();
          return true;
        });
  });
}

class HttpClientTcpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    add_routes(m_server, m_release, m_pieces);
    m_port = m_server.bind_to_any_port("127.0.0.1");
    ASSERT_GT(m_port, 0);
    m_thread = run_server(m_server);
  }
  void TearDown() override {
    m_release = true;
    m_server.stop();
    if (m_thread.joinable()) m_thread.join();
  }

  httplib::Server m_server;
  std::thread m_thread;
  std::atomic<bool> m_release{false};
  std::atomic<int> m_pieces{0};
  int m_port = 0;
};

TEST_F(HttpClientTcpTest, GetReturnsBodyStatusAndContentType) {
  auto client = make_tcp_client("127.0.0.1", m_port);
  EXPECT_EQ(client->describe(), "http://127.0.0.1:" + std::to_string(m_port));
  auto r = client->get("/hello", 2s);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  EXPECT_EQ(r->content_type, "text/plain");
}

TEST_F(HttpClientTcpTest, StatusCodesAreValuesNotErrors) {
  auto client = make_tcp_client("127.0.0.1", m_port);
  auto missing = client->get("/missing", 2s);
  ASSERT_TRUE(missing.has_value()) << missing.error().message;
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body, "no such thing");
  auto loading = client->get("/unavailable", 2s);
  ASSERT_TRUE(loading.has_value());
  EXPECT_EQ(loading->status, 503);
  EXPECT_EQ(loading->content_type, "application/json");
  auto no_route = client->get("/nowhere", 2s);
  ASSERT_TRUE(no_route.has_value());
  EXPECT_EQ(no_route->status, 404);
}

TEST_F(HttpClientTcpTest, PostSendsBodyAndContentType) {
  auto client = make_tcp_client("127.0.0.1", m_port);
  auto r = client->post_json("/echo", R"({"model":"qwen"})", 2s);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, R"({"model":"qwen"})");
  EXPECT_EQ(r->content_type, "application/json");
  auto plain = client->post("/echo", "a=b", "application/x-www-form-urlencoded", 2s);
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->body, "a=b");
  EXPECT_EQ(plain->content_type, "application/x-www-form-urlencoded");
}

TEST_F(HttpClientTcpTest, KeepAliveReusesOneConnection) {
  auto client = make_tcp_client("127.0.0.1", m_port);
  std::set<std::string> ports;
  for (int i = 0; i < 4; ++i) {
    auto r = client->get("/port", 2s);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    ports.insert(r->body);
  }
  // One client-side port = one TCP connection for all four requests.
  EXPECT_EQ(ports.size(), 1u);
  auto other = make_tcp_client("127.0.0.1", m_port);
  auto r = other->get("/port", 2s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(ports.count(r->body), 0u);  // a second client has its own connection
}

TEST_F(HttpClientTcpTest, SlowHandlerTimesOut) {
  auto client = make_tcp_client("127.0.0.1", m_port);
  auto r = client->get("/slow", 150ms);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::timeout) << r.error().message;
  EXPECT_NE(r.error().message.find("/slow"), std::string::npos) << r.error().message;
  m_release = true;
  // The client is still usable after a timeout (the broken connection was dropped).
  auto ok = client->get("/hello", 2s);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->body, "hello");
}

TEST_F(HttpClientTcpTest, StreamDeliversChunksAndParsesSse) {
  auto client = make_tcp_client("127.0.0.1", m_port);
  std::string all;
  SseParser parser;
  std::vector<SseEvent> events;
  auto r = client->stream(
      "/sse",
      [&](std::string_view chunk) {
        all.append(chunk);
        parser.feed(chunk, [&](const SseEvent& e) { events.push_back(e); });
        return true;
      },
      2s);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->content_type, "text/event-stream");
  EXPECT_TRUE(r->body.empty());
  EXPECT_EQ(all, "data: one\n\nevent: tick\ndata: two\n\n: keep-alive\n\ndata: [DONE]\n\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].data, "one");
  EXPECT_EQ(events[1].event, "tick");
  EXPECT_EQ(events[1].data, "two");
  EXPECT_EQ(events[2].data, "[DONE]");
}

TEST_F(HttpClientTcpTest, StreamStoppedByCallerIsSuccessAndClientStaysUsable) {
  auto client = make_tcp_client("127.0.0.1", m_port);
  int chunks = 0;
  auto r = client->stream("/endless", [&](std::string_view) { return ++chunks < 3; }, 2s);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(chunks, 3);
  auto ok = client->get("/hello", 2s);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
}

TEST_F(HttpClientTcpTest, StreamWithErrorStatusCollectsBodyInstead) {
  auto client = make_tcp_client("127.0.0.1", m_port);
  bool called = false;
  auto r = client->stream("/missing", [&](std::string_view) { return called = true; }, 2s);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "no such thing");
  EXPECT_FALSE(called);
}

TEST_F(HttpClientTcpTest, RequestInsideAStreamUsesASecondConnection) {
  // A health probe while a stream is open must not wait for the stream (nor deadlock).
  auto client = make_tcp_client("127.0.0.1", m_port);
  std::string inner_body;
  auto r = client->stream(
      "/sse",
      [&](std::string_view) {
        if (inner_body.empty()) {
          auto inner = client->get("/hello", 2s);
          inner_body = inner ? inner->body : "error: " + inner.error().message;
        }
        return true;
      },
      2s);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(inner_body, "hello");
}

TEST_F(HttpClientTcpTest, StreamPostSendsBody) {
  m_server.Post("/v1/chat", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content("data: " + req.body + "\n\n", "text/event-stream");
  });
  auto client = make_tcp_client("127.0.0.1", m_port);
  std::string got;
  auto r = client->stream_post("/v1/chat", R"({"stream":true})", "application/json",
                               [&](std::string_view c) {
                                 got.append(c);
                                 return true;
                               },
                               2s);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(got, "data: {\"stream\":true}\n\n");
}

TEST_F(HttpClientTcpTest, PathMustStartWithSlash) {
  auto client = make_tcp_client("127.0.0.1", m_port);
  auto r = client->get("hello", 1s);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::invalid_argument);
}

// A port that nothing listens on: bind one, then close it.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

TEST(HttpClient, ConnectionRefusedIsUnavailable) {
  const int port = free_port();
  auto client = make_tcp_client("127.0.0.1", port);
  auto r = client->get("/health", 1s);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::unavailable);
  EXPECT_NE(r.error().message.find("nothing listens on 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << r.error().message;
  auto s = client->stream("/sse", [](std::string_view) { return true; }, 1s);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::unavailable);
}

TEST(HttpClient, GarbledResponseIsFailed) {
  // A raw TCP server that answers one connection with something that is not HTTP.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  std::thread junk([fd] {
    const int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) return;
    char buf[1024];
    (void)::recv(c, buf, sizeof buf, 0);
    const std::string reply = "SMTP ready, not HTTP at all\r\n\r\n";
    (void)::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    ::close(c);
  });
  auto client = make_tcp_client("127.0.0.1", port);
  auto r = client->get("/health", 2s);
  junk.join();
  ::close(fd);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::failed) << r.error().message;
}

// A server that answers the first request on a kept-alive connection, then closes that connection
// when the next request arrives on it (as llama-server does at its keep-alive limit, racing the
// client's reuse), and answers on a second connection. Returns the second POST's result.
util::Result<HttpResponse> second_post_after_a_closed_connection(bool retry_posts) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 4) != 0) {
    ::close(fd);
    return util::fail(ErrorCode::io, "cannot listen");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int stop[2];  // written once the client has its answers: a server still waiting ends
  if (::pipe(stop) != 0) {
    ::close(fd);
    return util::fail(ErrorCode::io, "pipe");
  }
  std::thread server([fd, stop_fd = stop[0]] {
    const auto answer = [](int c, const std::string& body) {
      const std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body;
      (void)::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    };
    char buf[4096];
    const int first = ::accept(fd, nullptr, nullptr);
    if (first < 0) return;
    if (::recv(first, buf, sizeof buf, 0) > 0) answer(first, "one");
    (void)::recv(first, buf, sizeof buf, 0);  // the next request on the kept-alive connection ...
    ::close(first);                            // ... meets a closed connection
    pollfd p[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    if (::poll(p, 2, 10000) < 1 || (p[0].revents & POLLIN) == 0) return;  // the client is done
    const int second = ::accept(fd, nullptr, nullptr);
    if (second < 0) return;
    if (::recv(second, buf, sizeof buf, 0) > 0) answer(second, "two");
    ::close(second);
  });
  ClientOptions options;
  options.retry_posts_on_closed_connection = retry_posts;
  auto client = make_tcp_client("127.0.0.1", ntohs(addr.sin_port), options);
  auto first = client->post_json("/v1/chat/completions", "{}", 2s);
  auto second = first ? client->post_json("/v1/chat/completions", "{}", 2s) : first;
  client.reset();
  (void)::write(stop[1], "x", 1);
  server.join();
  ::close(stop[0]);
  ::close(stop[1]);
  ::close(fd);
  return second;
}

TEST(HttpClient, APostMeetingAClosedKeptAliveConnectionIsSentAgainWhenAllowed) {
  auto retried = second_post_after_a_closed_connection(true);
  ASSERT_TRUE(retried.has_value()) << retried.error().message;
  EXPECT_EQ(retried->body, "two");
  // Without the option a POST is never sent twice: the failure is reported.
  auto reported = second_post_after_a_closed_connection(false);
  ASSERT_FALSE(reported.has_value());
  EXPECT_EQ(reported.error().code, ErrorCode::failed) << reported.error().message;
}

TEST(HttpClient, BodyLargerThanTheCapIsFailed) {
  httplib::Server server;
  server.Get("/big", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(10000, 'x'), "text/plain");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread t = run_server(server);
  ClientOptions options;
  options.max_body_bytes = 1000;
  auto client = make_tcp_client("127.0.0.1", port, options);
  auto r = client->get("/big", 2s);
  server.stop();
  t.join();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::failed);
  EXPECT_NE(r.error().message.find("1000 bytes"), std::string::npos) << r.error().message;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gpumod-http-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) m_path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!m_path.empty()) std::filesystem::remove_all(m_path, ec);
  }
  const std::filesystem::path& path() const { return m_path; }

 private:
  std::filesystem::path m_path;
};

TEST(HttpClientUnix, GetAndPostOverUnixSocket) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const auto socket_path = dir.path() / "d.sock";
  httplib::Server server;
  std::atomic<bool> release{false};
  std::atomic<int> pieces{0};
  add_routes(server, release, pieces);
  server.set_address_family(AF_UNIX);
  ASSERT_TRUE(server.bind_to_port(socket_path.c_str(), 80));
  std::thread t = run_server(server);

  auto client = make_unix_client(socket_path);
  EXPECT_EQ(client->describe(), "unix:" + socket_path.string());
  auto r = client->get("/hello", 2s);
  auto host = client->get("/host", 2s);
  auto posted = client->post_json("/echo", "[1,2]", 2s);
  auto missing = client->get("/missing", 2s);
  client.reset();  // its kept-alive connection closes: stop() need not wait for it
  server.stop();
  t.join();

  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->body, "hello");
  ASSERT_TRUE(host.has_value());
  EXPECT_EQ(host->body, "localhost");
  ASSERT_TRUE(posted.has_value());
  EXPECT_EQ(posted->status, 201);
  EXPECT_EQ(posted->body, "[1,2]");
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status, 404);
}

TEST(HttpClientUnix, MissingSocketIsUnavailable) {
  TempDir dir;
  auto client = make_unix_client(dir.path() / "nobody.sock");
  auto r = client->get("/_ping", 1s);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::unavailable);
  EXPECT_NE(r.error().message.find("nobody.sock"), std::string::npos) << r.error().message;
}

// Opens non-blocking connections to a Unix socket until one is refused (EAGAIN: the listener's
// backlog is full) or `most` are pending; returns how many were taken, closing them.
int fill_backlog(const std::filesystem::path& socket_path, int most) {
  std::vector<int> fds;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path.c_str());
  while (static_cast<int>(fds.size()) < most) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      break;
    }
    fds.push_back(fd);
  }
  for (const int fd : fds) ::close(fd);  // still queued until accepted: the backlog stays full
  return static_cast<int>(fds.size());
}

// gpumod's servers listen with a deep backlog: 50 clients meeting a busy daemon at once all queue
// (cpp-httplib's own backlog of 5 refused the 7th, which the client read as "no daemon").
TEST(HttpServerBind, ListensWithADeepBacklog) {
  TempDir dir;
  const auto socket_path = dir.path() / "d.sock";
  httplib::Server server;
  server.set_address_family(AF_UNIX);
  ASSERT_TRUE(bind_server(server, socket_path.string(), 80));
  EXPECT_EQ(fill_backlog(socket_path, 200), 200);  // nobody accepts: all pending
}

// A TCP port another gpumod server holds is not shared (no SO_REUSEPORT): the second bind fails.
TEST(HttpServerBind, ASecondServerOnTheSamePortFails) {
  int port = 0;
  {  // a port free a moment ago
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    ::close(fd);
  }
  ASSERT_GT(port, 0);
  httplib::Server first;
  httplib::Server second;
  ASSERT_TRUE(bind_server(first, "127.0.0.1", port));
  EXPECT_FALSE(bind_server(second, "127.0.0.1", port)) << "port " << port << " is held by another server";
}

// A daemon whose backlog is full is busy, not absent: the client tries again until its timeout.
TEST(HttpClientUnix, AFullBacklogIsWaitedOutNotReadAsNobodyListening) {
  TempDir dir;
  const auto socket_path = dir.path() / "d.sock";
  httplib::Server server;
  std::atomic<bool> release{true};
  std::atomic<int> pieces{0};
  add_routes(server, release, pieces);
  server.set_address_family(AF_UNIX);
  ASSERT_TRUE(bind_server(server, socket_path.string(), 80, /*backlog=*/0));
  ASSERT_GT(fill_backlog(socket_path, 64), 0);
  ASSERT_LT(fill_backlog(socket_path, 64), 64) << "the backlog is full";
  // The accept loop starts a little later, as a busy daemon's does.
  std::thread t([&server] {
    std::this_thread::sleep_for(200ms);
    server.listen_after_bind();
  });
  auto client = make_unix_client(socket_path);
  auto r = client->get("/hello", 10s);
  client.reset();
  const auto end = std::chrono::steady_clock::now() + 5s;  // (stop() before the loop runs would not stop it)
  while (!server.is_running() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(1ms);
  server.stop();
  t.join();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->body, "hello");
}

TEST(HttpLoopback, RecognisesLoopbackHostsOnly) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.1.2.3"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("[::1]"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("128.0.0.1"));
  EXPECT_FALSE(is_loopback_host("127.0.0"));
  EXPECT_FALSE(is_loopback_host("127.0.0.1.5"));
  EXPECT_FALSE(is_loopback_host("127.0.0.256"));
  EXPECT_FALSE(is_loopback_host("127.0.0.1 "));
  EXPECT_FALSE(is_loopback_host("127..0.1"));
  EXPECT_FALSE(is_loopback_host("localhost.evil.com"));
  EXPECT_FALSE(is_loopback_host("192.168.1.10"));
  EXPECT_FALSE(is_loopback_host(""));
}

}  // namespace
}  // namespace gpumod::infra::http
