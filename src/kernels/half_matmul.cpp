// f16 / bf16 weights read in place: dot products in one fixed order (see
// half.h), in scalar, AVX2 (with F16C and FMA) and AVX-512 code.
//
// Each instruction-set path is a set of plain functions (dot products and row
// conversions for F32, F16 and BF16 elements) collected in a HalfKernels table;
// select() picks a table. Today the AVX paths are compiled when the build
// targets them (-march); the tables are the seam for choosing at run time.
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define GPT_HALF_AVX2 1
#endif
#if defined(GPT_HALF_AVX2) && defined(__AVX512F__)
#define GPT_HALF_AVX512 1
#endif

#include "gpt/error.h"
#include "kernels/half.h"
#include "kernels/kernels.h"
#include "kernels/omp_exceptions.h"

namespace gpt::kernels {

namespace {

constexpr int kLanes = 64;

template <DType T>
constexpr std::size_t kElemBytes = T == DType::F32 ? 4 : 2;

// Element i of a row of type T at any byte address.
template <DType T>
inline float load_elem(const std::byte* w, std::int64_t i) {
  if constexpr (T == DType::F32) {
    float f;
    std::memcpy(&f, w + 4 * i, 4);
    return f;
  } else {
    std::uint16_t h;
    std::memcpy(&h, w + 2 * i, 2);
    return T == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
  }
}

// Elements [i0, n) into their lanes, one fused multiply-add each.
template <DType T>
inline void accumulate_scalar(const std::byte* w, const float* x, std::int64_t i0, std::int64_t n, float* lanes) {
  for (std::int64_t i = i0; i < n; ++i) lanes[i % kLanes] = std::fma(load_elem<T>(w, i), x[i], lanes[i % kLanes]);
}

// The pairwise fold of the 64 lanes: lane j += lane j + s, s = 32 ... 1.
inline float fold_lanes(float* lanes) {
  for (int s = kLanes / 2; s >= 1; s /= 2)
    for (int j = 0; j < s; ++j) lanes[j] = lanes[j] + lanes[j + s];
  return lanes[0];
}

// ---------------------------------------------------------------- scalar ----

template <DType T>
float dot_scalar(const std::byte* w, const float* x, std::int64_t n) {
  float lanes[kLanes] = {};
  accumulate_scalar<T>(w, x, 0, n, lanes);
  return fold_lanes(lanes);
}

template <DType T>
void convert_scalar(const std::byte* w, float* dst, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = load_elem<T>(w, i);
}

// ------------------------------------------------------------------ AVX2 ----
#ifdef GPT_HALF_AVX2

// Lanes 0-7 folded: 4, 2, 1.
inline float fold8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 8 consecutive elements of type T as f32.
template <DType T>
inline __m256 load8(const std::byte* p) {
  if constexpr (T == DType::F32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if constexpr (T == DType::F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

template <DType T>
float dot_avx2(const std::byte* w, const float* x, std::int64_t n) {
  constexpr std::size_t eb = kElemBytes<T>;
  const std::int64_t full = n - n % kLanes;
  __m256 r0 = _mm256_setzero_ps(), r1 = r0, r2 = r0, r3 = r0, r4 = r0, r5 = r0, r6 = r0, r7 = r0;
  for (std::int64_t i = 0; i < full; i += kLanes) {
    const std::byte* p = w + static_cast<std::size_t>(i) * eb;
    r0 = _mm256_fmadd_ps(load8<T>(p + 0 * eb), _mm256_loadu_ps(x + i + 0), r0);
    r1 = _mm256_fmadd_ps(load8<T>(p + 8 * eb), _mm256_loadu_ps(x + i + 8), r1);
    r2 = _mm256_fmadd_ps(load8<T>(p + 16 * eb), _mm256_loadu_ps(x + i + 16), r2);
    r3 = _mm256_fmadd_ps(load8<T>(p + 24 * eb), _mm256_loadu_ps(x + i + 24), r3);
    r4 = _mm256_fmadd_ps(load8<T>(p + 32 * eb), _mm256_loadu_ps(x + i + 32), r4);
    r5 = _mm256_fmadd_ps(load8<T>(p + 40 * eb), _mm256_loadu_ps(x + i + 40), r5);
    r6 = _mm256_fmadd_ps(load8<T>(p + 48 * eb), _mm256_loadu_ps(x + i + 48), r6);
    r7 = _mm256_fmadd_ps(load8<T>(p + 56 * eb), _mm256_loadu_ps(x + i + 56), r7);
  }
  if (full != n) {  // a partial last group of 64: finish in the scalar order
    alignas(32) float lanes[kLanes];
    const __m256 r[8] = {r0, r1, r2, r3, r4, r5, r6, r7};
    for (int k = 0; k < 8; ++k) _mm256_store_ps(lanes + 8 * k, r[k]);
    accumulate_scalar<T>(w, x, full, n, lanes);
    return fold_lanes(lanes);
  }
  r0 = _mm256_add_ps(r0, r4);  // s = 32
  r1 = _mm256_add_ps(r1, r5);
  r2 = _mm256_add_ps(r2, r6);
  r3 = _mm256_add_ps(r3, r7);
  r0 = _mm256_add_ps(r0, r2);  // s = 16
  r1 = _mm256_add_ps(r1, r3);
  return fold8(_mm256_add_ps(r0, r1));  // s = 8, then 4, 2, 1
}

template <DType T>
void convert_avx2(const std::byte* w, float* dst, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8<T>(w + static_cast<std::size_t>(i) * kElemBytes<T>));
  for (; i < n; ++i) dst[i] = load_elem<T>(w, i);
}

#endif  // GPT_HALF_AVX2

// --------------------------------------------------------------- AVX-512 ----
#ifdef GPT_HALF_AVX512

template <DType T>
inline __m512 load16(const std::byte* p) {
  if constexpr (T == DType::F32) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(p));
  } else {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    if constexpr (T == DType::F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

template <DType T>
float dot_avx512(const std::byte* w, const float* x, std::int64_t n) {
  constexpr std::size_t eb = kElemBytes<T>;
  const std::int64_t full = n - n % kLanes;
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (std::int64_t i = 0; i < full; i += kLanes) {
    const std::byte* p = w + static_cast<std::size_t>(i) * eb;
    a0 = _mm512_fmadd_ps(load16<T>(p + 0 * eb), _mm512_loadu_ps(x + i + 0), a0);
    a1 = _mm512_fmadd_ps(load16<T>(p + 16 * eb), _mm512_loadu_ps(x + i + 16), a1);
    a2 = _mm512_fmadd_ps(load16<T>(p + 32 * eb), _mm512_loadu_ps(x + i + 32), a2);
    a3 = _mm512_fmadd_ps(load16<T>(p + 48 * eb), _mm512_loadu_ps(x + i + 48), a3);
  }
  if (full != n) {
    alignas(64) float lanes[kLanes];
    _mm512_store_ps(lanes + 0, a0);
    _mm512_store_ps(lanes + 16, a1);
    _mm512_store_ps(lanes + 32, a2);
    _mm512_store_ps(lanes + 48, a3);
    accumulate_scalar<T>(w, x, full, n, lanes);
    return fold_lanes(lanes);
  }
  a0 = _mm512_add_ps(a0, a2);  // s = 32
  a1 = _mm512_add_ps(a1, a3);
  a0 = _mm512_add_ps(a0, a1);  // s = 16
  const __m256 lo = _mm512_castps512_ps256(a0);
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a0), 1));
  return fold8(_mm256_add_ps(lo, hi));  // s = 8, then 4, 2, 1
}

template <DType T>
void convert_avx512(const std::byte* w, float* dst, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, load16<T>(w + static_cast<std::size_t>(i) * kElemBytes<T>));
  for (; i < n; ++i) dst[i] = load_elem<T>(w, i);
}

#endif  // GPT_HALF_AVX512

// ---------------------------------------------------------------- tables ----

using DotFn = float (*)(const std::byte* w, const float* x, std::int64_t n);
using ConvertFn = void (*)(const std::byte* w, float* dst, std::int64_t n);

struct HalfKernels {
  const char* name;
  DotFn dot[3];          // F32, F16, BF16
  ConvertFn convert[3];  // F32, F16, BF16
};

constexpr HalfKernels kScalar{"scalar",
                              {dot_scalar<DType::F32>, dot_scalar<DType::F16>, dot_scalar<DType::BF16>},
                              {convert_scalar<DType::F32>, convert_scalar<DType::F16>, convert_scalar<DType::BF16>}};
#ifdef GPT_HALF_AVX2
constexpr HalfKernels kAvx2{"avx2",
                            {dot_avx2<DType::F32>, dot_avx2<DType::F16>, dot_avx2<DType::BF16>},
                            {convert_avx2<DType::F32>, convert_avx2<DType::F16>, convert_avx2<DType::BF16>}};
#endif
#ifdef GPT_HALF_AVX512
constexpr HalfKernels kAvx512{"avx512",
                              {dot_avx512<DType::F32>, dot_avx512<DType::F16>, dot_avx512<DType::BF16>},
                              {convert_avx512<DType::F32>, convert_avx512<DType::F16>,
                               convert_avx512<DType::BF16>}};
#endif

const HalfKernels& select(HalfPath path) noexcept {
  if (path == HalfPath::Scalar) return kScalar;
#if defined(GPT_HALF_AVX512)
  return kAvx512;
#elif defined(GPT_HALF_AVX2)
  return kAvx2;
#else
  return kScalar;
#endif
}

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

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace

const char* half_path_name() noexcept { return select(HalfPath::Auto).name; }

float dot_half(DType t, const std::byte* w, const float* x, std::int64_t n, HalfPath path) {
  return select(path).dot[type_index(t, "dot_half")](w, x, n);
}

void convert_half_row(DType t, const std::byte* w, float* dst, std::int64_t n, HalfPath path) {
  select(path).convert[type_index(t, "convert_half_row")](w, dst, n);
}

void matmul_half(const TensorView& w, const float* x, std::int64_t n_tokens, float* y, int threads,
                 HalfPath path) {
  if (w.dtype != DType::F16 && w.dtype != DType::BF16)
    throw InvalidArgument("matmul_half: weight '" + w.name + "' has type " + std::string(dtype_name(w.dtype)) +
                          ", not F16 or BF16");
  if (w.shape.size() != 2) throw InvalidArgument("matmul: weight '" + w.name + "' is not 2-D");
  if (n_tokens < 0) throw InvalidArgument("matmul: negative token count");
  if (threads <= 0) threads = omp_get_max_threads();
  const std::int64_t out = w.rows(), in = w.cols();
  const std::size_t row_bytes = static_cast<std::size_t>(in) * 2;
  if (w.nbytes < row_bytes * static_cast<std::size_t>(out))
    throw InvalidArgument("matmul: weight '" + w.name + "' holds fewer bytes than its shape needs");
  if (n_tokens == 0 || out == 0) return;

  const HalfKernels& k = select(path);
  const int ti = type_index(w.dtype, "matmul_half");
  const DotFn dot = k.dot[ti], dot_f32 = k.dot[0];
  const ConvertFn convert = k.convert[ti];

  if (n_tokens == 1) {
    // Decode: every weight row streams from memory once, straight into its dot product.
    constexpr std::int64_t kRowTile = 16;
    const std::int64_t tiles = (out + kRowTile - 1) / kRowTile;
#pragma omp parallel for num_threads(threads) schedule(static) if (tiles > 1)
    for (std::int64_t tile = 0; tile < tiles; ++tile) {
      const std::int64_t o1 = std::min(out, (tile + 1) * kRowTile);
      for (std::int64_t o = tile * kRowTile; o < o1; ++o) y[o] = dot(w.data + o * row_bytes, x, in);
    }
    return;
  }

  OmpExceptions errors;  // the per-thread buffers, Eigen's blocking buffers
  if (n_tokens < kHalfGemmTokens) {
    // A few tokens: each tile of weight rows is converted to f32 once, then
    // dotted with every token. Conversion is exact, so each output has the
    // same bits as the single-token path.
    constexpr std::int64_t kRowTile = 16;
    const std::int64_t tiles = (out + kRowTile - 1) / kRowTile;
#pragma omp parallel num_threads(threads) if (tiles > 1)
    {
      std::vector<float> rows;
      errors.capture([&] { rows.resize(static_cast<std::size_t>(kRowTile * in)); });
#pragma omp for schedule(static)
      for (std::int64_t tile = 0; tile < tiles; ++tile) {
        errors.capture([&] {
          const std::int64_t o0 = tile * kRowTile, n = std::min(kRowTile, out - o0);
          for (std::int64_t r = 0; r < n; ++r) convert(w.data + (o0 + r) * row_bytes, rows.data() + r * in, in);
          for (std::int64_t t = 0; t < n_tokens; ++t)
            for (std::int64_t r = 0; r < n; ++r)
              y[t * out + o0 + r] =
                  dot_f32(reinterpret_cast<const std::byte*>(rows.data() + r * in), x + t * in, in);
        });
      }
    }
    errors.rethrow();
    return;
  }

  // Prompt processing: fixed slices of 64 weight rows (whatever the thread
  // count) converted to f32, then Eigen's GEMM as for f32 weights.
  constexpr std::int64_t kSlice = 64;
  const std::int64_t slices = (out + kSlice - 1) / kSlice;
  Eigen::Map<const RowMatrix> X(x, n_tokens, in);
  Eigen::Map<RowMatrix> Y(y, n_tokens, out);
#pragma omp parallel num_threads(threads) if (slices > 1)
  {
    RowMatrix wf;
    errors.capture([&] { wf.resize(kSlice, in); });
#pragma omp for schedule(static)
    for (std::int64_t c = 0; c < slices; ++c) {
      errors.capture([&] {
        const std::int64_t o0 = c * kSlice, n = std::min(kSlice, out - o0);
        for (std::int64_t r = 0; r < n; ++r) convert(w.data + (o0 + r) * row_bytes, wf.data() + r * in, in);
        Y.middleCols(o0, n).noalias() = X * wf.topRows(n).transpose();
      });
    }
  }
  errors.rethrow();
}

}  // namespace gpt::kernels
