// The per-file parsers: YAML text -> presets, modes, settings, with every problem reported at
// its file:line:col. yaml-cpp exceptions stop here.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "gpumod/infra/config/parse.hpp"
#include "gpumod/util/ids.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::infra::config::detail {

namespace {

using core::SourceLocation;

const std::vector<std::string> k_preset_keys = {
    "id",           "name",           "driver",         "port",          "vram_mb",
    "context_size", "kv_cache_per_1k", "model_id",      "model_path",    "health_endpoint",
    "startup_timeout", "supports_sleep", "sleep_mode",  "unit_template", "unit_vars",
    "depends_on",   "supervisor",     "stop_timeout",   "restart",       "max_restarts",
    "restart_window", "command",      "env",            "gpu",          "aliases",
    "virtual_models", "ttl_s",        "pin",            "max_concurrent", "on_demand"};
const std::vector<std::string> k_mode_keys = {"id", "name", "description", "services"};
const std::vector<std::string> k_settings_keys = {"gpu", "vram_margin_mib", "health_interval_ms", "serve"};
const std::vector<std::string> k_serve_keys = {
    "listen",         "api_keys",        "max_queue",    "request_timeout_s", "drain_timeout_s",
    "min_residency_s", "default_ttl_s",  "idle_mode",    "on_demand",         "max_body_mib",
    "request_log_rows"};
const std::vector<std::string> k_virtual_model_keys = {"set", "strip"};
const std::vector<std::string> k_on_demand = {"mode", "evict", "never"};
const std::vector<std::string> k_settings_gpu_keys = {"simulate", "uuid"};
const std::vector<std::string> k_simulate_keys = {"name", "total_mib", "only_without_gpu"};

const std::vector<std::string> k_drivers = {"llamacpp", "vllm", "fastapi", "http", "docker"};
const std::vector<std::string> k_sleep_modes = {"none", "l1", "l2", "router"};
const std::vector<std::string> k_supervisors = {"process", "systemd"};
const std::vector<std::string> k_restart_policies = {"no", "on-failure", "always"};

constexpr std::size_t k_max_config_file_bytes = 1 << 20;

bool contains(const std::vector<std::string>& list, std::string_view word) {
  return std::ranges::find(list, word) != list.end();
}

// YAML 1.1 booleans, as PyYAML (the predecessor's reader) accepts them.
std::optional<bool> yaml_bool(std::string_view text) {
  static const std::set<std::string_view> truthy = {"true", "True", "TRUE", "yes", "Yes",
                                                    "YES",  "on",   "On",   "ON"};
  static const std::set<std::string_view> falsy = {"false", "False", "FALSE", "no", "No",
                                                   "NO",    "off",   "Off",   "OFF"};
  if (truthy.contains(text)) return true;
  if (falsy.contains(text)) return false;
  return std::nullopt;
}

bool is_plain(const YAML::Node& node) { return node.Tag() == "?"; }

std::optional<std::int64_t> parse_whole(std::string_view text) {
  text = util::trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  std::int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<double> parse_real(std::string_view text) {
  text = util::trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() ||
      !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return "nothing";
    case YAML::NodeType::Scalar: return "'" + node.Scalar() + "'";
  }
  return "nothing";
}

// A YAML value as JSON (nested unit_vars): plain scalars keep their YAML type; strings expand $VAR.
nlohmann::json to_json(const YAML::Node& node, const EnvLookup& getenv) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Scalar: {
      const auto& text = node.Scalar();
      if (is_plain(node)) {
        if (const auto b = yaml_bool(text)) return *b;
        if (const auto i = parse_whole(text)) return *i;
        if (const auto d = parse_real(text)) return *d;
      }
      return expand_vars(text, getenv);
    }
    case YAML::NodeType::Sequence: {
      auto out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(to_json(item, getenv));
      return out;
    }
    case YAML::NodeType::Map: {
      auto out = nlohmann::json::object();
      for (auto it = node.begin(); it != node.end(); ++it) {
        const auto key = it->first.IsScalar() ? it->first.Scalar() : YAML::Dump(it->first);
        out[key] = to_json(it->second, getenv);
      }
      return out;
    }
  }
  return nullptr;
}

