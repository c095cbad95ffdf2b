// gpumod top: the live view. Collecting runs beside drawing: one thread follows the daemon's
// event stream (GET /v1/events/stream) and asks for a status refresh on each event; the main
// thread sleeps in poll(2) on the keyboard and a wake pipe, so nothing is polled on a fixed
// one-second clock (memory held by processes outside gpumod, which sends no event, is read again
// every 5 s, and so are the endpoint's last requests). At start it shows the last events already
// stored, then follows the stream after them. Key actions (switch, start, stop, sleep, wake) run
// on a worker thread so the view keeps following the switch's steps. Drawing is top_view.cpp (a pure function, golden-tested).
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "gpumod/app/cli/app_context.hpp"
#include "gpumod/app/cli/commands.hpp"
#include "gpumod/app/cli/curses_terminal.hpp"
#include "gpumod/app/cli/daemon_client.hpp"
#include "gpumod/app/cli/top_view.hpp"
#include "gpumod/infra/config/config_loader.hpp"

namespace gpumod::app {

using nlohmann::json;

namespace {

constexpr auto k_status_refresh = std::chrono::seconds(5);
constexpr int k_event_backlog = 50;
constexpr int k_requests_shown = 20;
constexpr std::chrono::milliseconds k_action_timeout{3600 * 1000};

class TopApp {
 public:
  explicit TopApp(AppContext& ctx) : m_ctx(ctx) {}
  ~TopApp() {
    for (const int fd : m_wake) {
      if (fd >= 0) ::close(fd);
    }
  }

  void run() {
    if (!::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO)) {
      return m_ctx.fail({util::ErrorCode::invalid_argument, "gpumod top needs a terminal (use `gpumod status` or `gpumod events -f` in scripts)"});
    }
    auto root = m_ctx.config_root();
    if (!root) return m_ctx.fail(root.error());
    m_root = *root;
    auto client = DaemonClient::connect(m_ctx, true);
    if (!client) return m_ctx.fail(client.error());
    m_client.emplace(std::move(*client));
    if (::pipe2(m_wake, O_CLOEXEC | O_NONBLOCK) != 0) return m_ctx.fail({util::ErrorCode::io, "pipe2 failed"});
    const char* no_color = std::getenv("NO_COLOR");
    auto term = CursesTerminal::open(no_color == nullptr || *no_color == '\0');
    if (!term) return m_ctx.fail(term.error());
    m_term = std::move(*term);
    refresh_status();
    read_backlog();
    std::thread(&TopApp::follow, this).detach();  // ends with the process
    loop();
    m_term.reset();  // restore the terminal before anything is printed
    m_quit = true;
  }

 private:
  void wake() {
    const char b = 1;
    (void)!::write(m_wake[1], &b, 1);
  }

  // The last events already stored (a switch in progress is followed from its start).
  void read_backlog() {
    auto c = DaemonClient::connect_existing();
    auto r = c ? c->get("/v1/events?latest=1&limit=" + std::to_string(k_event_backlog), std::chrono::seconds(10))
               : util::Result<json>(std::unexpected(c.error()));
    if (!r || !r->contains("events") || !(*r)["events"].is_array()) return;
    std::lock_guard lock(m_mutex);
    for (const auto& j : (*r)["events"]) apply_event(m_data, event_of(j));
    m_backlog_read = true;
  }

  static TopEvent event_of(const json& j) {
    return TopEvent{j.value("id", std::int64_t{0}), j.value("ts_ms", std::int64_t{0}), j.value("kind", ""),
                    j.value("service", ""), j.value("mode", ""), j.value("message", "")};
  }

  // The event stream, after the last event held; reconnects when the daemon goes away (it may
  // be restarted).
  void follow() {
    auto delay = std::chrono::milliseconds(200);
    while (!m_quit) {
      auto c = DaemonClient::connect_existing();
      util::Status st = c ? util::Status{} : util::Status(std::unexpected(c.error()));
      std::int64_t after = -1;  // without a backlog: from now on
      {
        std::lock_guard lock(m_mutex);
        if (!m_data.events.empty()) after = m_data.events.back().id;
        else if (m_backlog_read) after = 0;
      }
      if (c) {
        st = c->follow_events(
            after,
            [&](const json& j) {
              const TopEvent e = event_of(j);
              {
                std::lock_guard lock(m_mutex);
                apply_event(m_data, e);
                m_need_status = true;
              }
              wake();
              return !m_quit.load();
            },
            [&] {
              delay = std::chrono::milliseconds(200);
              std::lock_guard lock(m_mutex);
              m_need_status = true;
              wake();
            });
      }
      if (m_quit) return;
      {
        std::lock_guard lock(m_mutex);
        m_data.connected = false;
        m_data.error = st ? "the event stream ended" : st.error().message;
      }
      wake();
      std::this_thread::sleep_for(delay);  // back off while the daemon is away
      delay = std::min(delay * 2, std::chrono::milliseconds(5000));
    }
  }

