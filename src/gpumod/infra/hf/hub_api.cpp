#include "gpumod/infra/hf/hub_api.hpp"

#include <nlohmann/json.hpp>

#include "gpumod/infra/hf/validate.hpp"

namespace gpumod::infra::hf {

using nlohmann::json;

namespace {

std::uint64_t as_u64(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return 0;
  const auto& v = j[key];
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(v.get<std::int64_t>());
  return 0;
}

std::string as_str(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return {};
  return j[key].get<std::string>();
}

std::vector<std::string> as_strings(const json& j, const char* key) {
  std::vector<std::string> out;
  if (!j.is_object() || !j.contains(key) || !j[key].is_array()) return out;
  for (const auto& v : j[key]) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

util::Result<json> parse(std::string_view text, std::string_view what) {
  try {
    return json::parse(text);
  } catch (const std::exception& e) {
    return util::fail(util::ErrorCode::corrupt, std::string(what) + ": the Hub's answer is not JSON: " + e.what());
  }
}

// A file path from the Hub is validated like user input: it names cache entries and download targets.
bool keep_file(const RepoFile& f) { return static_cast<bool>(validate_repo_file(f.path)); }

}  // namespace

util::Result<RepoInfo> parse_repo_info(std::string_view text) {
  auto j = parse(text, "model info");
  if (!j) return std::unexpected(j.error());
  if (!j->is_object()) return util::fail(util::ErrorCode::corrupt, "model info: expected a JSON object");
  RepoInfo info;
  info.id = as_str(*j, "id");
  if (info.id.empty()) info.id = as_str(*j, "modelId");
  info.sha = as_str(*j, "sha");
  if (j->contains("gated")) {
    const auto& g = (*j)["gated"];
    if (g.is_string()) info.gated = g.get<std::string>();
    else if (g.is_boolean() && g.get<bool>()) info.gated = "manual";
  }
  info.is_private = j->value("private", false);
  info.downloads = as_u64(*j, "downloads");
  info.likes = as_u64(*j, "likes");
  info.pipeline_tag = as_str(*j, "pipeline_tag");
  info.library_name = as_str(*j, "library_name");
  info.tags = as_strings(*j, "tags");
  info.last_modified = as_str(*j, "lastModified");
  if (j->contains("siblings") && (*j)["siblings"].is_array()) {
    for (const auto& s : (*j)["siblings"]) {
      RepoFile f;
      f.path = as_str(s, "rfilename");
      f.size = as_u64(s, "size");
      if (s.contains("lfs") && s["lfs"].is_object()) {
        f.lfs_sha256 = as_str(s["lfs"], "sha256");
        if (f.size == 0) f.size = as_u64(s["lfs"], "size");
      }
      if (keep_file(f)) info.files.push_back(std::move(f));
    }
  }
  return info;
}

util::Result<std::vector<RepoFile>> parse_tree(std::string_view text) {
  auto j = parse(text, "repo tree");
  if (!j) return std::unexpected(j.error());
  if (!j->is_array()) return util::fail(util::ErrorCode::corrupt, "repo tree: expected a JSON array");
  std::vector<RepoFile> out;
  for (const auto& e : *j) {
    if (as_str(e, "type") == "directory") continue;
    RepoFile f;
    f.path = as_str(e, "path");
    f.size = as_u64(e, "size");
    if (e.contains("lfs") && e["lfs"].is_object()) {
      f.lfs_sha256 = as_str(e["lfs"], "oid");
      if (f.lfs_sha256.empty()) f.lfs_sha256 = as_str(e["lfs"], "sha256");
      if (const auto s = as_u64(e["lfs"], "size")) f.size = s;
    }
    if (keep_file(f)) out.push_back(std::move(f));
  }
  return out;
}

util::Result<std::vector<ModelSummary>> parse_search(std::string_view text) {
  auto j = parse(text, "model search");
  if (!j) return std::unexpected(j.error());
  if (!j->is_array()) return util::fail(util::ErrorCode::corrupt, "model search: expected a JSON array");
  std::vector<ModelSummary> out;
  for (const auto& e : *j) {
    ModelSummary m;
    m.id = as_str(e, "id");
    if (m.id.empty()) m.id = as_str(e, "modelId");
    if (!validate_repo_id(m.id)) continue;
    m.downloads = as_u64(e, "downloads");
    m.likes = as_u64(e, "likes");
    m.tags = as_strings(e, "tags");
    m.pipeline_tag = as_str(e, "pipeline_tag");
    m.last_modified = as_str(e, "lastModified");
    out.push_back(std::move(m));
  }
  return out;
}

util::Result<RepoInfo> fetch_repo_info(HubClient& hub, std::string_view repo, std::string_view revision_in) {
  const std::string revision = revision_in.empty() ? "main" : std::string(revision_in);
  if (auto st = validate_repo_id(repo); !st) return std::unexpected(st.error());
  if (auto st = validate_revision(revision); !st) return std::unexpected(st.error());
  const std::string path = "/api/models/" + std::string(repo) + "/revision/" + url_encode_query(revision) + "?blobs=true";
  auto text = hub.get_api(path, is_commit_sha(revision), "model info of " + std::string(repo) + "@" + revision);
  if (!text) return std::unexpected(text.error());
  auto info = parse_repo_info(*text);
  if (!info) return std::unexpected(util::with_context(info.error(), std::string(repo)));
  if (info->sha.empty()) info->sha = is_commit_sha(revision) ? revision : std::string();
  if (!info->sha.empty() && !is_commit_sha(info->sha)) {
    return util::fail(util::ErrorCode::corrupt, "model info of " + std::string(repo) + ": odd commit '" + info->sha + "'");
  }
  if (info->id.empty()) info->id = std::string(repo);
  return info;
}

util::Result<std::vector<RepoFile>> fetch_tree(HubClient& hub, std::string_view repo, std::string_view revision_in) {
  const std::string revision = revision_in.empty() ? "main" : std::string(revision_in);
  if (auto st = validate_repo_id(repo); !st) return std::unexpected(st.error());
  if (auto st = validate_revision(revision); !st) return std::unexpected(st.error());
  const std::string path = "/api/models/" + std::string(repo) + "/tree/" + url_encode_query(revision) + "?recursive=true";
  auto text = hub.get_api(path, is_commit_sha(revision), "file list of " + std::string(repo) + "@" + revision);
  if (!text) return std::unexpected(text.error());
  return parse_tree(*text);
}

util::Result<std::vector<ModelSummary>> search_models(HubClient& hub, const SearchQuery& q) {
  if (q.limit < 1 || q.limit > 100) {
    return util::fail(util::ErrorCode::invalid_argument, "search limit " + std::to_string(q.limit) + " is not in 1..100");
  }
  if (!q.author.empty()) {
    // An author is the owner part of a repo id.
    if (auto st = validate_repo_id(q.author + "/x"); !st) {
      return util::fail(util::ErrorCode::invalid_argument, "author '" + q.author + "' is not a valid Hub user or organisation");
    }
  }
  if (q.search.size() > 200) return util::fail(util::ErrorCode::invalid_argument, "search text longer than 200 characters");
  std::string path = "/api/models?limit=" + std::to_string(q.limit);
  if (!q.search.empty()) path += "&search=" + url_encode_query(q.search);
  if (!q.author.empty()) path += "&author=" + url_encode_query(q.author);
  if (!q.filter.empty()) path += "&filter=" + url_encode_query(q.filter);
  if (!q.sort.empty()) path += "&sort=" + url_encode_query(q.sort) + "&direction=-1";
  auto text = hub.get_api(path, false, "model search");
  if (!text) return std::unexpected(text.error());
  return parse_search(*text);
}

}  // namespace gpumod::infra::hf
