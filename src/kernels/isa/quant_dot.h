// Part of kernels_isa.cpp, included once per instruction-set level inside its
// anonymous namespace (GPT_ISA_LEVEL, the helpers and the intrinsics headers
// come from there): activation quantization and the dot products of every
// block-quantized weight type, in the fixed orders kernels_isa.cpp describes.
#pragma once

// NOLINTBEGIN(misc-definitions-in-headers)
// ================================================== activation quantization
// Exactly as ggml's x86 code, so products carry llama.cpp's rounding:
//  - 32-value blocks (q8_0 / q8_1): d = amax / 127 stored as f16,
//    q = round-half-even(x * 127 / amax), s = f16(d * sum(q));
//  - 256-value super-blocks (q8_K): iscale = -127 / max (the signed value of
//    largest magnitude), q = min(127, round-half-even(iscale * x)),
//    d = 1 / iscale in f32, with sums of q per 16 values.
// Every step is one correctly rounded operation, so all levels agree.
// Activations that are not finite (a broken or crafted checkpoint) must not
// reach a float -> int8 conversion, which is undefined for NaN; a NaN becomes
// 0 there and the block's scale turns NaN instead.

inline float abs32(float v) { return __builtin_fabsf(v); }
inline float round_f16(float v) {
#if GPT_ISA_LEVEL >= 1
  return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(v), _MM_FROUND_TO_NEAREST_INT)));
#else
  return f16_to_f32(f32_to_f16(v));  // round to nearest even, as F16C
#endif
}
inline std::int8_t to_q8(float v) {
  if (v != v) return 0;
  const float c = v < -127.0f ? -127.0f : (127.0f < v ? 127.0f : v);
  return static_cast<std::int8_t>(c);
}
inline bool any_nan(const float* x, int n) {
  bool nan = false;
  for (int j = 0; j < n; ++j) nan |= x[j] != x[j];
  return nan;
}

void quantize_32(const float* x, std::int64_t nb, XBlock32* out) {
  for (std::int64_t b = 0; b < nb; ++b, x += 32) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) {
      const float a = abs32(x[j]);
      amax = amax < a ? a : amax;
    }
    const float d = any_nan(x, 32) ? kNaN : amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    std::int32_t sum = 0;
    for (int j = 0; j < 32; ++j) {
      const float v = __builtin_nearbyintf(x[j] * id);  // default rounding: half to even
      out[b].q[j] = to_q8(v);
      sum += out[b].q[j];
    }
    out[b].d = round_f16(d);
    out[b].s = round_f16(d * static_cast<float>(sum));
    out[b].sum = sum;
  }
}

void quantize_k(const float* x, std::int64_t nb, XBlockK* out) {
  for (std::int64_t b = 0; b < nb; ++b, x += 256) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 256; ++j)
      if (abs32(x[j]) > amax) {
        amax = abs32(x[j]);
        max = x[j];
      }
    if (amax == 0.0f) {
      std::memset(&out[b], 0, sizeof(XBlockK));
      if (any_nan(x, 256)) out[b].d = kNaN;
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < 256; ++j) {
      const float v = __builtin_nearbyintf(iscale * x[j]);
      out[b].q[j] = static_cast<std::int8_t>(v < 127.0f ? v : 127.0f);
    }
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += out[b].q[16 * g + j];
      out[b].bsums[g] = static_cast<std::int16_t>(s);
    }
    out[b].d = any_nan(x, 256) ? kNaN : 1.0f / iscale;
  }
}

// ======================================================= quantized weights

constexpr std::size_t kQ8_0Bytes = 34, kQ4_0Bytes = 18, kQ4_1Bytes = 20, kQ5_0Bytes = 22, kQ5_1Bytes = 24,
                      kQ4_KBytes = 144, kQ5_KBytes = 176, kQ6_KBytes = 210;