  // The status, and the endpoint's last requests (they send no event: read with the status, on
  // each event and every k_status_refresh).
  void refresh_status() {
    auto c = DaemonClient::connect_existing();
    auto st = c ? c->get("/v1/status", std::chrono::seconds(30)) : util::Result<json>(std::unexpected(c.error()));
    auto reqs = st ? c->get("/v1/requests?limit=" + std::to_string(k_requests_shown), std::chrono::seconds(10))
                   : util::Result<json>(std::unexpected(st.error()));
    std::lock_guard lock(m_mutex);
    if (st) {
      apply_status(m_data, *st);
      apply_requests(m_data, reqs ? *reqs : json::object());  // an older daemon has no such route
    } else {
      m_data.connected = false;
      m_data.error = st.error().message;
    }
    m_last_status = std::chrono::steady_clock::now();
  }

  void start_action(std::string label, std::string path, json body) {
    {
      std::lock_guard lock(m_mutex);
      if (m_busy) {
        m_data.notice = "busy: " + m_busy_label + " is still running";
        return;
      }
      m_busy = true;
      m_busy_label = label;
      m_data.notice = label + " ...";
    }
    std::thread([this, label, path, body] {
      auto c = DaemonClient::connect_existing();
      auto r = c ? c->post(path, body, k_action_timeout) : util::Result<json>(std::unexpected(c.error()));
      std::lock_guard lock(m_mutex);
      m_busy = false;
      if (r) m_data.notice = r->value("message", label + ": done");
      else m_data.notice = label + ": " + r.error().message;
      m_need_status = true;
      wake();
    }).detach();
  }

  std::optional<std::string> selected_service() {
    std::lock_guard lock(m_mutex);
    if (m_data.selected < m_data.services.size()) return m_data.services[m_data.selected].id;
    return std::nullopt;
  }

