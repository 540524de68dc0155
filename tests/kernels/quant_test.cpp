// Quantized kernels: dequantization against the gguf Python package's
// reference (fixtures from tools/make_quant_fixtures.py), and matmul against a
// naive dequantize-then-dot loop in double precision.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gpt/error.h"
#include "kernels/kernels.h"
#include "io/gguf.h"
#include "kernels/quant.h"

namespace {

using gpt::DType;
namespace k = gpt::kernels;

std::vector<char> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << "cannot open " << path;
  return std::vector<char>(std::istreambuf_iterator<char>(f), {});
}

DType dtype_by_name(const std::string& name) {
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::Q5_K,
                  DType::Q6_K})
    if (gpt::dtype_name(t) == name) return t;
  ADD_FAILURE() << "unknown type " << name;
  return DType::F32;
}

const DType kQuantTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                             DType::Q5_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};

TEST(quant_dequantize, MatchesGgufPythonBitForBit) {
  const std::string dir = std::string(GPT_TEST_DATA_DIR) + "/quant/";
  std::ifstream manifest(dir + "manifest.txt");
  ASSERT_TRUE(manifest.good()) << "missing " << dir << "manifest.txt (tools/make_quant_fixtures.py)";
  std::string line;
  int cases = 0;
  while (std::getline(manifest, line)) {
    if (line.empty()) continue;
    std::istringstream ls(line);
    std::string name, type;
    std::int64_t rows = 0, cols = 0;
    ls >> name >> type >> rows >> cols;
    SCOPED_TRACE(name);
    const DType t = dtype_by_name(type);
    const auto raw = read_all(dir + name + ".q");
    const auto ref = read_all(dir + name + ".f32");
    const std::size_t row_bytes = gpt::dtype_bytes(t, cols);
    ASSERT_EQ(raw.size(), row_bytes * rows);
    ASSERT_EQ(ref.size(), sizeof(float) * rows * cols);
    std::vector<float> got(cols);
    for (std::int64_t r = 0; r < rows; ++r) {
      k::dequantize_row(t, reinterpret_cast<const std::byte*>(raw.data()) + r * row_bytes, got.data(), cols);
      for (std::int64_t c = 0; c < cols; ++c) {
        float want;
        std::memcpy(&want, ref.data() + sizeof(float) * (r * cols + c), sizeof(float));
        std::uint32_t gb, wb;
        std::memcpy(&gb, &got[c], 4);
        std::memcpy(&wb, &want, 4);
        ASSERT_EQ(gb, wb) << "row " << r << " col " << c << ": got " << got[c] << ", want " << want;
      }
    }
    ++cases;
  }
  EXPECT_GE(cases, 11);
}

TEST(quant_dequantize, RejectsPartialBlocks) {
  std::vector<std::byte> buf(1024);
  std::vector<float> out(512);
  EXPECT_THROW(k::dequantize_row(DType::Q4_1, buf.data(), out.data(), 33), gpt::InvalidArgument);
  EXPECT_THROW(k::dequantize_row(DType::Q6_K, buf.data(), out.data(), 128), gpt::InvalidArgument);
}

// Random but valid weight rows: random bytes with finite, moderate f16 scales.
std::vector<std::byte> random_weights(DType t, std::int64_t rows, std::int64_t cols, std::mt19937& rng) {
  const auto& info = gpt::dtype_info(t);
  const std::size_t nbytes = gpt::dtype_bytes(t, rows * cols);
  std::vector<std::byte> w(nbytes + 7);  // spare bytes so the test can misalign the start
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : w) b = static_cast<std::byte>(byte(rng));
  std::uniform_real_distribution<float> scale(0.001f, 0.05f), sign(-1.0f, 1.0f);
  auto put_half = [&](std::size_t at, float v) {
    const std::uint16_t h = k::f32_to_f16(v);
    std::memcpy(&w[at], &h, 2);
  };
  const std::size_t nblocks = nbytes / info.block_bytes;
  for (std::size_t b = 0; b < nblocks; ++b) {
    const std::size_t base = b * info.block_bytes;
    const float s = scale(rng) * (sign(rng) < 0 ? -1.0f : 1.0f);
    switch (t) {
      case DType::Q6_K: put_half(base + 208, s); break;
      case DType::Q8_0: case DType::Q4_0: case DType::Q5_0: put_half(base, s); break;
      default: put_half(base, s); put_half(base + 2, sign(rng) * 0.05f); break;  // d, min/dmin
    }
  }
  return w;
}

