// gpumod bench switch A B (see bench.hpp): real switches A->B->A, never a no-op, and the same
// llama.cpp router's own swap (unload + load through its API) measured in the same run.
#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>

#include "gpumod/drivers/llamacpp_driver.hpp"
#include "gpumod/engine/bench.hpp"
#include "gpumod/engine/bench_detail.hpp"
#include "gpumod/engine/engine_impl.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::engine {

using json = nlohmann::json;
using util::ErrorCode;
using std::chrono::milliseconds;
using namespace bench_detail;

util::Status validate(const SwitchBenchRequest& r) {
  if (r.mode_a.empty() || r.mode_b.empty()) return util::fail(ErrorCode::invalid_argument, "bench switch: name two modes");
  if (r.mode_a == r.mode_b) {
    return util::fail(ErrorCode::invalid_argument, "bench switch: " + r.mode_a + " and " + r.mode_b +
                                                       " are the same mode; a switch to it would be a no-op");
  }
  if (r.rounds < 1 || r.rounds > 50) {
    return util::fail(ErrorCode::invalid_argument, fmt::format("--rounds must be between 1 and 50, got {}", r.rounds));
  }
  return {};
}

namespace {

template <class Impl>  // Engine::Impl (private: named by deduction only)
util::Result<std::string> router_model_id(Impl& m, Slot& s) {
  if (auto id = drivers::static_model_id(*s.service)) return *id;
  auto ctx = m.context(s);
  auto models = drivers::list_models(ctx, milliseconds(5000));
  if (!models) return std::unexpected(models.error());
  std::vector<std::string> ids;
  for (const auto& x : *models) ids.push_back(x.id);
  return drivers::resolve_model_id(*s.service, ids);
}

// The router services of a mode, by router (instance key).
template <class Impl>
std::map<std::string, std::vector<Slot*>> router_services(Impl& m, const core::Mode& mode) {
  std::map<std::string, std::vector<Slot*>> out;
  for (const auto& id : mode.services) {
    auto it = m.slots.find(id);
    if (it == m.slots.end()) continue;
    Slot& s = it->second;
    if (s.service->driver == core::DriverKind::llamacpp && s.instance_key != s.service->id) out[s.instance_key].push_back(&s);
  }
  return out;
}

}  // namespace