// One key: value pair of a mapping, with where each was written.
struct Field {
  std::string key;
  std::string label;  // the key with its parents, for messages ("gpu.simulate.total_mib")
  YAML::Node value;
  SourceLocation key_at;
  SourceLocation value_at;  // key_at when the value is empty
};

using LocatedStrings = std::vector<std::pair<std::string, SourceLocation>>;

// Reads YAML nodes of one file and reports problems at their locations.
class Reader {
 public:
  Reader(std::string file, Diagnostics& diags) : m_file(std::move(file)), m_diags(diags) {}

  const std::string& file() const { return m_file; }
  SourceLocation file_at() const { return {m_file, 0, 0}; }
  SourceLocation at(const YAML::Node& node) const {
    const auto mark = node.Mark();
    if (mark.line < 0 || mark.column < 0) return file_at();
    return {m_file, mark.line + 1, mark.column + 1};
  }
  void error(const SourceLocation& where, std::string message) {
    m_diags.error(where, std::move(message));
  }
  void note(const SourceLocation& where, std::string message) {
    m_diags.note(where, std::move(message));
  }

  // The line, column (1-based) and offset of the last '[' or '{' before `end` that is not closed
// before it (outside quotes and comments); nothing when every one is closed.
struct Opener {
  int line;
  int column;
  std::size_t offset;
};
static std::optional<Opener> unclosed_flow_opener(const std::string& text, std::size_t end) {
  std::vector<Opener> open;
  int line = 1, col = 1;
  char quote = 0;
  bool comment = false;
  for (std::size_t i = 0; i < text.size() && i < end; ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      col = 1;
      comment = false;
      if (quote == '\'') quote = 0;  // a plain-scalar apostrophe ("it's") must not hide the rest
      continue;
    }
    if (!comment) {
      if (quote) {
        if (c == quote) quote = 0;
      } else if (c == '"' || (c == '\'' && (i == 0 || std::string_view(" [{,:").find(text[i - 1]) != std::string_view::npos))) {
        quote = c;
      } else if (c == '#' && (i == 0 || text[i - 1] == ' ')) {
        comment = true;
      } else if (c == '[' || c == '{') {
        open.push_back({line, col, i});
      } else if ((c == ']' || c == '}') && !open.empty()) {
        open.pop_back();
      }
    }
    ++col;
  }
  if (open.empty()) return std::nullopt;
  return open.back();
}

