// Randomized sequences over router-mates (issue #11): the engine driven in-process (one Engine, as
// the daemon holds it) against real gpumod-mock-server processes on a simulated GPU: 2 routers
// (models_max 1 with 2 mates, models_max 2 with 3 mates), 2 vLLM services and an HTTP app. Each
// step is a random start/stop/sleep/wake (with or without --evict)/restart/switch, a mock crash
// (SIGKILL), a router killed and restarted by the health monitor, an outside load into a router (it
// evicts at models_max) or a health round; after every
// step the invariants below are checked against what the processes and routers say themselves.
// Seeds are fixed and printed; GPUMOD_RANDOM_SEED=N [GPUMOD_RANDOM_OPS=M] replays one.
#include <signal.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include "gpumod/core/config.hpp"
#include "gpumod/engine/engine.hpp"
#include "gpumod/infra/gpu/sim_ledger.hpp"
#include "gpumod/infra/gpu/simulated_probe.hpp"
#include "gpumod/infra/http/client.hpp"
#include "gpumod/infra/process/spawner.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "support/free_port.hpp"
#include "support/temp_dir.hpp"

namespace gpumod::engine {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using core::ServiceState;
using nlohmann::json;

constexpr std::int64_t k_total_mib = 28000;

struct Recorder : Observer {
  std::vector<EngineEvent> events;
  void on_event(const EngineEvent& e) override { events.push_back(e); }
};

struct RouterInfo {
  int port = 0;
  int models_max = 1;
  std::vector<std::string> mates;
};

class RandomSequence : public ::testing::Test {
 protected:
  test_support::TempDir tmp;
  std::optional<infra::state::StateStore> store;
  std::unique_ptr<infra::gpu::GpuProbe> probe;
  infra::process::LinuxProcessSpawner spawner;
  core::Config config;
  std::map<std::string, RouterInfo> routers;      // r1, r2
  std::map<std::string, std::string> router_of;   // mate -> router
  std::map<std::string, std::string> model_of;    // mate -> model id
  std::map<std::string, std::int64_t> vram;       // service -> MiB

  fs::path ledger() const { return tmp.path() / "ledger"; }

  void SetUp() override {
    auto st = infra::state::StateStore::open(tmp.path() / "state.db");
    ASSERT_TRUE(st) << st.error().message;
    store.emplace(std::move(*st));
    probe = infra::gpu::make_simulated_probe(core::SimulatedGpu{"Sim", k_total_mib, false}, ledger());
    config.root = tmp.path();
    const std::map<std::string, std::string> env{{"GPUMOD_MOCK_LEDGER_DIR", ledger().string()}};
    const auto add_router = [&](const std::string& r, int models_max, std::vector<std::pair<std::string, std::int64_t>> mates) {
      RouterInfo info{test_support::free_loopback_port(), models_max, {}};
      for (const auto& [id, mib] : mates) {
        core::Service s;
        s.id = id;
        s.name = id;
        s.driver = core::DriverKind::llamacpp;
        s.sleep_mode = core::SleepMode::router;
        s.port = info.port;
        s.vram_mib = mib;
        s.startup_timeout = 20s;
        s.stop_timeout = 5s;
        s.restart = core::RestartPolicy::on_failure;
        s.unit_vars = {{"models_dir", "/nonexistent/" + r}, {"models_max", std::to_string(models_max)},
                       {"no_models_autoload", "true"}, {"default_model", "m-" + id}};
        s.env = env;
        // Slow loads on one mate of each router.
        if (id.ends_with("-b")) s.env["GPUMOD_MOCK_LOAD_DELAY_MS"] = "150";
        config.services.push_back(s);
        info.mates.push_back(id);
        router_of[id] = r;
        model_of[id] = "m-" + id;
        vram[id] = mib;
      }
      routers[r] = info;
    };
    add_router("r1", 1, {{"r1-a", 6000}, {"r1-b", 7000}});
    add_router("r2", 2, {{"r2-a", 3000}, {"r2-b", 4000}, {"r2-c", 5000}});
    for (const auto& [id, mib, level] : {std::tuple{"v1", std::int64_t{8000}, core::SleepMode::l1},
                                         std::tuple{"v2", std::int64_t{5000}, core::SleepMode::l2}}) {
      core::Service s;
      s.id = id;
      s.name = id;
      s.driver = core::DriverKind::vllm;
      s.sleep_mode = level;
      s.port = test_support::free_loopback_port();
      s.vram_mib = mib;
      s.model_id = std::string("org/") + id;
      s.startup_timeout = 20s;
      s.stop_timeout = 5s;
      s.env = env;
      config.services.push_back(s);
      vram[id] = mib;
    }
    {
      core::Service s;
      s.id = "app";
      s.name = "app";
      s.driver = core::DriverKind::http;
      s.port = test_support::free_loopback_port();
      s.vram_mib = 1000;
      s.command = {GPUMOD_MOCK_SERVER_BIN, "--mock-flavor", "http", "--host", "127.0.0.1", "--port",
                   std::to_string(*s.port), "--mock-vram-mib", "1000"};
      s.startup_timeout = 20s;
      s.stop_timeout = 5s;
      s.env = env;
      config.services.push_back(s);
      vram["app"] = 1000;
    }
    const auto mode = [&](std::string id, std::vector<std::string> services) {
      core::Mode m;
      m.id = id;
      m.name = id;
      m.services = std::move(services);
      config.modes.push_back(std::move(m));
    };
    mode("chat", {"r1-a", "r2-a", "r2-b", "v1", "app"});
    mode("code", {"r1-b", "r2-c", "v2"});
    mode("mixed", {"r1-a", "r2-a", "r2-c", "v2", "app"});
    mode("app-only", {"app"});
  }