util::Result<BenchOutcome> Engine::bench_switch(const SwitchBenchRequest& request) {
  if (auto v = validate(request); !v) return std::unexpected(v.error());
  const core::Mode* mode_a = m->config.find_mode(request.mode_a);
  const core::Mode* mode_b = m->config.find_mode(request.mode_b);
  for (const auto& [id, mode] : {std::pair{request.mode_a, mode_a}, std::pair{request.mode_b, mode_b}}) {
    if (!mode) {
      std::vector<std::string> ids;
      for (const auto& md : m->config.modes) ids.push_back(md.id);
      return util::fail(ErrorCode::not_found, "no mode '" + id + "'" + util::did_you_mean(id, ids));
    }
  }
  std::lock_guard lock(m->command_mutex);
  const std::string& a = request.mode_a;
  const std::string& b = request.mode_b;
  std::string gpu_uuid;
  json report = {{"kind", "switch"}, {"mode_a", a}, {"mode_b", b}, {"rounds", request.rounds}};
  if (auto snap = m->snapshot()) {
    if (const auto* d = m->device(*snap)) {
      gpu_uuid = d->uuid;
      report["gpu_name"] = d->name;
    }
  }
  report["gpu_uuid"] = gpu_uuid;
  json notes = json::array();

  // Into A first (not measured), so that every measured switch changes something.
  auto first = m->run_switch(a, {});
  if (!first) return std::unexpected(util::with_context(first.error(), "bench switch: getting into mode " + a + " first"));
  if (!first->success) return util::fail(ErrorCode::failed, "bench switch: getting into mode " + a + " first: " + first->message);

  json legs = json::array();
  std::map<std::string, std::vector<double>> totals;                      // by direction
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<double>> steps;  // direction, service, action
  for (int round = 1; round <= request.rounds; ++round) {
    for (const auto& [from, to] : {std::pair{a, b}, std::pair{b, a}}) {
      const std::string dir = from + "->" + to;
      auto res = m->run_switch(to, {});
      if (!res) {
        return std::unexpected(util::with_context(res.error(), fmt::format("bench switch, round {}, {}; nothing was stored", round, dir)));
      }
      if (!res->success) {
        return util::fail(ErrorCode::failed, fmt::format("bench switch, round {}, {}: {}; nothing was stored", round, dir, res->message));
      }
      if (!res->plan.changes_anything()) {
        return util::fail(ErrorCode::invalid_argument,
                          fmt::format("bench switch: switching {} changed nothing (do the modes run the same services?); a no-op is not measured", dir));
      }
      json leg = {{"round", round}, {"from", from}, {"to", to}, {"total_ms", res->elapsed_ms}};
      json leg_steps = json::array();
      for (const auto& o : res->steps) {
        if (o.outcome != "done") continue;
        const std::string action(core::to_string(o.step.action));
        leg_steps.push_back({{"service", o.step.service_id}, {"action", action}, {"elapsed_ms", o.elapsed_ms}});
        steps[{dir, o.step.service_id, action}].push_back(static_cast<double>(o.elapsed_ms));
      }
      leg["steps"] = leg_steps;
      legs.push_back(std::move(leg));
      totals[dir].push_back(static_cast<double>(res->elapsed_ms));
    }
  }

  // The same router's own swap: the models of A's router services unloaded and B's loaded
  // through the router's API (and back), in this run, for each router both modes use.
  std::vector<infra::state::StepTiming> timings;
  json direct = json::array();
  const auto routers_a = router_services(*m, *mode_a);
  const auto routers_b = router_services(*m, *mode_b);
  std::map<std::string, std::vector<double>> direct_totals;
  std::map<std::string, std::vector<double>> direct_loads;  // by service
  for (const auto& [key, slots_a] : routers_a) {
    const auto it = routers_b.find(key);
    if (it == routers_b.end()) continue;
    const auto& slots_b = it->second;
    std::map<Slot*, std::string> model_of;
    for (auto* s : slots_a) {
      auto id = router_model_id(*m, *s);
      if (!id) return std::unexpected(util::with_context(id.error(), "bench switch: router model of " + s->service->id));
      model_of[s] = *id;
    }
    for (auto* s : slots_b) {
      auto id = router_model_id(*m, *s);
      if (!id) return std::unexpected(util::with_context(id.error(), "bench switch: router model of " + s->service->id));
      model_of[s] = *id;
    }
    for (int round = 1; round <= request.rounds; ++round) {
      for (const auto& [from, to, out_slots, in_slots] :
           {std::tuple{a, b, &slots_a, &slots_b}, std::tuple{b, a, &slots_b, &slots_a}}) {
        const auto t0 = Clock::now();
        for (auto* s : *out_slots) {
          auto ctx = m->context(*s);
          if (auto st = drivers::unload_model(ctx, model_of[s], m->settings.control_timeout); !st) {
            return std::unexpected(util::with_context(st.error(), "bench switch: the router's own unload of " + model_of[s] + "; nothing was stored"));
          }
        }
        for (auto* s : *in_slots) {
          auto ctx = m->context(*s);
          const auto tl = Clock::now();
          if (auto st = drivers::load_model(ctx, model_of[s], m->settings.control_timeout); !st) {
            return std::unexpected(util::with_context(st.error(), "bench switch: the router's own load of " + model_of[s] + "; nothing was stored"));
          }
          const double ms = ms_between(tl, Clock::now());
          direct_loads[s->service->id].push_back(ms);
          timings.push_back({s->service->id, "router_load", static_cast<std::int64_t>(std::llround(ms)), gpu_uuid, 0});
        }
        direct_totals[from + "->" + to].push_back(ms_between(t0, Clock::now()));
      }
    }
    json d = {{"router", key}, {"models", json::array()}};
    for (auto* s : slots_a) d["models"].push_back({{"service", s->service->id}, {"model", model_of[s]}, {"mode", a}});
    for (auto* s : slots_b) d["models"].push_back({{"service", s->service->id}, {"model", model_of[s]}, {"mode", b}});
    direct.push_back(std::move(d));
  }
  if (direct.empty()) notes.push_back("no llama.cpp router serves both modes: the server's own swap was not measured");

  json directions = json::array();
  for (const auto& dir : {a + "->" + b, b + "->" + a}) {
    json d = {{"direction", dir}, {"total_ms", stat_json(totals[dir])}};
    if (direct_totals.contains(dir)) {
      d["router_swap_ms"] = stat_json(direct_totals[dir]);
      const auto g = median_of(d["total_ms"]);
      const auto r = median_of(d["router_swap_ms"]);
      if (g && r && *r > 0) d["ratio"] = *g / *r;
    }
    json st = json::array();
    for (const auto& [k, v] : steps) {
      if (std::get<0>(k) != dir) continue;
      json one = {{"service", std::get<1>(k)}, {"action", std::get<2>(k)}, {"ms", stat_json(v)}};
      if (const auto dl = direct_loads.find(std::get<1>(k)); dl != direct_loads.end() &&
          (std::get<2>(k) == "start" || std::get<2>(k) == "wake")) {
        one["router_load_ms"] = stat_json(dl->second);
        const auto g = median_of(one["ms"]);
        const auto r = median_of(one["router_load_ms"]);
        if (g && r && *r > 0) one["ratio"] = *g / *r;
      }
      st.push_back(std::move(one));
    }
    d["steps"] = st;
    directions.push_back(std::move(d));
  }
  report["directions"] = directions;
  report["legs"] = legs;
  report["routers"] = direct;
  report["notes"] = notes;
  report["measured_at_ms"] = now_ms();
  report["settings"] = fmt::format("rounds={}", request.rounds);

  infra::state::BenchRun run;
  run.kind = "switch";
  run.subject = a + "->" + b;
  run.settings = report["settings"].get<std::string>();
  run.gpu_uuid = gpu_uuid;
  run.measured_at_ms = report["measured_at_ms"].get<std::int64_t>();
  run.result_json = report.dump();
  auto id = m->store.add_bench_run(run, timings);
  if (!id) return std::unexpected(id.error());
  report["run_id"] = *id;
  m->emit("bench.done", "", a, fmt::format("bench switch {} <-> {} ({} rounds)", a, b, request.rounds));
  return BenchOutcome{*id, report.dump()};
}

}  // namespace gpumod::engine
