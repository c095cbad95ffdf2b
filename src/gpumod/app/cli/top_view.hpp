// gpumod top, the drawing half: TopData is everything the live view shows (the daemon's status,
// the last events, a switch in progress, what the person is doing: the selected service, an open
// picker, help or log); draw_top is a pure function of it and the terminal's size that returns
// the screen as text lines (and a style per line, which the ncurses half turns into colour unless
// NO_COLOR). Collecting (top_command.cpp) and drawing are separate so drawing is tested with
// golden screens. Also the pure parts of collecting: status JSON -> TopData, events -> progress.
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace gpumod::app {

struct TopService {
  std::string id;
  std::string driver;
  std::string state;
  std::string reason;
  std::optional<int> port;
  int pid = 0;
  std::int64_t configured_mib = 0;
  std::optional<std::int64_t> measured_mib;
  std::optional<std::int64_t> learned_mib;
};

struct TopGpu {
  int index = 0;
  std::string name;
  bool simulated = false;
  std::int64_t total_mib = 0;
  std::int64_t used_mib = 0;
  std::int64_t external_mib = 0;  // processes gpumod does not manage
};

struct TopEvent {
  std::int64_t id = 0;
  std::int64_t ts_ms = 0;
  std::string kind;
  std::string service;
  std::string mode;
  std::string message;
};

// A request the OpenAI-compatible endpoint answered (GET /v1/requests).
struct TopRequest {
  std::int64_t ts_ms = 0;
  std::string model;
  std::string service;  // "" when no configured model was named
  int status = 0;
  std::int64_t queue_ms = 0;
  std::int64_t ttfb_ms = -1;  // -1: no first byte
  std::int64_t duration_ms = 0;
  std::optional<std::int64_t> prompt_tokens;
  std::optional<std::int64_t> completion_tokens;
};

// A switch in progress, from its events.
struct TopSwitch {
  std::string target;
  int total_steps = 0;
  int done_steps = 0;
  std::string last;  // the last step's message
};

enum class TopOverlay { none, help, modes, log };

struct TopData {
  bool connected = false;
  std::string error;  // why there is no status (the daemon is gone, ...)
  std::optional<std::string> mode;
  std::vector<TopGpu> gpus;
  std::vector<TopService> services;
  std::vector<TopEvent> events;  // oldest first, the last few
  std::string endpoint;          // HOST:PORT of the OpenAI-compatible endpoint; "": no panel
  std::vector<TopRequest> requests;  // oldest first, the last few
  std::optional<TopSwitch> switching;
  std::string config_problem;
  std::string notice;  // the outcome of the last key action
  // What the person is doing.
  std::size_t selected = 0;  // index into services
  TopOverlay overlay = TopOverlay::none;
  std::vector<std::string> modes;  // for the picker
  std::size_t mode_cursor = 0;
  std::string log_service;
  std::vector<std::string> log_lines;
};

enum class LineStyle { normal, title, header, selected, good, warn, bad, dim };

struct TopScreen {
  std::vector<std::string> lines;  // exactly `height` lines of at most `width` columns
  std::vector<LineStyle> styles;
};

TopScreen draw_top(const TopData& data, int width, int height);
std::string screen_text(const TopScreen& screen);  // lines joined with "\n", right-trimmed

// Collecting helpers (pure).
void apply_status(TopData& data, const nlohmann::json& status);
// GET /v1/requests's answer: the endpoint's address (null: it does not listen) and its requests.
void apply_requests(TopData& data, const nlohmann::json& answer);
// Adds an event (keeps the last `keep`) and follows a switch's progress; an event already held
// (its id, from the backlog read at start) is not added twice.
void apply_event(TopData& data, const TopEvent& event, std::size_t keep = 50);

}  // namespace gpumod::app
