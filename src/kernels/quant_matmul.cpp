// Matmul over block-quantized weights read in place.
//
// Each activation row is quantized once to 8-bit blocks (XBlock32 for the
// 32-element types, XBlockK for the 256-element K-quants). A weight row is then
// a sequence of integer dot products between weight blocks and activation
// blocks, scaled by the product of the two block scales:
//   Q8_0:  sum wd*xd * sum(wq*xq)
//   Q4_0:  sum wd*xd * (sum(q*xq) - 8*sum(xq))         (Q5_0 likewise with 16)
//   Q4_1:  sum wd*xd * sum(q*xq) + wm*xd*sum(xq)       (Q5_1 likewise)
//   Q4_K:  sum over sub-blocks j: d*xd*sc_j*sum(q*xq) - dmin*xd*m_j*sum(xq)
//   Q6_K:  sum over sub-blocks j: d*xd*sc_j*(sum(q*xq) - 32*sum(xq))
// The AVX2 code computes exactly the same integer sums as the scalar code;
// only the order of the float accumulation differs.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define GPT_QUANT_AVX2 1
#endif

#include "gpt/error.h"
#include "kernels/quant.h"
#include "kernels/quant_blocks.h"

namespace gpt::kernels {

namespace {

using namespace quant;

// An activation block of 32 values: x ~= d * q.
struct XBlock32 {
  float d;
  std::int32_t sum;  // sum of q
  std::int8_t q[32];
};

// An activation super-block of 256 values with partial sums per 16 values.
struct XBlockK {
  float d;
  std::int16_t bsums[16];
  std::int8_t q[256];
};

// Quantizes n values (a multiple of 32) to symmetric 8-bit with scale max|x|/127.
void quantize_block(const float* x, int n, float* d_out, std::int8_t* q) {
  float amax = 0.0f;
  for (int j = 0; j < n; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < n; ++j) {
    const float v = std::nearbyint(x[j] * id);
    q[j] = static_cast<std::int8_t>(std::clamp(v, -127.0f, 127.0f));
  }
  *d_out = d;
}

void quantize_row_32(const float* x, std::int64_t nb, XBlock32* out) {
  for (std::int64_t b = 0; b < nb; ++b) {
    quantize_block(x + 32 * b, 32, &out[b].d, out[b].q);
    std::int32_t s = 0;
    for (int j = 0; j < 32; ++j) s += out[b].q[j];
    out[b].sum = s;
  }
}

void quantize_row_k(const float* x, std::int64_t nb, XBlockK* out) {
  for (std::int64_t b = 0; b < nb; ++b) {
    quantize_block(x + 256 * b, 256, &out[b].d, out[b].q);
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += out[b].q[16 * g + j];
      out[b].bsums[g] = static_cast<std::int16_t>(s);
    }
  }
}

inline const std::uint8_t* u8(const std::byte* p) { return reinterpret_cast<const std::uint8_t*>(p); }

// ---------------------------------------------------------------- scalar ----

// The 32 4-bit values of a Q4_0/Q4_1 block, plus bit 4 from qh for Q5_x.
inline void unpack32(const std::uint8_t* qs, std::uint32_t qh, int q[32]) {
  for (int j = 0; j < 16; ++j) {
    q[j] = (qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1u) << 4);
    q[j + 16] = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
  }
}

inline int idot32(const int q[32], const std::int8_t* x) {
  int s = 0;
  for (int j = 0; j < 32; ++j) s += q[j] * x[j];
  return s;
}

float dot_q8_0_scalar(const std::byte* w, const void* xv, std::int64_t nb) {
  const auto* x = static_cast<const XBlock32*>(xv);
  float acc = 0.0f;
  for (std::int64_t b = 0; b < nb; ++b, w += kQ8_0Bytes) {
    const auto* q = reinterpret_cast<const std::int8_t*>(w + 2);
    int s = 0;
    for (int j = 0; j < 32; ++j) s += q[j] * x[b].q[j];
    acc += half(w) * x[b].d * static_cast<float>(s);
  }
  return acc;
}

template <std::size_t Bytes, bool HasMin, bool Has5th>
float dot_q45_scalar(const std::byte* w, const void* xv, std::int64_t nb) {
  const auto* x = static_cast<const XBlock32*>(xv);
  constexpr int kOffset = Has5th ? 16 : 8;
  float acc = 0.0f;
  for (std::int64_t b = 0; b < nb; ++b, w += Bytes) {
    const float d = half(w) * x[b].d;
    const std::byte* p = w + (HasMin ? 4 : 2);
    std::uint32_t qh = 0;
    if constexpr (Has5th) {
      qh = u32(p);
      p += 4;
    }
    int q[32];
    unpack32(u8(p), qh, q);
    const int s = idot32(q, x[b].q);
    if constexpr (HasMin)
      acc += d * static_cast<float>(s) + half(w + 2) * x[b].d * static_cast<float>(x[b].sum);
    else
      acc += d * static_cast<float>(s - kOffset * x[b].sum);
  }
  return acc;
}

