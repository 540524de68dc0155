// The kernels of one instruction-set level. CMake compiles this file once per
// level with GPT_ISA_LEVEL = 0 (baseline x86-64), 1 (AVX2+FMA+F16C) or 2
// (AVX-512 F/BW/VL/DQ + VNNI), with -ffp-contract=off, and with Eigen's
// namespace renamed per level (-DEigen=gpt_eigen_<level>). Only
// GPT_ISA_TABLE() (scalar_table, avx2_table or avx512_table) has external
// linkage; everything else is in an anonymous namespace or a renamed one, so
// no function compiled for AVX-512 can be merged with, and chosen by the
// linker in place of, the baseline copy (tests/kernels/isa_symbols_test.cpp
// checks the objects). For the same reason this file calls compiler builtins
// (__builtin_fmaf, __builtin_nearbyintf, ...) rather than the inline
// functions of <cmath> and <algorithm>.
//
// Fixed summation orders (the same bits on every level):
//  - F32 / F16 / BF16 dot products: 64 lanes, see half.h.
//  - Quantized dot products: a weight block and an activation block give 8
//    integer partial sums P_0..P_7 (exact; lane j holds the products of
//    elements 4j..4j+3 of each 32-element group, as AVX2's madd lays them out).
//    Block b adds scale_b * P_j into float lane 8*(b%2)+j with one fused
//    multiply-add; after the last block the 16 lanes fold pairwise (lane j +=
//    lane j+s for s = 8, 4, 2, 1). AVX2 keeps the lanes in two registers
//    (even and odd blocks), the scalar code in an array. The minimum terms
//    of Q4_1 and Q5_1 (m * s) go into two sums, even and odd blocks, each a
//    chain of fused multiply-adds in block order; the result is folded lanes
//    + (even + odd). Those of Q4_K and Q5_K ((dmin * xd) * msum) go into one
//    chain in block order, subtracted from the folded lanes.
//  - Attention (scores, exp and their sum, P V): see attention.h.
#include <cstddef>
#include <cstdint>
#include <cstring>

#if GPT_ISA_LEVEL >= 1
#include <immintrin.h>
#endif

// Without __EXCEPTIONS Eigen reports a failed allocation by calling
// ::operator new with an impossible size (which throws std::bad_alloc from
// libstdc++) instead of constructing std::bad_alloc itself: that inline
// constructor would otherwise be a weak symbol compiled for this level.
#pragma push_macro("__EXCEPTIONS")
#undef __EXCEPTIONS
#include <Eigen/Core>
#pragma pop_macro("__EXCEPTIONS")

#include "kernels/isa/table.h"

#ifndef GPT_ISA_LEVEL
#error "kernels_isa.cpp is built by CMake once per instruction-set level"
#endif

namespace gpt::kernels {
// kernels/convert.cpp (baseline code, exact; declared here rather than by
// including kernels.h, whose inline code must not be compiled in this file).
float f16_to_f32(std::uint16_t h) noexcept;
std::uint16_t f32_to_f16(float f) noexcept;
}

namespace gpt::kernels::isa {

namespace {

constexpr float kNaN = __builtin_nanf("");

inline float fma32(float a, float b, float c) { return __builtin_fmaf(a, b, c); }

inline float half(const std::byte* p) {
  std::uint16_t h;
  std::memcpy(&h, p, 2);
#if GPT_ISA_LEVEL >= 1
  return _cvtsh_ss(h);  // exact, like f16_to_f32
#else
  return f16_to_f32(h);
#endif
}

inline std::uint32_t u32(const std::byte* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline const std::uint8_t* u8(const std::byte* p) { return reinterpret_cast<const std::uint8_t*>(p); }

// The kernels proper, one file per family (each included only here):
#include "kernels/isa/float_dot.h"   // F32 / F16 / BF16 dot products (half.h's order)
#include "kernels/isa/quant_dot.h"   // activation quantization, quantized dot products
#include "kernels/isa/attention.h"   // attention scores, exp and softmax sums, P V

// ==================================================================== GEMM

void gemm(const float* x, std::int64_t n_tokens, std::int64_t in, const float* w, std::int64_t n, float* y,
          std::int64_t ldy) {
  using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const RowMatrix> X(x, n_tokens, in);
  Eigen::Map<const RowMatrix> W(w, n, in);
  Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>> Y(y, n_tokens, n, Eigen::OuterStride<>(ldy));
  Y.noalias() = X * W.transpose();
}

constexpr Table kTable{
#if GPT_ISA_LEVEL == 0
    "scalar",
#elif GPT_ISA_LEVEL == 1
    "avx2",
#else
    "avx512",
#endif
    {dot_f<kF32>, dot_f<kF16>, dot_f<kBF16>},
    {convert_f<kF32>, convert_f<kF16>, convert_f<kBF16>},
    quantize_32,
    quantize_k,
    {kQuant[0], kQuant[1], kQuant[2], kQuant[3], kQuant[4], kQuant[5], kQuant[6], kQuant[7]},
    attn_scores,
    exp_sum,
    attn_accumulate,
    gemm,
};

}  // namespace

const Table& GPT_ISA_TABLE() noexcept { return kTable; }

}  // namespace gpt::kernels::isa