// The file's single YAML document (a Null node when the file is empty); nothing on a syntax
  // error, which is reported.
  std::optional<YAML::Node> load(const std::string& text, std::string_view what) {
    if (text.size() > k_max_config_file_bytes) {
      error(file_at(), "the file is larger than 1 MiB; a " + std::string(what) + " is a few lines");
      return std::nullopt;
    }
    try {
      auto docs = YAML::LoadAll(text);
      if (docs.empty()) return YAML::Node(YAML::NodeType::Null);
      if (docs.size() > 1) {
        error(at(docs[1]), "a second YAML document: put one " + std::string(what) + " in each file");
      }
      return docs[0];
    } catch (const YAML::Exception& e) {
      const SourceLocation where = e.mark.line >= 0
                                       ? SourceLocation{m_file, e.mark.line + 1, e.mark.column + 1}
                                       : file_at();
      // yaml-cpp reports an unclosed [ or { where it gave up looking (the next line); the mistake
      // is the bracket: point at it.
      if (e.mark.pos >= 0 && e.msg.find("flow not found") != std::string::npos) {
        if (const auto opener = unclosed_flow_opener(text, static_cast<std::size_t>(e.mark.pos))) {
          error({m_file, opener->line, opener->column},
                std::string("YAML syntax error: this '") + text[opener->offset] + "' is never closed (" + e.msg + " at " +
                    std::to_string(where.line) + ":" + std::to_string(where.column) + ")");
          return std::nullopt;
        }
      }
      error(where, "YAML syntax error: " + e.msg);
    } catch (const std::exception& e) {
      error(file_at(), std::string("cannot parse YAML: ") + e.what());
    }
    return std::nullopt;
  }

  // The pairs of a mapping in file order; reports keys that are not plain names and repeats.
  std::vector<Field> fields(const YAML::Node& map, const std::string& prefix = "") {
    std::vector<Field> out;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!key.IsScalar()) {
        error(at(key), "a key must be a plain name, got " + describe(key));
        continue;
      }
      Field f{key.Scalar(), prefix + key.Scalar(), value, at(key), {}};
      f.value_at = (value.IsNull() || at(value).line == 0) ? f.key_at : at(value);
      const auto first = std::ranges::find(out, f.key, &Field::key);
      if (first != out.end()) {
        error(f.key_at, "duplicate key '" + f.label + "' (first at line " +
                            std::to_string(first->key_at.line) + ")");
        continue;
      }
      out.push_back(std::move(f));
    }
    return out;
  }

  void unknown_key(const Field& f, const std::vector<std::string>& known, std::string_view in) {
    error(f.key_at, "unknown key '" + f.label + "' in " + std::string(in) +
                        suggest(f.key, known));
  }

  void missing_key(const YAML::Node& map, std::string_view label) {
    error(at(map), "missing required key '" + std::string(label) + "'");
  }

  std::optional<std::string> string(const Field& f) {
    if (!f.value.IsScalar()) {
      error(f.value_at, f.label + ": expected a string, got " + describe(f.value));
      return std::nullopt;
    }
    return f.value.Scalar();
  }

  std::optional<std::int64_t> integer(const Field& f, std::int64_t min, std::int64_t max) {
    std::optional<std::int64_t> value;
    if (f.value.IsScalar()) value = parse_whole(f.value.Scalar());
    if (!value) {
      error(f.value_at, f.label + ": expected an integer, got " + describe(f.value));
      return std::nullopt;
    }
    if (*value < min || *value > max) {
      error(f.value_at, f.label + ": " + std::to_string(*value) + " is out of range (" +
                            std::to_string(min) + " to " + std::to_string(max) + ")");
      return std::nullopt;
    }
    return value;
  }

  std::optional<double> number(const Field& f, double min) {
    std::optional<double> value;
    if (f.value.IsScalar()) value = parse_real(f.value.Scalar());
    if (!value) {
      error(f.value_at, f.label + ": expected a number, got " + describe(f.value));
      return std::nullopt;
    }
    if (*value < min) {
      error(f.value_at, f.label + ": " + f.value.Scalar() + " is below the minimum " +
                            std::to_string(static_cast<std::int64_t>(min)));
      return std::nullopt;
    }
    return value;
  }

  std::optional<bool> boolean(const Field& f) {
    std::optional<bool> value;
    if (f.value.IsScalar()) value = yaml_bool(f.value.Scalar());
    if (!value) error(f.value_at, f.label + ": expected true or false, got " + describe(f.value));
    return value;
  }

  std::optional<std::string> choice(const Field& f, const std::vector<std::string>& choices) {
    const auto value = string(f);
    if (!value) return std::nullopt;
    if (contains(choices, *value)) return value;
    error(f.value_at, f.label + ": expected one of " + util::join(choices, ", ") + ", got '" +
                          *value + "'" + suggest(*value, choices));
    return std::nullopt;
  }

  std::optional<LocatedStrings> string_list(const Field& f) {
    if (!f.value.IsSequence()) {
      error(f.value_at, f.label + ": expected a list of strings, got " + describe(f.value));
      return std::nullopt;
    }
    LocatedStrings out;
    bool ok = true;
    std::size_t index = 0;
    for (const auto& item : f.value) {
      const auto where = at(item).line == 0 ? f.value_at : at(item);
      if (!item.IsScalar()) {
        error(where, f.label + "[" + std::to_string(index) + "]: expected a string, got " +
                         describe(item));
        ok = false;
      } else {
        out.emplace_back(item.Scalar(), where);
      }
      ++index;
    }
    if (!ok) return std::nullopt;
    return out;
  }

  bool require_mapping(const Field& f, std::string_view expected) {
    if (f.value.IsMap()) return true;
    error(f.value_at, f.label + ": expected " + std::string(expected) + ", got " + describe(f.value));
    return false;
  }

 private:
  std::string m_file;
  Diagnostics& m_diags;
};

