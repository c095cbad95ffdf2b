// Validation of what names a Hugging Face request: repo ids, revisions and file names. Every hf
// function checks its inputs with these before building a URL or touching the cache, so a
// hostile argument ("../../etc", "a/b?x=", "main/../..") never reaches the network or disk.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "gpumod/util/result.hpp"

namespace gpumod::infra::hf {

// owner/name: ^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$, no "..".
util::Status validate_repo_id(std::string_view repo);
// A branch, tag or 40-hex commit: 1..255 chars of [A-Za-z0-9._/-], no control characters, no
// ".." segment, no leading or trailing "/", no "//".
util::Status validate_revision(std::string_view revision);
// A path inside a repo: relative, 1..1024 chars, no ".." or "." segment, no empty segment, no
// backslash, no control characters, no '?', '#' or '%'.
util::Status validate_repo_file(std::string_view file);

bool is_commit_sha(std::string_view revision);  // 40 lower-case hex digits

// Percent-encodes a revision or file path for a URL (keeps '/', letters, digits, "-._~").
std::string url_encode_path(std::string_view text);
// Percent-encodes a query value.
std::string url_encode_query(std::string_view text);

}  // namespace gpumod::infra::hf
