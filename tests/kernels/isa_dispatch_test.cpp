// Run-time dispatch of the kernels (kernels/isa.h): every level this CPU
// supports against the scalar one, for every weight type. The dot products
// (F32 / F16 / BF16 rows, every block-quantized type) must give the same bits
// on every level, and so must attention's inner loops; only the f32 GEMM used
// for prompts on float weights may differ, within a tight tolerance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gpt/cpu.h"
#include "gpt/error.h"
#include "kernels/half.h"
#include "kernels/isa.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"

namespace {

using gpt::DType;
namespace k = gpt::kernels;
using k::Isa;

std::vector<Isa> levels() { return k::supported_isas(); }

// Random but valid weight rows: random bytes with finite, moderate f16 scales
// (float types: random finite values).
std::vector<std::byte> random_weights(DType t, std::int64_t rows, std::int64_t cols, std::mt19937& rng) {
  const std::size_t nbytes = gpt::dtype_bytes(t, rows * cols);
  std::vector<std::byte> w(nbytes + 8);
  std::normal_distribution<float> nd(0.0f, 0.5f);
  if (t == DType::F32 || t == DType::F16 || t == DType::BF16) {
    const std::size_t eb = t == DType::F32 ? 4 : 2;
    for (std::size_t i = 0; i < nbytes / eb; ++i) {
      const float v = nd(rng);
      if (t == DType::F32) std::memcpy(&w[i * 4], &v, 4);
      const std::uint16_t h = t == DType::F16 ? k::f32_to_f16(v) : k::f32_to_bf16(v);
      if (t != DType::F32) std::memcpy(&w[i * 2], &h, 2);
    }
    return w;
  }
  const auto& info = gpt::dtype_info(t);
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : w) b = static_cast<std::byte>(byte(rng));
  std::uniform_real_distribution<float> scale(0.001f, 0.05f), sign(-1.0f, 1.0f);
  auto put_half = [&](std::size_t at, float v) {
    const std::uint16_t h = k::f32_to_f16(v);
    std::memcpy(&w[at], &h, 2);
  };
  for (std::size_t b = 0; b < nbytes / info.block_bytes; ++b) {
    const std::size_t base = b * info.block_bytes;
    const float s = scale(rng) * (sign(rng) < 0 ? -1.0f : 1.0f);
    switch (t) {
      case DType::Q6_K: put_half(base + 208, s); break;
      case DType::Q8_0: case DType::Q4_0: case DType::Q5_0: put_half(base, s); break;
      default: put_half(base, s); put_half(base + 2, sign(rng) * 0.05f); break;
    }
  }
  return w;
}

gpt::TensorView view(DType t, const std::byte* data, std::int64_t out, std::int64_t in) {
  gpt::TensorView w;
  w.name = "w";
  w.dtype = t;
  w.shape = {out, in};
  w.data = data;
  w.nbytes = gpt::dtype_bytes(t, out * in);
  return w;
}

std::vector<float> activations(std::int64_t n, std::mt19937& rng) {
  std::vector<float> x(n + 1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto& v : x) v = nd(rng);
  return x;
}

void expect_same_bits(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << what;
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::uint32_t x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    if (x != y) {
      ADD_FAILURE() << what << ": first difference at " << i << ": " << a[i] << " vs " << b[i];
      return;
    }
  }
}

const DType kQuantTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                             DType::Q5_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};

TEST(isa_dispatch, ScalarIsAlwaysSupportedAndTheChoiceIsOneOfThem) {
  const auto v = levels();
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v.front(), Isa::Scalar);
  const Isa a = k::active_isa();
  EXPECT_TRUE(k::cpu_supports(a)) << k::isa_name(a);
  EXPECT_EQ(gpt::kernel_isa(), k::isa_name(a));
  std::printf("kernels: %s; this CPU supports: %s\n", k::isa_name(a), gpt::cpu_isa_list().c_str());
}

TEST(isa_dispatch, GptIsaChoosesOrRefusesWithATypedError) {
  EXPECT_EQ(k::choose_isa(nullptr), levels().back());
  EXPECT_EQ(k::choose_isa(""), levels().back());
  EXPECT_EQ(k::choose_isa("scalar"), Isa::Scalar);
  for (Isa isa : {Isa::Avx2, Isa::Avx512}) {
    if (k::cpu_supports(isa)) {
      EXPECT_EQ(k::choose_isa(k::isa_name(isa)), isa);
    } else {
      EXPECT_THROW(k::choose_isa(k::isa_name(isa)), gpt::InvalidArgument);
    }
    if (!k::cpu_supports(isa)) {
      EXPECT_THROW(k::isa_table(isa), gpt::InvalidArgument);
    }
  }
  EXPECT_THROW(k::choose_isa("avx1024"), gpt::InvalidArgument);
  EXPECT_THROW(k::choose_isa("AVX2 "), gpt::InvalidArgument);
}

class isa_quant : public ::testing::TestWithParam<DType> {};