bool is_env_name(std::string_view name) {
  if (name.empty()) return false;
  const auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(name.front())) return false;
  return std::ranges::all_of(name, [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

// unit_vars: scalars as text (plain YAML booleans as "true"/"false"), nested values as JSON text.
void read_unit_vars(Reader& r, const Field& f, const EnvLookup& getenv,
                    std::map<std::string, std::string>& out,
                    std::map<std::string, SourceLocation>& where) {
  if (!r.require_mapping(f, "a mapping of names to values")) return;
  for (const auto& var : r.fields(f.value, "unit_vars.")) {
    const auto& v = var.value;
    std::string text;
    if (v.IsNull()) {
      text = "";
    } else if (v.IsScalar()) {
      const auto b = is_plain(v) ? yaml_bool(v.Scalar()) : std::nullopt;
      text = b ? (*b ? "true" : "false") : expand_vars(v.Scalar(), getenv);
    } else {
      text = to_json(v, getenv).dump();
    }
    out[var.key] = std::move(text);
    where[var.key] = var.value_at;
  }
}

void read_env(Reader& r, const Field& f, const EnvLookup& getenv,
              std::map<std::string, std::string>& out) {
  if (!r.require_mapping(f, "a mapping of variable names to values")) return;
  for (const auto& var : r.fields(f.value, "env.")) {
    if (!is_env_name(var.key)) {
      r.error(var.key_at, "env: '" + var.key +
                              "' is not a valid variable name (letters, digits and '_', not "
                              "starting with a digit)");
      continue;
    }
    if (!var.value.IsNull() && !var.value.IsScalar()) {
      r.error(var.value_at, var.label + ": expected a string, got " + describe(var.value));
      continue;
    }
    auto value = var.value.IsNull() ? std::string() : expand_vars(var.value.Scalar(), getenv);
    if (value.find_first_of("\r\n") != std::string::npos) {
      r.error(var.value_at, var.label + ": a value must not contain a line break");
      continue;
    }
    out[var.key] = std::move(value);
  }
}

// A document that must be a mapping: reports an empty file or another shape.
bool require_top_mapping(Reader& r, const YAML::Node& doc, std::string_view what,
                         std::string_view needs) {
  if (doc.IsNull()) {
    r.error(r.file_at(), "the file is empty: a " + std::string(what) + " needs at least " +
                             std::string(needs));
    return false;
  }
  if (!doc.IsMap()) {
    r.error(r.at(doc), "expected a mapping of " + std::string(what) + " keys, got " + describe(doc));
    return false;
  }
  return true;
}

// A model name as clients send it: printable, no spaces or quotes, at most 128 bytes.
bool is_model_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::ranges::all_of(name, [](char c) {
    return c > ' ' && c < 127 && c != '"' && c != '\\';
  });
}

// The serving keys of a preset: aliases, virtual_models, ttl_s, pin, max_concurrent, on_demand.
void read_serving_key(Reader& r, const Field& f, const EnvLookup& getenv, core::ServiceServing& out) {
  const auto& k = f.key;
  if (k == "aliases") {
    if (const auto v = r.string_list(f)) {
      for (const auto& [name, where] : *v) {
        if (!is_model_name(name)) {
          r.error(where, "aliases: '" + name + "' is not a model name (1-128 printable characters, no spaces or quotes)");
        } else {
          out.aliases.push_back(name);
        }
      }
    }
  } else if (k == "virtual_models") {
    if (!r.require_mapping(f, "a mapping of model names to {set: {...}, strip: [...]}")) return;
    for (const auto& vm : r.fields(f.value, "virtual_models.")) {
      if (!is_model_name(vm.key)) {
        r.error(vm.key_at, "virtual_models: '" + vm.key + "' is not a model name (1-128 printable characters, no spaces or quotes)");
        continue;
      }
      core::VirtualModel model;
      model.name = vm.key;
      if (!vm.value.IsNull()) {
        if (!r.require_mapping(vm, "a mapping (set, strip)")) continue;
        for (const auto& part : r.fields(vm.value, vm.label + ".")) {
          if (!contains(k_virtual_model_keys, part.key)) {
            r.unknown_key(part, k_virtual_model_keys, "a virtual model");
            continue;
          }
          if (part.value.IsNull()) continue;
          if (part.key == "set") {
            if (r.require_mapping(part, "a mapping of request fields to values")) {
              model.set_json = to_json(part.value, getenv).dump();
            }
          } else if (const auto v = r.string_list(part)) {
            for (const auto& [field, where] : *v) model.strip.push_back(field);
          }
        }
      }
      out.virtual_models.push_back(std::move(model));
    }
  } else if (k == "ttl_s") {
    if (const auto v = r.integer(f, 0, 31536000)) out.ttl = std::chrono::seconds(*v);
  } else if (k == "pin") {
    if (const auto v = r.boolean(f)) out.pin = *v;
  } else if (k == "max_concurrent") {
    if (const auto v = r.integer(f, 0, 100000)) out.max_concurrent = static_cast<int>(*v);
  } else if (k == "on_demand") {
    if (const auto v = r.choice(f, k_on_demand)) out.on_demand = core::parse_on_demand_policy(*v);
  }
}

// serve: in gpumod.yaml. `listen: off` (or false) turns the endpoint off.
void read_serve_settings(Reader& r, const Field& f, core::ServeSettings& out) {
  if (!r.require_mapping(f, "a mapping (listen, api_keys, max_queue, ...)")) return;
  for (const auto& g : r.fields(f.value, "serve.")) {
    if (!contains(k_serve_keys, g.key)) {
      r.unknown_key(g, k_serve_keys, "gpumod.yaml");
      continue;
    }
    if (g.value.IsNull()) continue;
    const auto& k = g.key;
    if (k == "listen") {
      const auto v = r.string(g);
      if (!v) continue;
      if (const auto off = yaml_bool(*v); off && !*off) {
        out.listen.clear();
      } else {
        const auto colon = v->rfind(':');
        const auto port = colon == std::string::npos ? std::nullopt : parse_whole(v->substr(colon + 1));
        if (colon == std::string::npos || colon == 0 || !port || *port < 1 || *port > 65535) {
          r.error(g.value_at, "serve.listen: expected HOST:PORT (port 1-65535) or off, got '" + *v + "'");
          continue;
        }
        out.listen = *v;
      }
      out.listen_explicit = true;
    } else if (k == "api_keys") {
      if (const auto v = r.string_list(g)) {
        for (const auto& [key, where] : *v) {
          if (key.size() < 16 || key.size() > 512 ||
              !std::ranges::all_of(key, [](char c) { return c > ' ' && c < 127; })) {
            r.error(where, "serve.api_keys: a key must be 16 to 512 printable characters without spaces");
          } else {
            out.api_keys.push_back(key);
          }
        }
      }
    } else if (k == "max_queue") {
      if (const auto v = r.integer(g, 0, 100000)) out.max_queue = static_cast<int>(*v);
    } else if (k == "request_timeout_s") {
      if (const auto v = r.integer(g, 1, 86400)) out.request_timeout = std::chrono::seconds(*v);
    } else if (k == "drain_timeout_s") {
      if (const auto v = r.integer(g, 0, 86400)) out.drain_timeout = std::chrono::seconds(*v);
    } else if (k == "min_residency_s") {
      if (const auto v = r.integer(g, 0, 86400)) out.min_residency = std::chrono::seconds(*v);
    } else if (k == "default_ttl_s") {
      if (const auto v = r.integer(g, 0, 31536000)) {
        if (*v > 0) out.default_ttl = std::chrono::seconds(*v);
      }
    } else if (k == "idle_mode") {
      if (const auto v = r.string(g)) {
        if (const auto st = util::validate_id(*v, "serve.idle_mode"); !st) r.error(g.value_at, st.error().message);
        else out.idle_mode = *v;
      }
    } else if (k == "on_demand") {
      if (const auto v = r.choice(g, k_on_demand)) out.on_demand = *core::parse_on_demand_policy(*v);
    } else if (k == "max_body_mib") {
      if (const auto v = r.integer(g, 1, 1024)) out.max_body_bytes = static_cast<std::size_t>(*v) << 20;
    } else if (k == "request_log_rows") {
      if (const auto v = r.integer(g, 1, 10000000)) out.request_log_rows = static_cast<int>(*v);
    }
  }
}

}  // namespace