// The eight 6-bit scales and mins of a Q4_K / Q5_K super-block (see quant.h).
inline void unpack_k_scales(const std::uint8_t* s, std::uint8_t sc[8], std::uint8_t mn[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 63;
    mn[j] = s[j + 4] & 63;
    sc[j + 4] = static_cast<std::uint8_t>((s[j + 8] & 0x0F) | ((s[j] >> 6) << 4));
    mn[j + 4] = static_cast<std::uint8_t>((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
  }
}

inline std::int32_t k_min_sum(const std::uint8_t mn[8], const std::int16_t* bsums) {
  std::int32_t msum = 0;
  for (int j = 0; j < 8; ++j) msum += mn[j] * (bsums[2 * j] + bsums[2 * j + 1]);
  return msum;
}

inline std::int32_t q6_k_bias(const std::int8_t* sc, const std::int16_t* bsums) {
  std::int32_t bias = 0;
  for (int g = 0; g < 16; ++g) bias += sc[g] * bsums[g];
  return bias;
}

#if GPT_ISA_LEVEL == 0

// ---------------------------------------------------------------- scalar ----

inline void add_block(float* acc, std::int64_t b, float scale, const std::int32_t* p) {
  float* l = acc + 8 * (b & 1);
  for (int j = 0; j < 8; ++j) l[j] = fma32(scale, static_cast<float>(p[j]), l[j]);
}

float q8_0_s(const std::byte* w, const XBlock32* x, std::int64_t nb) {
  float acc[16] = {};
  for (std::int64_t b = 0; b < nb; ++b, w += kQ8_0Bytes) {
    const auto* q = reinterpret_cast<const std::int8_t*>(w + 2);
    std::int32_t p[8] = {};
    for (int l = 0; l < 32; ++l) p[l / 4] += q[l] * x[b].q[l];
    add_block(acc, b, half(w) * x[b].d, p);
  }
  return fold16(acc);
}

template <std::size_t Bytes, bool HasMin, bool Has5th>
float q45_s(const std::byte* w, const XBlock32* x, std::int64_t nb) {
  constexpr int kOffset = HasMin ? 0 : (Has5th ? 16 : 8);
  float acc[16] = {};
  float corr[2] = {};
  for (std::int64_t b = 0; b < nb; ++b, w += Bytes) {
    const std::uint8_t* qs = u8(w + (HasMin ? 4 : 2));
    std::uint32_t qh = 0;
    if constexpr (Has5th) {
      qh = u32(w + (HasMin ? 4 : 2));
      qs += 4;
    }
    std::int32_t p[8] = {};
    for (int l = 0; l < 16; ++l) {
      const int lo = (qs[l] & 0x0F) | static_cast<int>(((qh >> l) & 1u) << 4);
      const int hi = (qs[l] >> 4) | static_cast<int>(((qh >> (l + 16)) & 1u) << 4);
      p[l / 4] += (lo - kOffset) * x[b].q[l];
      p[(l + 16) / 4] += (hi - kOffset) * x[b].q[l + 16];
    }
    add_block(acc, b, half(w) * x[b].d, p);
    if constexpr (HasMin) corr[b & 1] = fma32(half(w + 2), x[b].s, corr[b & 1]);
  }
  return fold16(acc) + (corr[0] + corr[1]);
}

template <bool Five>
float q45_k_s(const std::byte* w, const XBlockK* x, std::int64_t nb) {
  float acc[16] = {};
  float corr = 0.0f;
  for (std::int64_t b = 0; b < nb; ++b, w += (Five ? kQ5_KBytes : kQ4_KBytes)) {
    std::uint8_t sc[8], mn[8];
    unpack_k_scales(u8(w + 4), sc, mn);
    const std::uint8_t* qh = u8(w + 16);
    const std::uint8_t* qs = u8(w + (Five ? 48 : 16));
    const std::int8_t* xq = x[b].q;
    std::int32_t p[8] = {};
    for (int c = 0; c < 4; ++c, qs += 32, xq += 64) {
      for (int l = 0; l < 32; ++l) {
        int lo = qs[l] & 0x0F, hi = qs[l] >> 4;
        if constexpr (Five) {
          lo |= ((qh[l] >> (2 * c)) & 1) << 4;
          hi |= ((qh[l] >> (2 * c + 1)) & 1) << 4;
        }
        p[l / 4] += sc[2 * c] * (lo * xq[l]) + sc[2 * c + 1] * (hi * xq[l + 32]);
      }
    }
    add_block(acc, b, half(w) * x[b].d, p);
    corr = fma32(half(w + 2) * x[b].d, static_cast<float>(k_min_sum(mn, x[b].bsums)), corr);
  }
  return fold16(acc) - corr;
}

float q6_k_s(const std::byte* w, const XBlockK* x, std::int64_t nb) {
  float acc[16] = {};
  for (std::int64_t b = 0; b < nb; ++b, w += kQ6_KBytes) {
    const std::uint8_t* ql = u8(w);
    const std::uint8_t* qh = u8(w + 128);
    const auto* sc = reinterpret_cast<const std::int8_t*>(w + 192);
    std::int32_t p[8] = {};
    for (int h = 0; h < 2; ++h, ql += 64, qh += 32) {
      const std::int8_t* xq = x[b].q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        // Stored values (0..63, i.e. q + 32); the 32 * sum is taken off lane 0.
        const int q1 = (ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4);
        const int q2 = (ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4);
        const int q3 = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
        const int q4 = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
        const int g = 8 * h + l / 16;
        p[l / 4] += sc[g + 0] * (q1 * xq[l]) + sc[g + 2] * (q2 * xq[l + 32]) + sc[g + 4] * (q3 * xq[l + 64]) +
                    sc[g + 6] * (q4 * xq[l + 96]);
      }
    }
    p[0] -= 32 * q6_k_bias(sc, x[b].bsums);
    add_block(acc, b, half(w + 208) * x[b].d, p);
  }
  return fold16(acc);
}

template <class XB, float (*F)(const std::byte*, const XB*, std::int64_t)>
void scalar_one(const std::byte* w, const std::byte* x0, std::size_t, std::int64_t nb, float* out) {
  out[0] = F(w, reinterpret_cast<const XB*>(x0), nb);
}
template <class XB, float (*F)(const std::byte*, const XB*, std::int64_t)>
void scalar_tile(const std::byte* w, const std::byte* x0, std::size_t xstride, const float*, const float*,
                 std::int64_t nb, float* out) {
  for (int t = 0; t < kTokenTile; ++t) out[t] = F(w, reinterpret_cast<const XB*>(x0 + t * xstride), nb);
}
template <class XB, float (*F)(const std::byte*, const XB*, std::int64_t)>
void scalar_small(const std::byte* w, const std::byte* x0, std::size_t xstride, std::int64_t nb, float* out) {
  for (int t = 0; t < kSmallTile; ++t) out[t] = F(w, reinterpret_cast<const XB*>(x0 + t * xstride), nb);
}
template <class XB, float (*F)(const std::byte*, const XB*, std::int64_t)>
constexpr QuantKernels kernels() {
  return {scalar_one<XB, F>, scalar_tile<XB, F>, scalar_small<XB, F>};
}

constexpr QuantKernels kQuant[kQuantTypes] = {
    kernels<XBlock32, q8_0_s>(),
    kernels<XBlock32, q45_s<kQ4_0Bytes, false, false>>(),
    kernels<XBlock32, q45_s<kQ4_1Bytes, true, false>>(),
    kernels<XBlock32, q45_s<kQ5_0Bytes, false, true>>(),
    kernels<XBlock32, q45_s<kQ5_1Bytes, true, true>>(),
    kernels<XBlockK, q45_k_s<false>>(),
    kernels<XBlockK, q45_k_s<true>>(),
    kernels<XBlockK, q6_k_s>(),
};

#else  // GPT_ISA_LEVEL >= 1

// ------------------------------------------------------- AVX2 and AVX-512 ----
// The AVX-512 level runs the same 256-bit code, with VNNI's one-instruction
// u8 x s8 dot product; the integer sums are the same either way.

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// u8 x s8 products, four consecutive bytes summed into each of 8 x i32 (no
// saturation in the ranges used here: |pair sum| <= 2 * 128 * 127).
inline __m256i dot_u8_s8(__m256i u, __m256i s) {
#if GPT_ISA_LEVEL >= 2
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
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

// Runs block(b, acc, corr) over the blocks: even blocks into a0 and c0, odd
// ones into a1 and c1.
template <int NT, class F>
inline void over_blocks(std::int64_t nb, __m256 (&a0)[NT], __m256 (&a1)[NT], float (&c0)[NT], float (&c1)[NT],
                        F block) {
  std::int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    block(b, a0, c0);
    block(b + 1, a1, c1);
  }
  if (b < nb) block(b, a0, c0);
}

template <int NT>
inline void zero(__m256 (&a)[NT]) {
  for (int t = 0; t < NT; ++t) a[t] = _mm256_setzero_ps();
}

template <class XB>
inline const XB& xblock(const std::byte* x0, std::size_t xstride, int t, std::int64_t b) {
  return reinterpret_cast<const XB*>(x0 + t * xstride)[b];
}

template <int NT>
void q8_0_v(const std::byte* w, const std::byte* x0, std::size_t xstride, std::int64_t nb, float* out) {
  __m256 a0[NT], a1[NT];
  float c0[NT] = {}, c1[NT] = {};
  zero(a0);
  zero(a1);
  over_blocks<NT>(nb, a0, a1, c0, c1, [&](std::int64_t b, __m256(&acc)[NT], float(&)[NT]) {
    const std::byte* wb = w + b * kQ8_0Bytes;
    const __m256i q = load256(wb + 2);
    const __m256i aq = _mm256_sign_epi8(q, q);
    const float d = half(wb);
    for (int t = 0; t < NT; ++t) {
      const XBlock32& xb = xblock<XBlock32>(x0, xstride, t, b);
      const __m256i p = dot_u8_s8(aq, _mm256_sign_epi8(load256(xb.q), q));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * xb.d), _mm256_cvtepi32_ps(p), acc[t]);
    }
  });
  for (int t = 0; t < NT; ++t) out[t] = fold8(_mm256_add_ps(a0[t], a1[t]));
}

