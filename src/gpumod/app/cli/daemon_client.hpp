// The CLI's side of the daemon protocol (docs/daemon-protocol.md): JSON requests over the Unix
// socket, starting the daemon in the background when none runs (and saying so on stderr).
// Thread-safety: one client per command; not shared.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "gpumod/util/result.hpp"

namespace gpumod::infra::http {
class HttpClient;
}

namespace gpumod::app {

class AppContext;

class DaemonClient {
 public:
  // Connects to the running daemon; with autostart, starts one when none answers.
  // Errors: unavailable (no daemon and autostart off, or it did not come up), conflict (the
  // running daemon serves another configuration root).
  static util::Result<DaemonClient> connect(AppContext& ctx, bool autostart);
  // Connects to whatever daemon answers on the socket, whatever configuration it serves (for
  // `daemon stop` and `daemon status`, which need no configuration). Errors: unavailable.
  static util::Result<DaemonClient> connect_existing();
  ~DaemonClient();
  DaemonClient(DaemonClient&&) noexcept;
  DaemonClient& operator=(DaemonClient&&) noexcept;

  // A request; a non-2xx answer becomes the Error the daemon sent.
  util::Result<nlohmann::json> get(const std::string& path, std::chrono::milliseconds timeout);
  util::Result<nlohmann::json> post(const std::string& path, const nlohmann::json& body,
                                    std::chrono::milliseconds timeout);
  // Follows GET /v1/events/stream: each event (JSON) goes to on_event until it returns false or
  // the stream ends. `after` >= 0 resumes after that event id; -1 starts with the next event.
  // `on_open` is called once the daemon answered (from then on no event is missed).
  util::Status follow_events(std::int64_t after, const std::function<bool(const nlohmann::json&)>& on_event,
                             const std::function<void()>& on_open = {});

 private:
  explicit DaemonClient(std::unique_ptr<infra::http::HttpClient> http);
  std::unique_ptr<infra::http::HttpClient> m_http;
};

// True when a daemon answers on the socket.
bool daemon_running();

// Asks the daemon to stop (first stopping its services when asked) and waits for its process to
// exit (the client is consumed: its idle connection would hold the daemon's exit). Errors: timeout (still running after `wait`), or the daemon's answer.
// `stopped` (when given) receives the ids of the services the daemon stopped.
util::Status stop_daemon(DaemonClient&& client, bool with_services, std::chrono::milliseconds wait,
                         std::vector<std::string>* stopped = nullptr);

}  // namespace gpumod::app
