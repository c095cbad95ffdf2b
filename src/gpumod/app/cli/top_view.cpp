#include "gpumod/app/cli/top_view.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "gpumod/util/strings.hpp"

namespace gpumod::app {

using nlohmann::json;
using util::group_thousands;

namespace {

constexpr char k_symbols[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// Columns of a UTF-8 string (one per code point; the view draws no wide characters).
std::size_t columns(const std::string& s) {
  std::size_t n = 0;
  for (const unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Cut or pad to exactly `width` columns.
std::string fit(const std::string& s, int width) {
  if (width <= 0) return "";
  std::string out;
  std::size_t cols = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80) {
      if (cols == static_cast<std::size_t>(width)) break;
      ++cols;
    }
    out += (c == '\n' || c == '\t') ? ' ' : s[i];
  }
  out.append(static_cast<std::size_t>(width) - cols, ' ');
  return out;
}

std::string pad_left(const std::string& s, std::size_t n) {
  const auto c = columns(s);
  return c >= n ? s : std::string(n - c, ' ') + s;
}
std::string pad_right(const std::string& s, std::size_t n) {
  const auto c = columns(s);
  return c >= n ? s : s + std::string(n - c, ' ');
}

std::string mib(const std::optional<std::int64_t>& v) { return v ? group_thousands(*v) : "-"; }

std::string clock_text(std::int64_t ts_ms) {
  const std::time_t secs = ts_ms / 1000;
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

LineStyle state_style(const std::string& state) {
  if (state == "running") return LineStyle::good;
  if (state == "failed" || state == "unhealthy") return LineStyle::bad;
  if (state == "starting" || state == "loading" || state == "unknown") return LineStyle::warn;
  if (state == "sleeping") return LineStyle::dim;
  return LineStyle::normal;
}

class Canvas {
 public:
  Canvas(int width, int height) : m_width(width), m_height(height) {}
  void add(const std::string& text, LineStyle style = LineStyle::normal) {
    m_lines.push_back(fit(text, m_width));
    m_styles.push_back(style);
  }
  int used() const { return static_cast<int>(m_lines.size()); }
  TopScreen finish(std::vector<std::pair<std::string, LineStyle>> footer) {
    // The footer sits on the last lines; the body is cut to leave room for it.
    const int room = std::max(0, m_height - static_cast<int>(footer.size()));
    if (used() > room) {
      m_lines.resize(static_cast<std::size_t>(room));
      m_styles.resize(static_cast<std::size_t>(room));
    }
    while (used() < room) add("");
    for (auto& [text, style] : footer) {
      if (used() < m_height) add(text, style);
    }
    return {std::move(m_lines), std::move(m_styles)};
  }

 private:
  int m_width;
  int m_height;
  std::vector<std::string> m_lines;
  std::vector<LineStyle> m_styles;
};

std::string title(const TopData& d, int width) {
  std::string left = "gpumod top   mode: " + d.mode.value_or("(none)");
  const std::string right = "? help  q quit";
  const auto l = columns(left), r = columns(right);
  if (static_cast<int>(l + r + 1) <= width) left += std::string(static_cast<std::size_t>(width) - l - r, ' ') + right;
  return left;
}

void draw_gpus(const TopData& d, Canvas& c, int width) {
  for (std::size_t g = 0; g < d.gpus.size(); ++g) {
    const auto& gpu = d.gpus[g];
    const std::int64_t free_mib = std::max<std::int64_t>(0, gpu.total_mib - gpu.used_mib);
    c.add("GPU " + std::to_string(gpu.index) + "  " + group_thousands(gpu.used_mib) + " / " +
          group_thousands(gpu.total_mib) + " MiB used  " + gpu.name + (gpu.simulated ? " [sim]" : ""));
    // The bar: each service's measured memory (the first GPU is the one gpumod manages), then
    // the processes gpumod does not manage (#), then free (.).
    const int cells = std::max(1, width - 2);
    std::string bar;
    std::string legend;
    const auto scaled = [&](std::int64_t m) {
      return gpu.total_mib > 0 ? static_cast<int>((m * cells + gpu.total_mib / 2) / gpu.total_mib) : 0;
    };
    if (g == 0) {
      for (std::size_t i = 0; i < d.services.size(); ++i) {
        const auto& s = d.services[i];
        if (!s.measured_mib || *s.measured_mib <= 0) continue;
        const char sym = k_symbols[i % (sizeof k_symbols - 1)];
        bar.append(static_cast<std::size_t>(std::max(1, scaled(*s.measured_mib))), sym);
        legend += std::string(1, sym) + " " + s.id + " " + group_thousands(*s.measured_mib) + "  ";
      }
    }
    if (gpu.external_mib > 0) {
      bar.append(static_cast<std::size_t>(std::max(1, scaled(gpu.external_mib))), '#');
      legend += "# other " + group_thousands(gpu.external_mib) + "  ";
    }
    if (static_cast<int>(bar.size()) > cells) bar.resize(static_cast<std::size_t>(cells));
    bar.append(static_cast<std::size_t>(cells) - bar.size(), '.');
    legend += ". free " + group_thousands(free_mib);
    c.add("[" + bar + "]");
    c.add(legend, LineStyle::dim);
  }
}

std::string service_row(const TopService& s, bool selected) {
  return std::string(selected ? "> " : "  ") + pad_right(s.id, 20) + " " + pad_right(s.state, 10) + " " +
         pad_left(s.port ? std::to_string(*s.port) : "-", 6) + " " + pad_left(s.pid ? std::to_string(s.pid) : "-", 7) +
         " " + pad_left(mib(s.measured_mib), 9) + " " + pad_left(mib(s.learned_mib), 8) + " " +
         pad_left(group_thousands(s.configured_mib), 8);
}

// 850 -> "850ms", 1500 -> "1.5s", 95000 -> "95s".
std::string short_ms(std::int64_t ms) {
  if (ms < 0) return "-";
  if (ms < 1000) return std::to_string(ms) + "ms";
  if (ms < 10000) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
    return buf;
  }
  return std::to_string(ms / 1000) + "s";
}

// Cut to `n` columns, then padded: a long name never pushes the columns after it.
std::string column(const std::string& s, std::size_t n) { return fit(s, static_cast<int>(n)); }

std::string request_row(const TopRequest& r) {
  const auto tok = [](const std::optional<std::int64_t>& v) { return v ? std::to_string(*v) : std::string("-"); };
  return clock_text(r.ts_ms) + " " + column(r.model, 19) + " " + column(r.service.empty() ? "-" : r.service, 19) +
         " " + pad_left(std::to_string(r.status), 3) + " " + pad_left(short_ms(r.queue_ms), 5) + " " +
         pad_left(short_ms(r.ttfb_ms), 5) + " " + pad_left(short_ms(r.duration_ms), 5) + " " + tok(r.prompt_tokens) +
         "/" + tok(r.completion_tokens);
}

void draw_main(const TopData& d, Canvas& c, int width, int height, int footer) {
  draw_gpus(d, c, width);
  if (!d.config_problem.empty()) c.add("Config not applied (the last valid one runs): " + d.config_problem, LineStyle::bad);
  if (d.switching) {
    const auto& sw = *d.switching;
    std::string line = "Switching to " + sw.target;
    if (sw.total_steps > 0) line += ": step " + std::to_string(std::min(sw.done_steps + 1, sw.total_steps)) + " of " + std::to_string(sw.total_steps);
    if (!sw.last.empty()) line += " - " + sw.last;
    c.add(line, LineStyle::warn);
  }
  c.add("");
  c.add("  SERVICE              STATE        PORT     PID  MEASURED  LEARNED   CONFIG", LineStyle::header);
  // Services take what they need, leaving at least 4 lines for events (and 3 for requests when
  // the endpoint listens) when there is room.
  const bool endpoint = !d.endpoint.empty();
  const int left = height - footer - c.used();
  const int events_min = d.events.empty() ? 0 : std::min<int>(static_cast<int>(d.events.size()) + 2, 6);
  const int requests_min = endpoint ? 3 : 0;
  const int rows = std::max(1, std::min<int>(static_cast<int>(d.services.size()), left - events_min - requests_min));
  std::size_t first = 0;
  if (d.selected >= static_cast<std::size_t>(rows)) first = d.selected - static_cast<std::size_t>(rows) + 1;
  if (d.services.empty()) c.add("  (no services configured)", LineStyle::dim);
  for (std::size_t i = first; i < d.services.size() && i < first + static_cast<std::size_t>(rows); ++i) {
    const auto& s = d.services[i];
    c.add(service_row(s, i == d.selected), i == d.selected ? LineStyle::selected : state_style(s.state));
  }
  if (endpoint && height - footer - c.used() >= 3) {
    // The last requests take up to half of what is left, the events the rest.
    const int free_lines = height - footer - c.used() - 2;
    const int events_want = d.events.empty() ? 0 : std::min<int>(static_cast<int>(d.events.size()) + 2, free_lines / 2);
    const int n = std::max(1, std::min<int>(std::max<int>(1, static_cast<int>(d.requests.size())), free_lines - events_want));
    c.add("");
    c.add("REQUESTS MODEL               SERVICE             STA QUEUE  TTFB TOTAL TOKENS", LineStyle::header);
    if (d.requests.empty()) c.add("  (none yet: the OpenAI-compatible endpoint records each one it answers)", LineStyle::dim);
    const std::size_t shown = std::min<std::size_t>(d.requests.size(), static_cast<std::size_t>(n));
    for (std::size_t i = d.requests.size() - shown; i < d.requests.size(); ++i) {
      const auto& r = d.requests[i];
      c.add(request_row(r), r.status >= 400 ? LineStyle::bad : LineStyle::normal);
    }
  }
  const int room = height - footer - c.used() - 2;
  if (room > 0 && !d.events.empty()) {
    c.add("");
    c.add("EVENTS", LineStyle::header);
    const std::size_t n = std::min<std::size_t>(d.events.size(), static_cast<std::size_t>(room));
    for (std::size_t i = d.events.size() - n; i < d.events.size(); ++i) {
      const auto& e = d.events[i];
      const bool bad = e.kind.find("failed") != std::string::npos || e.kind.find("rejected") != std::string::npos ||
                       e.kind.find("refused") != std::string::npos || e.kind == "health.unhealthy";
      c.add(clock_text(e.ts_ms) + " " + pad_right(e.kind, 16) + " " + e.message, bad ? LineStyle::bad : LineStyle::normal);
    }
  }
}

void draw_help(Canvas& c) {
  c.add("Keys", LineStyle::header);
  for (const char* line : {"  up/down, j/k   select a service",
                           "  m              switch mode (a picker; Enter switches, Esc closes)",
                           "  s              start the selected service",
                           "  x              stop it",
                           "  z              sleep it",
                           "  w              wake it",
                           "  l              its log (the last lines)",
                           "  ?              this help (any key closes it)",
                           "  q              quit (services keep running)",
                           "",
                           "The view follows the daemon's event stream; memory is read again on",
                           "each event. NO_COLOR turns colour off."}) {
    c.add(line);
  }
}

void draw_modes(const TopData& d, Canvas& c) {
  c.add("Switch to mode (Enter switches, Esc closes)", LineStyle::header);
  if (d.modes.empty()) c.add("  (no modes configured)", LineStyle::dim);
  for (std::size_t i = 0; i < d.modes.size(); ++i) {
    const bool current = d.mode && *d.mode == d.modes[i];
    c.add(std::string(i == d.mode_cursor ? "> " : "  ") + d.modes[i] + (current ? "  (current)" : ""),
          i == d.mode_cursor ? LineStyle::selected : LineStyle::normal);
  }
}

void draw_log(const TopData& d, Canvas& c, int height, int footer) {
  c.add("Log of " + d.log_service + " (Esc closes)", LineStyle::header);
  const int room = std::max(0, height - footer - c.used());
  const std::size_t n = std::min<std::size_t>(d.log_lines.size(), static_cast<std::size_t>(room));
  if (d.log_lines.empty()) c.add("  (the log is empty)", LineStyle::dim);
  for (std::size_t i = d.log_lines.size() - n; i < d.log_lines.size(); ++i) c.add(d.log_lines[i]);
}

}  // namespace

TopScreen draw_top(const TopData& d, int width, int height) {
  Canvas c(width, height);
  std::vector<std::pair<std::string, LineStyle>> footer;
  std::string notice = d.notice;
  if (notice.empty() && d.selected < d.services.size() && !d.services[d.selected].reason.empty()) {
    notice = d.services[d.selected].id + ": " + d.services[d.selected].reason;
  }
  footer.emplace_back(notice, LineStyle::dim);
  footer.emplace_back("m mode  s start  x stop  z sleep  w wake  l log  ? help  q quit", LineStyle::title);
  const int footer_lines = static_cast<int>(footer.size());
  c.add(title(d, width), LineStyle::title);
  if (!d.connected) {
    c.add("");
    c.add("No daemon answers: " + (d.error.empty() ? std::string("connecting") : d.error), LineStyle::bad);
    return c.finish(footer);
  }
  switch (d.overlay) {
    case TopOverlay::none: draw_main(d, c, width, height, footer_lines); break;
    case TopOverlay::help: draw_help(c); break;
    case TopOverlay::modes: draw_modes(d, c); break;
    case TopOverlay::log: draw_log(d, c, height, footer_lines); break;
  }
  return c.finish(footer);
}

std::string screen_text(const TopScreen& screen) {
  std::string out;
  for (const auto& line : screen.lines) {
    auto end = line.find_last_not_of(' ');
    out += (end == std::string::npos ? std::string() : line.substr(0, end + 1)) + "\n";
  }
  return out;
}

void apply_status(TopData& d, const json& st) {
  d.connected = true;
  d.error.clear();
  d.mode = st.contains("current_mode") && st["current_mode"].is_string()
               ? std::optional<std::string>(st["current_mode"].get<std::string>())
               : std::nullopt;
  d.config_problem = st.value("config_problem", "");
  d.gpus.clear();
  const bool simulated = st.contains("gpu") && st["gpu"].value("simulated", false);
  if (st.contains("gpu") && st["gpu"].contains("devices")) {
    for (const auto& g : st["gpu"]["devices"]) {
      TopGpu gpu;
      gpu.index = g.value("index", 0);
      gpu.name = g.value("name", "");
      gpu.simulated = simulated;
      gpu.total_mib = g.value("total_mib", std::int64_t{0});
      gpu.used_mib = g.value("used_mib", std::int64_t{0});
      d.gpus.push_back(std::move(gpu));
    }
  }
  if (!d.gpus.empty()) d.gpus.front().external_mib = st.value("external_mib", std::int64_t{0});
  const auto opt = [](const json& j, const char* k) -> std::optional<std::int64_t> {
    return j.contains(k) && j[k].is_number() ? std::optional<std::int64_t>(j[k].get<std::int64_t>()) : std::nullopt;
  };
  d.services.clear();
  for (const auto& s : st.value("services", json::array())) {
    TopService t;
    t.id = s.value("id", "");
    t.driver = s.value("driver", "");
    t.state = s.value("state", "");
    t.reason = s.value("reason", "");
    if (s.contains("port") && s["port"].is_number()) t.port = s["port"].get<int>();
    t.pid = s.value("pid", 0);
    t.configured_mib = s.value("configured_mib", std::int64_t{0});
    t.measured_mib = opt(s, "measured_mib");
    t.learned_mib = opt(s, "learned_mib");
    d.services.push_back(std::move(t));
  }
  if (d.selected >= d.services.size()) d.selected = d.services.empty() ? 0 : d.services.size() - 1;
}

void apply_requests(TopData& d, const json& answer) {
  d.endpoint = answer.contains("endpoint") && answer["endpoint"].is_string() ? answer["endpoint"].get<std::string>() : "";
  d.requests.clear();
  if (!answer.contains("requests") || !answer["requests"].is_array()) return;
  const auto opt = [](const json& j, const char* k) -> std::optional<std::int64_t> {
    return j.contains(k) && j[k].is_number() ? std::optional<std::int64_t>(j[k].get<std::int64_t>()) : std::nullopt;
  };
  for (const auto& r : answer["requests"]) {
    if (!r.is_object()) continue;
    TopRequest t;
    t.ts_ms = r.value("ts_ms", std::int64_t{0});
    t.model = r.value("model", "");
    t.service = r.value("service", "");
    t.status = r.value("status", 0);
    t.queue_ms = r.value("queue_ms", std::int64_t{0});
    t.ttfb_ms = r.value("ttfb_ms", std::int64_t{-1});
    t.duration_ms = r.value("duration_ms", std::int64_t{0});
    t.prompt_tokens = opt(r, "prompt_tokens");
    t.completion_tokens = opt(r, "completion_tokens");
    d.requests.push_back(std::move(t));
  }
}

void apply_event(TopData& d, const TopEvent& e, std::size_t keep) {
  if (e.id > 0 && !d.events.empty() && e.id <= d.events.back().id) return;  // held already (backlog)
  d.events.push_back(e);
  if (d.events.size() > keep) d.events.erase(d.events.begin(), d.events.end() - static_cast<std::ptrdiff_t>(keep));
  if (e.kind == "switch.started") {
    TopSwitch sw;
    sw.target = e.mode;
    // "switching a -> b: N steps"
    if (const auto at = e.message.rfind(": "); at != std::string::npos) {
      try {
        sw.total_steps = std::stoi(e.message.substr(at + 2));
      } catch (const std::exception&) {
        sw.total_steps = 0;
      }
    }
    d.switching = sw;
  } else if (e.kind == "switch.step" && d.switching) {
    ++d.switching->done_steps;
    d.switching->last = e.message;
  } else if (e.kind == "switch.done" || e.kind == "switch.failed" || e.kind == "switch.refused") {
    d.switching.reset();
  }
}

}  // namespace gpumod::app
