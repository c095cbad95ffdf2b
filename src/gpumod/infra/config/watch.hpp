// ConfigWatcher: follows a configuration root with inotify — the root (gpumod.yaml), presets/**
// and modes/, folders created later included — and calls back once per burst of changes to
// YAML files, when `quiet` has passed without another one (an editor's write-then-rename, or a
// `cp -r` of many presets, is one call). No polling: the thread sleeps in poll(2) until the
// kernel reports a change or the watcher is stopped.
// Thread-safety: the callback runs on the watcher's own thread; the destructor stops and joins it
// (do not destroy the watcher from inside the callback).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>

#include "gpumod/util/result.hpp"

namespace gpumod::infra::config {

class ConfigWatcher {
 public:
  static util::Result<std::unique_ptr<ConfigWatcher>> start(std::filesystem::path root,
                                                            std::chrono::milliseconds quiet,
                                                            std::function<void()> on_change);
  ~ConfigWatcher();
  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

 private:
  struct Impl;
  explicit ConfigWatcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m;
};

}  // namespace gpumod::infra::config
