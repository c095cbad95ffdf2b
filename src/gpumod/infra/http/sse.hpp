// Incremental parser for Server-Sent Events (text/event-stream), as used by llama-server and
// vLLM for streamed completions. Feed it the body in pieces of any size (a line may be split
// across pieces, "\r\n" too); it calls back once per complete event. Follows the WHATWG rules:
// lines end in "\n", "\r\n" or "\r"; a blank line ends an event; lines starting with ':' are
// comments; "data" lines are joined with "\n"; one space after the colon is dropped; "id" is
// sticky across events; an event with no data is not dispatched; a leading UTF-8 BOM is skipped.
// An unfinished event at the end of the stream is dropped (call reset() before reusing).
// Thread-safety: none; one parser per stream.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace gpumod::infra::http {

struct SseEvent {
  std::string event = "message";  // the "event:" field, "message" when absent
  std::string data;               // "data:" lines joined with "\n"
  std::string id;                 // the last "id:" seen on this stream (sticky)
};

class SseParser {
 public:
  using Handler = std::function<void(const SseEvent&)>;

  void feed(std::string_view chunk, const Handler& on_event);
  void reset();

  // The last "retry:" value in milliseconds, or -1 if none was sent.
  long long retry_ms() const { return m_retry_ms; }

 private:
  void process_line(std::string_view line, const Handler& on_event);

  std::string m_line;      // the current, unfinished line
  bool m_after_cr = false; // the previous piece ended in '\r' (a following '\n' is skipped)
  bool m_started = false;  // the BOM check has been done
  bool m_has_data = false;
  std::string m_event;
  std::string m_data;
  std::string m_last_id;
  long long m_retry_ms = -1;
};

}  // namespace gpumod::infra::http
