// Engine::config() while a live reload replaces the configuration: every reader holds one
// consistent snapshot (its modes name only its own services; what it found in it stays valid),
// and a snapshot taken before a reload is left as it was.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "gpumod/core/config.hpp"
#include "gpumod/engine/engine.hpp"
#include "gpumod/infra/gpu/simulated_probe.hpp"
#include "gpumod/infra/process/spawner.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "support/temp_dir.hpp"

namespace gpumod::engine {
namespace {

using namespace std::chrono_literals;

// Generation `n`: services g<n>-a and g<n>-b (never started) and mode m<n> holding both.
core::Config generation(const std::filesystem::path& root, int n) {
  core::Config c;
  c.root = root;
  for (const char* suffix : {"a", "b"}) {
    core::Service s;
    s.id = "g" + std::to_string(n) + "-" + suffix;
    s.name = s.id;
    s.driver = core::DriverKind::vllm;
    s.port = 41000 + n % 1000;
    s.vram_mib = 1000 + n;
    s.restart = core::RestartPolicy::never;
    c.services.push_back(s);
  }
  core::Mode m;
  m.id = "m" + std::to_string(n);
  m.name = m.id;
  m.services = {c.services[0].id, c.services[1].id};
  c.modes = {m};
  return c;
}

TEST(ConfigSnapshot, ReadersGetAConsistentConfigurationWhileReloadsReplaceIt) {
  test_support::TempDir tmp;
  auto store = infra::state::StateStore::open(tmp.path() / "state.db");
  ASSERT_TRUE(store) << store.error().message;
  auto probe = infra::gpu::make_simulated_probe(core::SimulatedGpu{"Sim", 24000, false}, tmp.path() / "ledger");
  infra::process::LinuxProcessSpawner spawner;
  EngineSettings settings;
  settings.log_dir = tmp.path() / "logs";
  settings.health_interval = 3600s;
  settings.margin_mib = 0;
  Engine engine(generation(tmp.path(), 0), *store, *probe, spawner, settings);

  const auto first = engine.config();
  constexpr int k_reloads = 60;
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::atomic<int> inconsistent{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!done.load()) {
        const auto cfg = engine.config();
        const auto* mode = cfg->modes.empty() ? nullptr : &cfg->modes.front();
        if (mode == nullptr || cfg->services.size() != 2) {
          ++inconsistent;
          continue;
        }
        // What is found in the snapshot is read after a reload may have run.
        const auto* a = cfg->find_service(mode->services[0]);
        std::this_thread::yield();
        const auto* b = cfg->find_service(mode->services[1]);
        const std::string gen = mode->id.substr(1);
        if (a == nullptr || b == nullptr || a->id != "g" + gen + "-a" || b->id != "g" + gen + "-b" ||
            a->vram_mib != 1000 + std::stoi(gen)) {
          ++inconsistent;
        }
        ++reads;
      }
    });
  }
  for (int n = 1; n <= k_reloads; ++n) {
    auto report = engine.reload_config(generation(tmp.path(), n));
    if (!report) {
      ADD_FAILURE() << report.error().message;
      break;
    }
    EXPECT_TRUE(report->changed);
    // Let the readers see this generation before the next one.
    const int before = reads.load();
    while (reads.load() < before + 8 && inconsistent.load() == 0) std::this_thread::yield();
  }
  done = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(inconsistent.load(), 0);
  EXPECT_GE(reads.load(), k_reloads * 8);
  // The snapshot taken first is the first configuration still; the engine's is the last.
  ASSERT_EQ(first->modes.size(), 1u);
  EXPECT_EQ(first->modes.front().id, "m0");
  EXPECT_EQ(first->services.front().id, "g0-a");
  EXPECT_EQ(engine.config()->modes.front().id, "m" + std::to_string(k_reloads));
}

}  // namespace
}  // namespace gpumod::engine
