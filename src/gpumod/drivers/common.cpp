#include "gpumod/drivers/common.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "gpumod/util/strings.hpp"

namespace gpumod::drivers {

using util::ErrorCode;

std::optional<bool> parse_bool(std::string_view text) {
  const std::string t = util::to_lower(util::trim(text));
  if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
  if (t == "false" || t == "no" || t == "off" || t == "0") return false;
  return std::nullopt;
}

std::optional<std::string> first_var(const core::Service& s,
                                     std::initializer_list<std::string_view> keys) {
  for (auto k : keys)
    if (auto v = s.var(k)) return v;
  return std::nullopt;
}

util::Result<std::optional<bool>> bool_var(const core::Service& s, std::string_view key) {
  auto v = s.var(key);
  if (!v) return std::optional<bool>{};
  auto b = parse_bool(*v);
  if (!b)
    return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': unit_vars." +
                                                       std::string(key) + " must be true or false, got '" + *v + "'");
  return std::optional<bool>{*b};
}

util::Result<std::optional<std::int64_t>> int_var(const core::Service& s,
                                                  std::initializer_list<std::string_view> keys,
                                                  std::int64_t min, std::int64_t max) {
  for (auto k : keys) {
    auto v = s.var(k);
    if (!v) continue;
    auto n = util::parse_int(util::trim(*v), min, max, "unit_vars." + std::string(k));
    if (!n) return std::unexpected(util::with_context(n.error(), "service '" + s.id + "'"));
    return std::optional<std::int64_t>{*n};
  }
  return std::optional<std::int64_t>{};
}

static bool is_word(std::string_view w) {
  if (w.empty() || w.front() == '-') return false;
  return std::all_of(w.begin(), w.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' ||
           c == '/' || c == '+' || c == '-';
  });
}

util::Result<std::optional<std::string>> word_var(const core::Service& s,
                                                  std::initializer_list<std::string_view> keys) {
  for (auto k : keys) {
    auto v = s.var(k);
    if (!v) continue;
    const std::string t(util::trim(*v));
    if (!is_word(t))
      return util::fail(ErrorCode::invalid_argument, "service '" + s.id + "': unit_vars." +
                                                         std::string(k) + " has an invalid value '" + *v + "'");
    return std::optional<std::string>{t};
  }
  return std::optional<std::string>{};
}

util::Result<std::vector<std::string>> extra_args(const core::Service& s) {
  auto v = s.var("extra_args");
  std::vector<std::string> out;
  if (!v) return out;
  const auto text = util::trim(*v);
  if (text.empty()) return out;
  auto bad = [&](const std::string& why) {
    return util::fail(ErrorCode::invalid_argument,
                      "service '" + s.id + "': unit_vars.extra_args " + why);
  };
  if (text.front() == '[') {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_array()) return bad("is not a JSON list");
    for (const auto& e : j) {
      if (e.is_string()) out.push_back(e.get<std::string>());
      else if (e.is_number_integer()) out.push_back(std::to_string(e.get<long long>()));
      else if (e.is_number()) out.push_back(e.dump());
      else return bad("must hold strings and numbers only");
    }
  } else {
    std::string cur;
    for (char c : text) {
      if (std::isspace(static_cast<unsigned char>(c))) {
        if (!cur.empty()) out.push_back(std::move(cur));
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
  }
  for (const auto& a : out)
    if (a.find('\0') != std::string::npos || a.find('\n') != std::string::npos)
      return bad("holds a control character");
  return out;
}

bool is_loopback_address(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  if (!util::starts_with(host, "127.")) return false;
  const auto parts = util::split(host, '.');
  if (parts.size() != 4) return false;
  for (const auto& p : parts)
    if (!util::parse_int(p, 0, 255, "octet")) return false;
  return true;
}

util::Result<int> require_port(const core::Service& s) {
  if (!s.port || *s.port < 1 || *s.port > 65535)
    return util::fail(ErrorCode::invalid_argument,
                      "service '" + s.id + "' has no valid port (1..65535)");
  return *s.port;
}

std::string error_text(std::string_view body) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    if (j.contains("error")) {
      const auto& e = j["error"];
      if (e.is_object() && e.contains("message") && e["message"].is_string())
        return e["message"].get<std::string>();
      if (e.is_string()) return e.get<std::string>();
    }
    if (j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
    if (j.contains("detail") && j["detail"].is_string()) return j["detail"].get<std::string>();
  }
  std::string t(util::trim(body));
  if (t.size() > 200) t = t.substr(0, 200) + "...";
  for (char& c : t)
    if (c == '\n' || c == '\r') c = ' ';
  return t.empty() ? "(empty body)" : t;
}

std::chrono::milliseconds call_timeout(std::chrono::milliseconds left, std::chrono::milliseconds cap) {
  return std::clamp(left, std::chrono::milliseconds(1), cap);
}

std::string describe(const core::Service& s) {
  std::string out = "'" + s.id + "' (" + std::string(core::to_string(s.driver));
  if (s.port) out += ", port " + std::to_string(*s.port);
  return out + ")";
}

}  // namespace gpumod::drivers
