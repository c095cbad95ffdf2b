#include "gpumod/core/model_shape.hpp"

#include <gtest/gtest.h>

namespace gpumod::core {
namespace {

TEST(ModelShape, CountsAttentionAndRecurrentLayers) {
  ModelShape s;
  s.layers = {LayerShape{.n_head = 8, .n_head_kv = 2}, LayerShape{.recurrent = true},
              LayerShape{.n_ff = 100}, LayerShape{.n_head = 8, .n_head_kv = 8}};
  EXPECT_EQ(s.n_attention_layers(), 2u);
  EXPECT_EQ(s.n_recurrent_layers(), 1u);
}

TEST(ModelShape, Mamba2StateMatchesLlamaCpp) {
  ModelShape s;  // Nemotron-3-Nano sizes
  s.ssm_d_conv = 4;
  s.ssm_d_inner = 4096;
  s.ssm_d_state = 128;
  s.ssm_n_group = 8;
  // n_embd_r = 3 * (4096 + 2*8*128) = 18432; n_embd_s = 128 * 4096 = 524288
  EXPECT_EQ(s.recurrent_state_floats(), 18432u + 524288u);
}

}  // namespace
}  // namespace gpumod::core
