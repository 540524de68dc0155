// Matmul over block-quantized weights read in place.
//
// Each activation row is quantized once to 8-bit blocks (XBlock32 for the
// 32-element types, XBlockK for the 256-element K-quants). A weight row is then
// a sequence of integer dot products between weight blocks and activation
// blocks, scaled by the product of the two block scales:
//   Q8_0:  sum wd*xd * sum(wq*xq)
//   Q4_0:  sum wd*xd * (sum(q*xq) - 8*sum(xq))         (Q5_0 likewise with 16)
//   Q4_1:  sum wd*xd * sum(q*xq) + wm*xs               (Q5_1 likewise; xs ~= xd*sum(xq))
//   Q4_K:  sum over sub-blocks j: d*xd*sc_j*sum(q*xq) - dmin*xd*m_j*sum(xq)
//   Q6_K:  sum over sub-blocks j: d*xd*sc_j*(sum(q*xq) - 32*sum(xq))
// The AVX2 code computes exactly the same integer sums as the scalar code;
// only the order of the float accumulation differs.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define GPT_QUANT_AVX2 1
#endif

#include "gpt/error.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "kernels/quant_blocks.h"

namespace gpt::kernels {

namespace {

using namespace quant;

// Activations are quantized exactly as ggml's x86 code does, so products
// carry the same rounding as llama.cpp's:
//  - 32-value blocks (ggml's q8_0 / q8_1): d = amax / 127 stored as f16,
//    q = round-half-even(x * 127 / amax), and s = f16(d * sum(q)) for the
//    weight types with a minimum (Q4_1, Q5_1);
//  - 256-value super-blocks (ggml's q8_K): iscale = -127 / max (the signed
//    value of largest magnitude), q = min(127, round-half-even(iscale * x)),
//    d = 1 / iscale in f32, with sums of q per 16 values.

// An activation block of 32 values: x ~= d * q.
struct XBlock32 {
  float d;           // f16-rounded scale
  float s;           // f16-rounded d * sum(q) (the q8_1 "s")
  std::int32_t sum;  // sum of q
  std::int8_t q[32];
};

// An activation super-block of 256 values with partial sums per 16 values.
struct XBlockK {
  float d;
  std::int16_t bsums[16];
  std::int8_t q[256];
};

inline float round_f16(float v) { return f16_to_f32(f32_to_f16(v)); }

// Activations that are not finite (a broken or crafted checkpoint) must not
// reach a float -> int8 conversion, which is undefined for NaN; a NaN
// becomes 0 there and the block's scale turns NaN instead, so the product is
// NaN as it would be in f32. Finite values are unaffected.
inline std::int8_t to_q8(float v) { return v == v ? static_cast<std::int8_t>(std::clamp(v, -127.0f, 127.0f)) : 0; }
inline bool any_nan(const float* x, int n) {
  bool nan = false;
  for (int j = 0; j < n; ++j) nan |= x[j] != x[j];
  return nan;
}

void quantize_row_32(const float* x, std::int64_t nb, XBlock32* out) {
  for (std::int64_t b = 0; b < nb; ++b, x += 32) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = any_nan(x, 32) ? std::numeric_limits<float>::quiet_NaN() : amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    std::int32_t sum = 0;
    for (int j = 0; j < 32; ++j) {
      const float v = std::nearbyint(x[j] * id);  // default rounding: half to even
      out[b].q[j] = to_q8(v);
      sum += out[b].q[j];
    }
    out[b].d = round_f16(d);
    out[b].s = round_f16(d * static_cast<float>(sum));
    out[b].sum = sum;
  }
}

void quantize_row_k(const float* x, std::int64_t nb, XBlockK* out) {
  for (std::int64_t b = 0; b < nb; ++b, x += 256) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 256; ++j)
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    if (amax == 0.0f) {
      out[b] = XBlockK{};
      if (any_nan(x, 256)) out[b].d = std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < 256; ++j)
      out[b].q[j] = static_cast<std::int8_t>(std::min(127.0f, std::nearbyint(iscale * x[j])));
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += out[b].q[16 * g + j];
      out[b].bsums[g] = static_cast<std::int16_t>(s);
    }
    out[b].d = any_nan(x, 256) ? std::numeric_limits<float>::quiet_NaN() : 1.0f / iscale;
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
      acc += d * static_cast<float>(s) + half(w + 2) * x[b].s;
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

