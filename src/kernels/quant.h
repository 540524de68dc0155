// Block-quantized weight types (ggml's Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K,
// Q5_K, Q6_K): exact dequantization and a matmul that reads the blocks in
// place.
//
// Block layouts (little-endian, f16 = IEEE half), as ggml defines them:
//   Q8_0 (34 B / 32):  f16 d; i8 qs[32]                 x = d*q
//   Q4_0 (18 B / 32):  f16 d; u8 qs[16]                 x = d*(q-8)
//   Q4_1 (20 B / 32):  f16 d, m; u8 qs[16]              x = d*q + m
//   Q5_0 (22 B / 32):  f16 d; u8 qh[4]; u8 qs[16]       x = d*(q-16)
//   Q5_1 (24 B / 32):  f16 d, m; u8 qh[4]; u8 qs[16]    x = d*q + m
//     4-bit values: element j < 16 is the low nibble of qs[j], element j+16 the
//     high nibble; 5-bit values add bit j of the u32 qh as bit 4 of element j.
//   Q4_K (144 B / 256): f16 d, dmin; u8 scales[12]; u8 qs[128]
//     8 sub-blocks of 32 with 6-bit scale sc and min m: x = (d*sc)*q - (dmin*m)
//   Q5_K (176 B / 256): f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
//   Q6_K (210 B / 256): u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d
//     16 sub-blocks of 16: x = (d*sc)*(q-32)
//
// Matmul: each activation row is quantized once to 8-bit blocks (32 values
// with an f32 scale for the 32-element types; 256 values with an f32 scale and
// 16-value partial sums for the K-quants), then every weight block is dotted
// with the matching activation block in integer arithmetic, and the block
// results are summed in one fixed order (kernels/isa/kernels_isa.cpp), so the
// scalar, AVX2 and AVX-512 code (chosen at run time, kernels/isa.h) give the
// same bits. The activation rounding adds a relative error of about 2^-8 per
// block to each dot product.
#pragma once

#include <cstdint>
#include <span>

#include "gpt/tensor.h"
#include "kernels/isa.h"

namespace gpt::kernels {

// True for the block-quantized types handled here.
bool is_quantized(DType t) noexcept;

// Exact dequantization of n elements (a multiple of the block size) of a
// quantized type; bit-for-bit what ggml (and the gguf Python package) compute.
// Throws InvalidArgument for a type that is not quantized.
void dequantize_quant_row(DType t, const std::byte* src, float* dst, std::int64_t n);

// Which kernels to run: Isa::Auto (the process-wide choice), or one level.
using QuantPath = Isa;

// Y[n_tokens, out] = X[n_tokens, in] * W^T for a quantized W of shape [out, in];
// `threads` >= 1 threads over output rows (parallel.h). Results do not depend on
// the thread count.
void matmul_quant(const TensorView& w, const float* x, std::int64_t n_tokens, float* y, int threads,
                  QuantPath path = QuantPath::Auto);

// Whether the weights can share one quantized input in matmul_quant_shared:
// all block-quantized, 2-D, with the same row length and the same activation
// blocks (32-element types, or the 256-element K-quants).
bool quant_shares_input(std::span<const TensorView* const> ws) noexcept;

// matmul_quant for several weights over the same X (Q, K and V; gate and
// up): X is quantized once and all their row tiles are split among the
// threads in one parallel region. Every output has the bits matmul_quant
// gives it alone. ys[i] receives [n_tokens, ws[i]->rows()]. Throws
// InvalidArgument unless quant_shares_input(ws).
void matmul_quant_shared(std::span<const TensorView* const> ws, const float* x, std::int64_t n_tokens,
                         std::span<float* const> ys, int threads, QuantPath path = QuantPath::Auto);

}  // namespace gpt::kernels
