// f16 / bf16 kernels (half.h) against a naive scalar loop written here, on
// random, odd-sized and misaligned data; the fixed summation order checked
// bit for bit across code paths, thread counts and batch sizes.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gpt/error.h"
#include "kernels/half.h"
#include "kernels/kernels.h"

namespace gpt::kernels {
namespace {

// Values of type t in a byte buffer that starts `misalign` bytes past an
// aligned address, plus the f32 values they hold.
struct Row {
  std::vector<std::byte> storage;
  std::size_t offset = 0;
  std::vector<float> exact;
  const std::byte* data() const { return storage.data() + offset; }
};

Row make_row(DType t, std::int64_t n, std::size_t misalign, std::mt19937& rng) {
  std::normal_distribution<float> d;
  Row r;
  const std::size_t eb = t == DType::F32 ? 4 : 2;
  r.storage.resize(static_cast<std::size_t>(n) * eb + 64);
  r.offset = misalign;
  r.exact.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = d(rng);
    std::byte* p = r.storage.data() + r.offset + static_cast<std::size_t>(i) * eb;
    if (t == DType::F32) {
      r.exact[i] = v;
      std::memcpy(p, &v, 4);
    } else {
      const std::uint16_t h = t == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
      r.exact[i] = t == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
      std::memcpy(p, &h, 2);
    }
  }
  return r;
}

// The documented order, written out naively: 64 lanes, element i into lane
// i % 64 with a fused multiply-add, then the pairwise fold.
float reference_dot(const std::vector<float>& w, const float* x) {
  float lanes[64] = {};
  for (std::size_t i = 0; i < w.size(); ++i) lanes[i % 64] = std::fma(w[i], x[i], lanes[i % 64]);
  for (int s = 32; s >= 1; s /= 2)
    for (int j = 0; j < s; ++j) lanes[j] += lanes[j + s];
  return lanes[0];
}

std::uint32_t bits(float f) { return std::bit_cast<std::uint32_t>(f); }

class HalfKernel : public ::testing::TestWithParam<DType> {};

TEST_P(HalfKernel, DotMatchesNaiveLoopBitForBitOnEveryPath) {
  const DType t = GetParam();
  std::mt19937 rng(5);
  std::normal_distribution<float> d;
  for (std::int64_t n : {0, 1, 7, 63, 64, 65, 127, 128, 200, 576, 1000, 1536}) {
    for (std::size_t misalign : {0, 1, 2, 6}) {
      const Row w = make_row(t, n, misalign, rng);
      std::vector<float> xs(static_cast<std::size_t>(n) + 1);
      for (auto& v : xs) v = d(rng);
      const float* x = xs.data() + 1;  // floats off their 8-byte alignment too
      const float ref = reference_dot(w.exact, x);
      const float scalar = dot_half(t, w.data(), x, n, HalfPath::Scalar);
      const float fast = dot_half(t, w.data(), x, n, HalfPath::Auto);
      EXPECT_EQ(bits(scalar), bits(ref)) << "n " << n << " misalign " << misalign;
      EXPECT_EQ(bits(fast), bits(ref)) << half_path_name() << " n " << n << " misalign " << misalign;
      double exact = 0, mag = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        exact += double(w.exact[i]) * x[i];
        mag += std::abs(double(w.exact[i]) * x[i]);
      }
      EXPECT_NEAR(fast, exact, 1e-6 * mag + 1e-30) << "n " << n;
    }
  }
}

TEST_P(HalfKernel, ConvertIsExactOnEveryPath) {
  const DType t = GetParam();
  std::mt19937 rng(6);
  for (std::int64_t n : {0, 1, 15, 16, 17, 100, 577}) {
    const Row w = make_row(t, n, 3, rng);
    std::vector<float> a(static_cast<std::size_t>(n)), b(a.size());
    convert_half_row(t, w.data(), a.data(), n, HalfPath::Scalar);
    convert_half_row(t, w.data(), b.data(), n, HalfPath::Auto);
    for (std::int64_t i = 0; i < n; ++i) {
      EXPECT_EQ(bits(a[i]), bits(w.exact[i])) << i;
      EXPECT_EQ(bits(b[i]), bits(w.exact[i])) << i;
    }
  }
}