// The AVX2 dot products take NT activation rows at once (token t's blocks at
// x0 + t * xstride bytes) so each weight block is unpacked once per NT tokens.

template <int NT>
void dot_q8_0_avx2(const std::byte* w, const std::byte* x0, std::size_t xstride, std::int64_t nb, float* out) {
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  for (std::int64_t b = 0; b < nb; ++b, w += kQ8_0Bytes) {
    const __m256i q = load256(w + 2);
    const __m256i aq = _mm256_sign_epi8(q, q);
    const float d = half(w);
    for (int t = 0; t < NT; ++t) {
      const XBlock32& xb = reinterpret_cast<const XBlock32*>(x0 + t * xstride)[b];
      const __m256i p = dot_u8_s8(aq, _mm256_sign_epi8(load256(xb.q), q));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * xb.d), _mm256_cvtepi32_ps(p), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum_ps(acc[t]);
}

template <std::size_t Bytes, bool HasMin, bool Has5th, int NT>
void dot_q45_avx2(const std::byte* w, const std::byte* x0, std::size_t xstride, std::int64_t nb, float* out) {
  constexpr int kOffset = Has5th ? 16 : 8;
  __m256 acc[NT];
  float corr[NT];
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm256_setzero_ps();
    corr[t] = 0.0f;
  }
  for (std::int64_t b = 0; b < nb; ++b, w += Bytes) {
    const float d = half(w);
    const float m = HasMin ? half(w + 2) : 0.0f;
    const std::byte* p = w + (HasMin ? 4 : 2);
    __m256i q;
    if constexpr (Has5th)
      q = _mm256_or_si256(nibbles(u8(p + 4)), bit4_from_bits(u32(p)));
    else
      q = nibbles(u8(p));
    for (int t = 0; t < NT; ++t) {
      const XBlock32& xb = reinterpret_cast<const XBlock32*>(x0 + t * xstride)[b];
      const float dd = d * xb.d;
      const __m256i s = dot_u8_s8(q, load256(xb.q));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(s), acc[t]);
      if constexpr (HasMin)
        corr[t] += m * xb.s;
      else
        corr[t] -= dd * static_cast<float>(kOffset * xb.sum);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum_ps(acc[t]) + corr[t];
}

template <bool Five, int NT>
void dot_q45_k_avx2(const std::byte* w, const std::byte* x0, std::size_t xstride, std::int64_t nb, float* out) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
  __m256 acc[NT];
  float corr[NT];
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm256_setzero_ps();
    corr[t] = 0.0f;
  }
  for (std::int64_t b = 0; b < nb; ++b, w += (Five ? kQ5_KBytes : kQ4_KBytes)) {
    const float d = half(w), dmin = half(w + 2);
    std::uint8_t sc[8], mn[8];
    unpack_k_scales(u8(w + 4), sc, mn);
    const std::uint8_t* qs = u8(w + (Five ? 48 : 16));
    __m256i hb = Five ? load256(w + 16) : _mm256_setzero_si256();
    __m256i isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c, qs += 32) {
      const __m256i v = load256(qs);
      __m256i lo = _mm256_and_si256(v, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
      if constexpr (Five) {
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), one), 4));
        hb = _mm256_srli_epi16(hb, 2);
      }
      const __m256i s_lo = _mm256_set1_epi16(sc[2 * c]), s_hi = _mm256_set1_epi16(sc[2 * c + 1]);
      for (int t = 0; t < NT; ++t) {
        const std::int8_t* xq = reinterpret_cast<const XBlockK*>(x0 + t * xstride)[b].q + 64 * c;
        const __m256i plo = _mm256_maddubs_epi16(lo, load256(xq));
        const __m256i phi = _mm256_maddubs_epi16(hi, load256(xq + 32));
        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(plo, s_lo));
        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(phi, s_hi));
      }
    }
    for (int t = 0; t < NT; ++t) {
      const XBlockK& xb = reinterpret_cast<const XBlockK*>(x0 + t * xstride)[b];
      std::int32_t msum = 0;
      for (int j = 0; j < 8; ++j) msum += mn[j] * (xb.bsums[2 * j] + xb.bsums[2 * j + 1]);
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * xb.d), _mm256_cvtepi32_ps(isum[t]), acc[t]);
      corr[t] += dmin * xb.d * static_cast<float>(msum);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum_ps(acc[t]) - corr[t];
}

