// gpumod-make-model: writes a random-weight (or zero) GGUF model of a given shape, loadable by
// llama-server (llama.cpp f535774), for measuring real memory use on a GPU machine.
//   gpumod-make-model OUT.gguf --arch llama --layers 16 --embd 2048 --heads 32 --kv-heads 8
//       --ff 8192 --vocab 32064 --ctx-train 131072 --type f16 [--data zeros|random] [--seed N]
// After writing, it reads the file back with gpumod's reader and prints the shape and the
// estimator's figures at --check-ctx (default 4096), so a bad file is caught here.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "gpumod/core/vram_estimator.hpp"
#include "gpumod/infra/gguf/model_info.hpp"
#include "gpumod/infra/gguf/reader.hpp"
#include "tools/make_model/model_builder.hpp"

using namespace gpumod;

int main(int argc, char** argv) {
  CLI::App app{"Write a synthetic GGUF model (llama.cpp-loadable) of a given shape", "gpumod-make-model"};
  tools::ModelSpec s;
  std::string out, type = "f16", data = "random";
  std::uint64_t seed = 1;
  std::uint32_t check_ctx = 4096;
  app.add_option("OUT", out, "Output .gguf path")->required();
  app.add_option("--arch", s.arch, "llama | qwen3moe | gemma2 (sliding window) | nemotron_h_moe (hybrid)");
  app.add_option("--name", s.name, "general.name");
  app.add_option("--layers", s.layers, "block_count");
  app.add_option("--embd", s.embd, "embedding_length");
  app.add_option("--heads", s.heads, "attention.head_count");
  app.add_option("--kv-heads", s.kv_heads, "attention.head_count_kv");
  app.add_option("--head-dim", s.head_dim, "key/value length (0: embd/heads; not for llama)");
  app.add_option("--ff", s.ff, "feed_forward_length");
  app.add_option("--vocab", s.vocab, "vocabulary size (>= 259)");
  app.add_option("--ctx-train", s.ctx_train, "context_length");
  app.add_option("--type", type, "weight type: f16 | q8_0 | q4_0 | bf16 | f32");
  app.add_flag("--tied-output", s.tied_output, "no output.weight (llama.cpp duplicates token_embd)");
  app.add_option("--experts", s.experts, "expert_count (qwen3moe, nemotron_h_moe)");
  app.add_option("--experts-used", s.experts_used, "expert_used_count");
  app.add_option("--ff-exp", s.ff_exp, "expert_feed_forward_length");
  app.add_option("--ff-shexp", s.ff_shexp, "shared expert length (nemotron_h_moe; 0: ff-exp)");
  app.add_option("--swa-window", s.swa_window, "attention.sliding_window (gemma2; 0: 4096)");
  app.add_option("--pattern", s.pattern, "nemotron_h_moe layers: M mamba2, * attention, E MoE");
  app.add_option("--ssm-d-inner", s.ssm_d_inner, "ssm.inner_size (0: 2 x embd)");
  app.add_option("--ssm-d-state", s.ssm_d_state, "ssm.state_size");
  app.add_option("--ssm-groups", s.ssm_n_group, "ssm.group_count");
  app.add_option("--ssm-dt-rank", s.ssm_dt_rank, "ssm.time_step_rank (0: d_inner / 64)");
  app.add_option("--data", data, "random | zeros (zeros: a sparse file)");
  app.add_option("--seed", seed, "random seed");
  app.add_option("--check-ctx", check_ctx, "context for the printed estimate");
  CLI11_PARSE(app, argc, argv);

  auto t = tools::parse_weight_type(type);
  if (!t) {
    std::cerr << "gpumod-make-model: error: " << t.error().message << "\n";
    return 2;
  }
  s.type = *t;
  if (data != "random" && data != "zeros") {
    std::cerr << "gpumod-make-model: error: --data must be random or zeros\n";
    return 2;
  }
  infra::gguf::WriteOptions wo;
  wo.data = data == "random" ? infra::gguf::DataMode::random : infra::gguf::DataMode::zeros;
  wo.seed = seed;
  if (auto st = tools::write_model(out, s, wo); !st) {
    std::cerr << "gpumod-make-model: error: " << st.error().message << "\n";
    return st.error().code == util::ErrorCode::invalid_argument ? 2 : 9;
  }
  auto f = infra::gguf::read_gguf_model(out);
  if (!f) {
    std::cerr << "gpumod-make-model: error: reading back " << out << ": " << f.error().message << "\n";
    return 10;
  }
  auto shape = infra::gguf::model_shape_from_gguf(*f);
  if (!shape) {
    std::cerr << "gpumod-make-model: error: " << shape.error().message << "\n";
    return 10;
  }
  core::EstimateOptions o;
  o.context_size = check_ctx;
  const auto e = core::estimate_vram(*shape, o);
  std::printf("wrote %s: %s, %u layers, %zu tensors, %.1f MiB, %.3f B parameters\n", out.c_str(),
              shape->architecture.c_str(), shape->n_layer, f->tensors.size(),
              static_cast<double>(f->file_bytes) / 1048576.0, static_cast<double>(shape->n_params) / 1e9);
  std::printf("estimate at ctx %u: weights %.1f + KV %.1f + state %.1f + compute %.1f + overhead %.1f = %.1f MiB GPU, host %.1f MiB\n",
              check_ctx, e.gpu.weights_mib, e.gpu.kv_mib, e.gpu.recurrent_state_mib, e.gpu.compute_mib,
              e.gpu.overhead_mib, e.gpu.total_mib, e.host_mib);
  return 0;
}