// Naive reference: dequantize each weight row, dot in double.
std::vector<double> naive(DType t, const std::byte* w, std::int64_t out, std::int64_t in, const float* x,
                          std::int64_t n_tokens) {
  std::vector<double> y(n_tokens * out);
  std::vector<float> row(in);
  const std::size_t row_bytes = gpt::dtype_bytes(t, in);
  for (std::int64_t o = 0; o < out; ++o) {
    k::dequantize_row(t, w + o * row_bytes, row.data(), in);
    for (std::int64_t tk = 0; tk < n_tokens; ++tk) {
      double s = 0;
      for (std::int64_t i = 0; i < in; ++i) s += static_cast<double>(row[i]) * x[tk * in + i];
      y[tk * out + o] = s;
    }
  }
  return y;
}

// The kernel rounds each activation to the nearest multiple of d = amax/127 of
// its block (32 values, 256 for K-quants), an error of at most d/2 per value,
// so |y - y_exact| <= sum_i |w_i| * amax(block of i) / 254, plus float rounding
// in the scale products and the accumulation (bounded by 1e-5 * sum |w||x|).
std::vector<double> error_bounds(DType t, const std::byte* w, std::int64_t out, std::int64_t in,
                                 const float* x, std::int64_t n_tokens) {
  const std::int64_t qblock = gpt::dtype_info(t).block_elems == 256 ? 256 : 32;
  std::vector<double> bound(n_tokens * out);
  std::vector<float> row(in), amax(in);
  const std::size_t row_bytes = gpt::dtype_bytes(t, in);
  for (std::int64_t tk = 0; tk < n_tokens; ++tk) {
    for (std::int64_t b = 0; b < in; b += qblock) {
      float m = 0;
      for (std::int64_t i = b; i < b + qblock; ++i) m = std::max(m, std::fabs(x[tk * in + i]));
      for (std::int64_t i = b; i < b + qblock; ++i) amax[i] = m;
    }
    for (std::int64_t o = 0; o < out; ++o) {
      k::dequantize_row(t, w + o * row_bytes, row.data(), in);
      double q = 0, a = 0;
      for (std::int64_t i = 0; i < in; ++i) {
        q += std::fabs(row[i]) * amax[i] / 254.0;
        a += std::fabs(row[i]) * std::fabs(x[tk * in + i]);
      }
      bound[tk * out + o] = 1.0001 * q + 1e-5 * a + 1e-30;
    }
  }
  return bound;
}

class quant_matmul_types : public ::testing::TestWithParam<DType> {};