template <std::size_t Bytes, bool HasMin, bool Has5th, int NT>
void q45_v(const std::byte* w, const std::byte* x0, std::size_t xstride, std::int64_t nb, float* out) {
  constexpr int kOffset = HasMin ? 0 : (Has5th ? 16 : 8);
  __m256 a0[NT], a1[NT];
  float c0[NT] = {}, c1[NT] = {};
  zero(a0);
  zero(a1);
  over_blocks<NT>(nb, a0, a1, c0, c1, [&](std::int64_t b, __m256(&acc)[NT], float(&corr)[NT]) {
    const std::byte* wb = w + b * static_cast<std::int64_t>(Bytes);
    const float d = half(wb);
    const float m = HasMin ? half(wb + 2) : 0.0f;
    const std::byte* p = wb + (HasMin ? 4 : 2);
    __m256i q;
    if constexpr (Has5th)
      q = _mm256_or_si256(nibbles(u8(p + 4)), bit4_from_bits(u32(p)));
    else
      q = nibbles(u8(p));
    __m256i u = q;  // the unsigned factor
    if constexpr (kOffset != 0) {
      q = _mm256_sub_epi8(q, _mm256_set1_epi8(kOffset));
      u = _mm256_sign_epi8(q, q);
    }
    for (int t = 0; t < NT; ++t) {
      const XBlock32& xb = xblock<XBlock32>(x0, xstride, t, b);
      __m256i xv = load256(xb.q);
      if constexpr (kOffset != 0) xv = _mm256_sign_epi8(xv, q);
      const __m256i s = dot_u8_s8(u, xv);
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * xb.d), _mm256_cvtepi32_ps(s), acc[t]);
      if constexpr (HasMin) corr[t] = fma32(m, xb.s, corr[t]);
    }
  });
  for (int t = 0; t < NT; ++t) out[t] = fold8(_mm256_add_ps(a0[t], a1[t])) + (c0[t] + c1[t]);
}