template <bool Five>
float dot_q45_k_scalar(const std::byte* w, const void* xv, std::int64_t nb) {
  const auto* x = static_cast<const XBlockK*>(xv);
  float acc = 0.0f;
  for (std::int64_t b = 0; b < nb; ++b, w += (Five ? kQ5_KBytes : kQ4_KBytes)) {
    const float d = half(w) * x[b].d, dmin = half(w + 2) * x[b].d;
    std::uint8_t sc[8], mn[8];
    unpack_k_scales(u8(w + 4), sc, mn);
    const std::uint8_t* qh = u8(w + 16);
    const std::uint8_t* qs = u8(w + (Five ? 48 : 16));
    const std::int8_t* xq = x[b].q;
    std::int32_t isum = 0, msum = 0;
    for (int c = 0; c < 4; ++c, qs += 32, xq += 64) {
      int s1 = 0, s2 = 0;
      for (int l = 0; l < 32; ++l) {
        int lo = qs[l] & 0x0F, hi = qs[l] >> 4;
        if constexpr (Five) {
          lo |= ((qh[l] >> (2 * c)) & 1) << 4;
          hi |= ((qh[l] >> (2 * c + 1)) & 1) << 4;
        }
        s1 += lo * xq[l];
        s2 += hi * xq[l + 32];
      }
      isum += sc[2 * c] * s1 + sc[2 * c + 1] * s2;
      msum += mn[2 * c] * (x[b].bsums[4 * c] + x[b].bsums[4 * c + 1]) +
              mn[2 * c + 1] * (x[b].bsums[4 * c + 2] + x[b].bsums[4 * c + 3]);
    }
    acc += d * static_cast<float>(isum) - dmin * static_cast<float>(msum);
  }
  return acc;
}

float dot_q6_k_scalar(const std::byte* w, const void* xv, std::int64_t nb) {
  const auto* x = static_cast<const XBlockK*>(xv);
  float acc = 0.0f;
  for (std::int64_t b = 0; b < nb; ++b, w += kQ6_KBytes) {
    const std::uint8_t* ql = u8(w);
    const std::uint8_t* qh = u8(w + 128);
    const auto* sc = reinterpret_cast<const std::int8_t*>(w + 192);
    const float d = half(w + 208) * x[b].d;
    std::int32_t isum = 0;
    for (int h = 0; h < 2; ++h, ql += 64, qh += 32) {
      const std::int8_t* xq = x[b].q + 128 * h;
      int s[8] = {};  // per 16-value group of this half
      for (int l = 0; l < 32; ++l) {
        const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        const int g = l / 16;
        s[g + 0] += q1 * xq[l];
        s[g + 2] += q2 * xq[l + 32];
        s[g + 4] += q3 * xq[l + 64];
        s[g + 6] += q4 * xq[l + 96];
      }
      for (int g = 0; g < 8; ++g) isum += sc[8 * h + g] * s[g];
    }
    acc += d * static_cast<float>(isum);
  }
  return acc;
}

// ------------------------------------------------------------------ AVX2 ----
#ifdef GPT_QUANT_AVX2

inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Pairwise u8 x s8 products summed to 8 x i32 (no saturation for u8 <= 63).
inline __m256i dot_u8_s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// 16 bytes of packed nibbles -> 32 bytes: low nibbles (elements 0-15), then high.
inline __m256i nibbles(const std::uint8_t* p) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256i v = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
  return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

// Bit j of x -> byte j is 0x10 when set, 0 otherwise.
inline __m256i bit4_from_bits(std::uint32_t x) {
  const __m256i sel = _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL, 0x0101010101010101LL, 0);
  const __m256i bits = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
  __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(x)), sel);
  v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bits), bits);
  return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

float dot_q8_0_avx2(const std::byte* w, const void* xv, std::int64_t nb) {
  const auto* x = static_cast<const XBlock32*>(xv);
  __m256 acc = _mm256_setzero_ps();
  for (std::int64_t b = 0; b < nb; ++b, w += kQ8_0Bytes) {
    const __m256i q = load256(w + 2);
    const __m256i xq = load256(x[b].q);
    const __m256i p = dot_u8_s8(_mm256_sign_epi8(q, q), _mm256_sign_epi8(xq, q));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half(w) * x[b].d), _mm256_cvtepi32_ps(p), acc);
  }
  return hsum_ps(acc);
}