  EngineSettings settings() const {
    EngineSettings s;
    s.log_dir = tmp.path() / "logs";
    s.launch.llama_server_bin = GPUMOD_MOCK_SERVER_BIN;
    s.launch.vllm_bin = GPUMOD_MOCK_SERVER_BIN;
    s.llama_is_mock = true;
    s.vllm_is_mock = true;
    s.health_interval = 3600s;  // rounds are steps of the sequence
    s.health_failure_threshold = 1;
    s.margin_mib = 0;
    s.release_timeout = 5s;
    return s;
  }

  bool is_mate(const std::string& id) const { return router_of.contains(id); }

  // GET /models of a router: model -> status ({} when it does not answer).
  std::map<std::string, std::string> router_models(const std::string& r) const {
    std::map<std::string, std::string> out;
    auto http = infra::http::make_tcp_client("127.0.0.1", routers.at(r).port);
    auto res = http->get("/models", 2000ms);
    if (!res || res->status != 200) return out;
    const auto j = json::parse(res->body, nullptr, false);
    if (j.is_discarded() || !j.contains("data")) return out;
    for (const auto& m : j["data"]) out[m["id"].get<std::string>()] = m["status"]["value"].get<std::string>();
    return out;
  }

  // Alive and not a zombie (exited, not reaped yet).
  static bool alive(int pid) {
    if (pid <= 0 || ::kill(pid, 0) != 0) return false;
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    std::getline(in, stat);
    const auto close = stat.rfind(')');
    return !(close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z');
  }

  static const ServiceView* view(const StatusView& v, const std::string& id) {
    for (const auto& s : v.services) {
      if (s.id == id) return &s;
    }
    return nullptr;
  }

  // Status equals reality: every process, every router's models and the simulated GPU ledger.
  // used_before: the GPU's used memory before the step; outside: the step was another client's
  // load (the mock router does not refuse one that over-commits; a real GPU would fail it).
  // A status whose GPU snapshot has its device: the simulated GPU is read from the mocks' ledger
  // files, and a read that meets a ledger being rewritten is taken again (bounded).
  static util::Result<StatusView> status_with_gpu(Engine& engine) {
    auto v = engine.status();
    for (int i = 0; i < 50 && v && v->gpu.devices.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      v = engine.status();
    }
    return v;
  }

  void check_reality(const StatusView& v, const std::string& where, std::int64_t used_before = 0, bool outside = false) {
    std::map<std::string, std::map<std::string, std::string>> models;
    std::map<std::string, int> router_pid;
    for (const auto& [r, info] : routers) {
      for (const auto& mate : info.mates) {
        if (const auto* sv = view(v, mate); sv && sv->pid) router_pid[r] = sv->pid;
      }
      models[r] = alive(router_pid[r]) ? router_models(r) : std::map<std::string, std::string>{};
      int loaded = 0;
      for (const auto& [m, st] : models[r]) loaded += st == "loaded" || st == "loading" || st == "sleeping";
      EXPECT_LE(loaded, info.models_max) << where << ": router " << r;
    }
    std::int64_t expected_used = 0;
    bool settled = true;
    for (const auto& sv : v.services) {
      const std::string what = where + ": " + sv.id + " is " + std::string(core::to_string(sv.state)) + " (" + sv.reason + ")";
      if (is_mate(sv.id)) {
        const auto& r = router_of.at(sv.id);
        const auto& ms = models[r];
        const auto it = ms.find(model_of.at(sv.id));
        const std::string value = it == ms.end() ? "absent" : it->second;
        if (value == "loading") settled = false;
        switch (sv.state) {
          case ServiceState::running: EXPECT_EQ(value, "loaded") << what; break;
          case ServiceState::sleeping:
            EXPECT_TRUE(alive(router_pid[r])) << what;
            EXPECT_TRUE(value == "unloaded" || value == "sleeping") << what << "; router says " << value;
            break;
          case ServiceState::stopped:
          case ServiceState::failed: EXPECT_NE(value, "loaded") << what; break;
          default: break;
        }
        if (value == "loaded") expected_used += vram.at(sv.id);
      } else {
        switch (sv.state) {
          case ServiceState::running:
            EXPECT_TRUE(alive(sv.pid)) << what;
            expected_used += vram.at(sv.id);
            break;
          case ServiceState::sleeping:
            EXPECT_TRUE(alive(sv.pid)) << what;
            expected_used += std::min<std::int64_t>(500, vram.at(sv.id));
            break;
          case ServiceState::stopped: EXPECT_EQ(sv.pid, 0) << what; break;
          default: settled = false; break;
        }
      }
    }
    EXPECT_EQ(v.external_mib, 0) << where << ": memory of a process gpumod does not know";
    const auto& dev = v.gpu.devices.at(0);
    if (dev.used_mib > k_total_mib) {
      EXPECT_TRUE(outside || dev.used_mib <= used_before) << where << ": gpumod over-committed the GPU: " << dev.used_mib << " MiB";
    }
    if (settled) {
      EXPECT_EQ(dev.used_mib, expected_used) << where << ": the ledger disagrees with status";
    }
  }

  std::set<std::string> mode_services(const std::optional<std::string>& mode) const {
    std::set<std::string> out;
    if (!mode) return out;
    if (const auto* m = config.find_mode(*mode)) out.insert(m->services.begin(), m->services.end());
    return out;
  }

  void run_sequence(std::uint32_t seed, int ops) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (replay: GPUMOD_RANDOM_SEED=" + std::to_string(seed) + ")");
    std::cout << "[ random ] seed " << seed << ", " << ops << " operations\n";
    Recorder rec;
    Engine engine(config, *store, *probe, spawner, settings(), &rec);
    struct StopAll {
      Engine& e;
      ~StopAll() { (void)e.stop_all(); }
    } stop_all{engine};
    std::mt19937 rng(seed);
    const auto pick = [&](const std::vector<std::string>& v) { return v[std::uniform_int_distribution<std::size_t>(0, v.size() - 1)(rng)]; };
    const auto ids = config.service_ids();
    const auto modes = config.mode_ids();
    std::map<std::string, int> counts;
    for (int i = 0; i < ops && !HasFailure(); ++i) {
      auto before = status_with_gpu(engine);
      ASSERT_TRUE(before) << before.error().message;
      ASSERT_FALSE(before->gpu.devices.empty()) << "no GPU in the snapshot";
      const int roll = std::uniform_int_distribution<int>(0, 99)(rng);
      const std::string id = pick(ids);
      std::string op;
      std::optional<util::Result<OpResult>> r;
      std::optional<util::Result<SwitchResult>> sw;
      bool evict = false;
      rec.events.clear();
      if (roll < 20) {
        op = "switch " + pick(modes);
        sw = engine.switch_mode(op.substr(7), SwitchOptions{});
      } else if (roll < 35) {
        op = "start " + id;
        evict = rng() % 2;
        r = engine.start_service(id, evict);
      } else if (roll < 47) {
        op = "stop " + id;
        r = engine.stop_service(id);
      } else if (roll < 59) {
        op = "sleep " + id;
        r = engine.sleep_service(id, std::nullopt);
      } else if (roll < 73) {
        op = "wake " + id;
        evict = rng() % 2;
        r = engine.wake_service(id, evict);
      } else if (roll < 77) {
        op = "restart " + id;
        r = engine.restart_service(id);
      } else if (roll < 84) {
        // Another client loads a mate's model into its router (which evicts at models_max).
        const std::string mate = pick(routers.at(rng() % 2 ? "r1" : "r2").mates);
        op = "outside-load " + mate;
        const auto* sv = view(*before, mate);
        if (sv && alive(sv->pid)) {
          auto http = infra::http::make_tcp_client("127.0.0.1", routers.at(router_of.at(mate)).port);
          (void)http->post_json("/models/load", json{{"model", model_of.at(mate)}}.dump(), 2000ms);
          // Until it is loaded (the mock's load delay), as a client waiting for its answer.
          for (int k = 0; k < 200; ++k) {
            const auto ms = router_models(router_of.at(mate));
            const auto it = ms.find(model_of.at(mate));
            if (it == ms.end() || it->second != "loading") break;
            std::this_thread::sleep_for(5ms);
          }
        }
      } else if (roll < 87) {
        // A router killed (SIGKILL by pid), then health rounds until the monitor restarted it
        // (after its backoff) or decided not to.
        const std::string rid = rng() % 2 ? "r1" : "r2";
        op = "router-kill " + rid;
        int pid = 0;
        for (const auto& mate : routers.at(rid).mates) {
          if (const auto* sv = view(*before, mate); sv && sv->pid && alive(sv->pid)) pid = sv->pid;
        }
        if (pid > 0) {
          ::kill(pid, SIGKILL);  // a router this test's engine started
          for (int k = 0; k < 200 && alive(pid); ++k) std::this_thread::sleep_for(5ms);
          const auto seen = [&](std::string_view kind) {
            return std::ranges::any_of(rec.events, [&](const EngineEvent& e) { return e.kind == kind; });
          };
          for (int k = 0; k < 80; ++k) {
            engine.health_tick();
            if (seen("health.restarted") || seen("health.gave_up") || seen("health.not_restarted")) break;
            if (k > 0 && !seen("health.restart_scheduled")) break;  // nothing of it to restart
            std::this_thread::sleep_for(50ms);
          }
        }
      } else if (roll < 91) {
        // A mock crash: SIGKILL of a process gpumod started (a router or a server).
        op = "crash " + id;
        if (const auto* sv = view(*before, id); sv && alive(sv->pid)) ::kill(sv->pid, SIGKILL);
        for (int k = 0; k < 200 && view(*before, id)->pid && alive(view(*before, id)->pid); ++k) std::this_thread::sleep_for(5ms);
      } else {
        op = "health";
        engine.health_tick();
      }
      ++counts[op.substr(0, op.find(' '))];
      const std::string where = "op " + std::to_string(i) + " (" + op + (evict ? " --evict" : "") + ")";
      auto after = status_with_gpu(engine);
      ASSERT_TRUE(after) << where << ": " << after.error().message;
      ASSERT_FALSE(after->gpu.devices.empty()) << where << ": no GPU in the snapshot";
      check_reality(*after, where, before->gpu.devices.at(0).used_mib, op.rfind("outside-load", 0) == 0);

      // The operation's result agrees with status.
      if (r && *r) {
        const auto* sv = view(*after, id);
        const std::string verb = op.substr(0, op.find(' '));
        ServiceState expected = ServiceState::running;
        if (verb == "stop") expected = ServiceState::stopped;
        if (verb == "sleep") expected = ServiceState::sleeping;
        EXPECT_EQ(sv->state, expected) << where << ": " << (*r)->message << " (" << sv->reason << ")";
      }
      if (sw && *sw && (*sw)->success) {
        for (const auto& s : (*sw)->slept) EXPECT_EQ(view(*after, s)->state, ServiceState::sleeping) << where << ": " << s;
        for (const auto& s : (*sw)->stopped) EXPECT_EQ(view(*after, s)->state, ServiceState::stopped) << where << ": " << s;
        for (const auto& l : {(*sw)->started, (*sw)->woken, (*sw)->kept, (*sw)->restarted}) {
          for (const auto& s : l) EXPECT_EQ(view(*after, s)->state, ServiceState::running) << where << ": " << s;
        }
      }
      // No service of the current mode is unloaded or stopped unless the operation said so.
      const auto in_mode = mode_services(before->current_mode);
      if (!sw && op.rfind("crash", 0) != 0 && op != "health" && !op.starts_with("router-kill")) {
        for (const auto& s : in_mode) {
          if (view(*before, s)->state != ServiceState::running || view(*after, s)->state == ServiceState::running) continue;
          if (id == s && op.find(' ') != std::string::npos && op.substr(op.find(' ') + 1) == s) continue;  // its own op
          const bool evicted_as_told = evict && is_mate(s) && is_mate(id) && router_of.at(s) == router_of.at(id) &&
                                       view(*after, s)->reason.starts_with("evicted");
          // Another client's load evicts at models_max (a mate gpumod had put to sleep and someone
          // loaded again is asleep again, the others are evicted).
          const bool outside = op.rfind("outside-load", 0) == 0 && is_mate(s) && view(*after, s)->state == ServiceState::sleeping;
          EXPECT_TRUE(evicted_as_told || outside) << where << ": " << s << " of mode " << *before->current_mode
                                                  << " is now " << core::to_string(view(*after, s)->state) << " ("
                                                  << view(*after, s)->reason << ")";
        }
      }
      // No restart of an evicted (or asleep) mate.
      for (const auto& e : rec.events) {
        if (!e.kind.starts_with("health.restart")) continue;
        const auto* sv = view(*before, e.service_id);
        EXPECT_FALSE(sv && sv->state == ServiceState::sleeping) << where << ": " << e.service_id << " restarted while asleep ("
                                                                << sv->reason << ")";
      }
      // A dead router is restarted once and loads again only what the current mode wants: after a
      // health round, a mate that was asleep (evicted or not; "failed" while its router is down)
      // is not loaded, and a mate loaded by a router restart is of the current mode.
      if (op == "health" || op.starts_with("router-kill")) {
        int router_restarts = 0;
        std::set<int> restarted_ports;
        for (const auto& e : rec.events) {
          if (e.kind != "health.restart" || !e.message.starts_with("restarting the router on port ")) continue;
          ++router_restarts;
          restarted_ports.insert(std::atoi(e.message.c_str() + std::string_view("restarting the router on port ").size()));
        }
        EXPECT_LE(router_restarts, static_cast<int>(routers.size())) << where << ": one restart per router";
        for (const auto& [rid, info] : routers) {
          for (const auto& mate : info.mates) {
            const auto* b = view(*before, mate);
            const auto* a = view(*after, mate);
            const bool was_asleep = b->state == ServiceState::sleeping ||
                                    (b->state == ServiceState::failed && b->reason.find("while asleep") != std::string::npos);
            if (was_asleep) {
              EXPECT_NE(a->state, ServiceState::running) << where << ": " << mate << " was asleep (" << b->reason
                                                         << ") and was loaded by a health round";
            }
            if (restarted_ports.contains(info.port) && a->state == ServiceState::running && before->current_mode) {
              EXPECT_TRUE(mode_services(before->current_mode).contains(mate))
                  << where << ": the restarted router " << rid << " loaded " << mate << ", not of mode " << *before->current_mode;
            }
          }
        }
        counts["router-restart"] += router_restarts;
      }
    }
    std::ostringstream mix;
    for (const auto& [k, n] : counts) mix << " " << k << "=" << n;
    std::cout << "[ random ] seed " << seed << " done:" << mix.str() << "\n";
  }
};

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

TEST_F(RandomSequence, RouterMatesInvariantsHoldOverRandomOperations) {
  const int ops = env_int("GPUMOD_RANDOM_OPS", 260);
  if (const int seed = env_int("GPUMOD_RANDOM_SEED", 0); seed != 0) return run_sequence(static_cast<std::uint32_t>(seed), ops);
  for (const std::uint32_t seed : {1101u, 1102u}) {
    run_sequence(seed, ops);
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace gpumod::engine
