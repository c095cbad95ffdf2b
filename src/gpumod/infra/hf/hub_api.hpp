// Typed Hugging Face Hub API calls over a HubClient, and the pure parsers of their JSON answers:
//   model info   GET /api/models/{repo}/revision/{rev}?blobs=true  (sha, siblings with sizes, LFS sha256)
//   tree         GET /api/models/{repo}/tree/{rev}?recursive=true  (path, size, lfs.oid)
//   search       GET /api/models?search=&author=&filter=gguf&limit=&sort=downloads&direction=-1
// Inputs are validated before any request. Model info pinned to a commit is cached forever.
// Thread-safety: the functions hold no state; the HubClient may be shared between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumod/infra/hf/hub_client.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::hf {

struct RepoFile {
  std::string path;          // rfilename
  std::uint64_t size = 0;    // bytes (the LFS size for LFS files); 0 when unknown
  std::string lfs_sha256;    // "" for non-LFS files
};

struct RepoInfo {
  std::string id;            // owner/name as the Hub spells it
  std::string sha;           // the commit the revision resolved to
  std::string gated;         // "" (not gated), "auto" or "manual"
  bool is_private = false;
  std::uint64_t downloads = 0;
  std::uint64_t likes = 0;
  std::string pipeline_tag;
  std::string library_name;
  std::vector<std::string> tags;
  std::vector<RepoFile> files;
  std::string last_modified;
};

struct ModelSummary {      // one search hit
  std::string id;
  std::uint64_t downloads = 0;
  std::uint64_t likes = 0;
  std::vector<std::string> tags;
  std::string pipeline_tag;
  std::string last_modified;
};

struct SearchQuery {
  std::string search;       // free text ("" = any)
  std::string author;       // "" = any
  std::string filter = "gguf";
  std::uint32_t limit = 20;  // 1..100
  std::string sort = "downloads";
};

util::Result<RepoInfo> parse_repo_info(std::string_view json_text);
util::Result<std::vector<RepoFile>> parse_tree(std::string_view json_text);
util::Result<std::vector<ModelSummary>> parse_search(std::string_view json_text);

// Model info with per-file sizes; the revision is a branch, tag or commit ("main" when empty).
util::Result<RepoInfo> fetch_repo_info(HubClient& hub, std::string_view repo, std::string_view revision);
// Every file of the repo at `revision` (recursive), for repos whose model info lacks sizes.
util::Result<std::vector<RepoFile>> fetch_tree(HubClient& hub, std::string_view repo, std::string_view revision);
util::Result<std::vector<ModelSummary>> search_models(HubClient& hub, const SearchQuery& query);

}  // namespace gpumod::infra::hf
