// Bench: gpumod's performance measurements of the services it runs (`gpumod bench`).
//
// - A serve bench drives a service through its own HTTP API (llama-server `/completion` and
//   `/v1/chat/completions`, vLLM `/v1/completions` and `/v1/chat/completions`, `/v1/embeddings`
//   for embedding services) with prompts of an exact number of tokens (token ids taken from the
//   server's own `/tokenize`), streamed, and reports per row the median and spread over the runs
//   of TTFT, prompt tok/s, generation tok/s (the server's own `timings` where it returns them,
//   else from the stream), end-to-end latency, embeddings/s; the service's GPU memory before and
//   after; with `cold`, the load (and wake) time through gpumod.
// - A switch bench alternates real mode switches A->B->A and reports each direction's total and
//   per-step times, and for llama.cpp router models the router's own swap (unload + load through
//   its API) measured in the same run, for the ratio.
// Results are stored (StateStore::add_bench_run) only when the whole bench succeeded; the
// durations measured feed expected_durations() (dry runs, simulate, on-demand costs).
//
// The reports are JSON text (their shape is in docs/bench.md); the CLI renders them.
// Thread-safety: the functions are Engine methods' helpers; Engine::bench* take the command lock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gpumod/core/mode_plan.hpp"

namespace gpumod::infra::state {
class StateStore;
struct ExpectedStep;
}

namespace gpumod::engine {

struct BenchRequest {
  std::string target;          // a service id, or the model a service serves
  int prompt_tokens = 512;
  int gen_tokens = 128;
  int runs = 3;
  int concurrency = 1;
  bool cold = false;           // also measure load (and wake) through gpumod
  bool keep_page_cache = false;  // with cold: do not drop the page cache (a warm load)
  bool no_thinking = false;    // add a chat row with chat_template_kwargs.enable_thinking=false
  bool start = false;          // start (or wake) a stopped (asleep) service instead of refusing
};

struct SwitchBenchRequest {
  std::string mode_a;
  std::string mode_b;
  int rounds = 2;
};

struct BenchOutcome {
  std::int64_t run_id = 0;     // the stored bench_runs row
  std::string report_json;     // the report (docs/bench.md)
};

// Checks a request's numbers (invalid_argument naming the option).
util::Status validate(const BenchRequest& request);
util::Status validate(const SwitchBenchRequest& request);

// The expected duration of each step of a plan, from the durations measured before (median of
// the latest, on this GPU): nullopt where never measured. `total_ms` counts outgoing steps as
// they run (in parallel: the longest) plus incoming ones in order; nullopt unless every step
// that does something has an expectation.
struct ExpectedDurations {
  std::vector<std::optional<std::int64_t>> step_ms;  // parallel to plan.steps
  std::optional<std::int64_t> total_ms;
};
ExpectedDurations expected_durations(const infra::state::StateStore& store, const core::Plan& plan,
                                     const std::string& gpu_uuid);

// The cost of bringing a service up, for on-demand choices and eviction order: the expected
// duration of waking it when it can sleep and is asleep (`asleep`), else of starting it; nullopt
// when gpumod never measured it.
std::optional<std::int64_t> expected_bring_up_ms(const infra::state::StateStore& store,
                                                 const std::string& service_id, bool asleep,
                                                 const std::string& gpu_uuid = {});
// The same with when its newest measurement was made (the on-demand choice prefers the newer of
// this and the daemon's own measurement).
std::optional<infra::state::ExpectedStep> expected_bring_up(const infra::state::StateStore& store,
                                                           const std::string& service_id, bool asleep,
                                                           const std::string& gpu_uuid = {});

}  // namespace gpumod::engine
