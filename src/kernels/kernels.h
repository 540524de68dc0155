// Kernels over weights of every supported type, read in place.
//
// Conventions: activations are f32, row-major, one row per token. A weight W
// is a TensorView of shape [out, in] (out rows of `in` elements, each row
// stored as dtype_bytes(dtype, in) consecutive bytes).
#pragma once

#include <cstdint>

#include "gpt/tensor.h"

namespace gpt::kernels {

// Scalar conversions used everywhere (exact, round-to-nearest-even for the
// f32 -> half directions).
float f16_to_f32(std::uint16_t h) noexcept;
float bf16_to_f32(std::uint16_t h) noexcept;
std::uint16_t f32_to_f16(float f) noexcept;
std::uint16_t f32_to_bf16(float f) noexcept;

// Decodes n elements of type t starting at src (n a multiple of the type's
// block size; src at a block boundary) into dst.
void dequantize_row(DType t, const std::byte* src, float* dst, std::int64_t n);

// Y[n_tokens, out] = X[n_tokens, in] * W^T, with W read in place.
// x and y are dense row-major; threads <= 0 means "all available".
// rowwise: every row of Y gets the bits it would get with n_tokens = 1
// (float weights then skip the GEMM of prompt processing; block-quantized
// weights give those bits anyway). Batched decoding relies on it.
void matmul(const TensorView& w, const float* x, std::int64_t n_tokens, float* y, int threads,
            bool rowwise = false);

}  // namespace gpt::kernels