template <std::size_t Bytes, bool HasMin, bool Has5th>
float dot_q45_avx2(const std::byte* w, const void* xv, std::int64_t nb) {
  const auto* x = static_cast<const XBlock32*>(xv);
  constexpr int kOffset = Has5th ? 16 : 8;
  __m256 acc = _mm256_setzero_ps();
  float corr = 0.0f;
  for (std::int64_t b = 0; b < nb; ++b, w += Bytes) {
    const float d = half(w) * x[b].d;
    const std::byte* p = w + (HasMin ? 4 : 2);
    __m256i q;
    if constexpr (Has5th) {
      q = _mm256_or_si256(nibbles(u8(p + 4)), bit4_from_bits(u32(p)));
    } else {
      q = nibbles(u8(p));
    }
    const __m256i s = dot_u8_s8(q, load256(x[b].q));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc);
    if constexpr (HasMin)
      corr += half(w + 2) * x[b].d * static_cast<float>(x[b].sum);
    else
      corr -= d * static_cast<float>(kOffset * x[b].sum);
  }
  return hsum_ps(acc) + corr;
}

template <bool Five>
float dot_q45_k_avx2(const std::byte* w, const void* xv, std::int64_t nb) {
  const auto* x = static_cast<const XBlockK*>(xv);
  const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float corr = 0.0f;
  for (std::int64_t b = 0; b < nb; ++b, w += (Five ? kQ5_KBytes : kQ4_KBytes)) {
    const float d = half(w) * x[b].d, dmin = half(w + 2) * x[b].d;
    std::uint8_t sc[8], mn[8];
    unpack_k_scales(u8(w + 4), sc, mn);
    const std::uint8_t* qs = u8(w + (Five ? 48 : 16));
    const std::int8_t* xq = x[b].q;
    __m256i hb = Five ? load256(w + 16) : _mm256_setzero_si256();
    __m256i isum = _mm256_setzero_si256();
    std::int32_t msum = 0;
    for (int c = 0; c < 4; ++c, qs += 32, xq += 64) {
      const __m256i v = load256(qs);
      __m256i lo = _mm256_and_si256(v, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
      if constexpr (Five) {
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), one), 4));
        hb = _mm256_srli_epi16(hb, 2);
      }
      const __m256i plo = _mm256_maddubs_epi16(lo, load256(xq));
      const __m256i phi = _mm256_maddubs_epi16(hi, load256(xq + 32));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(plo, _mm256_set1_epi16(sc[2 * c])));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(phi, _mm256_set1_epi16(sc[2 * c + 1])));
      msum += mn[2 * c] * (x[b].bsums[4 * c] + x[b].bsums[4 * c + 1]) +
              mn[2 * c + 1] * (x[b].bsums[4 * c + 2] + x[b].bsums[4 * c + 3]);
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    corr += dmin * static_cast<float>(msum);
  }
  return hsum_ps(acc) - corr;
}

float dot_q6_k_avx2(const std::byte* w, const void* xv, std::int64_t nb) {
  const auto* x = static_cast<const XBlockK*>(xv);
  const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  for (std::int64_t b = 0; b < nb; ++b, w += kQ6_KBytes) {
    const std::uint8_t* ql = u8(w);
    const std::uint8_t* qh = u8(w + 128);
    const auto* sc = reinterpret_cast<const std::int8_t*>(w + 192);
    const float d = half(w + 208) * x[b].d;
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h, ql += 64, qh += 32) {
      const __m256i l0 = load256(ql), l1 = load256(ql + 32), hv = load256(qh);
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hv, m3), 4));
      q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 2), m3), 4));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 4), m3), 4));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 6), m3), 4));
      const std::int8_t* xq = x[b].q + 128 * h;
      for (int k = 0; k < 4; ++k) {
        const __m256i p = _mm256_maddubs_epi16(q[k], load256(xq + 32 * k));
        const __m256i s = _mm256_set_m128i(_mm_set1_epi16(sc[8 * h + 2 * k + 1]), _mm_set1_epi16(sc[8 * h + 2 * k]));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, s));
      }
    }
    std::int32_t bias = 0;
    for (int g = 0; g < 16; ++g) bias += sc[g] * x[b].bsums[g];
    const __m256i corr = _mm256_set_epi32(0, 0, 0, 0, 0, 0, 0, 32 * bias);  // q is stored +32
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_sub_epi32(isum, corr)), acc);
  }
  return hsum_ps(acc);
}

