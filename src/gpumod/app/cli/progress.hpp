// SwitchProgress: "step n of m" of a mode switch on a terminal while `gpumod mode switch` waits for
// the daemon's answer, from the daemon's event stream (switch.started says how many steps,
// each switch.step is one). Only for a person: the caller makes one only when stderr is a TTY and
// no --json was asked; pipes and scripts get nothing. The line is rewritten in place and cleared
// when the progress ends.
// Thread-safety: one owner; an internal thread follows the stream and writes under a mutex; after
// the destructor returns nothing more is written.
#pragma once

#include <memory>
#include <ostream>
#include <string>

namespace gpumod::app {

class SwitchProgress {
 public:
  // Follows the stream (waits up to a second for it to open, so the first step is not missed).
  SwitchProgress(std::ostream& out, std::string target_mode);
  ~SwitchProgress();  // clears the line
  SwitchProgress(const SwitchProgress&) = delete;
  SwitchProgress& operator=(const SwitchProgress&) = delete;

  struct State;

 private:
  std::shared_ptr<State> m_state;
};

// The progress line for a step: "switching to code: step 2 of 5 - chat started" (pure).
std::string switch_progress_line(const std::string& target, int step, int total, const std::string& message);

}  // namespace gpumod::app
