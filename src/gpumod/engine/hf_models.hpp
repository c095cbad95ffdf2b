// Hugging Face models for gpumod: what the `model quants`, `model register --source huggingface`,
// `discover`, `preset generate` and `model download` commands do, on top of infra/hf.
//   - fetch_hf_model: one quant's GGUF header + tensor table over HTTP Range reads (well under
//     1% of the file), ready for the model registry (engine::record_from_gguf on the models
//     branch: pass `file`, `quant.name` and `location`).
//   - quant_table: every quant of a GGUF repo with its size and the estimator's VRAM at a
//     context, headers read in parallel (bounded pool), and whether it fits a budget; for a
//     safetensors repo (a vLLM model, no GGUF files) one row: its weights, exact from the
//     safetensors headers, and core::estimate_vllm at the context.
//   - fetch_hf_safetensors / record_from_safetensors: a safetensors repo's headers and
//     config.json, and the registry record for it (source huggingface, format safetensors).
//   - budget_for_mode: GPU total minus the services of a mode (W26: not what is free now).
//   - discover: search GGUF repos, list their files concurrently (bounded pool), and pick the
//     best-quality quant (not the smallest, W26) whose size fits the budget.
//   - generate_preset: a llama.cpp router preset YAML (keys the driver really reads) with a free
//     port, a context that fits and n_cpu_moe when an MoE model does not fit otherwise.
//   - download_quant: resumable, free-space checked, SHA-256 verified, atomically renamed.
// The engine never prints: progress goes through a callback.
// Thread-safety: the functions hold no state; the HubClient they are given may be shared.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumod/core/config.hpp"
#include "gpumod/core/model_shape.hpp"
#include "gpumod/core/safetensors_estimate.hpp"
#include "gpumod/core/vram_estimator.hpp"
#include "gpumod/infra/gguf/reader.hpp"
#include "gpumod/infra/hf/gguf_repo.hpp"
#include "gpumod/infra/hf/hub_api.hpp"
#include "gpumod/infra/hf/hub_client.hpp"
#include "gpumod/infra/hf/safetensors_repo.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::engine {

struct HfGgufModel {
  std::string repo;
  std::string revision;             // as asked ("main")
  std::string commit;               // what it resolved to
  infra::hf::GgufQuant quant;
  infra::gguf::GgufFile file;       // header + tensor table, all parts combined
  core::ModelShape shape;
  std::string quant_label;          // "UD-Q4_K_XL (Q4_K)"
  std::string location;             // "hf://owner/name@commit/file"
  std::uint64_t bytes_fetched = 0;  // over the network for this call
};

// `quant`: a label ("Q4_K_M") or a file name; "" picks the only quant, or fails listing them.
// Errors: invalid_argument (bad input, ambiguous quant), not_found (repo, revision, quant),
// unavailable (gated, offline without cache, no network), corrupt (not a GGUF model).
util::Result<HfGgufModel> fetch_hf_model(infra::hf::HubClient& hub, std::string_view repo,
                                         std::string_view quant, std::string_view revision = "main");

struct HfSafetensorsModel {
  std::string repo;                 // as the Hub spells it
  std::string revision;             // as asked ("main")
  std::string commit;               // what it resolved to
  infra::hf::RemoteSafetensors remote;  // headers summed per dtype + config.json
  std::string location;             // "hf://owner/name@commit"
};

// A safetensors repo's config.json and every weight file's header, by Range reads.
// Errors: not_found (repo, revision, no safetensors weights or no config.json), invalid_argument
// (a GGUF repo: "choose a quant with --quant"), unavailable, corrupt (a bad header or config).
util::Result<HfSafetensorsModel> fetch_hf_safetensors(infra::hf::HubClient& hub, std::string_view repo,
                                                      std::string_view revision = "main");

// The registry record (no id): source "huggingface", location hf://repo@commit, quant = the
// dtype mix, parameters, weight bytes, the vLLM estimate at k_registry_base_context (4,096,
// the training context when smaller) as base_vram_mib, the KV of 1,024 tokens as kv_per_1k_mib,
// and a JSON summary with "format": "safetensors", the shape and the bytes per dtype.
infra::state::ModelRecord record_from_safetensors(const HfSafetensorsModel& model);

struct QuantRow {
  std::string label;
  std::string file;                  // first part for split models
  std::uint64_t file_bytes = 0;
  std::uint32_t parts = 1;
  int quality = 0;                   // infra::hf::quant_quality_rank
  std::optional<core::Estimate> estimate;  // at the asked context
  std::optional<std::uint32_t> max_context;  // the largest context that fits the budget
  bool fits = false;
  std::string error;                 // when the header could not be read
  // Safetensors rows (format "safetensors"): the vLLM estimate, parameters, dtype mix.
  std::string format = "gguf";
  std::optional<core::VllmEstimate> vllm;
  std::uint64_t params = 0;
  std::string dtypes;
};

