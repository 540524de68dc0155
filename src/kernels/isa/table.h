// The table of kernels one instruction-set level provides (internal to
// src/kernels).
//
// src/kernels/isa/kernels_isa.cpp is compiled once per level (scalar =
// baseline x86-64, avx2 = AVX2+FMA+F16C, avx512 = AVX-512 F/BW/VL/DQ+VNNI), each
// time into its own namespace with its own compiler flags (see CMakeLists.txt);
// kernels/isa.h picks one table at run time from what the CPU offers.
//
// This header holds only plain data types and declarations: nothing here can
// be compiled into code, so nothing built with AVX-512 flags can be shared with
// (and picked by the linker for) the baseline code. kernels_isa.cpp keeps all
// its own code in an anonymous namespace for the same reason; the test
// tests/kernels/isa_symbols_test.cpp checks the objects for shared symbols.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gpt::kernels::isa {

// An activation block of 32 values, quantized as ggml's q8_0 / q8_1: x ~= d * q.
struct XBlock32 {
  float d;           // f16-rounded scale
  float s;           // f16-rounded d * sum(q) (the q8_1 "s")
  std::int32_t sum;  // sum of q
  std::int8_t q[32];
};

// An activation super-block of 256 values (ggml's q8_K) with sums per 16 values.
struct XBlockK {
  float d;
  std::int16_t bsums[16];
  std::int8_t q[256];
};

// Dot product of one quantized weight row (nb blocks at w) with one activation
// row (its blocks at x0), written to out[0].
using QuantDotFn = void (*)(const std::byte* w, const std::byte* x0, std::size_t xstride, std::int64_t nb,
                            float* out);
// The same for kTokenTile activation rows (token t's blocks at x0 + t *
// xstride bytes), written to out[0..kTokenTile). For the 32-element types,
// xd and xs hold the tokens' block scales token-minor: xd[b * kTokenTile + t]
// = token t's block b .d, xs likewise .s (so one vector operation can scale a
// weight block for every token); the K-quants read their scales from x0
// instead (xd and xs may be null).
using QuantTileFn = void (*)(const std::byte* w, const std::byte* x0, std::size_t xstride, const float* xd,
                             const float* xs, std::int64_t nb, float* out);
inline constexpr int kTokenTile = 8;
inline constexpr int kSmallTile = 4;

struct QuantKernels {
  QuantDotFn one;    // one token
  QuantTileFn tile;  // kTokenTile tokens, each with the bits of one
  QuantDotFn small;  // kSmallTile tokens (as QuantDotFn, out[0..kSmallTile)), each with the bits of one
};

// Index of each block-quantized type in Table::quant.
enum QuantIndex { kQ8_0, kQ4_0, kQ4_1, kQ5_0, kQ5_1, kQ4_K, kQ5_K, kQ6_K, kQuantTypes };

struct Table {
  const char* name;  // "scalar", "avx2", "avx512"
  // Dot product of n elements of F32 / F16 / BF16 weights (index 0 / 1 / 2,
  // any byte address) with n floats, in the fixed 64-lane order of half.h.
  float (*dot[3])(const std::byte* w, const float* x, std::int64_t n);
  // Exact conversion of n elements of F32 / F16 / BF16 to f32.
  void (*convert[3])(const std::byte* w, float* dst, std::int64_t n);
  // Activation quantization of nb blocks (same bits on every level).
  void (*quantize_32)(const float* x, std::int64_t nb, XBlock32* out);
  void (*quantize_k)(const float* x, std::int64_t nb, XBlockK* out);
  QuantKernels quant[kQuantTypes];
  // y[t * ldy + o] = sum_i x[t * in + i] * w[o * in + i] for t < n_tokens,
  // o < n (Eigen's GEMM built for this level; the summation order depends on
  // the level, so results may differ in the last bits between levels).
  // Attention's inner loops (kernels/isa/attention.h; the same bits on every
  // level): out[j] = scale * (q . k_j) for the n keys k_j = k + j * k_stride
  // of hd values each; x[j] = exp(x[j] - max) for j < n, returning their sum;
  // out[d] += p[j] * v_j[d] (fused, j in order) for the n values v_j = v + j *
  // v_stride, d < hd.
  void (*attn_scores)(const float* q, const float* k, std::int64_t k_stride, std::int64_t n, std::int64_t hd,
                      float scale, float* out);
  float (*exp_sum)(float* x, std::int64_t n, float max);
  void (*attn_accumulate)(const float* p, const float* v, std::int64_t v_stride, std::int64_t n, std::int64_t hd,
                          float* out);
  void (*gemm)(const float* x, std::int64_t n_tokens, std::int64_t in, const float* w, std::int64_t n, float* y,
               std::int64_t ldy);
};

const Table& scalar_table() noexcept;
const Table& avx2_table() noexcept;
const Table& avx512_table() noexcept;

}  // namespace gpt::kernels::isa
