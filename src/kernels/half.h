// Matmul over 16-bit float weights (f16, bf16) read in place.
//
// One fixed summation order, whatever the code path or thread count: a dot
// product of n elements keeps 64 running sums ("lanes"); element i is added to
// lane i % 64 with a fused multiply-add, in increasing i; the lanes are then
// folded pairwise (lane j += lane j + s for s = 32, 16, 8, 4, 2, 1) and lane 0
// is the result. The scalar code does exactly that one element at a time; the
// AVX2 code holds the 64 lanes in 8 registers, the AVX-512 code in 4. Every
// f16 and bf16 value converts to f32 exactly, so the result is a function of
// the weight values and x alone: the scalar, AVX2 and AVX-512 paths give the
// same bits (the paths are chosen at run time, kernels/isa.h), and so do 1 or many threads (each output is one dot product,
// computed by one thread) and any batch of fewer than kHalfGemmTokens tokens
// (each token's outputs are the same dot products as for that token alone).
//
// Batches of kHalfGemmTokens tokens or more (prompt processing) convert each
// slice of 64 weight rows to f32 once and multiply it with Eigen's GEMM, like
// f32 weights; those results do not depend on the thread count either (fixed
// slices), but they are not bit-identical to the single-token path, and
// they may differ in the last bits between instruction-set levels (Eigen's GEMM
// blocks by the level's register width).
#pragma once

#include <cstdint>

#include "gpt/tensor.h"
#include "kernels/isa.h"

namespace gpt::kernels {

// Which kernels to run: Isa::Auto (the process-wide choice), or one level.
using HalfPath = Isa;

// The name of the code HalfPath::Auto runs ("avx512", "avx2", "scalar").
const char* half_path_name();

// From this many tokens on, matmul_half converts weight slices to f32 and uses GEMM.
inline constexpr std::int64_t kHalfGemmTokens = 16;

// The dot product of n weights of type t (F32, F16 or BF16; w at any byte
// address) with n floats, in the fixed order above. Throws InvalidArgument for
// another type.
float dot_half(DType t, const std::byte* w, const float* x, std::int64_t n, HalfPath path = HalfPath::Auto);

// Converts n values of type t (F32, F16 or BF16) at w to f32 (exact).
void convert_half_row(DType t, const std::byte* w, float* dst, std::int64_t n, HalfPath path = HalfPath::Auto);

// Y[n_tokens, out] = X[n_tokens, in] * W^T for W of type F16 or BF16 and shape
// [out, in]; `threads` >= 1 threads over output rows (<= 0: all, parallel.h).
// rowwise: every row as with n_tokens = 1 (no GEMM), see kernels::matmul.
void matmul_half(const TensorView& w, const float* x, std::int64_t n_tokens, float* y, int threads,
                 HalfPath path = HalfPath::Auto, bool rowwise = false);

}  // namespace gpt::kernels