template <int NT>
void dot_q6_k_avx2(const std::byte* w, const std::byte* x0, std::size_t xstride, std::int64_t nb, float* out) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  for (std::int64_t b = 0; b < nb; ++b, w += kQ6_KBytes) {
    const std::uint8_t* ql = u8(w);
    const std::uint8_t* qh = u8(w + 128);
    const auto* sc = reinterpret_cast<const std::int8_t*>(w + 192);
    const float d = half(w + 208);
    __m256i isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = _mm256_setzero_si256();
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
      for (int k = 0; k < 4; ++k) {
        // Elements 0-15 of this 32 use scale 2k, elements 16-31 scale 2k+1.
        const __m256i s = _mm256_set_m128i(_mm_set1_epi16(sc[8 * h + 2 * k + 1]), _mm_set1_epi16(sc[8 * h + 2 * k]));
        for (int t = 0; t < NT; ++t) {
          const std::int8_t* xq = reinterpret_cast<const XBlockK*>(x0 + t * xstride)[b].q + 128 * h + 32 * k;
          isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], load256(xq)), s));
        }
      }
    }
    for (int t = 0; t < NT; ++t) {
      const XBlockK& xb = reinterpret_cast<const XBlockK*>(x0 + t * xstride)[b];
      std::int32_t bias = 0;
      for (int g = 0; g < 16; ++g) bias += sc[g] * xb.bsums[g];
      const __m256i corr = _mm256_set_epi32(0, 0, 0, 0, 0, 0, 0, 32 * bias);  // q is stored +32
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * xb.d), _mm256_cvtepi32_ps(_mm256_sub_epi32(isum[t], corr)),
                               acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum_ps(acc[t]);
}

#endif  // GPT_QUANT_AVX2

// Dot products of one weight row with NT activation rows.
using DotNFn = void (*)(const std::byte* w, const std::byte* x0, std::size_t xstride, std::int64_t nb, float* out);
using DotFn = float (*)(const std::byte* w, const void* x, std::int64_t nb);

constexpr int kTokenTile = 4;

struct Kernels {
  DotNFn one = nullptr;   // NT = 1
  DotNFn tile = nullptr;  // NT = kTokenTile
};

template <DotFn F>
void scalar_n1(const std::byte* w, const std::byte* x0, std::size_t, std::int64_t nb, float* out) {
  out[0] = F(w, x0, nb);
}
template <DotFn F>
void scalar_tile(const std::byte* w, const std::byte* x0, std::size_t xstride, std::int64_t nb, float* out) {
  for (int t = 0; t < kTokenTile; ++t) out[t] = F(w, x0 + t * xstride, nb);
}
template <DotFn F>
constexpr Kernels scalar_kernels() {
  return {scalar_n1<F>, scalar_tile<F>};
}

