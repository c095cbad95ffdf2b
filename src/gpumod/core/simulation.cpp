#include "gpumod/core/simulation.hpp"

#include <algorithm>
#include <numeric>
#include <set>

namespace gpumod::core {

std::string_view to_string(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::lower_context: return "lower_context";
    case ChangeKind::sleep: return "sleep";
    case ChangeKind::stop: return "stop";
  }
  return "stop";
}

std::int64_t default_sleep_residue_mib(SleepMode mode, std::int64_t vram_mib) {
  switch (mode) {
    case SleepMode::router: return 0;  // the model's child process exits; the router keeps ~4 MiB
    case SleepMode::l1:
    case SleepMode::l2: return std::min<std::int64_t>(vram_mib, 600);  // CUDA context kept
    case SleepMode::none: return vram_mib;
  }
  return vram_mib;
}

namespace {

constexpr std::int64_t k_context_step = 1024;

// The options one service has, as discrete changes (lower_context is solved per combination).
std::vector<ChangeKind> options_for(const SimEntry& e) {
  std::vector<ChangeKind> out;
  if (e.vram_at_context && e.context && *e.context > e.min_context) out.push_back(ChangeKind::lower_context);
  if (e.can_sleep && e.sleep_residue_mib < e.vram_mib) out.push_back(ChangeKind::sleep);
  if (e.vram_mib > 0) out.push_back(ChangeKind::stop);
  return out;
}

int disruption(ChangeKind k) {
  switch (k) {
    case ChangeKind::lower_context: return 1;
    case ChangeKind::sleep: return 2;
    case ChangeKind::stop: return 3;
  }
  return 3;
}

// The largest context (a multiple of k_context_step, at least min_context, below the current
// one) whose need is at most `allowed_mib`; nullopt when even min_context is too big.
std::optional<std::pair<std::int64_t, std::int64_t>> solve_context(const SimEntry& e,
                                                                   std::int64_t allowed_mib) {
  std::int64_t lo = e.min_context / k_context_step;
  std::int64_t hi = (*e.context - 1) / k_context_step;
  if (hi < lo) return std::nullopt;
  const auto need = [&](std::int64_t steps) { return e.vram_at_context(steps * k_context_step); };
  const auto at_lo = need(lo);
  if (!at_lo || *at_lo > allowed_mib) return std::nullopt;
  while (lo < hi) {  // invariant: need(lo) fits
    const std::int64_t mid = lo + (hi - lo + 1) / 2;
    const auto v = need(mid);
    if (v && *v <= allowed_mib) lo = mid; else hi = mid - 1;
  }
  return std::pair{lo * k_context_step, *need(lo)};
}

struct Search {
  const SimResult& base;
  const AlternativeLimits& limits;
  std::int64_t capacity;  // total - external
  std::vector<Alternative> found;
  std::vector<std::set<std::string>> fitting_sets;

  bool dominated(const std::set<std::string>& ids) const {
    return std::ranges::any_of(fitting_sets, [&](const auto& s) {
      return std::ranges::includes(ids, s);
    });
  }

  // Tries each assignment of options to the chosen services.
  void try_subset(const std::vector<std::size_t>& chosen) {
    std::set<std::string> ids;
    for (auto i : chosen) ids.insert(base.services[i].id);
    if (dominated(ids)) return;
    std::vector<std::vector<ChangeKind>> opts;
    for (auto i : chosen) opts.push_back(options_for(base.services[i]));
    std::vector<std::size_t> pick(chosen.size(), 0);
    bool any_fit = false;
    while (true) {
      if (auto alt = evaluate(chosen, opts, pick)) {
        found.push_back(std::move(*alt));
        any_fit = true;
      }
      std::size_t k = 0;
      while (k < pick.size() && ++pick[k] == opts[k].size()) pick[k++] = 0;
      if (k == pick.size()) break;
    }
    if (any_fit) fitting_sets.push_back(ids);
  }

