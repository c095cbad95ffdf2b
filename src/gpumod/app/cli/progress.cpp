#include "gpumod/app/cli/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "gpumod/app/cli/daemon_client.hpp"

namespace gpumod::app {

struct SwitchProgress::State {
  std::mutex mutex;
  std::condition_variable opened_cv;
  bool opened = false;
  bool done = false;
  std::ostream* out = nullptr;
  std::string target;
  int total = 0;
  int step = 0;
};

std::string switch_progress_line(const std::string& target, int step, int total, const std::string& message) {
  std::string line = "switching to " + target;
  if (total > 0) line += ": step " + std::to_string(step) + " of " + std::to_string(total);
  if (!message.empty()) line += " - " + message;
  return line;
}

namespace {

std::size_t terminal_columns() {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

}  // namespace

SwitchProgress::SwitchProgress(std::ostream& out, std::string target_mode) : m_state(std::make_shared<State>()) {
  m_state->out = &out;
  m_state->target = std::move(target_mode);
  std::thread([state = m_state] {
    auto client = DaemonClient::connect_existing();
    if (!client) return;
    (void)client->follow_events(
        -1,
        [state](const nlohmann::json& e) {
          std::lock_guard lock(state->mutex);
          if (state->done) return false;
          const std::string kind = e.value("kind", "");
          if (e.value("mode", "") != state->target) return true;
          std::string message;
          if (kind == "switch.started") {
            const std::string m = e.value("message", "");
            if (const auto at = m.rfind(": "); at != std::string::npos) state->total = std::atoi(m.c_str() + at + 2);
            state->step = 0;
          } else if (kind == "switch.step") {
            ++state->step;
            message = e.value("message", "");
          } else {
            return true;
          }
          std::string line = switch_progress_line(state->target, state->step, state->total, message);
          const auto cols = terminal_columns();
          if (line.size() >= cols) line.resize(cols - 1);
          *state->out << "\r\033[K" << line << std::flush;
          return true;
        },
        [state] {
          std::lock_guard lock(state->mutex);
          state->opened = true;
          state->opened_cv.notify_all();
        });
    std::lock_guard lock(state->mutex);
    state->opened = true;  // the stream ended (or never opened): nobody waits for it
    state->opened_cv.notify_all();
  }).detach();  // blocked in the stream until the process ends; writes nothing after done
  std::unique_lock lock(m_state->mutex);
  m_state->opened_cv.wait_for(lock, std::chrono::seconds(1), [&] { return m_state->opened; });
}

SwitchProgress::~SwitchProgress() {
  std::lock_guard lock(m_state->mutex);
  m_state->done = true;
  *m_state->out << "\r\033[K" << std::flush;
}

}  // namespace gpumod::app
