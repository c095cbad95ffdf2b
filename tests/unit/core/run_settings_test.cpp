#include "gpumod/core/run_settings.hpp"

#include <gtest/gtest.h>

namespace gpumod::core {
namespace {

TEST(RunSettings, ArgvFlagsInBothForms) {
  EstimateOptions o;
  const std::vector<std::string> argv{"llama-server", "--port", "7070", "--ctx-size", "32768", "-ctk", "q8_0",
                                      "--cache-type-v=q4_0", "-fa", "off", "-ngl", "20", "-np", "2",
                                      "--n-cpu-moe", "4", "-ub", "256", "--jinja"};
  apply_llama_argv(o, argv);
  EXPECT_EQ(o.context_size, 32768u);
  EXPECT_EQ(o.cache_type_k, KvCacheType::q8_0);
  EXPECT_EQ(o.cache_type_v, KvCacheType::q4_0);
  EXPECT_FALSE(o.flash_attn);
  EXPECT_EQ(o.n_gpu_layers, 20);
  EXPECT_EQ(o.n_parallel, 2u);
  EXPECT_EQ(o.n_cpu_moe, 4u);
  EXPECT_EQ(o.n_ubatch, 256u);
}

TEST(RunSettings, BadValuesAreIgnored) {
  EstimateOptions o;
  apply_llama_argv(o, std::vector<std::string>{"-c", "lots", "-ctk", "q9", "-ngl", "all"});
  EXPECT_EQ(o.context_size, 4096u);
  EXPECT_EQ(o.cache_type_k, KvCacheType::f16);
  EXPECT_EQ(o.n_gpu_layers, -1);
}

// The log wins over the argv, the last load counts, and a router's log is read for one model.
TEST(RunSettings, LogOfTheRunOverridesAndRouterLinesAreKeptApart) {
  EstimateOptions o;
  o.context_size = 4096;
  const std::string log =
      "[a] llama_context: n_seq_max     = 4\n"
      "[a] llama_context: n_ctx         = 8192\n"
      "[a] llama_context: n_ctx_seq     = 2048\n"
      "[b] llama_context: n_ctx         = 65536\n"
      "[a] llama_kv_cache: size = 128.00 MiB (8192 cells, 16 layers, 4/1 seqs), K (q8_0): 64.00 MiB, V (f16): 64.00 MiB\n"
      "[a] llama_context: flash_attn    = enabled\n"
      "[a] llama_context: n_ctx         = 16384\n"
      "[a] llama_context: n_ctx_train   = 131072\n";
  apply_llama_log(o, log, "a");
  EXPECT_EQ(o.context_size, 16384u);
  EXPECT_EQ(o.n_parallel, 4u);
  EXPECT_EQ(o.cache_type_k, KvCacheType::q8_0);
  EXPECT_EQ(o.cache_type_v, KvCacheType::f16);
  EXPECT_TRUE(o.flash_attn);
  EstimateOptions single;
  apply_llama_log(single, "llama_context: n_ctx         = 12288\n");
  EXPECT_EQ(single.context_size, 12288u);
}

}  // namespace
}  // namespace gpumod::core
