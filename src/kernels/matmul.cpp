// Dispatch of dequantize_row and matmul by weight type. f32 weights go through
// Eigen's GEMM over a Map of the checkpoint bytes; f16 / bf16 weights through
// matmul_half (half.h), block-quantized ones through matmul_quant (quant.h).
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstring>

#include "gpt/error.h"
#include "kernels/half.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "kernels/omp_exceptions.h"

namespace gpt::kernels {

namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace

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

void matmul(const TensorView& w, const float* x, std::int64_t n_tokens, float* y, int threads) {
  if (w.shape.size() != 2) throw InvalidArgument("matmul: weight '" + w.name + "' is not 2-D");
  if (threads <= 0) threads = omp_get_max_threads();
  const std::int64_t out = w.rows(), in = w.cols();
  if (w.dtype == DType::F32) {
    // Output features are cut into fixed slices of 64 whatever the thread
    // count, so every element is computed by the same Eigen product (same
    // blocking, same summation order) with 1 thread or many: results do not
    // depend on the number of threads. Inside a parallel region Eigen's own
    // GEMM stays single-threaded (no global settings).
    Eigen::Map<const RowMatrix> W(reinterpret_cast<const float*>(w.data), out, in);
    Eigen::Map<const RowMatrix> X(x, n_tokens, in);
    Eigen::Map<RowMatrix> Y(y, n_tokens, out);
    constexpr std::int64_t kSlice = 64;
    const std::int64_t slices = (out + kSlice - 1) / kSlice;
    OmpExceptions errors;  // Eigen's product may allocate its blocking buffers
#pragma omp parallel for num_threads(threads) schedule(static) if (slices > 1)
    for (std::int64_t c = 0; c < slices; ++c) {
      errors.capture([&] {
        const std::int64_t o0 = c * kSlice, n = std::min(kSlice, out - o0);
        Y.middleCols(o0, n).noalias() = X * W.middleRows(o0, n).transpose();
      });
    }
    errors.rethrow();
    return;
  }
  if (is_quantized(w.dtype)) {
    matmul_quant(w, x, n_tokens, y, threads);
    return;
  }
  if (w.dtype == DType::F16 || w.dtype == DType::BF16) {
    matmul_half(w, x, n_tokens, y, threads);
    return;
  }
  throw UnsupportedModel("matmul: weight '" + w.name + "' has type " + std::string(dtype_name(w.dtype)) +
                         ", which is not supported yet");
}

}  // namespace gpt::kernels
