// Rotary and sinusoidal positions, norms, activations and MLPs against
// PyTorch / Hugging Face references, plus the embedding lookup.
#include <gtest/gtest.h>

#include "gpt/error.h"
#include "gpt/ops.h"
#include "test_util.h"

namespace gpt {
namespace {

using test::Fixture;
using test::max_abs_diff;
constexpr float kTol = 1e-5f;

struct RopeCase {
  const char* name;
  std::int64_t heads, head_dim, rotary_dim, start;
  float theta;
  RopeLayout layout;
};

class RopeReference : public ::testing::TestWithParam<RopeCase> {};

TEST_P(RopeReference, MatchesHuggingFace) {
  const Fixture f("ops/rope.safetensors");
  const RopeCase c = GetParam();
  RowMatrix x = f.matrix(std::string(c.name) + ".x");
  ops::apply_rope(x, c.heads, c.head_dim, c.start, RopeConfig{c.theta, c.rotary_dim, c.layout});
  // Angles up to ~130 rad in f32: allow for the argument rounding of sin/cos.
  EXPECT_LE(max_abs_diff(x, f.matrix(std::string(c.name) + ".out")), 2e-5f);
}

INSTANTIATE_TEST_SUITE_P(
    Torch, RopeReference,
    ::testing::Values(RopeCase{"llama_h4_d64_T7_at5", 4, 64, 0, 5, 50000.0f, RopeLayout::HalfSplit},
                      RopeCase{"llama_h2_d80_T33_at0", 2, 80, 0, 0, 10000.0f, RopeLayout::HalfSplit},
                      RopeCase{"llama_h3_d64_T1_at100", 3, 64, 0, 100, 500000.0f, RopeLayout::HalfSplit},
                      RopeCase{"gptj_h2_d64_r32_T7_at3", 2, 64, 32, 3, 10000.0f, RopeLayout::Interleaved},
                      RopeCase{"gptj_h2_d80_r80_T33_at0", 2, 80, 80, 0, 10000.0f, RopeLayout::Interleaved}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(RopeLayouts, InterleavedIsHalfSplitWithPermutedDims) {
  // The GGUF conversion of Llama permutes q/k rows so that interleaved pairs
  // see what half-split pairs saw: dim 2i <-> i, 2i+1 <-> i + d/2.
  const std::int64_t hd = 8;
  RowMatrix x = RowMatrix::Random(3, 2 * hd), y(3, 2 * hd);
  for (std::int64_t h = 0; h < 2; ++h)
    for (std::int64_t i = 0; i < hd / 2; ++i) {
      y.col(h * hd + 2 * i) = x.col(h * hd + i);
      y.col(h * hd + 2 * i + 1) = x.col(h * hd + i + hd / 2);
    }
  ops::apply_rope(x, 2, hd, 4, {10000.0f, 0, RopeLayout::HalfSplit});
  ops::apply_rope(y, 2, hd, 4, {10000.0f, 0, RopeLayout::Interleaved});
  for (std::int64_t h = 0; h < 2; ++h)
    for (std::int64_t i = 0; i < hd / 2; ++i) {
      EXPECT_LE((y.col(h * hd + 2 * i) - x.col(h * hd + i)).cwiseAbs().maxCoeff(), 1e-6f);
      EXPECT_LE((y.col(h * hd + 2 * i + 1) - x.col(h * hd + i + hd / 2)).cwiseAbs().maxCoeff(), 1e-6f);
    }
}

TEST(Positions, SinusoidalMatchesPaperFormula) {
  const Fixture f("ops/elementwise.safetensors");
  EXPECT_LE(max_abs_diff(ops::sinusoidal_positions(3, 33, 64), f.matrix("sinusoidal.d64_at3")), kTol);
  EXPECT_THROW(ops::sinusoidal_positions(0, 1, 7), InvalidArgument);
}

TEST(Norms, LayerNormMatchesTorch) {
  const Fixture f("ops/elementwise.safetensors");
  const RowMatrix y = ops::layer_norm(f.matrix("ln.x"), f.vector("ln.gamma"), f.vector("ln.beta"), 1e-5f);
  EXPECT_LE(max_abs_diff(y, f.matrix("ln.out")), kTol);
}

TEST(Norms, RmsNormMatchesLlamaRMSNorm) {
  const Fixture f("ops/elementwise.safetensors");
  const RowMatrix y = ops::rms_norm(f.matrix("ln.x"), f.vector("ln.gamma"), 1e-6f);
  EXPECT_LE(max_abs_diff(y, f.matrix("rms.out")), kTol);
}

TEST(Activations, MatchTorch) {
  const Fixture f("ops/elementwise.safetensors");
  RowMatrix a = f.matrix("act.x"), b = a, c = a;
  ops::gelu_tanh(a);
  ops::gelu_erf(b);
  ops::silu(c);
  EXPECT_LE(max_abs_diff(a, f.matrix("act.gelu_tanh")), kTol);
  EXPECT_LE(max_abs_diff(b, f.matrix("act.gelu_erf")), kTol);
  EXPECT_LE(max_abs_diff(c, f.matrix("act.silu")), kTol);
}

TEST(Mlp, SwiGluAndGeluMlpMatchTorch) {
  const Fixture f("ops/elementwise.safetensors");
  const RowMatrix x = f.matrix("swiglu.x");
  const RowMatrix g = ops::gated_mlp(x, f.matrix("swiglu.gate"), f.matrix("swiglu.up"), f.matrix("swiglu.down"),
                                     Activation::SiLU);
  EXPECT_LE(max_abs_diff(g, f.matrix("swiglu.out")), kTol);
  const RowMatrix m = ops::mlp(x, f.matrix("swiglu.up"), f.vector("mlp.b1"), f.matrix("swiglu.down"),
                               f.vector("mlp.b2"), Activation::GeluTanh);
  EXPECT_LE(max_abs_diff(m, f.matrix("mlp.out")), kTol);
}

TEST(Embedding, LooksUpRowsAndRejectsBadIds) {
  RowMatrix table(4, 3);
  table << 0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32;
  const Token ids[] = {3, 0, 3};
  const RowMatrix e = ops::embed(table, ids);
  EXPECT_EQ(e.row(0), table.row(3));
  EXPECT_EQ(e.row(1), table.row(0));
  EXPECT_EQ(e.row(2), table.row(3));
  const Token bad[] = {4};
  EXPECT_THROW(ops::embed(table, bad), InvalidArgument);
  const Token neg[] = {-1};
  EXPECT_THROW(ops::embed(table, neg), InvalidArgument);
}

}  // namespace
}  // namespace gpt
