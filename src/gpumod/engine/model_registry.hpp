// The model registry: models gpumod knows about, stored in the state database's model table
// (infra::state::StateStore upsert/get/list/remove). Sources:
//   - gguf: a local .gguf file (split models by any part); the header and tensor table are read
//     (never the weights) and the record holds architecture, quant label, file bytes, parameters,
//     the estimator's GPU total at the base context and the marginal cost per 1,024 tokens, and
//     a JSON summary of the shape;
//   - local: hand-entered figures (--vram-mib, --kv-per-1k-mib, --architecture);
//   - other sources (Hugging Face) build a record with `record_from_gguf_source` from a remote
//     ByteSource (HTTP Range reads) and store it with `ModelRegistry::register_record`.
// Registering an id that exists refreshes the record (keeping registered_at), never fails (W28).
// Thread-safety: ModelRegistry holds a StateStore reference; the store is thread-safe, the
// registry adds no state of its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumod/core/vram_estimator.hpp"
#include "gpumod/infra/gguf/byte_source.hpp"
#include "gpumod/infra/gguf/reader.hpp"
#include "gpumod/infra/state/state_store.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::engine {

// The context the registry's base estimate is taken at (the training context when smaller), and
// the settings it assumes: llama-server defaults (f16 KV, flash attention, 4 slots, all layers
// on the GPU).
inline constexpr std::uint32_t k_registry_base_context = 4096;

// A model id from a file name: the name without ".gguf" and a "-0000k-of-0000n" split suffix,
// characters outside [A-Za-z0-9_-] replaced by '-', cut to 64. Empty when nothing is left.
std::string model_id_from_filename(std::string_view filename);

// Builds a record (source "gguf", no id) from a parsed GGUF model. `filename` gives the quant
// label; `location` is stored as is (a path, or a repo id + file for remote sources).
// Errors: corrupt (the header lacks what the estimator needs).
util::Result<infra::state::ModelRecord> record_from_gguf(const infra::gguf::GgufFile& file,
                                                         std::string_view filename,
                                                         std::string_view location);

// The seam for remote sources: reads the header and tensor table through any ByteSource (a
// local file, an HTTP Range source) and builds the record with `source` as its source name.
util::Result<infra::state::ModelRecord> record_from_gguf_source(infra::gguf::ByteSource& bytes,
                                                                std::string_view filename,
                                                                std::string_view location,
                                                                std::string_view source);

// The settings key a load measurement is recorded under (ModelMeasurement::settings_key), so the
// estimate for the same model and settings can find it: "ctx=4096;ctk=f16;ctv=f16;fa=on;ngl=-1;
// ncmoe=0;np=4;ub=512" (ctx as llama-server was given it; ngl -1 = all).
std::string measurement_settings_key(const core::EstimateOptions& options);

struct LocalModel {
  std::string id;
  std::int64_t vram_mib = 0;                 // 1..10,000,000
  std::optional<double> kv_per_1k_mib;       // 0..1,000,000
  std::string architecture;                  // free text, at most 64 characters
  std::string notes;
};

struct Registration {
  infra::state::ModelRecord record;
  bool refreshed = false;  // the id existed before; its record was replaced
};

class ModelRegistry {
 public:
  explicit ModelRegistry(infra::state::StateStore& store) : m_store(store) {}

  // Reads the file at `path` (any part of a split model). Without `id`, the id comes from the
  // file name. Errors: invalid_argument (bad id, or no id derivable), not_found (no file),
  // corrupt (not a GGUF model), io.
  util::Result<Registration> register_gguf(const std::string& path,
                                           std::optional<std::string> id = std::nullopt);
  // Errors: invalid_argument (bad id or figure out of range).
  util::Result<Registration> register_local(const LocalModel& model);
  // Stores a record built elsewhere (a remote source); validates the id.
  util::Result<Registration> register_record(infra::state::ModelRecord record);

  util::Result<std::optional<infra::state::ModelRecord>> get(std::string_view id) const;
  util::Result<std::vector<infra::state::ModelRecord>> list() const;
  // true when the model existed; idempotent.
  util::Result<bool> remove(std::string_view id);

  // Load measurements recorded for this model and these settings (the estimator's third layer).
  util::Result<std::vector<infra::state::ModelMeasurement>> measurements(
      std::string_view id, std::string_view settings_key) const;

 private:
  infra::state::StateStore& m_store;
};

}  // namespace gpumod::engine
