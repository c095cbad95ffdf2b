// Cross-file checks over the parsed presets and modes.
#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "gpumod/infra/config/parse.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::infra::config::detail {

namespace {

using core::SourceLocation;

// "a and b", "a, b and c".
std::string and_list(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += (i + 1 == names.size()) ? " and " : ", ";
    out += names[i];
  }
  return out;
}

bool is_router(const core::Service& s) {
  return s.driver == core::DriverKind::llamacpp && s.sleep_mode == core::SleepMode::router;
}

// True when all are models of one llama-server router: router services on one port with the
// same unit_vars.models_dir.
bool one_router(const std::vector<const ParsedService*>& group) {
  if (group.empty() || !std::ranges::all_of(group, [](const ParsedService* p) {
        return is_router(p->service);
      })) {
    return false;
  }
  const auto dir = group.front()->service.var("models_dir").value_or("");
  return std::ranges::all_of(group, [&](const ParsedService* p) {
    return p->service.var("models_dir").value_or("") == dir;
  });
}

std::vector<std::string> ids_of(const std::vector<const ParsedService*>& group) {
  std::vector<std::string> out;
  for (const auto* p : group) out.push_back(p->service.id);
  return out;
}

template <class Parsed, class GetId>
void drop_duplicates(std::vector<Parsed>& items, std::string_view what, GetId get_id,
                     Diagnostics& diags) {
  std::vector<Parsed> unique;
  std::map<std::string, std::size_t> index;
  for (auto& item : items) {
    const std::string id = get_id(item);
    const auto [it, inserted] = index.emplace(id, unique.size());
    if (!inserted) {
      diags.error(item.id_at, "duplicate " + std::string(what) + " id '" + id +
                                  "': also defined at " + unique[it->second].id_at.to_string());
      continue;
    }
    unique.push_back(std::move(item));
  }
  items = std::move(unique);
}

void check_dependencies(const std::vector<ParsedService>& services,
                        const std::map<std::string, const ParsedService*>& by_id,
                        const std::vector<std::string>& ids, Diagnostics& diags) {
  for (const auto& p : services) {
    for (std::size_t i = 0; i < p.service.depends_on.size(); ++i) {
      const auto& dep = p.service.depends_on[i];
      if (!by_id.contains(dep)) {
        diags.error(p.depends_on_at[i],
                    "depends_on: unknown service '" + dep + "'" + suggest(dep, ids));
      }
    }
  }
  // Depth-first search; each back edge closes one cycle, reported at that depends_on entry.
  enum class Color { white, gray, black };
  std::map<std::string, Color> color;
  std::vector<std::string> stack;
  std::function<void(const ParsedService&)> visit = [&](const ParsedService& p) {
    color[p.service.id] = Color::gray;
    stack.push_back(p.service.id);
    for (std::size_t i = 0; i < p.service.depends_on.size(); ++i) {
      const auto& dep = p.service.depends_on[i];
      const auto it = by_id.find(dep);
      if (it == by_id.end()) continue;
      const auto c = color[dep];
      if (c == Color::gray) {
        const auto from = std::ranges::find(stack, dep);
        std::vector<std::string> cycle(from, stack.end());
        cycle.push_back(dep);
        diags.error(p.depends_on_at[i], "depends_on forms a cycle: " + util::join(cycle, " -> "));
      } else if (c == Color::white) {
        visit(*it->second);
      }
    }
    stack.pop_back();
    color[p.service.id] = Color::black;
  };
  for (const auto& p : services) {
    if (color[p.service.id] == Color::white) visit(p);
  }
}

}  // namespace

void check_config(std::vector<ParsedService>& services, std::vector<ParsedMode>& modes,
                  Diagnostics& diags) {
  drop_duplicates(services, "service", [](const ParsedService& p) { return p.service.id; }, diags);
  drop_duplicates(modes, "mode", [](const ParsedMode& p) { return p.mode.id; }, diags);

  std::map<std::string, const ParsedService*> by_id;
  std::vector<std::string> ids;
  for (const auto& p : services) {
    by_id[p.service.id] = &p;
    ids.push_back(p.service.id);
  }
  check_dependencies(services, by_id, ids, diags);

  // Pairs of services (by id, ordered) that some mode holds together on one port.
  std::set<std::pair<std::string, std::string>> together;

  for (const auto& pm : modes) {
    const auto& m = pm.mode;
    std::map<std::string, std::size_t> seen;  // service id -> entry index
    std::map<int, std::vector<std::pair<const ParsedService*, SourceLocation>>> by_port;
    for (std::size_t i = 0; i < m.services.size(); ++i) {
      const auto& sid = m.services[i];
      const auto& where = pm.services_at[i];
      const auto it = by_id.find(sid);
      if (it == by_id.end()) {
        diags.error(where, "mode '" + m.id + "': unknown service '" + sid + "'" +
                               suggest(sid, ids));
        continue;
      }
      if (const auto first = seen.find(sid); first != seen.end()) {
        diags.error(where, "mode '" + m.id + "' lists service '" + sid + "' twice (first at line " +
                               std::to_string(pm.services_at[first->second].line) + ")");
        continue;
      }
      seen.emplace(sid, i);
      if (it->second->service.port) by_port[*it->second->service.port].emplace_back(it->second, where);
    }
    for (const auto& [port, members] : by_port) {
      if (members.size() < 2) continue;
      std::vector<const ParsedService*> group;
      for (const auto& member : members) group.push_back(member.first);
      for (std::size_t a = 0; a < group.size(); ++a) {
        for (std::size_t b = a + 1; b < group.size(); ++b) {
          together.insert(std::minmax(group[a]->service.id, group[b]->service.id));
        }
      }
      const auto names = and_list(ids_of(group));
      const auto count = static_cast<std::int64_t>(group.size());
      const std::string whole = count == 2 ? "both" : "all " + std::to_string(count);
      if (one_router(group)) {
        std::int64_t models_max = group.front()->models_max;
        for (const auto* p : group) models_max = std::min(models_max, p->models_max);
        if (count <= models_max) continue;  // models of one router, loaded side by side
        diags.error(members[static_cast<std::size_t>(models_max)].second,
                    names + " share the llama-server router on port " + std::to_string(port) +
                        " (models_max " + std::to_string(models_max) + "): one mode cannot hold " +
                        whole);
      } else {
        diags.error(members[1].second, names + " " + (count == 2 ? "both" : "all") +
                                           " listen on port " + std::to_string(port) +
                                           ": one mode cannot run them together");
      }
    }
  }

  // Ports shared by services that no mode runs together: legal, worth a note.
  std::map<int, std::vector<const ParsedService*>> all_by_port;
  for (const auto& p : services) {
    if (p.service.port) all_by_port[*p.service.port].push_back(&p);
  }
  for (const auto& [port, group] : all_by_port) {
    if (group.size() < 2) continue;
    bool any_together = false;
    for (std::size_t a = 0; a < group.size() && !any_together; ++a) {
      for (std::size_t b = a + 1; b < group.size(); ++b) {
        if (together.contains(std::minmax(group[a]->service.id, group[b]->service.id))) {
          any_together = true;
          break;
        }
      }
    }
    if (any_together) continue;
    diags.note(group.front()->port_at,
               and_list(ids_of(group)) + " share port " + std::to_string(port) +
                   (one_router(group) ? " (one llama-server router)" : "") +
                   "; legal because no mode runs them together");
  }
}

}  // namespace gpumod::infra::config::detail