Kernels select_kernels(DType t, QuantPath path) {
#ifdef GPT_QUANT_AVX2
  if (path == QuantPath::Auto) {
    switch (t) {
      case DType::Q8_0: return {dot_q8_0_avx2<1>, dot_q8_0_avx2<kTokenTile>};
      case DType::Q4_0:
        return {dot_q45_avx2<kQ4_0Bytes, false, false, 1>, dot_q45_avx2<kQ4_0Bytes, false, false, kTokenTile>};
      case DType::Q4_1:
        return {dot_q45_avx2<kQ4_1Bytes, true, false, 1>, dot_q45_avx2<kQ4_1Bytes, true, false, kTokenTile>};
      case DType::Q5_0:
        return {dot_q45_avx2<kQ5_0Bytes, false, true, 1>, dot_q45_avx2<kQ5_0Bytes, false, true, kTokenTile>};
      case DType::Q5_1:
        return {dot_q45_avx2<kQ5_1Bytes, true, true, 1>, dot_q45_avx2<kQ5_1Bytes, true, true, kTokenTile>};
      case DType::Q4_K: return {dot_q45_k_avx2<false, 1>, dot_q45_k_avx2<false, kTokenTile>};
      case DType::Q5_K: return {dot_q45_k_avx2<true, 1>, dot_q45_k_avx2<true, kTokenTile>};
      case DType::Q6_K: return {dot_q6_k_avx2<1>, dot_q6_k_avx2<kTokenTile>};
      default: return {};
    }
  }
#else
  (void)path;
#endif
  switch (t) {
    case DType::Q8_0: return scalar_kernels<dot_q8_0_scalar>();
    case DType::Q4_0: return scalar_kernels<dot_q45_scalar<kQ4_0Bytes, false, false>>();
    case DType::Q4_1: return scalar_kernels<dot_q45_scalar<kQ4_1Bytes, true, false>>();
    case DType::Q5_0: return scalar_kernels<dot_q45_scalar<kQ5_0Bytes, false, true>>();
    case DType::Q5_1: return scalar_kernels<dot_q45_scalar<kQ5_1Bytes, true, true>>();
    case DType::Q4_K: return scalar_kernels<dot_q45_k_scalar<false>>();
    case DType::Q5_K: return scalar_kernels<dot_q45_k_scalar<true>>();
    case DType::Q6_K: return scalar_kernels<dot_q6_k_scalar>();
    default: return {};
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
  const std::size_t xstride = static_cast<std::size_t>(nb) * (k_quant ? sizeof(XBlockK) : sizeof(XBlock32));
  std::vector<std::byte> xq(static_cast<std::size_t>(n_tokens) * xstride);
  const Kernels kern = select_kernels(w.dtype, path);
  const std::int64_t kRowTile = 16;  // weight rows kept hot in L1 while tokens stream past
  const std::int64_t n_tiles = (out + kRowTile - 1) / kRowTile;
  threads = static_cast<int>(std::min<std::int64_t>(threads, n_tiles));

#pragma omp parallel num_threads(threads)
  {
#pragma omp for schedule(static)
    for (std::int64_t t = 0; t < n_tokens; ++t) {
      std::byte* dst = xq.data() + static_cast<std::size_t>(t) * xstride;
      if (k_quant)
        quantize_row_k(x + t * in, nb, reinterpret_cast<XBlockK*>(dst));
      else
        quantize_row_32(x + t * in, nb, reinterpret_cast<XBlock32*>(dst));
    }
    // (implicit barrier: every activation row is quantized before use)
#pragma omp for schedule(static)
    for (std::int64_t tile = 0; tile < n_tiles; ++tile) {
      const std::int64_t o0 = tile * kRowTile, o1 = std::min(out, o0 + kRowTile);
      float r[kTokenTile];
      std::int64_t t = 0;
      for (; t + kTokenTile <= n_tokens; t += kTokenTile) {
        const std::byte* xt = xq.data() + static_cast<std::size_t>(t) * xstride;
        for (std::int64_t o = o0; o < o1; ++o) {
          kern.tile(w.data + static_cast<std::size_t>(o) * row_bytes, xt, xstride, nb, r);
          for (int k = 0; k < kTokenTile; ++k) y[(t + k) * out + o] = r[k];
        }
      }
      for (; t < n_tokens; ++t) {
        const std::byte* xt = xq.data() + static_cast<std::size_t>(t) * xstride;
        for (std::int64_t o = o0; o < o1; ++o) kern.one(w.data + static_cast<std::size_t>(o) * row_bytes, xt, 0, nb, &y[t * out + o]);
      }
    }
  }
}

}  // namespace gpt::kernels
