// Dispatch of dequantize_row and matmul by weight type. f32 weights go through
// the fixed-order dot products or the level's GEMM (kernels/isa.h); f16 / bf16 weights through
// matmul_half (half.h), block-quantized ones through matmul_quant (quant.h).
#include <algorithm>
#include <cstring>

#include "gpt/error.h"
#include "kernels/half.h"
#include "kernels/isa.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "kernels/parallel.h"

namespace gpt::kernels {

void dequantize_row(DType t, const std::byte* src, float* dst, std::int64_t n) {
  switch (t) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
      return;
    case DType::F16:
    case DType::BF16:
      convert_half_row(t, src, dst, n);
      return;
    default:
      if (is_quantized(t)) {
        dequantize_quant_row(t, src, dst, n);
        return;
      }
      throw UnsupportedModel("dequantize_row: tensor type " + std::string(dtype_name(t)) +
                             " is not supported yet");
  }
}

void matmul(const TensorView& w, const float* x, std::int64_t n_tokens, float* y, int threads, bool rowwise) {
  if (w.shape.size() != 2) throw InvalidArgument("matmul: weight '" + w.name + "' is not 2-D");
  const std::int64_t out = w.rows(), in = w.cols();
  if (w.dtype == DType::F32) {
    // Fewer than kHalfGemmTokens tokens: one dot product per output in the
    // fixed 64-lane order (same bits on every level and thread count).
    // More: output features are cut into fixed slices of 64 whatever the
    // thread count, each one product by the level's GEMM (same blocking, same
    // summation order with 1 thread or many).
    if (n_tokens < 0) throw InvalidArgument("matmul: negative token count");
    if (w.nbytes < static_cast<std::size_t>(out) * static_cast<std::size_t>(in) * sizeof(float))
      throw InvalidArgument("matmul: weight '" + w.name + "' holds fewer bytes than its shape needs");
    const isa::Table& tab = isa_table();
    const auto* wf = reinterpret_cast<const float*>(w.data);
    constexpr std::int64_t kSlice = 64;
    const std::int64_t slices = (out + kSlice - 1) / kSlice;
    parallel_for(threads, slices, [&](std::int64_t c0, std::int64_t c1) {
      for (std::int64_t c = c0; c < c1; ++c) {
        const std::int64_t o0 = c * kSlice, n = std::min(kSlice, out - o0);
        if (n_tokens < kHalfGemmTokens || rowwise) {
          for (std::int64_t t = 0; t < n_tokens; ++t)
            for (std::int64_t o = o0; o < o0 + n; ++o)
              y[t * out + o] = tab.dot[0](reinterpret_cast<const std::byte*>(wf + o * in), x + t * in, in);
        } else {
          tab.gemm(x, n_tokens, in, wf + o0 * in, n, y + o0, out);  // (may allocate: exceptions reach the caller)
        }
      }
    });
    return;
  }
  if (is_quantized(w.dtype)) {
    matmul_quant(w, x, n_tokens, y, threads);
    return;
  }
  if (w.dtype == DType::F16 || w.dtype == DType::BF16) {
    matmul_half(w, x, n_tokens, y, threads, HalfPath::Auto, rowwise);
    return;
  }
  throw UnsupportedModel("matmul: weight '" + w.name + "' has type " + std::string(dtype_name(w.dtype)) +
                         ", which is not supported yet");
}

}  // namespace gpt::kernels