TEST_P(quant_matmul_types, MatchesNaiveWithinActivationRoundingBound) {
  const DType t = GetParam();
  const bool kq = gpt::dtype_info(t).block_elems == 256;
  std::mt19937 rng(1234 + static_cast<int>(t));
  const std::int64_t out = 37, in = kq ? 3 * 256 : 7 * 32;
  for (std::int64_t n_tokens : {1, 3, 33}) {
    SCOPED_TRACE("n_tokens=" + std::to_string(n_tokens));
    auto storage = random_weights(t, out, in, rng);
    const std::byte* wdata = storage.data() + 1;  // misaligned on purpose
    std::memmove(storage.data() + 1, storage.data(), storage.size() - 7);
    gpt::TensorView w;
    w.name = "w";
    w.dtype = t;
    w.shape = {out, in};
    w.data = wdata;
    w.nbytes = gpt::dtype_bytes(t, out * in);

    std::vector<float> xbuf(n_tokens * in + 1);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (auto& v : xbuf) v = nd(rng);
    const float* x = xbuf.data() + 1;  // misaligned too

    const auto want = naive(t, wdata, out, in, x, n_tokens);
    const auto bound = error_bounds(t, wdata, out, in, x, n_tokens);

    std::vector<float> y1(n_tokens * out), y2(n_tokens * out), ys(n_tokens * out);
    k::matmul(w, x, n_tokens, y1.data(), 1);
    k::matmul(w, x, n_tokens, y2.data(), 2);
    k::matmul_quant(w, x, n_tokens, ys.data(), 2, k::QuantPath::Scalar);
    for (std::int64_t i = 0; i < n_tokens * out; ++i) {
      ASSERT_LE(std::fabs(y1[i] - want[i]), bound[i]) << "auto path, output " << i;
      ASSERT_LE(std::fabs(ys[i] - want[i]), bound[i]) << "scalar path, output " << i;
      std::uint32_t a, b;
      std::memcpy(&a, &y1[i], 4);
      std::memcpy(&b, &y2[i], 4);
      ASSERT_EQ(a, b) << "threads=1 and threads=2 differ at output " << i;
    }
  }
}

// Q, K and V (or gate and up) in one call over one quantized input: each
// output has the bits of its weight alone, whatever the thread count; weights
// that cannot share an input are refused.
TEST_P(quant_matmul_types, SharedInputGivesTheBitsOfSeparateCalls) {
  const DType t = GetParam();
  const bool kq = gpt::dtype_info(t).block_elems == 256;
  // A partner of the same activation blocks but another type.
  const DType other = kq ? (t == DType::Q6_K ? DType::Q4_K : DType::Q6_K) : (t == DType::Q8_0 ? DType::Q4_1 : DType::Q8_0);
  std::mt19937 rng(99 + static_cast<int>(t));
  const std::int64_t in = kq ? 2 * 256 : 6 * 32;
  const std::int64_t outs[3] = {40, 7, 17};
  const DType types[3] = {t, other, t};
  std::vector<std::vector<std::byte>> storage;
  std::vector<gpt::TensorView> w(3);
  for (int i = 0; i < 3; ++i) {
    storage.push_back(random_weights(types[i], outs[i], in, rng));
    w[i].name = "w" + std::to_string(i);
    w[i].dtype = types[i];
    w[i].shape = {outs[i], in};
    w[i].data = storage.back().data();
    w[i].nbytes = gpt::dtype_bytes(types[i], outs[i] * in);
  }
  const gpt::TensorView* ws[3] = {&w[0], &w[1], &w[2]};
  ASSERT_TRUE(k::quant_shares_input(ws));
  for (std::int64_t n_tokens : {1, 5, 19}) {
    std::vector<float> x(n_tokens * in);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (auto& v : x) v = nd(rng);
    for (int threads : {1, 2, 3}) {
      std::vector<std::vector<float>> got(3), want(3);
      float* ys[3];
      for (int i = 0; i < 3; ++i) {
        got[i].assign(n_tokens * outs[i], -1.0f);
        want[i].assign(n_tokens * outs[i], -2.0f);
        ys[i] = got[i].data();
        k::matmul_quant(w[i], x.data(), n_tokens, want[i].data(), 1);
      }
      k::matmul_quant_shared(ws, x.data(), n_tokens, ys, threads);
      for (int i = 0; i < 3; ++i)
        EXPECT_EQ(std::memcmp(got[i].data(), want[i].data(), got[i].size() * sizeof(float)), 0)
            << "weight " << i << ", " << n_tokens << " tokens, " << threads << " threads";
    }
  }
  // Another row length, or another kind of activation block: refused.
  gpt::TensorView narrow = w[1];
  narrow.shape = {outs[1] / 2, in / 2};
  const gpt::TensorView* bad[2] = {&w[0], &narrow};
  EXPECT_FALSE(k::quant_shares_input(bad));
  std::vector<float> x(in), y0(outs[0]), y1(outs[1]);
  float* ys[2] = {y0.data(), y1.data()};
  EXPECT_THROW(k::matmul_quant_shared(bad, x.data(), 1, ys, 1), gpt::InvalidArgument);
  gpt::TensorView f32 = w[1];
  f32.dtype = DType::F32;
  const gpt::TensorView* mixed[2] = {&w[0], &f32};
  EXPECT_FALSE(k::quant_shares_input(mixed));
}