template <bool Five, int NT>
void q45_k_v(const std::byte* w, const std::byte* x0, std::size_t xstride, std::int64_t nb, float* out) {
  constexpr std::int64_t kBytes = Five ? kQ5_KBytes : kQ4_KBytes;
  const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
  __m256 a0[NT], a1[NT];
  float c0[NT] = {}, c1[NT] = {}, kcorr[NT] = {};  // K types: one chain in block order
  zero(a0);
  zero(a1);
  over_blocks<NT>(nb, a0, a1, c0, c1, [&](std::int64_t b, __m256(&acc)[NT], float(&)[NT]) {
    const std::byte* wb = w + b * kBytes;
    const float d = half(wb), dmin = half(wb + 2);
    std::uint8_t sc[8], mn[8];
    unpack_k_scales(u8(wb + 4), sc, mn);
    const std::uint8_t* qs = u8(wb + (Five ? 48 : 16));
    __m256i hb = Five ? load256(wb + 16) : _mm256_setzero_si256();
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
        const std::int8_t* xq = xblock<XBlockK>(x0, xstride, t, b).q + 64 * c;
        const __m256i plo = _mm256_maddubs_epi16(lo, load256(xq));
        const __m256i phi = _mm256_maddubs_epi16(hi, load256(xq + 32));
        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(plo, s_lo));
        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(phi, s_hi));
      }
    }
    for (int t = 0; t < NT; ++t) {
      const XBlockK& xb = xblock<XBlockK>(x0, xstride, t, b);
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * xb.d), _mm256_cvtepi32_ps(isum[t]), acc[t]);
      kcorr[t] = fma32(dmin * xb.d, static_cast<float>(k_min_sum(mn, xb.bsums)), kcorr[t]);
    }
  });
  for (int t = 0; t < NT; ++t) out[t] = fold8(_mm256_add_ps(a0[t], a1[t])) - kcorr[t];
}

