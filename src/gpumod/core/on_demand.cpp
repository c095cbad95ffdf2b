#include "gpumod/core/on_demand.hpp"

#include <algorithm>
#include <set>
#include <tuple>

namespace gpumod::core {

namespace {

std::string mib(std::int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<std::size_t>(i), ",");
  return (v < 0 ? "-" : "") + digits + " MiB";
}

bool serving_state(ServiceState s) { return s == ServiceState::running || s == ServiceState::unhealthy; }
bool coming_up(ServiceState s) { return s == ServiceState::starting || s == ServiceState::loading; }

struct ModeOption {
  const Mode* mode = nullptr;
  int changes = 0;
  std::chrono::milliseconds cost{0};
};

}  // namespace

std::string_view to_string(DemandAction action) {
  switch (action) {
    case DemandAction::serve: return "serve";
    case DemandAction::wait: return "wait";
    case DemandAction::wake: return "wake";
    case DemandAction::start: return "start";
    case DemandAction::switch_mode: return "switch_mode";
    case DemandAction::evict: return "evict";
    case DemandAction::refuse: return "refuse";
  }
  return "refuse";
}

DemandChoice choose_on_demand(const DemandInput& in) {
  DemandChoice out;
  out.free_mib = in.free_mib;
  const auto target_it = std::ranges::find(in.services, in.target, &DemandService::id);
  if (target_it == in.services.end()) {
    out.plan = "no service '" + in.target + "'";
    return out;
  }
  const DemandService& target = *target_it;
  if (serving_state(target.state)) {
    out.action = DemandAction::serve;
    return out;
  }
  if (coming_up(target.state)) {
    out.action = DemandAction::wait;
    out.plan = in.target + " is " + std::string(to_string(target.state));
    return out;
  }
  const bool asleep = target.state == ServiceState::sleeping;
  out.wake_target = asleep;
  out.need_mib = std::max<std::int64_t>(0, target.need_mib - (asleep ? target.holds_mib : 0));
  const std::int64_t want = out.need_mib + in.margin_mib;

  // A router at models_max unloads one of its models for another: choose which (idle, unpinned,
  // past its residency, cheapest wake), or wait for one, before the router picks by itself.
  std::vector<Eviction> forced;
  std::int64_t forced_mib = 0;
  if (!target.router.empty() && target.models_max > 0) {
    std::vector<const DemandService*> loaded, free_mates;
    std::vector<std::string> held;
    bool any_for_now = false;
    for (const auto& s : in.services) {
      if (s.id == target.id || s.router != target.router || !serving_state(s.state)) continue;
      loaded.push_back(&s);
      if (s.pinned) held.push_back(s.id + " (pinned)");
      else if (s.busy || s.resident) {
        held.push_back(s.id + (s.busy ? " (busy)" : " (recently loaded)"));
        any_for_now = true;
      } else {
        free_mates.push_back(&s);
      }
    }
    const auto over = static_cast<std::ptrdiff_t>(loaded.size()) - target.models_max + 1;
    if (over > 0) {
      std::ranges::sort(free_mates, [](const DemandService* a, const DemandService* b) {
        return std::tie(a->wake_cost, a->id) < std::tie(b->wake_cost, b->id);
      });
      if (static_cast<std::ptrdiff_t>(free_mates.size()) < over) {
        std::string words;
        for (const auto& h : held) words += (words.empty() ? "" : ", ") + h;
        out.action = any_for_now ? DemandAction::wait : DemandAction::refuse;
        out.plan = "the router of " + in.target + " holds models_max " + std::to_string(target.models_max) +
                   " models: " + words;
        return out;
      }
      for (std::ptrdiff_t i = 0; i < over; ++i) {
        const auto* m = free_mates[static_cast<std::size_t>(i)];
        const std::int64_t frees = std::max<std::int64_t>(0, m->holds_mib - m->sleep_mib);
        forced.push_back({m->id, true, frees});
        forced_mib += frees;
      }
    }
  }
  const auto is_forced = [&](const std::string& id) {
    return std::ranges::any_of(forced, [&](const Eviction& e) { return e.service_id == id; });
  };

  // (1) beside what runs.
  if (in.free_mib + forced_mib >= want) {
    out.action = forced.empty() ? (asleep ? DemandAction::wake : DemandAction::start) : DemandAction::evict;
    out.evictions = forced;
    std::string before;
    for (const auto& e : forced) before += "unload " + e.service_id + " from the router, then ";
    out.plan = before + (asleep ? "wake " : "start ") + in.target + " beside what runs (needs " +
               mib(out.need_mib) + ", " + mib(in.free_mib + forced_mib) + " free)";
    return out;
  }
  if (in.policy == OnDemandPolicy::never) {
    out.plan = in.target + " is " + std::string(to_string(target.state)) + " and on_demand is never; it needs " +
               mib(out.need_mib) + " with " + mib(in.free_mib) + " free";
    return out;
  }

  std::int64_t managed_mib = 0;
  for (const auto& s : in.services) managed_mib += s.holds_mib;
  const std::int64_t external_mib = std::max<std::int64_t>(0, in.total_mib - in.free_mib - managed_mib);
  bool blocked_only_for_now = false;  // a choice exists once busy/resident services are free

  // (2) the mode with the fewest changes.
  if (in.policy == OnDemandPolicy::mode) {
    std::optional<ModeOption> best;
    for (const auto& m : in.modes) {
      if (std::ranges::find(m.services, in.target) == m.services.end()) continue;
      ModeOption o{&m};
      std::int64_t need_total = 0;
      bool blocked = false, only_for_now = true;
      std::set<std::string> in_mode(m.services.begin(), m.services.end());
      for (const auto& s : in.services) {
        if (in_mode.contains(s.id)) {
          need_total += s.need_mib;
          if (!serving_state(s.state)) {
            ++o.changes;
            o.cost += s.state == ServiceState::sleeping ? s.wake_cost : s.start_cost;
          }
        } else if (serving_state(s.state) || s.holds_mib > 0) {
          if (serving_state(s.state)) ++o.changes;
          if (s.pinned) {
            blocked = true;
            only_for_now = false;
          } else if (s.busy || s.resident) {
            blocked = true;
          }
        }
      }
      if (need_total + in.margin_mib > in.total_mib - external_mib) continue;
      if (blocked) {
        blocked_only_for_now = blocked_only_for_now || only_for_now;
        continue;
      }
      if (!best || std::tie(o.changes, o.cost, o.mode->id) < std::tie(best->changes, best->cost, best->mode->id)) {
        best = o;
      }
    }
    if (best) {
      out.action = DemandAction::switch_mode;
      out.mode_id = best->mode->id;
      out.plan = "switch to mode " + best->mode->id + " (" + std::to_string(best->changes) + " change" +
                 (best->changes == 1 ? "" : "s") + ")";
      return out;
    }
  }

  // (3) evict idle, unpinned services: sleep first (cheapest wake first), then stop.
  std::vector<const DemandService*> sleepers, stoppers;
  std::vector<std::string> pinned_words, busy_words;
  std::int64_t for_now_mib = 0;
  for (const auto& s : in.services) {
    if (s.id == in.target || s.holds_mib <= 0) continue;
    if (s.pinned) {
      pinned_words.push_back(s.id + " holds " + mib(s.holds_mib));
      continue;
    }
    if (s.busy || s.resident) {
      busy_words.push_back(s.id + " (" + (s.busy ? "busy" : "recently loaded") + ") holds " + mib(s.holds_mib));
      for_now_mib += s.holds_mib;
      continue;
    }
    if (serving_state(s.state) && s.can_sleep) sleepers.push_back(&s);
    else stoppers.push_back(&s);
  }
  std::ranges::sort(sleepers, [](const DemandService* a, const DemandService* b) {
    return std::tie(a->wake_cost, a->id) < std::tie(b->wake_cost, b->id);
  });
  std::ranges::sort(stoppers, [](const DemandService* a, const DemandService* b) {
    return std::tie(a->start_cost, a->id) < std::tie(b->start_cost, b->id);
  });
  std::erase_if(sleepers, [&](const DemandService* s) { return is_forced(s->id); });
  std::erase_if(stoppers, [&](const DemandService* s) { return is_forced(s->id); });
  std::int64_t free = in.free_mib + forced_mib;
  std::vector<Eviction> plan = forced;
  for (const auto* s : sleepers) {
    if (free >= want) break;
    const std::int64_t frees = std::max<std::int64_t>(0, s->holds_mib - s->sleep_mib);
    plan.push_back({s->id, true, frees});
    free += frees;
  }
  for (const auto* s : stoppers) {
    if (free >= want) break;
    plan.push_back({s->id, false, s->holds_mib});
    free += s->holds_mib;
  }
  // Still short: the slept ones are stopped too (their residue), cheapest start first.
  for (auto& e : plan) {
    if (free >= want) break;
    if (!e.sleep) continue;
    const auto& s = *std::ranges::find(in.services, e.service_id, &DemandService::id);
    const std::int64_t rest = s.holds_mib - e.frees_mib;
    if (rest <= 0) continue;
    e.sleep = false;
    e.frees_mib = s.holds_mib;
    free += rest;
  }
  if (free >= want) {
    out.action = DemandAction::evict;
    out.evictions = std::move(plan);
    std::string words;
    for (const auto& e : out.evictions) {
      if (!words.empty()) words += ", ";
      words += std::string(e.sleep ? "sleep " : "stop ") + e.service_id + " (frees " + mib(e.frees_mib) + ")";
    }
    out.plan = words + ", then " + (asleep ? "wake " : "start ") + in.target;
    return out;
  }
  if (blocked_only_for_now || (!busy_words.empty() && free + for_now_mib >= want)) {
    out.action = DemandAction::wait;
    out.plan = in.target + " waits for: " + [&] {
      std::string w;
      for (const auto& b : busy_words) w += (w.empty() ? "" : "; ") + b;
      return w.empty() ? std::string("services in use") : w;
    }();
    return out;
  }
  out.plan = in.target + " needs " + mib(out.need_mib) + " (+" + mib(in.margin_mib) + " margin); " + mib(in.free_mib) +
             " free, at most " + mib(free) + " after evicting every idle unpinned service";
  if (!pinned_words.empty()) {
    out.plan += "; pinned: ";
    for (std::size_t i = 0; i < pinned_words.size(); ++i) out.plan += (i ? ", " : "") + pinned_words[i];
  }
  if (!busy_words.empty()) {
    out.plan += "; in use: ";
    for (std::size_t i = 0; i < busy_words.size(); ++i) out.plan += (i ? ", " : "") + busy_words[i];
  }
  if (external_mib > 0) out.plan += "; other processes hold " + mib(external_mib);
  return out;
}

}  // namespace gpumod::core