struct QuantTableOptions {
  core::EstimateOptions estimate;    // context_size etc.
  std::optional<double> budget_mib;  // none: no fit column
  std::size_t parallel = 4;          // header reads at once
  core::VllmEstimateOptions vllm;    // safetensors repos (context_size comes from `estimate`)
};

struct QuantTable {
  std::string repo;
  std::string commit;
  std::vector<QuantRow> rows;        // by size, ascending
  std::optional<double> budget_mib;
  std::optional<std::size_t> best;   // the best-quality row that fits
  std::vector<std::string> mmproj;
  std::vector<std::string> imatrix;
  std::string format = "gguf";       // "safetensors": a vLLM model, one row
  std::optional<core::HfModelConfig> config;  // safetensors repos
  std::vector<std::string> notes;
};

// A GGUF repo gives one row per quant; a repo without GGUF files but with safetensors weights
// gives one row (format "safetensors") whose header errors fail the call.
util::Result<QuantTable> quant_table(infra::hf::HubClient& hub, std::string_view repo,
                                     std::string_view revision, const QuantTableOptions& options);

// GPU total minus the vram_mb of the services of `mode_id` (none: the whole GPU) -- except
// `except_service` (the service being replaced). Errors: not_found (no such mode).
util::Result<double> budget_for_mode(const core::Config& config, double gpu_total_mib,
                                     std::string_view mode_id, std::string_view except_service = {});

// Runs fn(0..n-1) on at most `parallel` threads.
void run_bounded(std::size_t n, std::size_t parallel, const std::function<void(std::size_t)>& fn);

struct DiscoverOptions {
  std::string query;
  std::string author;
  std::string task;                  // "", code, chat, embed, reasoning
  std::uint32_t limit = 10;          // repos shown, 1..50
  std::optional<double> budget_mib;  // none: any size
  std::size_t parallel = 4;
  // A quant fits when file MiB + this headroom (KV, compute, CUDA context at a modest context)
  // is within the budget; `model quants REPO` gives exact figures from the headers.
  double headroom_mib = 1536;
};

struct DiscoverHit {
  infra::hf::ModelSummary model;
  std::size_t quant_count = 0;
  std::optional<infra::hf::GgufQuant> best;  // the best quality that fits
  std::string error;                          // listing this repo failed
};

util::Result<std::vector<DiscoverHit>> discover(infra::hf::HubClient& hub, const DiscoverOptions& options);
// The task keywords (on the repo name and tags) of the predecessor, §13.2.
bool matches_task(const infra::hf::ModelSummary& model, std::string_view task);

struct PresetRequest {
  std::string repo;
  std::string quant;
  std::string revision = "main";
  std::uint32_t context_size = 0;    // 0: the largest that fits (at most 32,768)
  std::optional<int> port;           // none: the first free port from 7071
  std::string id;                    // "" = from the repo name
  std::string models_dir = "$HOME/models";
  double budget_mib = 0;             // what the service may use
  core::EstimateOptions estimate;
};

struct GeneratedPreset {
  std::string id;
  std::string yaml;
  int port = 0;
  std::int64_t vram_mib = 0;
  std::uint32_t context_size = 0;
  std::uint32_t n_cpu_moe = 0;
  std::vector<std::string> notes;
};

// `existing` (may be null): the configuration whose ports and ids are avoided.
util::Result<GeneratedPreset> generate_preset(infra::hf::HubClient& hub, const PresetRequest& request,
                                              const core::Config* existing);
// The id a repo gets: the name minus -GGUF, lower-case, [a-z0-9-] only ("model" if empty).
std::string preset_id_from_repo(std::string_view repo);

struct DownloadProgress {
  std::string file;
  std::uint64_t done_bytes = 0;   // of this quant, all parts
  std::uint64_t total_bytes = 0;
};
using ProgressFn = std::function<void(const DownloadProgress&)>;

struct DownloadResult {
  std::vector<std::filesystem::path> files;
  std::uint64_t downloaded_bytes = 0;  // this run (resumed parts count only what was added)
  bool verified = false;               // every part matched its LFS sha256
};

// Downloads every part of `quant` into `dir` (kept flat: the file name only). A partial
// "<name>.part" is resumed with a Range request; the result is checked against the LFS sha256
// and renamed into place. Errors: insufficient space (io), checksum mismatch (corrupt).
util::Result<DownloadResult> download_quant(infra::hf::HubClient& hub, std::string_view repo,
                                            std::string_view quant, std::string_view revision,
                                            const std::filesystem::path& dir, const ProgressFn& progress);

}  // namespace gpumod::engine
