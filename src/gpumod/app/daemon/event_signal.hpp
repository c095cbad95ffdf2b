// EventSignal: an engine Observer that wakes whoever waits for the next event (event long-polls,
// the SSE stream, the config watcher's reporting) with a generation counter and a condition
// variable: waiting costs nothing until something happens.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

#include "gpumod/engine/engine.hpp"

namespace gpumod::app {

class EventSignal final : public engine::Observer {
 public:
  void on_event(const engine::EngineEvent&) override {
    {
      std::lock_guard lock(m_mutex);
      ++m_generation;
      if (m_listener) m_listener();
    }
    m_cv.notify_all();
  }
  // Also called on every event (the OpenAI endpoint's on-demand cache).
  void set_listener(std::function<void()> listener) {
    std::lock_guard lock(m_mutex);
    m_listener = std::move(listener);
  }
  // Waits until an event arrives after `generation`, the timeout passes, or stop() is called.
  std::uint64_t wait(std::uint64_t generation, std::chrono::milliseconds timeout) {
    std::unique_lock lock(m_mutex);
    m_cv.wait_for(lock, timeout, [&] { return m_generation != generation || m_stopping; });
    return m_generation;
  }
  std::uint64_t generation() {
    std::lock_guard lock(m_mutex);
    return m_generation;
  }
  bool stopping() {
    std::lock_guard lock(m_mutex);
    return m_stopping;
  }
  void stop() {
    {
      std::lock_guard lock(m_mutex);
      m_stopping = true;
    }
    m_cv.notify_all();
  }

 private:
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::uint64_t m_generation = 0;
  bool m_stopping = false;
  std::function<void()> m_listener;
};

}  // namespace gpumod::app
