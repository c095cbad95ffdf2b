// Which files of a configuration root gpumod reads: <root>/presets/**/*.yaml|yml (recursive, one
// service each), <root>/modes/*.yaml|yml (one mode each) and the optional <root>/gpumod.yaml
// (settings). Hidden files and folders and editor leftovers (x.yaml~, .swp, .tmp) are skipped.
// Thread-safety: reads the file system; no shared state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace gpumod::infra::config {

enum class ConfigFileKind { preset, mode, settings };

struct ConfigFile {
  ConfigFileKind kind = ConfigFileKind::preset;
  std::filesystem::path path;  // absolute (or as given by root)
  std::string relative;        // to the root, with '/' ("presets/llm/nemotron.yaml")
  std::int64_t size_bytes = -1;      // from the one stat() made while listing
  std::int64_t modified_ns = -1;     // st_mtim, nanoseconds since the epoch
};

// A folder that could not be read.
struct ConfigFolderProblem {
  std::string relative;  // "presets/llm"
  std::string message;
};

struct ConfigFileList {
  std::vector<ConfigFile> files;  // settings first, then presets, then modes; each sorted
  std::vector<ConfigFolderProblem> problems;
};

// True for "x.yaml" / "x.YML"; false for hidden names and editor temp files.
bool is_config_file_name(std::string_view file_name);

// Lists the files of `root`. Missing presets/ or modes/ folders are not problems.
ConfigFileList list_config_files(const std::filesystem::path& root);

}  // namespace gpumod::infra::config