#endif  // GPT_QUANT_AVX2

using DotFn = float (*)(const std::byte* w, const void* x, std::int64_t nb);

DotFn select_dot(DType t, QuantPath path) {
#ifdef GPT_QUANT_AVX2
  if (path == QuantPath::Auto) {
    switch (t) {
      case DType::Q8_0: return dot_q8_0_avx2;
      case DType::Q4_0: return dot_q45_avx2<kQ4_0Bytes, false, false>;
      case DType::Q4_1: return dot_q45_avx2<kQ4_1Bytes, true, false>;
      case DType::Q5_0: return dot_q45_avx2<kQ5_0Bytes, false, true>;
      case DType::Q5_1: return dot_q45_avx2<kQ5_1Bytes, true, true>;
      case DType::Q4_K: return dot_q45_k_avx2<false>;
      case DType::Q5_K: return dot_q45_k_avx2<true>;
      case DType::Q6_K: return dot_q6_k_avx2;
      default: return nullptr;
    }
  }
#else
  (void)path;
#endif
  switch (t) {
    case DType::Q8_0: return dot_q8_0_scalar;
    case DType::Q4_0: return dot_q45_scalar<kQ4_0Bytes, false, false>;
    case DType::Q4_1: return dot_q45_scalar<kQ4_1Bytes, true, false>;
    case DType::Q5_0: return dot_q45_scalar<kQ5_0Bytes, false, true>;
    case DType::Q5_1: return dot_q45_scalar<kQ5_1Bytes, true, true>;
    case DType::Q4_K: return dot_q45_k_scalar<false>;
    case DType::Q5_K: return dot_q45_k_scalar<true>;
    case DType::Q6_K: return dot_q6_k_scalar;
    default: return nullptr;
  }
}

}  // namespace

void matmul_quant(const TensorView& w, const float* x, std::int64_t n_tokens, float* y, int threads,
                  QuantPath path) {
  if (!is_quantized(w.dtype))
    throw InvalidArgument("matmul_quant: weight '" + w.name + "' has type " + std::string(dtype_name(w.dtype)) +
                          ", which is not block-quantized");
  if (w.shape.size() != 2) throw InvalidArgument("matmul: weight '" + w.name + "' is not 2-D");
  if (n_tokens < 0) throw InvalidArgument("matmul: negative token count");
  if (threads <= 0) threads = omp_get_max_threads();
  const std::int64_t out = w.rows(), in = w.cols();
  const auto& info = dtype_info(w.dtype);
  const std::size_t row_bytes = dtype_bytes(w.dtype, in);  // throws unless whole blocks
  if (w.nbytes < row_bytes * static_cast<std::size_t>(out))
    throw InvalidArgument("matmul: weight '" + w.name + "' holds fewer bytes than its shape needs");
  if (n_tokens == 0 || out == 0) return;

  const bool k_quant = info.block_elems == 256;
  const std::int64_t nb = in / info.block_elems;
  const std::size_t xblock_bytes = k_quant ? sizeof(XBlockK) : sizeof(XBlock32);
  std::vector<std::byte> xq(static_cast<std::size_t>(n_tokens * nb) * xblock_bytes);
  const DotFn dot = select_dot(w.dtype, path);
  const std::int64_t kRowTile = 16;  // weight rows kept hot in L1 while tokens stream past
  const std::int64_t n_tiles = (out + kRowTile - 1) / kRowTile;

#pragma omp parallel num_threads(threads)
  {
#pragma omp for schedule(static)
    for (std::int64_t t = 0; t < n_tokens; ++t) {
      std::byte* dst = xq.data() + static_cast<std::size_t>(t * nb) * xblock_bytes;
      if (k_quant)
        quantize_row_k(x + t * in, nb, reinterpret_cast<XBlockK*>(dst));
      else
        quantize_row_32(x + t * in, nb, reinterpret_cast<XBlock32*>(dst));
    }
    // (implicit barrier)
#pragma omp for schedule(static)
    for (std::int64_t tile = 0; tile < n_tiles; ++tile) {
      const std::int64_t o0 = tile * kRowTile, o1 = std::min(out, o0 + kRowTile);
      for (std::int64_t t = 0; t < n_tokens; ++t) {
        const std::byte* xt = xq.data() + static_cast<std::size_t>(t * nb) * xblock_bytes;
        float* yt = y + t * out;
        for (std::int64_t o = o0; o < o1; ++o) yt[o] = dot(w.data + static_cast<std::size_t>(o) * row_bytes, xt, nb);
      }
    }
  }
}

}  // namespace gpt::kernels