// Every level gives the scalar level's bits, for 1 token (the decode kernel),
// tiles of tokens (isa::kTokenTile, then isa::kSmallTile) and the remainder,
// 1 or 2 threads.
TEST_P(isa_quant, EveryLevelGivesTheScalarBits) {
  const DType t = GetParam();
  const bool kq = gpt::dtype_info(t).block_elems == 256;
  std::mt19937 rng(99 + static_cast<int>(t));
  const std::int64_t out = 37;
  for (std::int64_t in : kq ? std::vector<std::int64_t>{256, 3 * 256} : std::vector<std::int64_t>{32, 7 * 32, 10 * 32}) {
    auto storage = random_weights(t, out, in, rng);
    std::memmove(storage.data() + 1, storage.data(), storage.size() - 8);  // misaligned on purpose
    const gpt::TensorView w = view(t, storage.data() + 1, out, in);
    for (std::int64_t n_tokens : {1, 4, 7, 8, 13, 16, 19}) {
      const auto xbuf = activations(n_tokens * in, rng);
      const float* x = xbuf.data() + 1;
      std::vector<float> ref(n_tokens * out);
      k::matmul_quant(w, x, n_tokens, ref.data(), 1, Isa::Scalar);
      for (Isa isa : levels()) {
        for (int threads : {1, 2}) {
          std::vector<float> y(n_tokens * out);
          k::matmul_quant(w, x, n_tokens, y.data(), threads, isa);
          expect_same_bits(y, ref,
                           std::string(k::isa_name(isa)) + " in=" + std::to_string(in) +
                               " tokens=" + std::to_string(n_tokens) + " threads=" + std::to_string(threads));
        }
      }
      // Each token of a batch gets its single-token bits (tiles and remainder alike).
      for (std::int64_t tok = 0; tok < n_tokens; ++tok) {
        std::vector<float> one(out);
        k::matmul_quant(w, x + tok * in, 1, one.data(), 1, Isa::Auto);
        EXPECT_EQ(std::memcmp(one.data(), ref.data() + tok * out, out * sizeof(float)), 0) << "token " << tok;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, isa_quant, ::testing::ValuesIn(kQuantTypes),
                         [](const auto& info) { return std::string(gpt::dtype_name(info.param)); });

class isa_float : public ::testing::TestWithParam<DType> {};

TEST_P(isa_float, DotsAndSmallBatchesGiveTheScalarBits) {
  const DType t = GetParam();
  std::mt19937 rng(7 + static_cast<int>(t));
  for (std::int64_t n : {1, 63, 64, 65, 576, 1000}) {
    auto storage = random_weights(t, 1, n, rng);
    std::memmove(storage.data() + 1, storage.data(), storage.size() - 8);  // misaligned on purpose
    const auto x = activations(n, rng);
    const std::byte* w = storage.data() + 1;
    const float ref = k::dot_half(t, w, x.data() + 1, n, Isa::Scalar);
    std::vector<float> cref(n);
    k::convert_half_row(t, w, cref.data(), n, Isa::Scalar);
    for (Isa isa : levels()) {
      const float got = k::dot_half(t, w, x.data() + 1, n, isa);
      EXPECT_EQ(std::memcmp(&got, &ref, 4), 0) << k::isa_name(isa) << " n=" << n << ": " << got << " vs " << ref;
      std::vector<float> c(n);
      k::convert_half_row(t, w, c.data(), n, isa);
      expect_same_bits(c, cref, std::string("convert ") + k::isa_name(isa));
    }
  }
  if (t == DType::F32) return;  // matmul_half takes F16 / BF16
  const std::int64_t out = 70, in = 200;
  auto storage = random_weights(t, out, in, rng);
  const gpt::TensorView w = view(t, storage.data(), out, in);
  for (std::int64_t n_tokens : {std::int64_t{1}, std::int64_t{5}, k::kHalfGemmTokens - 1}) {
    const auto xbuf = activations(n_tokens * in, rng);
    std::vector<float> ref(n_tokens * out);
    k::matmul_half(w, xbuf.data(), n_tokens, ref.data(), 1, Isa::Scalar);
    for (Isa isa : levels()) {
      std::vector<float> y(n_tokens * out);
      k::matmul_half(w, xbuf.data(), n_tokens, y.data(), 2, isa);
      expect_same_bits(y, ref, std::string(k::isa_name(isa)) + " tokens=" + std::to_string(n_tokens));
    }
  }
}

// Prompt batches of float weights go through each level's GEMM (Eigen's,
// blocked by register width): not bit-identical across levels, but within a
// few ulps of a sum this size (relative 1e-5 of sum |w x|).
TEST_P(isa_float, PromptGemmAgreesAcrossLevelsWithinRounding) {
  const DType t = GetParam();
  if (t == DType::F32) GTEST_SKIP() << "F32 prompts are checked through kernels::matmul in matmul_test";
  std::mt19937 rng(11 + static_cast<int>(t));
  const std::int64_t out = 130, in = 300, n_tokens = 2 * k::kHalfGemmTokens + 3;
  auto storage = random_weights(t, out, in, rng);
  const gpt::TensorView w = view(t, storage.data(), out, in);
  const auto xbuf = activations(n_tokens * in, rng);
  std::vector<float> wrow(in);
  std::vector<float> ref(n_tokens * out);
  k::matmul_half(w, xbuf.data(), n_tokens, ref.data(), 1, Isa::Scalar);
  for (Isa isa : levels()) {
    std::vector<float> y(n_tokens * out);
    k::matmul_half(w, xbuf.data(), n_tokens, y.data(), 2, isa);
    for (std::int64_t o = 0; o < out; ++o) {
      k::convert_half_row(t, storage.data() + o * in * 2, wrow.data(), in);
      for (std::int64_t tok = 0; tok < n_tokens; ++tok) {
        double mag = 0;
        for (std::int64_t i = 0; i < in; ++i) mag += std::fabs(double(wrow[i]) * xbuf[tok * in + i]);
        ASSERT_LE(std::fabs(y[tok * out + o] - ref[tok * out + o]), 1e-5 * mag + 1e-30)
            << k::isa_name(isa) << " token " << tok << " output " << o;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, isa_float, ::testing::Values(DType::F32, DType::F16, DType::BF16),
                         [](const auto& info) { return std::string(gpt::dtype_name(info.param)); });

// Attention's inner loops (kernels/isa/attention.h): scores, exp with the sum
// of the exps, and P V give the scalar bits on every level, for head sizes
// that fill the vector registers and some that leave tails, and key counts on
// both sides of the 16-lane sum; the one exp stays within a few units in the
// last place of std::exp, gives 0 for -inf and keeps NaN.
TEST(isa_attention, EveryLevelGivesTheScalarBits) {
  std::mt19937 rng(11);
  const k::isa::Table& ref = k::isa_table(Isa::Scalar);
  for (std::int64_t hd : {64, 80, 128, 256, 24}) {
    for (std::int64_t n : {1, 7, 16, 17, 64, 150}) {
      const std::int64_t stride = 3 * hd + 5;  // rows of a wider KV page, misaligned
      auto kv = activations(n * stride + hd, rng);
      const auto q = activations(hd, rng);
      std::vector<float> s_ref(n), out_ref(hd, 0.5f);
      ref.attn_scores(q.data(), kv.data() + 1, stride, n, hd, 0.125f, s_ref.data());
      std::vector<float> e_ref = s_ref;
      const float max = *std::max_element(s_ref.begin(), s_ref.end());
      const float sum_ref = ref.exp_sum(e_ref.data(), n, max);
      ref.attn_accumulate(e_ref.data(), kv.data() + 2, stride, n, hd, out_ref.data());
      for (Isa isa : levels()) {
        const k::isa::Table& t = k::isa_table(isa);
        const std::string what = std::string(k::isa_name(isa)) + " hd=" + std::to_string(hd) + " n=" + std::to_string(n);
        std::vector<float> s(n), out(hd, 0.5f);
        t.attn_scores(q.data(), kv.data() + 1, stride, n, hd, 0.125f, s.data());
        expect_same_bits(s, s_ref, "scores " + what);
        std::vector<float> e = s_ref;
        const float sum = t.exp_sum(e.data(), n, max);
        expect_same_bits(e, e_ref, "exp " + what);
        EXPECT_EQ(std::memcmp(&sum, &sum_ref, 4), 0) << "sum " << what << ": " << sum << " vs " << sum_ref;
        t.attn_accumulate(e_ref.data(), kv.data() + 2, stride, n, hd, out.data());
        expect_same_bits(out, out_ref, "P V " + what);
      }
    }
  }
}

TEST(isa_attention, ExpIsAccurateAndHandlesTheEdges) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x;
  for (float v = -90.0f; v <= 0.0f; v += 0.0137f) x.push_back(v);
  x.push_back(-inf);
  x.push_back(nan);
  x.push_back(0.0f);
  for (Isa isa : levels()) {
    std::vector<float> e = x;
    const float sum = k::isa_table(isa).exp_sum(e.data(), static_cast<std::int64_t>(e.size()), 0.0f);
    EXPECT_TRUE(std::isnan(sum)) << k::isa_name(isa) << ": a NaN input must make the sum NaN";
    for (std::size_t i = 0; i + 3 < x.size(); ++i) {
      const double want = x[i] < -87.0f ? 0.0 : std::exp(static_cast<double>(x[i]));
      EXPECT_LE(std::abs(e[i] - want), 4e-7 * want + 1e-37) << k::isa_name(isa) << " exp(" << x[i] << ")";
    }
    EXPECT_EQ(e[x.size() - 3], 0.0f) << k::isa_name(isa) << ": exp(-inf)";
    EXPECT_TRUE(std::isnan(e[x.size() - 2])) << k::isa_name(isa) << ": exp(NaN)";
    EXPECT_EQ(e[x.size() - 1], 1.0f) << k::isa_name(isa) << ": exp(0)";
  }
}

}  // namespace
