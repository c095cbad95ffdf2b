// ObserverList: one Observer that hands every engine event to several (the daemon's event signal,
// its metrics recorder), in the order they were added.
// Thread-safety: add() before the engine runs; on_event is then called from any thread and calls
// each observer in turn (they guard themselves).
#pragma once

#include <vector>

#include "gpumod/engine/engine.hpp"

namespace gpumod::engine {

class ObserverList final : public Observer {
 public:
  void add(Observer& observer) { m_observers.push_back(&observer); }
  void on_event(const EngineEvent& event) override {
    for (auto* o : m_observers) o->on_event(event);
  }

 private:
  std::vector<Observer*> m_observers;
};

}  // namespace gpumod::engine
