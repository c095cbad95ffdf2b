// cpp-httplib behind HttpClient. One PooledClient per endpoint; each pooled httplib::ClientImpl
// holds at most one keep-alive connection and is used by one request at a time (httplib clients
// are not safe for concurrent use, and timeouts are set per request on the client object).
#include "gpumod/infra/http/client.hpp"

#include <httplib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace gpumod::infra::http {
namespace {

using Clock = std::chrono::steady_clock;
using util::ErrorCode;

struct Call {
  std::string method;
  const std::string* path = nullptr;
  const std::string* body = nullptr;  // may be null (GET)
  const std::string* content_type = nullptr;
  const ChunkHandler* on_chunk = nullptr;  // null: collect the body
  std::chrono::milliseconds timeout{0};
};

enum class Outcome { ok, stopped_by_caller, deadline_passed, too_large };

class PooledClient final : public HttpClient {
 public:
  PooledClient(std::string host, int port, bool unix_socket, ClientOptions options)
      : m_host(std::move(host)), m_port(port), m_unix(unix_socket), m_options(options) {
    if (m_unix) {
      m_where = "unix socket " + m_host;
      m_describe = "unix:" + m_host;
    } else {
      const bool v6 = m_host.find(':') != std::string::npos;
      const std::string h = v6 ? "[" + m_host + "]" : m_host;
      m_where = fmt::format("{}:{}", h, m_port);
      m_describe = "http://" + m_where;
    }
  }

  util::Result<HttpResponse> get(const std::string& path,
                                 std::chrono::milliseconds timeout) override {
    return perform(Call{"GET", &path, nullptr, nullptr, nullptr, timeout});
  }

  util::Result<HttpResponse> post(const std::string& path, const std::string& body,
                                  const std::string& content_type,
                                  std::chrono::milliseconds timeout) override {
    return perform(Call{"POST", &path, &body, &content_type, nullptr, timeout});
  }

  util::Result<HttpResponse> stream(const std::string& path, const ChunkHandler& on_chunk,
                                    std::chrono::milliseconds idle_timeout) override {
    return perform(Call{"GET", &path, nullptr, nullptr, &on_chunk, idle_timeout});
  }

  util::Result<HttpResponse> stream_post(const std::string& path, const std::string& body,
                                         const std::string& content_type,
                                         const ChunkHandler& on_chunk,
                                         std::chrono::milliseconds idle_timeout) override {
    return perform(Call{"POST", &path, &body, &content_type, &on_chunk, idle_timeout});
  }

  std::string describe() const override { return m_describe; }

 private:
  struct Lease {
    std::unique_ptr<httplib::ClientImpl> client;
    bool reused = false;
  };

  Lease acquire() {
    {
      std::lock_guard lock(m_mutex);
      if (!m_idle.empty()) {
        Lease lease{std::move(m_idle.back()), true};
        m_idle.pop_back();
        return lease;
      }
    }
    auto client = std::make_unique<httplib::ClientImpl>(m_host, m_unix ? 80 : m_port);
    if (m_unix) {
      client->set_address_family(AF_UNIX);
    } else {
      client->set_tcp_nodelay(true);
    }
    client->set_keep_alive(true);
    client->set_follow_location(false);
    client->set_decompress(true);
    return Lease{std::move(client), false};
  }

  void release(std::unique_ptr<httplib::ClientImpl> client) {
    std::lock_guard lock(m_mutex);
    if (m_idle.size() < m_options.max_idle_connections) {
      m_idle.push_back(std::move(client));
    }
    // else: the client and its connection are dropped here
  }

  util::Result<HttpResponse> perform(const Call& call) {
    try {
      // A Unix socket whose listener has a full backlog (a busy daemon met by many clients at
      // once) refuses a non-blocking connect with EAGAIN, which httplib reports as a failed
      // connection: the server is there, so the call is tried again until its timeout.
      const auto start = Clock::now();
      auto delay = std::chrono::milliseconds(2);
      while (true) {
        auto result = attempt(call, /*allow_retry=*/true);
        if (result || !m_unix || result.error().code != ErrorCode::unavailable || !unix_listener_busy()) {
          return result;
        }
        const auto left = call.timeout - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
        if (left <= delay) return result;
        std::this_thread::sleep_for(delay);
        delay = std::min(delay * 2, std::chrono::milliseconds(50));
      }
    } catch (const std::exception& e) {
      return util::fail(ErrorCode::internal, fmt::format("{} {}{}: unexpected exception: {}",
                                                         call.method, m_describe, *call.path,
                                                         e.what()));
    } catch (...) {
      return util::fail(ErrorCode::internal, fmt::format("{} {}{}: unexpected exception",
                                                         call.method, m_describe, *call.path));
    }
  }

  // True when a Unix-socket server listens at m_host but cannot take a connection now (its
  // backlog is full: EAGAIN), or takes one again; false when nothing listens there.
  bool unix_listener_busy() const {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (m_host.size() >= sizeof addr.sun_path) {
      ::close(fd);
      return false;
    }
    std::copy(m_host.begin(), m_host.end(), addr.sun_path);
    const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    const int err = errno;
    ::close(fd);
    return rc == 0 || err == EAGAIN || err == EINPROGRESS;
  }

