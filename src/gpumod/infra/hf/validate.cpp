#include "gpumod/infra/hf/validate.hpp"

#include <cctype>
#include <cstdio>

#include "gpumod/util/strings.hpp"

namespace gpumod::infra::hf {

namespace {

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
}

bool valid_part(std::string_view part) {
  if (part.empty() || part.size() > 96) return false;
  if (std::isalnum(static_cast<unsigned char>(part.front())) == 0) return false;
  for (char c : part) {
    if (!name_char(c)) return false;
  }
  return true;
}

bool has_control(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 120)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

util::Status bad(std::string what, std::string_view value, std::string_view why) {
  return util::fail(util::ErrorCode::invalid_argument,
                    what + " '" + printable(value) + "' is not valid: " + std::string(why));
}

bool segments_ok(std::string_view s) {
  for (const auto& seg : util::split(s, '/')) {
    if (seg.empty() || seg == "." || seg == "..") return false;
  }
  return true;
}

}  // namespace

util::Status validate_repo_id(std::string_view repo) {
  const auto slash = repo.find('/');
  if (slash == std::string_view::npos || repo.find('/', slash + 1) != std::string_view::npos) {
    return bad("Hugging Face repo id", repo, "expected OWNER/NAME (for example unsloth/Qwen3-8B-GGUF)");
  }
  if (!valid_part(repo.substr(0, slash)) || !valid_part(repo.substr(slash + 1))) {
    return bad("Hugging Face repo id", repo,
               "owner and name are 1-96 characters of letters, digits, '.', '_', '-' and start "
               "with a letter or digit");
  }
  if (repo.find("..") != std::string_view::npos) {
    return bad("Hugging Face repo id", repo, "'..' is not allowed");
  }
  return {};
}

util::Status validate_revision(std::string_view revision) {
  if (revision.empty() || revision.size() > 255) {
    return bad("revision", revision, "expected a branch, tag or commit of 1-255 characters");
  }
  if (has_control(revision)) return bad("revision", revision, "control characters");
  for (char c : revision) {
    if (!name_char(c) && c != '/') {
      return bad("revision", revision, "only letters, digits, '.', '_', '-' and '/' are allowed");
    }
  }
  if (!segments_ok(revision)) return bad("revision", revision, "empty, '.' or '..' path segment");
  return {};
}

util::Status validate_repo_file(std::string_view file) {
  if (file.empty() || file.size() > 1024) return bad("file name", file, "1-1024 characters");
  if (has_control(file)) return bad("file name", file, "control characters");
  if (file.front() == '/') return bad("file name", file, "must be relative (no leading '/')");
  for (char c : file) {
    if (c == '\\' || c == '?' || c == '#' || c == '%') {
      return bad("file name", file, "'\\', '?', '#' and '%' are not allowed");
    }
  }
  if (!segments_ok(file)) return bad("file name", file, "empty, '.' or '..' path segment");
  return {};
}

bool is_commit_sha(std::string_view revision) {
  if (revision.size() != 40) return false;
  for (char c : revision) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

namespace {
std::string encode(std::string_view text, bool keep_slash) {
  static const char* k_hex = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out += c;
    } else {
      out += '%';
      out += k_hex[u >> 4];
      out += k_hex[u & 15];
    }
  }
  return out;
}
}  // namespace

std::string url_encode_path(std::string_view text) { return encode(text, true); }
std::string url_encode_query(std::string_view text) { return encode(text, false); }

}  // namespace gpumod::infra::hf
