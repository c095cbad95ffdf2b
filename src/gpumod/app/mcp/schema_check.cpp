#include "gpumod/app/mcp/schema_check.hpp"

#include <nlohmann/json.hpp>

namespace gpumod::app::mcp {

using nlohmann::json;

namespace {

std::string kind_of(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

bool has_type(const json& v, const std::string& type) {
  if (type == "object") return v.is_object();
  if (type == "string") return v.is_string();
  if (type == "integer") return v.is_number_integer() || (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<long long>(v.get<double>())));
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  if (type == "array") return v.is_array();
  if (type == "null") return v.is_null();
  return false;
}

util::Status bad(const std::string& where, const std::string& what) {
  return util::fail(util::ErrorCode::invalid_argument,
                    (where.empty() ? std::string("the arguments") : "argument '" + where + "'") + ": " + what);
}

util::Status check(const json& schema, const json& v, const std::string& where) {
  if (!schema.is_object()) return {};
  if (schema.contains("type")) {
    const std::string type = schema["type"].get<std::string>();
    if (!has_type(v, type)) {
      const std::string article = (type == "integer" || type == "array" || type == "object") ? "an " : "a ";
      return bad(where, "expected " + article + type + ", got " + kind_of(v));
    }
  }
  if (schema.contains("enum") && std::find(schema["enum"].begin(), schema["enum"].end(), v) == schema["enum"].end()) {
    std::string allowed;
    for (const auto& e : schema["enum"]) allowed += (allowed.empty() ? "" : ", ") + e.dump();
    return bad(where, v.dump() + " is not one of " + allowed);
  }
  if (v.is_number()) {
    if (schema.contains("minimum") && v.get<double>() < schema["minimum"].get<double>()) {
      return bad(where, v.dump() + " is below the minimum " + schema["minimum"].dump());
    }
    if (schema.contains("maximum") && v.get<double>() > schema["maximum"].get<double>()) {
      return bad(where, v.dump() + " is above the maximum " + schema["maximum"].dump());
    }
  }
  if (v.is_string()) {
    const auto n = v.get_ref<const std::string&>().size();
    if (schema.contains("minLength") && n < schema["minLength"].get<std::size_t>()) {
      return bad(where, "must have at least " + schema["minLength"].dump() + " characters");
    }
    if (schema.contains("maxLength") && n > schema["maxLength"].get<std::size_t>()) {
      return bad(where, "must have at most " + schema["maxLength"].dump() + " characters");
    }
  }
  if (v.is_array()) {
    if (schema.contains("minItems") && v.size() < schema["minItems"].get<std::size_t>()) {
      return bad(where, "must have at least " + schema["minItems"].dump() + " items");
    }
    if (schema.contains("maxItems") && v.size() > schema["maxItems"].get<std::size_t>()) {
      return bad(where, "must have at most " + schema["maxItems"].dump() + " items");
    }
    if (schema.contains("items")) {
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (auto st = check(schema["items"], v[i], where + "[" + std::to_string(i) + "]"); !st) return st;
      }
    }
  }
  if (v.is_object()) {
    const json props = schema.value("properties", json::object());
    if (schema.contains("required")) {
      for (const auto& r : schema["required"]) {
        if (!v.contains(r.get<std::string>())) {
          return bad(where.empty() ? r.get<std::string>() : where + "." + r.get<std::string>(), "is required");
        }
      }
    }
    for (const auto& [key, value] : v.items()) {
      const std::string path = where.empty() ? key : where + "." + key;
      if (props.contains(key)) {
        if (auto st = check(props[key], value, path); !st) return st;
      } else if (schema.contains("additionalProperties")) {
        const auto& extra = schema["additionalProperties"];
        if (extra.is_boolean() && !extra.get<bool>()) {
          std::string known;
          for (const auto& [k, _] : props.items()) known += (known.empty() ? "" : ", ") + k;
          return bad(path, "unknown argument" + (known.empty() ? std::string(" (this tool takes none)") : " (known: " + known + ")"));
        }
        if (extra.is_object()) {
          if (auto st = check(extra, value, path); !st) return st;
        }
      }
    }
  }
  return {};
}

}  // namespace

util::Status check_arguments(const json& schema, const json& value) { return check(schema, value, ""); }

}  // namespace gpumod::app::mcp