  util::Result<HttpResponse> attempt(const Call& call, bool allow_retry) {
    if (call.path->empty() || call.path->front() != '/') {
      return util::fail(ErrorCode::invalid_argument,
                        fmt::format("HTTP path '{}' for {} does not start with '/'", *call.path,
                                    m_describe));
    }
    const auto timeout = std::max(call.timeout, std::chrono::milliseconds{1});
    Lease lease = acquire();
    httplib::ClientImpl& client = *lease.client;
    client.set_connection_timeout(std::min(m_options.connect_timeout, timeout));
    client.set_read_timeout(timeout);
    client.set_write_timeout(timeout);

    const auto start = Clock::now();
    // For plain requests the timeout bounds the whole exchange (checked as each piece of the
    // body arrives; a silent server is cut off by the per-read timeout). For streams it is
    // the idle limit only, which the per-read timeout already enforces.
    const auto deadline = start + timeout;
    const bool streaming = call.on_chunk != nullptr;

    httplib::Request req;
    req.method = call.method;
    req.path = *call.path;
    if (m_unix) req.set_header("Host", "localhost");
    if (call.body != nullptr) {
      req.body = *call.body;
      if (call.content_type != nullptr && !call.content_type->empty()) {
        req.set_header("Content-Type", *call.content_type);
      }
    }

    HttpResponse out;
    Outcome outcome = Outcome::ok;
    std::size_t received = 0;
    bool status_is_ok = false;
    req.response_handler = [&](const httplib::Response& r) {
      out.status = r.status;
      out.content_type = r.get_header_value("Content-Type");
      status_is_ok = r.status >= 200 && r.status < 300;
      return true;
    };
    req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
      received += n;
      if (streaming && status_is_ok) {
        if (!(*call.on_chunk)(std::string_view(data, n))) {
          outcome = Outcome::stopped_by_caller;
          return false;
        }
        return true;
      }
      if (out.body.size() + n > m_options.max_body_bytes) {
        outcome = Outcome::too_large;
        return false;
      }
      out.body.append(data, n);
      if (!streaming && Clock::now() > deadline) {
        outcome = Outcome::deadline_passed;
        return false;
      }
      return true;
    };

    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    const bool sent = client.send(req, res, err);
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);

    if (sent && err == httplib::Error::Success) {
      if (out.status == 0) {  // no body: the response handler may not have run
        out.status = res.status;
        out.content_type = res.get_header_value("Content-Type");
      }
      release(std::move(lease.client));
      return out;
    }

    // Whatever happened, this connection's state is unknown: drop it (lease goes out of scope).
    const std::string what = fmt::format("{} {}{}", call.method, m_describe, *call.path);
    switch (outcome) {
      case Outcome::stopped_by_caller:
        return out;
      case Outcome::deadline_passed:
        return util::fail(ErrorCode::timeout,
                          fmt::format("{}: the response took longer than {} ms", what,
                                      timeout.count()));
      case Outcome::too_large:
        return util::fail(ErrorCode::failed,
                          fmt::format("{}: the response body exceeds {} bytes", what,
                                      m_options.max_body_bytes));
      case Outcome::ok:
        break;
    }

    switch (err) {
      case httplib::Error::Connection:
        return util::fail(ErrorCode::unavailable,
                          fmt::format("nothing listens on {} ({}: connection failed)", m_where,
                                      what));
      case httplib::Error::ConnectionTimeout:
        return util::fail(ErrorCode::timeout,
                          fmt::format("{}: connecting took longer than {} ms", what,
                                      std::min(m_options.connect_timeout, timeout).count()));
      case httplib::Error::Read:
      case httplib::Error::Write: {
        // A kept-alive connection the server closed meanwhile fails on first use; a GET that
        // received nothing is safe to send once more on a fresh connection.
        if (allow_retry && lease.reused && received == 0 && out.status == 0 &&
            (call.method == "GET" || m_options.retry_posts_on_closed_connection) && elapsed < timeout) {
          Call again = call;
          again.timeout = timeout - elapsed;
          return attempt(again, /*allow_retry=*/false);
        }
        // httplib reports a read timeout as a read error; the clock tells them apart.
        if (err == httplib::Error::Read && elapsed >= timeout * 9 / 10) {
          return util::fail(ErrorCode::timeout,
                            fmt::format("{}: no response within {} ms", what, timeout.count()));
        }
        return util::fail(ErrorCode::failed,
                          fmt::format("{}: {} failed (connection closed or malformed response)",
                                      what, err == httplib::Error::Read
                                                ? "reading the response"
                                                : "sending the request"));
      }
      default:
        return util::fail(ErrorCode::failed,
                          fmt::format("{}: HTTP transport error: {}", what, httplib::to_string(err)));
    }
  }

  std::string m_host;
  int m_port;
  bool m_unix;
  ClientOptions m_options;
  std::string m_where;
  std::string m_describe;
  std::mutex m_mutex;
  std::vector<std::unique_ptr<httplib::ClientImpl>> m_idle;
};

bool is_ipv4_loopback(std::string_view host) {
  int octets = 0;
  std::size_t pos = 0;
  int first = -1;
  while (pos <= host.size()) {
    const std::size_t dot = std::min(host.find('.', pos), host.size());
    const std::string_view part = host.substr(pos, dot - pos);
    if (part.empty() || part.size() > 3) return false;
    int value = 0;
    const auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (ec != std::errc{} || ptr != part.data() + part.size() || value > 255) return false;
    if (octets == 0) first = value;
    ++octets;
    pos = dot + 1;
    if (dot == host.size()) break;
  }
  return octets == 4 && first == 127;
}

}  // namespace

std::unique_ptr<HttpClient> make_tcp_client(std::string host, int port,
                                            const ClientOptions& options) {
  return std::make_unique<PooledClient>(std::move(host), port, false, options);
}

std::unique_ptr<HttpClient> make_unix_client(std::filesystem::path socket,
                                             const ClientOptions& options) {
  return std::make_unique<PooledClient>(socket.string(), 0, true, options);
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  return is_ipv4_loopback(host);
}

}  // namespace gpumod::infra::http
