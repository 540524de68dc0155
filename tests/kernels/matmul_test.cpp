// Dense kernels (f32, f16, bf16) against naive loops written here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/kernels.h"

namespace gpt::kernels {
namespace {

TEST(Convert, F16RoundTripsEveryHalf) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(static_cast<std::uint16_t>(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(f32_to_f16(f), h) << "half " << h;
  }
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
}

TEST(Convert, F32ToF16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie -> even
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(f32_to_f16(70000.0f), 0x7c00);
}

TEST(Convert, Bf16) {
  for (std::uint32_t h = 0; h < 0x10000; h += 7) {
    const float f = bf16_to_f32(static_cast<std::uint16_t>(h));
    if (!std::isnan(f)) EXPECT_EQ(f32_to_bf16(f), h);
  }
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);  // tie -> even
}

struct Weights {
  std::vector<std::byte> bytes;
  std::vector<float> exact;  // the values the bytes decode to
};

Weights make_weights(DType t, std::int64_t out, std::int64_t in, std::mt19937& rng) {
  std::normal_distribution<float> d;
  Weights w;
  w.exact.resize(static_cast<std::size_t>(out * in));
  w.bytes.resize(dtype_bytes(t, out * in));
  for (std::size_t i = 0; i < w.exact.size(); ++i) {
    const float v = d(rng);
    if (t == DType::F32) {
      w.exact[i] = v;
      std::memcpy(w.bytes.data() + 4 * i, &v, 4);
    } else {
      const std::uint16_t h = t == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
      w.exact[i] = t == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
      std::memcpy(w.bytes.data() + 2 * i, &h, 2);
    }
  }
  return w;
}

class DenseMatmul : public ::testing::TestWithParam<DType> {};

TEST_P(DenseMatmul, MatchesNaiveLoopOnOddSizes) {
  std::mt19937 rng(11);
  std::normal_distribution<float> d;
  for (auto [n, out, in] : {std::tuple{1, 7, 13}, std::tuple{3, 33, 64}, std::tuple{33, 65, 80}, std::tuple{5, 1, 1}}) {
    const Weights w = make_weights(GetParam(), out, in, rng);
    TensorView v{"w", GetParam(), {out, in}, w.bytes.data(), w.bytes.size()};
    std::vector<float> x(static_cast<std::size_t>(n * in));
    for (auto& e : x) e = d(rng);
    std::vector<float> y1(static_cast<std::size_t>(n * out)), y2(y1.size());
    matmul(v, x.data(), n, y1.data(), 1);
    matmul(v, x.data(), n, y2.data(), 2);
    for (int t = 0; t < n; ++t)
      for (int o = 0; o < out; ++o) {
        double acc = 0, mag = 0;
        for (int i = 0; i < in; ++i) {
          acc += double(w.exact[size_t(o * in + i)]) * x[size_t(t * in + i)];
          mag += std::abs(double(w.exact[size_t(o * in + i)]) * x[size_t(t * in + i)]);
        }
        EXPECT_NEAR(y1[size_t(t * out + o)], acc, 1e-6 * mag + 1e-6) << n << "x" << out << "x" << in;
        EXPECT_NEAR(y2[size_t(t * out + o)], acc, 1e-6 * mag + 1e-6);
      }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, DenseMatmul, ::testing::Values(DType::F32, DType::F16, DType::BF16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace gpt::kernels
