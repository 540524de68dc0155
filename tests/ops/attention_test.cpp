// Attention against PyTorch references (tests/data/ops, written by
// tools/make_reference_fixtures.py) and against a naive loop.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "gpt/error.h"
#include "gpt/ops.h"
#include "test_util.h"

namespace gpt {
namespace {

using test::Fixture;
using test::max_abs_diff;
constexpr float kTol = 1e-5f;

class SdpaReference : public ::testing::TestWithParam<std::string> {};

TEST_P(SdpaReference, MatchesTorchScaledDotProductAttention) {
  const Fixture f("ops/sdpa.safetensors");
  const std::string n = GetParam();
  const bool causal = n.find("causal") != std::string::npos;
  const RowMatrix out = ops::scaled_dot_product_attention(f.matrix(n + ".q"), f.matrix(n + ".k"), f.matrix(n + ".v"), causal);
  EXPECT_LE(max_abs_diff(out, f.matrix(n + ".out")), kTol);
}

INSTANTIATE_TEST_SUITE_P(Torch, SdpaReference,
                         ::testing::Values("T1_d64_full", "T1_d64_causal", "T1_d80_full", "T1_d80_causal",
                                           "T7_d64_full", "T7_d64_causal", "T7_d80_full", "T7_d80_causal",
                                           "T33_d64_full", "T33_d64_causal", "T33_d80_full", "T33_d80_causal"));

TEST(SdpaReference, CausalWithCachedPrefixMatchesTorchMask) {
  const Fixture f("ops/sdpa.safetensors");
  const RowMatrix out = ops::scaled_dot_product_attention(f.matrix("offset26.q"), f.matrix("offset26.k"),
                                                          f.matrix("offset26.v"), true, /*q_offset=*/26);
  EXPECT_LE(max_abs_diff(out, f.matrix("offset26.out")), kTol);
}

struct GqaCase {
  const char* name;
  std::int64_t n_head, n_kv_head, head_dim;
};

class GqaReference : public ::testing::TestWithParam<GqaCase> {};

TEST_P(GqaReference, MatchesTorchSdpaWithEnableGqa) {
  const Fixture f("ops/gqa.safetensors");
  const GqaCase c = GetParam();
  const std::string n = c.name;
  const RowMatrix out = ops::multi_head_attention(f.matrix(n + ".q"), f.matrix(n + ".k"), f.matrix(n + ".v"),
                                                  {c.n_head, c.n_kv_head, c.head_dim}, true);
  EXPECT_LE(max_abs_diff(out, f.matrix(n + ".out")), kTol);
}

INSTANTIATE_TEST_SUITE_P(Torch, GqaReference,
                         ::testing::Values(GqaCase{"gqa_h8_kv2_d64_T33", 8, 2, 64}, GqaCase{"mqa_h4_kv1_d80_T7", 4, 1, 80},
                                           GqaCase{"gqa_h6_kv3_d80_T1", 6, 3, 80}, GqaCase{"mha_h4_kv4_d64_T7", 4, 4, 64}),
                         [](const auto& info) { return std::string(info.param.name); });

struct MhaCase {
  const char* name;
  std::int64_t embed, heads;
};

class TorchMultiheadAttention : public ::testing::TestWithParam<MhaCase> {};

// MultiHead(x) = Concat(head_1..head_h) W^O with projections from
// nn.MultiheadAttention's packed in_proj.
TEST_P(TorchMultiheadAttention, MatchesNnMultiheadAttention) {
  const Fixture f("ops/torch_mha.safetensors");
  const MhaCase c = GetParam();
  const std::string n = c.name;
  const RowMatrix x = f.matrix(n + ".x");
  const RowMatrix w = f.matrix(n + ".in_proj_weight");  // [3E, E]
  const Eigen::VectorXf b = f.vector(n + ".in_proj_bias");
  const auto E = c.embed;
  const RowMatrix q = ops::linear(x, w.topRows(E), b.head(E));
  const RowMatrix k = ops::linear(x, w.middleRows(E, E), b.segment(E, E));
  const RowMatrix v = ops::linear(x, w.bottomRows(E), b.tail(E));
  const RowMatrix heads = ops::multi_head_attention(q, k, v, {c.heads, c.heads, E / c.heads}, true);
  const RowMatrix out = ops::linear(heads, f.matrix(n + ".out_proj_weight"), f.vector(n + ".out_proj_bias"));
  EXPECT_LE(max_abs_diff(out, f.matrix(n + ".out")), kTol);
}

INSTANTIATE_TEST_SUITE_P(Torch, TorchMultiheadAttention,
                         ::testing::Values(MhaCase{"E128_H2_T33", 128, 2}, MhaCase{"E80_H1_T7", 80, 1},
                                           MhaCase{"E128_H2_T1", 128, 2}),
                         [](const auto& info) { return std::string(info.param.name); });

// --- against a naive loop ------------------------------------------------------

RowMatrix random_matrix(std::int64_t r, std::int64_t c, std::mt19937& rng) {
  std::normal_distribution<float> d;
  RowMatrix m(r, c);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = d(rng);
  return m;
}

// Straight from the definition, in double, one query and key at a time.
RowMatrix naive_attention(const RowMatrix& q, const RowMatrix& k, const RowMatrix& v, std::int64_t n_head,
                          std::int64_t n_kv, std::int64_t hd, std::int64_t offset, std::int64_t window) {
  RowMatrix out(q.rows(), n_head * hd);
  for (std::int64_t h = 0; h < n_head; ++h) {
    const std::int64_t kvh = h / (n_head / n_kv);
    for (Eigen::Index i = 0; i < q.rows(); ++i) {
      std::vector<double> s;
      double mx = -INFINITY;
      for (Eigen::Index j = 0; j < k.rows(); ++j) {
        const bool visible = j <= offset + i && (window == 0 || offset + i - j < window);
        double dot = 0;
        for (std::int64_t d = 0; d < hd; ++d) dot += double(q(i, h * hd + d)) * double(k(j, kvh * hd + d));
        s.push_back(visible ? dot / std::sqrt(double(hd)) : -INFINITY);
        mx = std::max(mx, s.back());
      }
      double z = 0;
      for (auto& e : s) z += (e = std::exp(e - mx));
      for (std::int64_t d = 0; d < hd; ++d) {
        double acc = 0;
        for (Eigen::Index j = 0; j < k.rows(); ++j) acc += s[size_t(j)] / z * double(v(j, kvh * hd + d));
        out(i, h * hd + d) = float(acc);
      }
    }
  }
  return out;
}

TEST(AttentionNaive, OddSizesGroupedQueryOffsetsAndWindows) {
  std::mt19937 rng(7);
  struct Case { std::int64_t tq, tk, n_head, n_kv, hd, window; };
  for (const Case c : {Case{1, 1, 1, 1, 3, 0}, Case{5, 5, 6, 2, 7, 0}, Case{3, 11, 4, 1, 13, 0},
                       Case{9, 9, 3, 3, 5, 4}, Case{2, 17, 8, 4, 9, 5}}) {
    const RowMatrix q = random_matrix(c.tq, c.n_head * c.hd, rng);
    const RowMatrix k = random_matrix(c.tk, c.n_kv * c.hd, rng);
    const RowMatrix v = random_matrix(c.tk, c.n_kv * c.hd, rng);
    const std::int64_t offset = c.tk - c.tq;
    const RowMatrix got = ops::multi_head_attention(q, k, v, {c.n_head, c.n_kv, c.hd}, true, offset, c.window);
    EXPECT_LE(max_abs_diff(got, naive_attention(q, k, v, c.n_head, c.n_kv, c.hd, offset, c.window)), 1e-5f)
        << "tq=" << c.tq << " tk=" << c.tk << " heads=" << c.n_head << "/" << c.n_kv;
  }
}

TEST(AttentionNaive, RejectsInconsistentShapes) {
  const RowMatrix q = RowMatrix::Zero(2, 12), k = RowMatrix::Zero(2, 8);
  EXPECT_THROW(ops::multi_head_attention(q, k, k, {3, 2, 4}, true), InvalidArgument);  // 3 % 2 != 0
  EXPECT_THROW(ops::multi_head_attention(q, k, k, {3, 1, 5}, true), InvalidArgument);  // widths
  EXPECT_THROW(ops::scaled_dot_product_attention(q, k.leftCols(4), k, true), InvalidArgument);
}

}  // namespace
}  // namespace gpt