  // Returns false to quit.
  bool on_key(const KeyPress& k) {
    TopOverlay overlay;
    {
      std::lock_guard lock(m_mutex);
      overlay = m_data.overlay;
    }
    if (overlay == TopOverlay::help) {
      std::lock_guard lock(m_mutex);
      if (k.key != TopKey::resize) m_data.overlay = TopOverlay::none;
      return true;
    }
    if (overlay == TopOverlay::modes) {
      std::lock_guard lock(m_mutex);
      auto& d = m_data;
      if (k.key == TopKey::up || (k.key == TopKey::other && k.ch == 'k')) {
        if (d.mode_cursor > 0) --d.mode_cursor;
      } else if (k.key == TopKey::down || (k.key == TopKey::other && k.ch == 'j')) {
        if (d.mode_cursor + 1 < d.modes.size()) ++d.mode_cursor;
      } else if (k.key == TopKey::escape || (k.key == TopKey::other && k.ch == 'q')) {
        d.overlay = TopOverlay::none;
      } else if (k.key == TopKey::enter && d.mode_cursor < d.modes.size()) {
        const std::string mode = d.modes[d.mode_cursor];
        d.overlay = TopOverlay::none;
        m_mutex.unlock();
        start_action("switching to " + mode, "/v1/modes/" + mode + "/switch", json{{"dry_run", false}});
        m_mutex.lock();
      }
      return true;
    }
    if (overlay == TopOverlay::log) {
      if (k.key == TopKey::escape || (k.key == TopKey::other && (k.ch == 'q' || k.ch == 'l'))) {
        std::lock_guard lock(m_mutex);
        m_data.overlay = TopOverlay::none;
      }
      return true;
    }
    if (k.key == TopKey::up || (k.key == TopKey::other && k.ch == 'k')) {
      std::lock_guard lock(m_mutex);
      if (m_data.selected > 0) --m_data.selected;
      m_data.notice.clear();
      return true;
    }
    if (k.key == TopKey::down || (k.key == TopKey::other && k.ch == 'j')) {
      std::lock_guard lock(m_mutex);
      if (m_data.selected + 1 < m_data.services.size()) ++m_data.selected;
      m_data.notice.clear();
      return true;
    }
    if (k.key != TopKey::other) return true;
    switch (k.ch) {
      case 'q': return false;
      case '?': {
        std::lock_guard lock(m_mutex);
        m_data.overlay = TopOverlay::help;
        return true;
      }
      case 'm': {
        // The modes as the files say now (the daemon follows them live too).
        auto cfg = infra::config::load_config_or_error(m_root);
        std::lock_guard lock(m_mutex);
        if (!cfg) {
          m_data.notice = "cannot read the modes: " + cfg.error().message;
          return true;
        }
        m_data.modes = cfg->mode_ids();
        m_data.mode_cursor = 0;
        for (std::size_t i = 0; i < m_data.modes.size(); ++i) {
          if (m_data.mode && *m_data.mode == m_data.modes[i]) m_data.mode_cursor = i;
        }
        m_data.overlay = TopOverlay::modes;
        return true;
      }
      case 's':
      case 'x':
      case 'z':
      case 'w': {
        const auto id = selected_service();
        if (!id) return true;
        const std::string op = k.ch == 's' ? "start" : k.ch == 'x' ? "stop" : k.ch == 'z' ? "sleep" : "wake";
        start_action(op + " " + *id, "/v1/services/" + *id + "/" + op, json::object());
        return true;
      }
      case 'l': {
        const auto id = selected_service();
        if (!id) return true;
        auto c = DaemonClient::connect_existing();
        auto r = c ? c->get("/v1/services/" + *id + "/logs?n=500", std::chrono::seconds(10))
                   : util::Result<json>(std::unexpected(c.error()));
        std::lock_guard lock(m_mutex);
        if (!r) {
          m_data.notice = "log of " + *id + ": " + r.error().message;
          return true;
        }
        m_data.log_service = *id;
        m_data.log_lines = r->value("lines", std::vector<std::string>{});
        m_data.overlay = TopOverlay::log;
        return true;
      }
      default: return true;
    }
  }

  void loop() {
    while (true) {
      bool need_status = false;
      {
        std::lock_guard lock(m_mutex);
        need_status = m_need_status;
        m_need_status = false;
      }
      if (need_status || std::chrono::steady_clock::now() - m_last_status >= k_status_refresh) refresh_status();
      {
        std::lock_guard lock(m_mutex);
        m_term->draw(draw_top(m_data, m_term->width(), m_term->height()));
      }
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
          m_last_status + k_status_refresh - std::chrono::steady_clock::now());
      pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {m_wake[0], POLLIN, 0}};
      (void)::poll(fds, 2, static_cast<int>(std::max<std::int64_t>(0, wait.count())));
      if (fds[1].revents & POLLIN) {
        char buf[64];
        while (::read(m_wake[0], buf, sizeof buf) > 0) {
        }
      }
      // Keys (and KEY_RESIZE after SIGWINCH interrupted the poll).
      for (KeyPress k = m_term->read_key(); k.key != TopKey::none; k = m_term->read_key()) {
        if (!on_key(k)) return;
      }
    }
  }

  AppContext& m_ctx;
  std::filesystem::path m_root;
  std::optional<DaemonClient> m_client;
  std::unique_ptr<CursesTerminal> m_term;
  int m_wake[2] = {-1, -1};
  std::mutex m_mutex;
  TopData m_data;
  bool m_need_status = false;
  bool m_backlog_read = false;
  bool m_busy = false;
  std::string m_busy_label;
  std::atomic<bool> m_quit{false};
  std::chrono::steady_clock::time_point m_last_status{};
};

}  // namespace

void register_top_command(CLI::App& root, AppContext& ctx) {
  auto* sub = root.add_subcommand("top", "A live full-screen view: GPU memory, services, the current mode, events");
  sub->callback([&ctx] {
    ctx.set_action([&ctx] {
      // Leaked on purpose: the event thread is detached and may still look at it as the process ends.
      auto* app = new TopApp(ctx);
      app->run();
    });
  });
}

}  // namespace gpumod::app
