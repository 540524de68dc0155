// f16 / bf16 weights read in place: dot products in one fixed order (see
// half.h), in scalar, AVX2 (with F16C and FMA) and AVX-512 code.
//
// The kernels themselves live in kernels/isa/kernels_isa.cpp, built once per
// instruction-set level; isa_table() picks the level at run time. This file
// only splits the work across threads.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "gpt/error.h"
#include "kernels/half.h"
#include "kernels/kernels.h"
#include "kernels/parallel.h"

namespace gpt::kernels {

namespace {

int type_index(DType t, const char* what) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::BF16: return 2;
    default:
      throw InvalidArgument(std::string(what) + ": type " + std::string(dtype_name(t)) +
                            " is not F32, F16 or BF16");
  }
}

using DotFn = float (*)(const std::byte* w, const float* x, std::int64_t n);
using ConvertFn = void (*)(const std::byte* w, float* dst, std::int64_t n);

}  // namespace

const char* half_path_name() { return isa_table(HalfPath::Auto).name; }

float dot_half(DType t, const std::byte* w, const float* x, std::int64_t n, HalfPath path) {
  return isa_table(path).dot[type_index(t, "dot_half")](w, x, n);
}

void convert_half_row(DType t, const std::byte* w, float* dst, std::int64_t n, HalfPath path) {
  isa_table(path).convert[type_index(t, "convert_half_row")](w, dst, n);
}

void matmul_half(const TensorView& w, const float* x, std::int64_t n_tokens, float* y, int threads,
                 HalfPath path, bool rowwise) {
  if (w.dtype != DType::F16 && w.dtype != DType::BF16)
    throw InvalidArgument("matmul_half: weight '" + w.name + "' has type " + std::string(dtype_name(w.dtype)) +
                          ", not F16 or BF16");
  if (w.shape.size() != 2) throw InvalidArgument("matmul: weight '" + w.name + "' is not 2-D");
  if (n_tokens < 0) throw InvalidArgument("matmul: negative token count");
  const std::int64_t out = w.rows(), in = w.cols();
  const std::size_t row_bytes = static_cast<std::size_t>(in) * 2;
  if (w.nbytes < row_bytes * static_cast<std::size_t>(out))
    throw InvalidArgument("matmul: weight '" + w.name + "' holds fewer bytes than its shape needs");
  if (n_tokens == 0 || out == 0) return;

  const isa::Table& k = isa_table(path);
  const int ti = type_index(w.dtype, "matmul_half");
  const DotFn dot = k.dot[ti], dot_f32 = k.dot[0];
  const ConvertFn convert = k.convert[ti];

  if (n_tokens == 1) {
    // Decode: every weight row streams from memory once, straight into its dot product.
    constexpr std::int64_t kRowTile = 16;
    const std::int64_t tiles = (out + kRowTile - 1) / kRowTile;
    parallel_for(threads, tiles, [&](std::int64_t t0, std::int64_t t1) {
      const std::int64_t o1 = std::min(out, t1 * kRowTile);
      for (std::int64_t o = t0 * kRowTile; o < o1; ++o) y[o] = dot(w.data + o * row_bytes, x, in);
    });
    return;
  }

  if (n_tokens < kHalfGemmTokens || rowwise) {
    // A few tokens: each tile of weight rows is converted to f32 once, then
    // dotted with every token. Conversion is exact, so each output has the
    // same bits as the single-token path.
    constexpr std::int64_t kRowTile = 16;
    const std::int64_t tiles = (out + kRowTile - 1) / kRowTile;
    parallel_for(threads, tiles, [&](std::int64_t t0, std::int64_t t1) {
      std::vector<float> rows(static_cast<std::size_t>(kRowTile * in));
      for (std::int64_t tile = t0; tile < t1; ++tile) {
        const std::int64_t o0 = tile * kRowTile, n = std::min(kRowTile, out - o0);
        for (std::int64_t r = 0; r < n; ++r) convert(w.data + (o0 + r) * row_bytes, rows.data() + r * in, in);
        for (std::int64_t t = 0; t < n_tokens; ++t)
          for (std::int64_t r = 0; r < n; ++r)
            y[t * out + o0 + r] = dot_f32(reinterpret_cast<const std::byte*>(rows.data() + r * in), x + t * in, in);
      }
    });
    return;
  }

  // Prompt processing: fixed slices of 64 weight rows (whatever the thread
  // count) converted to f32, then the level's GEMM as for f32 weights.
  constexpr std::int64_t kSlice = 64;
  const std::int64_t slices = (out + kSlice - 1) / kSlice;
  const auto gemm = k.gemm;
  parallel_for(threads, slices, [&](std::int64_t c0, std::int64_t c1) {
    std::vector<float> wf(static_cast<std::size_t>(kSlice * in));
    for (std::int64_t c = c0; c < c1; ++c) {
      const std::int64_t o0 = c * kSlice, n = std::min(kSlice, out - o0);
      for (std::int64_t r = 0; r < n; ++r) convert(w.data + (o0 + r) * row_bytes, wf.data() + r * in, in);
      gemm(x, n_tokens, in, wf.data(), n, y + o0, out);
    }
  });
}

}  // namespace gpt::kernels