template <int NT>
void q6_k_v(const std::byte* w, const std::byte* x0, std::size_t xstride, std::int64_t nb, float* out) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
  __m256 a0[NT], a1[NT];
  float c0[NT] = {}, c1[NT] = {};
  zero(a0);
  zero(a1);
  over_blocks<NT>(nb, a0, a1, c0, c1, [&](std::int64_t b, __m256(&acc)[NT], float(&)[NT]) {
    const std::byte* wb = w + b * static_cast<std::int64_t>(kQ6_KBytes);
    const std::uint8_t* ql = u8(wb);
    const std::uint8_t* qh = u8(wb + 128);
    const auto* sc = reinterpret_cast<const std::int8_t*>(wb + 192);
    const float d = half(wb + 208);
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
        const __m256i s =
            _mm256_set_m128i(_mm_set1_epi16(sc[8 * h + 2 * k + 1]), _mm_set1_epi16(sc[8 * h + 2 * k]));
        for (int t = 0; t < NT; ++t) {
          const std::int8_t* xq = xblock<XBlockK>(x0, xstride, t, b).q + 128 * h + 32 * k;
          isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], load256(xq)), s));
        }
      }
    }
    const auto* scs = reinterpret_cast<const std::int8_t*>(wb + 192);
    for (int t = 0; t < NT; ++t) {
      const XBlockK& xb = xblock<XBlockK>(x0, xstride, t, b);
      // q is stored + 32: take 32 * sum(sc * x) off lane 0.
      const __m256i corr = _mm256_set_epi32(0, 0, 0, 0, 0, 0, 0, 32 * q6_k_bias(scs, xb.bsums));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * xb.d), _mm256_cvtepi32_ps(_mm256_sub_epi32(isum[t], corr)),
                               acc[t]);
    }
  });
  for (int t = 0; t < NT; ++t) out[t] = fold8(_mm256_add_ps(a0[t], a1[t]));
}