TEST_P(HalfKernel, SpecialValuesPropagate) {
  const DType t = GetParam();
  // 1.0, -0.0, inf, nan, the smallest subnormal (f16) / a tiny value (bf16).
  const std::vector<std::uint16_t> halves = t == DType::F16
                                                ? std::vector<std::uint16_t>{0x3c00, 0x8000, 0x7c00, 0x7e00, 0x0001}
                                                : std::vector<std::uint16_t>{0x3f80, 0x8000, 0x7f80, 0x7fc0, 0x0001};
  for (std::size_t k = 0; k < halves.size(); ++k) {
    std::vector<std::uint16_t> w(70, halves[0]);
    w[k + 3] = halves[k];
    std::vector<float> x(70, 0.5f);
    std::vector<float> exact(70);
    for (std::size_t i = 0; i < w.size(); ++i)
      exact[i] = t == DType::F16 ? f16_to_f32(w[i]) : bf16_to_f32(w[i]);
    const float ref = reference_dot(exact, x.data());
    for (HalfPath p : {HalfPath::Scalar, HalfPath::Auto}) {
      const float got = dot_half(t, reinterpret_cast<const std::byte*>(w.data()), x.data(), 70, p);
      if (std::isnan(ref))
        EXPECT_TRUE(std::isnan(got)) << k;
      else
        EXPECT_EQ(bits(got), bits(ref)) << k;
    }
  }
}

// A [out, in] weight of type t with the f32 values it holds.
struct Matrix {
  std::vector<std::byte> bytes;
  std::vector<float> exact;
};

Matrix make_matrix(DType t, std::int64_t out, std::int64_t in, std::mt19937& rng) {
  const Row r = make_row(t, out * in, 0, rng);
  return {std::vector<std::byte>(r.data(), r.data() + dtype_bytes(t, out * in)), r.exact};
}

TEST_P(HalfKernel, MatmulMatchesNaiveLoopAndIsThreadInvariant) {
  const DType t = GetParam();
  std::mt19937 rng(7);
  std::normal_distribution<float> d;
  // Token counts on both sides of kHalfGemmTokens; row counts that leave
  // partial tiles and slices.
  for (auto [n, out, in] : {std::tuple{1, 1, 1}, std::tuple{1, 37, 130}, std::tuple{2, 33, 64}, std::tuple{5, 70, 200},
                            std::tuple{15, 17, 65}, std::tuple{16, 65, 96}, std::tuple{40, 130, 77}}) {
    const Matrix w = make_matrix(t, out, in, rng);
    TensorView v{"w", t, {out, in}, w.bytes.data(), w.bytes.size()};
    std::vector<float> x(static_cast<std::size_t>(n * in));
    for (auto& e : x) e = d(rng);
    std::vector<float> y1(static_cast<std::size_t>(n * out)), y2(y1.size()), y3(y1.size()), ys(y1.size());
    matmul_half(v, x.data(), n, y1.data(), 1);
    matmul_half(v, x.data(), n, y2.data(), 2);
    matmul_half(v, x.data(), n, y3.data(), 3);
    matmul_half(v, x.data(), n, ys.data(), 2, HalfPath::Scalar);
    for (int tok = 0; tok < n; ++tok)
      for (int o = 0; o < out; ++o) {
        const std::size_t i = static_cast<std::size_t>(tok * out + o);
        double acc = 0, mag = 0;
        for (int k = 0; k < in; ++k) {
          acc += double(w.exact[size_t(o * in + k)]) * x[size_t(tok * in + k)];
          mag += std::abs(double(w.exact[size_t(o * in + k)]) * x[size_t(tok * in + k)]);
        }
        ASSERT_NEAR(y1[i], acc, 1e-5 * mag + 1e-6) << n << "x" << out << "x" << in;
        ASSERT_EQ(bits(y1[i]), bits(y2[i])) << "1 vs 2 threads, " << n << "x" << out << "x" << in;
        ASSERT_EQ(bits(y1[i]), bits(y3[i])) << "1 vs 3 threads, " << n << "x" << out << "x" << in;
        if (n < kHalfGemmTokens) {
          // Below the GEMM threshold the order is the documented one on every path.
          const float ref = reference_dot(std::vector<float>(w.exact.begin() + o * in, w.exact.begin() + (o + 1) * in),
                                          x.data() + tok * in);
          ASSERT_EQ(bits(y1[i]), bits(ref)) << n << "x" << out << "x" << in;
          ASSERT_EQ(bits(ys[i]), bits(ref)) << "scalar, " << n << "x" << out << "x" << in;
        } else {
          ASSERT_NEAR(ys[i], acc, 1e-5 * mag + 1e-6);
        }
      }
  }
}

