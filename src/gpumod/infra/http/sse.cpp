#include "gpumod/infra/http/sse.hpp"

#include <charconv>

namespace gpumod::infra::http {

void SseParser::reset() { *this = SseParser{}; }

void SseParser::feed(std::string_view chunk, const Handler& on_event) {
  if (!m_started) {
    // The BOM may itself arrive split; wait until three bytes or a mismatch are known.
    static constexpr std::string_view k_bom = "\xEF\xBB\xBF";
    m_line.append(chunk);
    if (m_line.size() < k_bom.size() && k_bom.starts_with(m_line)) return;
    m_started = true;
    std::string pending;
    pending.swap(m_line);
    std::string_view rest = pending;
    if (rest.starts_with(k_bom)) rest.remove_prefix(k_bom.size());
    feed(rest, on_event);
    return;
  }
  std::size_t i = 0;
  if (m_after_cr && !chunk.empty()) {
    if (chunk.front() == '\n') i = 1;
    m_after_cr = false;
  }
  std::size_t start = i;
  for (; i < chunk.size(); ++i) {
    const char c = chunk[i];
    if (c != '\n' && c != '\r') continue;
    m_line.append(chunk.substr(start, i - start));
    process_line(m_line, on_event);
    m_line.clear();
    if (c == '\r') {
      if (i + 1 < chunk.size()) {
        if (chunk[i + 1] == '\n') ++i;
      } else {
        m_after_cr = true;
      }
    }
    start = i + 1;
  }
  if (start < chunk.size()) m_line.append(chunk.substr(start));
}

void SseParser::process_line(std::string_view line, const Handler& on_event) {
  if (line.empty()) {
    if (m_has_data) {
      SseEvent ev;
      if (!m_event.empty()) ev.event = m_event;
      ev.data = std::move(m_data);
      if (!ev.data.empty() && ev.data.back() == '\n') ev.data.pop_back();
      ev.id = m_last_id;
      on_event(ev);
    }
    m_has_data = false;
    m_data.clear();
    m_event.clear();
    return;
  }
  if (line.front() == ':') return;  // comment / keep-alive
  std::string_view field = line;
  std::string_view value;
  if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    m_data.append(value);
    m_data.push_back('\n');
    m_has_data = true;
  } else if (field == "event") {
    m_event = std::string(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) m_last_id = std::string(value);
  } else if (field == "retry") {
    long long ms = 0;
    const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), ms);
    if (ec == std::errc{} && ptr == value.data() + value.size() && ms >= 0) m_retry_ms = ms;
  }
  // other fields are ignored
}

}  // namespace gpumod::infra::http