// ---- token tiles of the 32-element types ----
// The same operations as q8_0_v / q45_v for one token, in the same order per
// token, organised for many tokens: the scale products d * xd of a weight
// block with every token's block come from one vector multiply, and the
// minimum terms m * s of all tokens are one vector of fused multiply-adds
// (lane t is token t's chain). Sub-tiles of kSub tokens keep every
// accumulator in a register (AVX-512 has 32 of them, AVX2 16).
#if GPT_ISA_LEVEL >= 2
constexpr int kSub = 8;
using SubVec = __m256;
inline SubVec sub_load(const float* p) { return _mm256_loadu_ps(p); }
inline SubVec sub_set1(float v) { return _mm256_set1_ps(v); }
inline SubVec sub_mul(SubVec a, SubVec b) { return _mm256_mul_ps(a, b); }
inline SubVec sub_fmadd(SubVec a, SubVec b, SubVec c) { return _mm256_fmadd_ps(a, b, c); }
inline void sub_store(float* p, SubVec v) { _mm256_storeu_ps(p, v); }
inline SubVec sub_zero() { return _mm256_setzero_ps(); }
#else
constexpr int kSub = 4;
using SubVec = __m128;
inline SubVec sub_load(const float* p) { return _mm_loadu_ps(p); }
inline SubVec sub_set1(float v) { return _mm_set1_ps(v); }
inline SubVec sub_mul(SubVec a, SubVec b) { return _mm_mul_ps(a, b); }
inline SubVec sub_fmadd(SubVec a, SubVec b, SubVec c) { return _mm_fmadd_ps(a, b, c); }
inline void sub_store(float* p, SubVec v) { _mm_storeu_ps(p, v); }
inline SubVec sub_zero() { return _mm_setzero_ps(); }
#endif
static_assert(kTokenTile % kSub == 0);

// Weight block b of a 32-element type as the unsigned factor u and the sign
// source q of its dot product (see q8_0_v / q45_v), with its d and m.
struct WBlock32 {
  __m256i u, q;
  float d, m;
};

template <std::size_t Bytes, bool HasMin, bool Has5th>
inline WBlock32 load_q45(const std::byte* wb) {
  constexpr int kOffset = HasMin ? 0 : (Has5th ? 16 : 8);
  WBlock32 r;
  r.d = half(wb);
  r.m = HasMin ? half(wb + 2) : 0.0f;
  const std::byte* p = wb + (HasMin ? 4 : 2);
  if constexpr (Has5th)
    r.q = _mm256_or_si256(nibbles(u8(p + 4)), bit4_from_bits(u32(p)));
  else
    r.q = nibbles(u8(p));
  r.u = r.q;
  if constexpr (kOffset != 0) {
    r.q = _mm256_sub_epi8(r.q, _mm256_set1_epi8(kOffset));
    r.u = _mm256_sign_epi8(r.q, r.q);
  }
  return r;
}