TEST_P(HalfKernel, SmallBatchGivesEachTokenItsSingleTokenBits) {
  const DType t = GetParam();
  std::mt19937 rng(8);
  std::normal_distribution<float> d;
  const std::int64_t out = 50, in = 192, n = kHalfGemmTokens - 1;
  const Matrix w = make_matrix(t, out, in, rng);
  TensorView v{"w", t, {out, in}, w.bytes.data(), w.bytes.size()};
  std::vector<float> x(static_cast<std::size_t>(n * in));
  for (auto& e : x) e = d(rng);
  std::vector<float> batch(static_cast<std::size_t>(n * out)), one(static_cast<std::size_t>(out));
  matmul_half(v, x.data(), n, batch.data(), 2);
  for (std::int64_t tok = 0; tok < n; ++tok) {
    matmul_half(v, x.data() + tok * in, 1, one.data(), 2);
    for (std::int64_t o = 0; o < out; ++o) ASSERT_EQ(bits(batch[tok * out + o]), bits(one[o])) << tok << " " << o;
  }
}

TEST_P(HalfKernel, MatmulDispatchesHereAndChecksShapes) {
  const DType t = GetParam();
  std::mt19937 rng(9);
  const Matrix w = make_matrix(t, 3, 70, rng);
  std::vector<float> x(70, 1.0f), y1(3), y2(3);
  TensorView v{"w", t, {3, 70}, w.bytes.data(), w.bytes.size()};
  matmul(v, x.data(), 1, y1.data(), 1);  // kernels::matmul routes F16 / BF16 here
  matmul_half(v, x.data(), 1, y2.data(), 1);
  for (int o = 0; o < 3; ++o) EXPECT_EQ(bits(y1[o]), bits(y2[o]));
  TensorView short_view = v;
  short_view.nbytes -= 2;
  EXPECT_THROW(matmul_half(short_view, x.data(), 1, y2.data(), 1), InvalidArgument);
  TensorView f32 = v;
  f32.dtype = DType::F32;
  EXPECT_THROW(matmul_half(f32, x.data(), 1, y2.data(), 1), InvalidArgument);
  EXPECT_THROW(dot_half(DType::Q8_0, w.bytes.data(), x.data(), 32), InvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Types, HalfKernel, ::testing::Values(DType::F16, DType::BF16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(HalfKernelF32, DotOfF32RowsFollowsTheSameOrder) {
  std::mt19937 rng(10);
  std::normal_distribution<float> d;
  for (std::int64_t n : {3, 64, 129, 600}) {
    const Row w = make_row(DType::F32, n, 4, rng);
    std::vector<float> x(static_cast<std::size_t>(n));
    for (auto& v : x) v = d(rng);
    const float ref = reference_dot(w.exact, x.data());
    EXPECT_EQ(bits(dot_half(DType::F32, w.data(), x.data(), n, HalfPath::Scalar)), bits(ref));
    EXPECT_EQ(bits(dot_half(DType::F32, w.data(), x.data(), n, HalfPath::Auto)), bits(ref));
  }
}

}  // namespace
}  // namespace gpt::kernels
