#include "support/json_schema.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <set>
#include <stdexcept>

#include "support/gpumod_runner.hpp"

namespace gpumod::test_support {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::set<std::string> k_known = {"$schema", "$id",   "$defs",    "$ref",  "title",    "description",
                                       "type",    "properties", "required", "additionalProperties",
                                       "items",   "enum",  "const",    "minimum", "minItems", "anyOf",
                                       "oneOf",   "examples"};

bool has_type(const json& v, const std::string& t) {
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "string") return v.is_string();
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  if (t == "number") return v.is_number();
  if (t == "integer") {
    if (v.is_number_integer()) return true;
    return v.is_number_float() && std::floor(v.get<double>()) == v.get<double>();
  }
  throw std::runtime_error("unknown type '" + t + "' in schema");
}

class Validator {
 public:
  Validator(const json& root, fs::path dir) : m_root(root), m_dir(std::move(dir)) {}

  void check(const json& v, const json& s, const std::string& at, const json& root) {
    if (s.is_boolean()) {
      if (!s.get<bool>()) add(at, "no value is allowed here");
      return;
    }
    for (auto it = s.begin(); it != s.end(); ++it) {
      if (!k_known.contains(it.key())) add(at, "schema keyword '" + it.key() + "' is not supported by this validator");
    }
    if (s.contains("$ref")) {
      const auto ref = s["$ref"].get<std::string>();
      const auto hash = ref.find('#');
      const std::string file = ref.substr(0, hash);
      const std::string pointer = hash == std::string::npos ? "" : ref.substr(hash + 1);
      auto loaded = std::make_shared<json>(file.empty() ? root : load(file));
      m_keep.push_back(loaded);
      const json& target_root = *loaded;
      if (pointer.empty()) {
        check(v, target_root, at, target_root);
      } else if (pointer.starts_with("/$defs/") && target_root.contains("$defs") &&
                 target_root["$defs"].contains(pointer.substr(7))) {
        check(v, target_root["$defs"][pointer.substr(7)], at, target_root);
      } else {
        add(at, "unresolved $ref " + ref);
      }
    }
    if (s.contains("type")) {
      bool ok = false;
      if (s["type"].is_array()) {
        for (const auto& t : s["type"]) ok = ok || has_type(v, t.get<std::string>());
      } else {
        ok = has_type(v, s["type"].get<std::string>());
      }
      if (!ok) return add(at, "expected type " + s["type"].dump() + ", got " + std::string(v.type_name()) + " " + short_dump(v));
    }
    if (s.contains("const") && v != s["const"]) add(at, "expected " + s["const"].dump() + ", got " + short_dump(v));
    if (s.contains("enum")) {
      bool found = false;
      for (const auto& e : s["enum"]) found = found || e == v;
      if (!found) add(at, short_dump(v) + " is not one of " + s["enum"].dump());
    }
    if (s.contains("minimum") && v.is_number() && v.get<double>() < s["minimum"].get<double>()) {
      add(at, short_dump(v) + " is below the minimum " + s["minimum"].dump());
    }
    if (v.is_object()) {
      if (s.contains("required")) {
        for (const auto& r : s["required"]) {
          if (!v.contains(r.get<std::string>())) add(at, "missing required property '" + r.get<std::string>() + "'");
        }
      }
      const json props = s.value("properties", json::object());
      for (auto it = v.begin(); it != v.end(); ++it) {
        const std::string& k = it.key();
        if (props.contains(k)) {
          check(it.value(), props[k], at + "/" + k, root);
        } else if (s.contains("additionalProperties")) {
          const auto& extra = s["additionalProperties"];
          if (extra.is_boolean() && !extra.get<bool>()) {
            add(at, "property '" + k + "' is not in the schema");
          } else if (extra.is_object()) {
            check(it.value(), extra, at + "/" + k, root);
          }
        }
      }
    }
    if (v.is_array()) {
      if (s.contains("minItems") && v.size() < s["minItems"].get<std::size_t>()) {
        add(at, "expected at least " + s["minItems"].dump() + " items, got " + std::to_string(v.size()));
      }
      if (s.contains("items")) {
        for (std::size_t i = 0; i < v.size(); ++i) check(v[i], s["items"], at + "/" + std::to_string(i), root);
      }
    }
    for (const char* kw : {"anyOf", "oneOf"}) {
      if (!s.contains(kw)) continue;
      int passing = 0;
      std::vector<std::string> why;
      for (const auto& alt : s[kw]) {
        Validator sub(m_root, m_dir);
        sub.check(v, alt, at, root);
        if (sub.errors.empty()) ++passing;
        else why.push_back(sub.errors.front());
      }
      if (passing == 0) add(at, std::string("matches none of ") + kw + " (first: " + (why.empty() ? "" : why.front()) + ")");
      if (std::string(kw) == "oneOf" && passing > 1) add(at, "matches more than one of oneOf");
    }
  }

  std::vector<std::string> errors;

 private:
  void add(const std::string& at, const std::string& what) { errors.push_back((at.empty() ? "/" : at) + ": " + what); }
  static std::string short_dump(const json& v) {
    auto s = v.dump();
    return s.size() > 80 ? s.substr(0, 77) + "..." : s;
  }
  json load(const std::string& file) const {
    std::ifstream in(m_dir / file);
    if (!in) throw std::runtime_error("cannot read schema " + (m_dir / file).string());
    return json::parse(in);
  }

  const json& m_root;
  fs::path m_dir;
  std::vector<std::shared_ptr<json>> m_keep;  // schemas loaded through $ref, alive while checked
};

}  // namespace

std::vector<std::string> validate_json(const json& doc, const json& schema, const fs::path& dir) {
  Validator v(schema, dir);
  v.check(doc, schema, "", schema);
  return v.errors;
}

fs::path schema_dir() { return gpumod::testing::source_dir() / "docs" / "schemas"; }

json load_schema(const std::string& name) {
  std::ifstream in(schema_dir() / (name + ".schema.json"));
  if (!in) throw std::runtime_error("no schema " + (schema_dir() / (name + ".schema.json")).string());
  return json::parse(in);
}

std::string schema_violations(const json& doc, const std::string& name) {
  std::string out;
  for (const auto& e : validate_json(doc, load_schema(name), schema_dir())) out += e + "\n";
  return out;
}

json expect_one_document(const std::string& out, const std::string& err, const std::string& name) {
  const auto j = json::parse(out, nullptr, false);
  if (j.is_discarded()) {
    ADD_FAILURE() << "stdout is not one JSON document:\n" << out << "\nstderr:\n" << err;
    return json();
  }
  const auto violations = schema_violations(j, name);
  if (!violations.empty()) ADD_FAILURE() << "not valid against " << name << ".schema.json:\n" << violations << out;
  return j;
}

}  // namespace gpumod::test_support