// Signed: the weights are signed (the sign trick of q8_0_v); HasMin: the
// m * s terms; AddCorr: add the (even + odd) minimum sums as q45_v does,
// zero sums included (+0.0f turns a -0.0f result into +0.0f).
template <bool Signed, bool HasMin, bool AddCorr, class Load>
void tile32(const std::byte* w, std::size_t bytes, const std::byte* x0, std::size_t xstride, const float* xd,
            const float* xs, std::int64_t nb, float* out, Load load) {
  for (int t0 = 0; t0 < kTokenTile; t0 += kSub) {
    __m256 a[2][kSub];
    SubVec corr[2] = {sub_zero(), sub_zero()};
    for (int t = 0; t < kSub; ++t) a[0][t] = a[1][t] = _mm256_setzero_ps();
    const std::byte* xt0 = x0 + static_cast<std::size_t>(t0) * xstride;
    const auto block = [&](std::int64_t b, __m256(&acc)[kSub], SubVec& cv) {
      const auto wb = load(w + static_cast<std::size_t>(b) * bytes);
      alignas(32) float sc[kSub];
      sub_store(sc, sub_mul(sub_set1(wb.d), sub_load(xd + b * kTokenTile + t0)));
      if constexpr (HasMin) cv = sub_fmadd(sub_set1(wb.m), sub_load(xs + b * kTokenTile + t0), cv);
      for (int t = 0; t < kSub; ++t) {
        const XBlock32& xb = xblock<XBlock32>(xt0, xstride, t, b);
        __m256i xv = load256(xb.q);
        if constexpr (Signed) xv = _mm256_sign_epi8(xv, wb.q);
        const __m256i p = dot_u8_s8(wb.u, xv);
        acc[t] = _mm256_fmadd_ps(_mm256_broadcast_ss(&sc[t]), _mm256_cvtepi32_ps(p), acc[t]);
      }
    };
    std::int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {  // even blocks into a[0] and corr[0], odd ones into a[1] and corr[1]
      block(b, a[0], corr[0]);
      block(b + 1, a[1], corr[1]);
    }
    if (b < nb) block(b, a[0], corr[0]);
    alignas(32) float c[2][kSub];
    sub_store(c[0], corr[0]);
    sub_store(c[1], corr[1]);
    for (int t = 0; t < kSub; ++t) {
      out[t0 + t] = fold8(_mm256_add_ps(a[0][t], a[1][t]));
      if constexpr (AddCorr) out[t0 + t] += (c[0][t] + c[1][t]);
    }
  }
}

#if GPT_ISA_LEVEL >= 2
// AVX-512: two tokens per instruction. Register lanes 0-7 hold token 2p's
// eight lanes, lanes 8-15 token 2p+1's; every lane sees the operations of the
// 256-bit code above (the sign trick becomes a masked negation, which differs
// only where the weight is 0 and the product is 0 anyway).
template <bool Signed, bool HasMin, bool AddCorr, class Load>
void tile32z(const std::byte* w, std::size_t bytes, const std::byte* x0, std::size_t xstride, const float* xd,
             const float* xs, std::int64_t nb, float* out, Load load) {
  static_assert(kTokenTile == 8);
  constexpr int kPairs = kTokenTile / 2;
  __m512 a[2][kPairs];
  __m256 corr[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int p = 0; p < kPairs; ++p) a[0][p] = a[1][p] = _mm512_setzero_ps();
  __m512i idx[kPairs];
  for (int p = 0; p < kPairs; ++p)
    idx[p] = _mm512_mask_set1_epi32(_mm512_set1_epi32(2 * p), 0xFF00, 2 * p + 1);
  const auto block = [&](std::int64_t b, __m512(&acc)[kPairs], __m256& cv) {
    const auto wb = load(w + static_cast<std::size_t>(b) * bytes);
    const __m512 sc = _mm512_zextps256_ps512(_mm256_mul_ps(_mm256_set1_ps(wb.d), _mm256_loadu_ps(xd + b * kTokenTile)));
    if constexpr (HasMin) cv = _mm256_fmadd_ps(_mm256_set1_ps(wb.m), _mm256_loadu_ps(xs + b * kTokenTile), cv);
    const __m512i u = _mm512_broadcast_i64x4(wb.u);
    __mmask64 neg = 0;
    if constexpr (Signed) neg = _mm512_movepi8_mask(_mm512_broadcast_i64x4(wb.q));
    for (int p = 0; p < kPairs; ++p) {
      const XBlock32& xa = xblock<XBlock32>(x0, xstride, 2 * p, b);
      const XBlock32& xb = xblock<XBlock32>(x0, xstride, 2 * p + 1, b);
      __m512i xv = _mm512_mask_broadcast_i64x4(_mm512_zextsi256_si512(load256(xa.q)), 0xF0, load256(xb.q));
      if constexpr (Signed) xv = _mm512_mask_sub_epi8(xv, neg, _mm512_setzero_si512(), xv);
      const __m512i pr = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, xv);
      acc[p] = _mm512_fmadd_ps(_mm512_permutexvar_ps(idx[p], sc), _mm512_cvtepi32_ps(pr), acc[p]);
    }
  };
  std::int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    block(b, a[0], corr[0]);
    block(b + 1, a[1], corr[1]);
  }
  if (b < nb) block(b, a[0], corr[0]);
  alignas(32) float c[2][kTokenTile];
  _mm256_store_ps(c[0], corr[0]);
  _mm256_store_ps(c[1], corr[1]);
  for (int p = 0; p < kPairs; ++p) {
    alignas(64) float v[16];
    _mm512_store_ps(v, _mm512_add_ps(a[0][p], a[1][p]));
    out[2 * p] = fold8(_mm256_load_ps(v));
    out[2 * p + 1] = fold8(_mm256_load_ps(v + 8));
  }
  if constexpr (AddCorr)
    for (int t = 0; t < kTokenTile; ++t) out[t] += (c[0][t] + c[1][t]);
}
#define GPT_TILE32 tile32z
#else
#define GPT_TILE32 tile32
#endif