std::string suggest(std::string_view word, const std::vector<std::string>& candidates) {
  if (auto close = util::did_you_mean(word, candidates); !close.empty()) return close;
  if (word.size() < 3) return "";
  for (const auto& c : candidates) {
    if (c.size() >= 3 && (c.starts_with(word) || word.starts_with(c))) {
      return " (did you mean '" + c + "'?)";
    }
  }
  return "";
}

std::optional<ParsedService> parse_preset(const std::string& text, const std::string& file,
                                          const EnvLookup& getenv, Diagnostics& diags) {
  Reader r(file, diags);
  const auto doc = r.load(text, "preset");
  if (!doc || !require_top_mapping(r, *doc, "preset", "id, driver and vram_mb")) {
    return std::nullopt;
  }
  ParsedService p;
  core::Service& s = p.service;
  s.defined_at = r.at(*doc);
  std::set<std::string> present;
  bool have_id = false;
  bool name_set = false;
  std::optional<std::string> driver_text;
  std::optional<bool> supports_sleep;
  std::optional<core::SleepMode> sleep_mode;
  SourceLocation sleep_mode_at;
  std::map<std::string, SourceLocation> unit_var_at;

  for (const auto& f : r.fields(*doc)) {
    if (!contains(k_preset_keys, f.key)) {
      r.unknown_key(f, k_preset_keys, "a preset");
      continue;
    }
    present.insert(f.key);
    const bool required = f.key == "id" || f.key == "driver" || f.key == "vram_mb";
    if (f.value.IsNull() && !required) continue;  // an empty optional key means "not set"
    const auto& k = f.key;
    if (k == "id") {
      if (const auto v = r.string(f)) {
        s.id = *v;
        p.id_at = f.value_at;
        have_id = !v->empty();
        if (const auto st = util::validate_id(*v, "service id"); !st) r.error(f.value_at, st.error().message);
      }
    } else if (k == "name") {
      if (const auto v = r.string(f)) {
        s.name = *v;
        name_set = true;
      }
    } else if (k == "driver") {
      if (const auto v = r.choice(f, k_drivers)) {
        driver_text = *v;
        s.driver = *core::parse_driver_kind(*v);
      }
    } else if (k == "port") {
      if (const auto v = r.integer(f, 1, 65535)) {
        s.port = static_cast<int>(*v);
        p.port_at = f.value_at;
      }
    } else if (k == "vram_mb") {
      if (const auto v = r.integer(f, 0, 1048576)) s.vram_mib = *v;
    } else if (k == "context_size") {
      if (const auto v = r.integer(f, 1, 1048576)) s.context_size = *v;
    } else if (k == "kv_cache_per_1k") {
      if (const auto v = r.number(f, 0.0)) s.kv_cache_per_1k_mib = *v;
    } else if (k == "model_id") {
      if (const auto v = r.string(f)) s.model_id = *v;
    } else if (k == "model_path") {
      if (const auto v = r.string(f)) s.model_path = expand_vars(*v, getenv);
    } else if (k == "health_endpoint") {
      if (const auto v = r.string(f)) {
        if (!v->starts_with('/')) {
          r.error(f.value_at, "health_endpoint: must start with '/', got '" + *v + "'");
        } else {
          s.health_endpoint = *v;
        }
      }
    } else if (k == "startup_timeout") {
      if (const auto v = r.integer(f, 1, 3600)) s.startup_timeout = std::chrono::seconds(*v);
    } else if (k == "supports_sleep") {
      supports_sleep = r.boolean(f);
      if (supports_sleep) s.supports_sleep = *supports_sleep;
    } else if (k == "sleep_mode") {
      if (const auto v = r.choice(f, k_sleep_modes)) {
        sleep_mode = *core::parse_sleep_mode(*v);
        s.sleep_mode = *sleep_mode;
        sleep_mode_at = f.value_at;
      }
    } else if (k == "unit_template") {
      if (const auto v = r.string(f)) s.unit_template = *v;
    } else if (k == "unit_vars") {
      read_unit_vars(r, f, getenv, s.unit_vars, unit_var_at);
    } else if (k == "depends_on") {
      if (const auto v = r.string_list(f)) {
        for (const auto& [id, where] : *v) {
          s.depends_on.push_back(id);
          p.depends_on_at.push_back(where);
        }
      }
    } else if (k == "supervisor") {
      if (const auto v = r.choice(f, k_supervisors)) s.supervisor = *core::parse_supervisor_kind(*v);
    } else if (k == "stop_timeout") {
      if (const auto v = r.integer(f, 1, 600)) s.stop_timeout = std::chrono::seconds(*v);
    } else if (k == "restart") {
      if (const auto v = r.choice(f, k_restart_policies)) s.restart = *core::parse_restart_policy(*v);
    } else if (k == "max_restarts") {
      if (const auto v = r.integer(f, 0, 100)) s.max_restarts = static_cast<int>(*v);
    } else if (k == "restart_window") {
      if (const auto v = r.integer(f, 1, 86400)) s.restart_window = std::chrono::seconds(*v);
    } else if (k == "command") {
      if (const auto v = r.string_list(f)) {
        if (v->empty()) {
          r.error(f.value_at, "command: expected at least the program to run, got an empty list");
        } else if (v->front().first.empty()) {
          r.error(v->front().second, "command: the program (first element) is empty");
        } else {
          for (const auto& [arg, where] : *v) s.command.push_back(expand_vars(arg, getenv));
        }
      }
    } else if (k == "env") {
      read_env(r, f, getenv, s.env);
    } else if (k == "gpu") {
      if (const auto v = r.string(f)) s.gpu = *v;
    } else {
      read_serving_key(r, f, getenv, s.serving);
    }
  }

  for (const char* key : {"id", "driver", "vram_mb"}) {
    if (!present.contains(key)) r.missing_key(*doc, key);
  }
  if (!name_set) s.name = s.id;

  if (sleep_mode && *sleep_mode != core::SleepMode::none && driver_text) {
    const auto mode_text = std::string(core::to_string(*sleep_mode));
    if (s.driver == core::DriverKind::http || s.driver == core::DriverKind::docker) {
      r.error(sleep_mode_at, "sleep_mode " + mode_text + " needs a driver that can sleep " +
                                 "(llamacpp or vllm); driver " + *driver_text + " cannot");
    } else if (s.driver == core::DriverKind::vllm && *sleep_mode == core::SleepMode::router) {
      r.error(sleep_mode_at,
              "sleep_mode router is for llama-server routers (driver llamacpp); vLLM sleeps "
              "with l1 or l2");
    } else if (s.driver == core::DriverKind::llamacpp && *sleep_mode != core::SleepMode::router) {
      r.error(sleep_mode_at, "sleep_mode " + mode_text +
                                 " is a vLLM sleep level; a llama.cpp service sleeps by unloading "
                                 "its model from a router: use sleep_mode router");
    } else if (!s.supports_sleep) {
      r.note(sleep_mode_at, "sleep_mode is " + mode_text +
                                " but supports_sleep is false; gpumod follows sleep_mode and will "
                                "put this service to sleep");
    }
  }

  if (s.driver == core::DriverKind::llamacpp && s.sleep_mode == core::SleepMode::router) {
    if (const auto max_text = s.var("models_max")) {
      const auto value = parse_whole(*max_text);
      if (!value || *value < 1 || *value > 1024) {
        r.error(unit_var_at["models_max"],
                "unit_vars.models_max: expected an integer from 1 to 1024, got '" + *max_text + "'");
      } else {
        p.models_max = *value;
      }
    }
  }

  if (!have_id) return std::nullopt;
  return p;
}