INSTANTIATE_TEST_SUITE_P(AllTypes, quant_matmul_types, ::testing::ValuesIn(kQuantTypes),
                         [](const auto& info) { return std::string(gpt::dtype_name(info.param)); });

// Real weights of the default model (Q4_1 projections, the Q8_0 embedding
// matrix used as the tied output projection) against the naive loop.
TEST(quant_matmul, DefaultModelWeights) {
  const std::string path = std::string(GPT_MODELS_DIR) + "/SmolLM2-135M-Instruct.Q4_1.gguf";
  ASSERT_TRUE(std::filesystem::exists(path))
      << path << " is missing: run tools/fetch-model to download it (see models/README.md)";
  gpt::io::GgufFile f(path);
  std::mt19937 rng(99);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (const char* name : {"blk.0.ffn_down.weight", "blk.3.attn_k.weight", "token_embd.weight"}) {
    SCOPED_TRACE(name);
    const gpt::TensorView* full = f.find_tensor(name);
    ASSERT_NE(full, nullptr);
    gpt::TensorView w = *full;
    w.shape[0] = std::min<std::int64_t>(w.shape[0], 200);  // the first rows are enough
    const std::int64_t out = w.shape[0], in = w.shape[1];
    const std::int64_t n_tokens = 5;
    std::vector<float> x(n_tokens * in);
    for (auto& v : x) v = nd(rng);
    const auto want = naive(w.dtype, w.data, out, in, x.data(), n_tokens);
    const auto bound = error_bounds(w.dtype, w.data, out, in, x.data(), n_tokens);
    std::vector<float> y(n_tokens * out);
    k::matmul(w, x.data(), n_tokens, y.data(), 2);
    for (std::int64_t i = 0; i < n_tokens * out; ++i) ASSERT_LE(std::fabs(y[i] - want[i]), bound[i]) << i;
  }
}

TEST(quant_matmul, ZeroActivationsGiveZero) {
  std::mt19937 rng(7);
  for (DType t : kQuantTypes) {
    const std::int64_t in = gpt::dtype_info(t).block_elems == 256 ? 256 : 64;
    auto storage = random_weights(t, 5, in, rng);
    gpt::TensorView w{"w", t, {5, in}, storage.data(), gpt::dtype_bytes(t, 5 * in)};
    std::vector<float> x(in, 0.0f), y(5, 1.0f);
    k::matmul(w, x.data(), 1, y.data(), 2);
    for (float v : y) EXPECT_EQ(v, 0.0f) << gpt::dtype_name(t);
  }
}

TEST(quant_matmul, RejectsBadShapes) {
  std::vector<std::byte> buf(4096);
  std::vector<float> x(1024), y(64);
  gpt::TensorView w{"w", DType::Q4_1, {4, 48}, buf.data(), 4096};  // 48 is not a multiple of 32
  EXPECT_THROW(k::matmul(w, x.data(), 1, y.data(), 1), gpt::InvalidArgument);
  gpt::TensorView w3{"w3", DType::Q4_1, {2, 2, 32}, buf.data(), 4096};
  EXPECT_THROW(k::matmul(w3, x.data(), 1, y.data(), 1), gpt::InvalidArgument);
}

}  // namespace