void q8_0_tile(const std::byte* w, const std::byte* x0, std::size_t xstride, const float* xd, const float* xs,
               std::int64_t nb, float* out) {
  GPT_TILE32<true, false, false>(w, kQ8_0Bytes, x0, xstride, xd, xs, nb, out, [](const std::byte* wb) {
    WBlock32 r;
    r.q = load256(wb + 2);
    r.u = _mm256_sign_epi8(r.q, r.q);
    r.d = half(wb);
    r.m = 0.0f;
    return r;
  });
}

template <std::size_t Bytes, bool HasMin, bool Has5th>
void q45_tile(const std::byte* w, const std::byte* x0, std::size_t xstride, const float* xd, const float* xs,
              std::int64_t nb, float* out) {
  constexpr bool kSigned = !HasMin;  // the offset types have signed weights
  GPT_TILE32<kSigned, HasMin, true>(w, Bytes, x0, xstride, xd, xs, nb, out,
                                [](const std::byte* wb) { return load_q45<Bytes, HasMin, Has5th>(wb); });
}

// The K-quants keep their per-token kernels, over sub-tiles of 4 tokens.
template <void (*F)(const std::byte*, const std::byte*, std::size_t, std::int64_t, float*)>
void k_tile(const std::byte* w, const std::byte* x0, std::size_t xstride, const float*, const float*,
            std::int64_t nb, float* out) {
  for (int t0 = 0; t0 < kTokenTile; t0 += 4) F(w, x0 + static_cast<std::size_t>(t0) * xstride, xstride, nb, out + t0);
}

constexpr QuantKernels kQuant[kQuantTypes] = {
    {q8_0_v<1>, q8_0_tile, q8_0_v<kSmallTile>},
    {q45_v<kQ4_0Bytes, false, false, 1>, q45_tile<kQ4_0Bytes, false, false>,
     q45_v<kQ4_0Bytes, false, false, kSmallTile>},
    {q45_v<kQ4_1Bytes, true, false, 1>, q45_tile<kQ4_1Bytes, true, false>,
     q45_v<kQ4_1Bytes, true, false, kSmallTile>},
    {q45_v<kQ5_0Bytes, false, true, 1>, q45_tile<kQ5_0Bytes, false, true>,
     q45_v<kQ5_0Bytes, false, true, kSmallTile>},
    {q45_v<kQ5_1Bytes, true, true, 1>, q45_tile<kQ5_1Bytes, true, true>, q45_v<kQ5_1Bytes, true, true, kSmallTile>},
    {q45_k_v<false, 1>, k_tile<q45_k_v<false, 4>>, q45_k_v<false, kSmallTile>},
    {q45_k_v<true, 1>, k_tile<q45_k_v<true, 4>>, q45_k_v<true, kSmallTile>},
    {q6_k_v<1>, k_tile<q6_k_v<4>>, q6_k_v<kSmallTile>},
};

#endif  // GPT_ISA_LEVEL
// NOLINTEND(misc-definitions-in-headers)