  std::optional<Alternative> evaluate(const std::vector<std::size_t>& chosen,
                                      const std::vector<std::vector<ChangeKind>>& opts,
                                      const std::vector<std::size_t>& pick) const {
    // At most one service lowers its context per alternative; its context is solved last.
    int ctx_slot = -1;
    std::int64_t total = base.proposed_mib;
    Alternative alt;
    for (std::size_t k = 0; k < chosen.size(); ++k) {
      const auto& e = base.services[chosen[k]];
      const auto kind = opts[k][pick[k]];
      if (kind == ChangeKind::lower_context) {
        if (ctx_slot >= 0) return std::nullopt;
        ctx_slot = static_cast<int>(k);
        continue;
      }
      const std::int64_t after = kind == ChangeKind::sleep ? e.sleep_residue_mib : 0;
      alt.changes.push_back({e.id, kind, std::nullopt, e.vram_mib - after});
      total -= e.vram_mib - after;
    }
    if (ctx_slot >= 0) {
      const auto& e = base.services[chosen[static_cast<std::size_t>(ctx_slot)]];
      const std::int64_t allowed = capacity - (total - e.vram_mib);
      const auto solved = solve_context(e, allowed);
      if (!solved || solved->second >= e.vram_mib) return std::nullopt;
      alt.changes.push_back({e.id, ChangeKind::lower_context, solved->first, e.vram_mib - solved->second});
      total -= e.vram_mib - solved->second;
    }
    if (total > capacity) return std::nullopt;
    alt.projected_total_mib = total;
    alt.freed_mib = base.proposed_mib - total;
    alt.headroom_mib = capacity - total;
    std::ranges::sort(alt.changes, {}, &Change::service_id);
    return alt;
  }
};

void for_each_subset(std::size_t n, std::size_t size, const std::function<void(const std::vector<std::size_t>&)>& fn) {
  std::vector<std::size_t> idx(size);
  std::iota(idx.begin(), idx.end(), 0);
  if (size > n) return;
  while (true) {
    fn(idx);
    std::size_t i = size;
    while (i > 0 && idx[i - 1] == n - size + i - 1) --i;
    if (i == 0) return;
    ++idx[i - 1];
    for (std::size_t j = i; j < size; ++j) idx[j] = idx[j - 1] + 1;
  }
}

}  // namespace

SimResult simulate(SimInput input, const AlternativeLimits& limits) {
  SimResult r;
  r.gpu_total_mib = input.gpu_total_mib;
  r.external_mib = input.external_mib;
  r.services = std::move(input.services);
  for (const auto& e : r.services) r.proposed_mib += e.vram_mib;
  const std::int64_t capacity = r.gpu_total_mib - r.external_mib;
  r.headroom_mib = capacity - r.proposed_mib;
  r.fits = r.proposed_mib <= capacity;
  if (r.fits || r.services.empty()) return r;

  Search search{r, limits, capacity, {}, {}};
  for (std::size_t size = 1; size <= std::min(limits.max_changes, r.services.size()); ++size) {
    for_each_subset(r.services.size(), size, [&](const auto& chosen) { search.try_subset(chosen); });
  }
  auto& alts = search.found;
  // Smallest change first: fewer services changed, then gentler changes, then less memory freed.
  const auto weight = [](const Alternative& a) {
    int w = 0;
    for (const auto& c : a.changes) w += disruption(c.kind);
    return w;
  };
  std::ranges::stable_sort(alts, [&](const Alternative& a, const Alternative& b) {
    if (a.changes.size() != b.changes.size()) return a.changes.size() < b.changes.size();
    if (weight(a) != weight(b)) return weight(a) < weight(b);
    return a.freed_mib < b.freed_mib;
  });
  if (alts.size() > limits.max_alternatives) alts.resize(limits.max_alternatives);
  r.alternatives = std::move(alts);
  return r;
}

}  // namespace gpumod::core