std::optional<ParsedMode> parse_mode(const std::string& text, const std::string& file,
                                     Diagnostics& diags) {
  Reader r(file, diags);
  const auto doc = r.load(text, "mode");
  if (!doc || !require_top_mapping(r, *doc, "mode", "id and services")) return std::nullopt;
  ParsedMode p;
  core::Mode& m = p.mode;
  m.defined_at = r.at(*doc);
  std::set<std::string> present;
  bool have_id = false;
  bool name_set = false;
  for (const auto& f : r.fields(*doc)) {
    if (!contains(k_mode_keys, f.key)) {
      r.unknown_key(f, k_mode_keys, "a mode");
      continue;
    }
    present.insert(f.key);
    const bool required = f.key == "id" || f.key == "services";
    if (f.value.IsNull() && !required) continue;
    if (f.key == "id") {
      if (const auto v = r.string(f)) {
        m.id = *v;
        p.id_at = f.value_at;
        have_id = !v->empty();
        if (const auto st = util::validate_id(*v, "mode id"); !st) r.error(f.value_at, st.error().message);
      }
    } else if (f.key == "name") {
      if (const auto v = r.string(f)) {
        m.name = *v;
        name_set = true;
      }
    } else if (f.key == "description") {
      if (const auto v = r.string(f)) m.description = *v;
    } else if (f.key == "services") {
      if (const auto v = r.string_list(f)) {
        for (const auto& [id, where] : *v) {
          m.services.push_back(id);
          p.services_at.push_back(where);
        }
      }
    }
  }
  for (const char* key : {"id", "services"}) {
    if (!present.contains(key)) r.missing_key(*doc, key);
  }
  if (!name_set) m.name = m.id;
  if (!have_id) return std::nullopt;
  return p;
}

core::Settings parse_settings(const std::string& text, const std::string& file,
                              Diagnostics& diags) {
  Reader r(file, diags);
  core::Settings settings;
  const auto doc = r.load(text, "settings document");
  if (!doc || doc->IsNull()) return settings;  // an empty gpumod.yaml means the defaults
  if (!doc->IsMap()) {
    r.error(r.at(*doc), "expected a mapping of settings (gpu, vram_margin_mib, health_interval_ms), got " + describe(*doc));
    return settings;
  }
  for (const auto& f : r.fields(*doc)) {
    if (!contains(k_settings_keys, f.key)) {
      r.unknown_key(f, k_settings_keys, "gpumod.yaml");
      continue;
    }
    if (f.value.IsNull()) continue;
    if (f.key == "vram_margin_mib") {
      if (const auto v = r.integer(f, 0, 65536)) settings.vram_margin_mib = *v;
      continue;
    }
    if (f.key == "health_interval_ms") {
      if (const auto v = r.integer(f, 100, 600000)) settings.health_interval = std::chrono::milliseconds(*v);
      continue;
    }
    if (f.key == "serve") {
      read_serve_settings(r, f, settings.serve);
      continue;
    }
    // gpu:
    if (!r.require_mapping(f, "a mapping (simulate, uuid)")) continue;
    for (const auto& g : r.fields(f.value, "gpu.")) {
      if (!contains(k_settings_gpu_keys, g.key)) {
        r.unknown_key(g, k_settings_gpu_keys, "gpumod.yaml");
        continue;
      }
      if (g.value.IsNull()) continue;
      if (g.key == "uuid") {
        if (const auto v = r.string(g)) settings.gpu_uuid = *v;
        continue;
      }
      // gpu.simulate:
      if (!r.require_mapping(g, "a mapping (name, total_mib, only_without_gpu)")) continue;
      core::SimulatedGpu sim;
      sim.name = "simulated GPU";
      bool have_total = false;
      bool ok = true;
      for (const auto& s : r.fields(g.value, "gpu.simulate.")) {
        if (!contains(k_simulate_keys, s.key)) {
          r.unknown_key(s, k_simulate_keys, "gpumod.yaml");
          ok = false;
          continue;
        }
        if (s.value.IsNull() && s.key != "total_mib") continue;
        if (s.key == "name") {
          if (const auto v = r.string(s)) sim.name = *v; else ok = false;
        } else if (s.key == "total_mib") {
          have_total = true;
          if (const auto v = r.integer(s, 1, 2097152)) sim.total_mib = *v; else ok = false;
        } else if (s.key == "only_without_gpu") {
          if (const auto v = r.boolean(s)) sim.only_without_gpu = *v; else ok = false;
        }
      }
      if (!have_total) {
        r.error(g.key_at, "missing required key 'gpu.simulate.total_mib'");
        ok = false;
      }
      if (ok) settings.simulate_gpu = sim;
    }
  }
  return settings;
}

}  // namespace gpumod::infra::config::detail
