// Part of kernels_isa.cpp, included once per instruction-set level inside its
// anonymous namespace (GPT_ISA_LEVEL, the helpers, float_dot.h and the
// intrinsics headers come from there): the three inner loops of attention
// (ops::attention_head), each in one fixed order so that every level gives the
// same bits:
//  - scores: scale * (q . k_j), the dot product in the 64-lane order of half.h
//    (dot_f<kF32>), then one multiplication by the scale;
//  - exp_sum: e_j = exp(x_j - max) by the one exp below, and their sum in 16
//    double lanes (e_j into lane j % 16, in increasing j; the lanes fold
//    pairwise, lane i += lane i + s for s = 8, 4, 2, 1), rounded to float
//    once. The denominator in double, as llama.cpp's softmax keeps it: the
//    logits of fragile models (Gemma 3) move measurably with its rounding;
//  - accumulate: out[d] = fma(p_j, v_j[d], out[d]) for j = 0, 1, ... in order.
//
// The exp: for x < -87 the result is 0 (so exp(-inf) = 0); otherwise
// x = n ln2 + r with n = round-half-even(x * log2(e)) and r reduced in two
// fused steps (ln2 split into a short high part and a low part), exp(r) by
// its degree-7 Taylor polynomial in Horner form with fused multiply-adds
// (|r| <= 0.35: the truncation error is below 2^-27), times 2^n built from
// the exponent bits. Every step is one correctly rounded operation, so the
// scalar, AVX2 and AVX-512 code agree; it is within a few units in the last
// place of the exact value, and a NaN stays NaN.
#pragma once

// NOLINTBEGIN(misc-definitions-in-headers)

// ==================================================================== attention

constexpr float kExpMin = -87.0f;
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;        // 355 / 512: n * kLn2Hi is exact
constexpr float kLn2Lo = -2.12194440e-4f;     // ln2 - kLn2Hi
constexpr float kExpC[8] = {1.0f, 1.0f, 1.0f / 2, 1.0f / 6, 1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040};
constexpr int kSumLanes = 16;

inline float exp_scalar(float x) {
  if (x != x) return x;
  if (x < kExpMin) return 0.0f;
  const float n = __builtin_nearbyintf(x * kLog2e);
  float r = fma32(n, -kLn2Hi, x);
  r = fma32(n, -kLn2Lo, r);
  float p = kExpC[7];
  for (int c = 6; c >= 0; --c) p = fma32(p, r, kExpC[c]);
  const std::uint32_t bits = static_cast<std::uint32_t>(static_cast<std::int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

void attn_scores(const float* q, const float* k, std::int64_t k_stride, std::int64_t n, std::int64_t hd, float scale,
                 float* out) {
  const auto* qb = reinterpret_cast<const std::byte*>(q);
  for (std::int64_t j = 0; j < n; ++j) {
    // dot_f reads its first argument as the weights: q . k_j, lane by lane.
    out[j] = dot_f<kF32>(qb, k + j * k_stride, hd) * scale;
  }
}

// The pairwise fold of the 16 double lanes, rounded to float once.
inline float fold_sum(double* lanes) {
  for (int s = kSumLanes / 2; s >= 1; s /= 2)
    for (int i = 0; i < s; ++i) lanes[i] = lanes[i] + lanes[i + s];
  return static_cast<float>(lanes[0]);
}

#if GPT_ISA_LEVEL == 0

float exp_sum(float* x, std::int64_t n, float max) {
  double lanes[kSumLanes] = {};
  for (std::int64_t j = 0; j < n; ++j) {
    x[j] = exp_scalar(x[j] - max);
    lanes[j % kSumLanes] += static_cast<double>(x[j]);
  }
  return fold_sum(lanes);
}

void attn_accumulate(const float* p, const float* v, std::int64_t v_stride, std::int64_t n, std::int64_t hd,
                     float* out) {
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t d = 0; d < hd; ++d) out[d] = fma32(p[j], v[j * v_stride + d], out[d]);
}

#elif GPT_ISA_LEVEL == 1

inline __m256 exp8(__m256 x) {
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-kLn2Hi), x);
  r = _mm256_fmadd_ps(n, _mm256_set1_ps(-kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kExpC[7]);
  for (int c = 6; c >= 0; --c) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpC[c]));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  // x < kExpMin (also -inf) gives 0; NaN compares false and stays NaN.
  return _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_set1_ps(kExpMin), _CMP_LT_OQ), y);
}

float exp_sum(float* x, std::int64_t n, float max) {
  const __m256 m = _mm256_set1_ps(max);
  __m256d l0 = _mm256_setzero_pd(), l1 = l0, l2 = l0, l3 = l0;  // lanes 0-3, 4-7, 8-11, 12-15
  std::int64_t j = 0;
  for (; j + kSumLanes <= n; j += kSumLanes) {
    const __m256 a = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), m));
    const __m256 b = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j + 8), m));
    _mm256_storeu_ps(x + j, a);
    _mm256_storeu_ps(x + j + 8, b);
    l0 = _mm256_add_pd(l0, _mm256_cvtps_pd(_mm256_castps256_ps128(a)));
    l1 = _mm256_add_pd(l1, _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)));
    l2 = _mm256_add_pd(l2, _mm256_cvtps_pd(_mm256_castps256_ps128(b)));
    l3 = _mm256_add_pd(l3, _mm256_cvtps_pd(_mm256_extractf128_ps(b, 1)));
  }
  alignas(32) double lanes[kSumLanes];
  _mm256_store_pd(lanes, l0);
  _mm256_store_pd(lanes + 4, l1);
  _mm256_store_pd(lanes + 8, l2);
  _mm256_store_pd(lanes + 12, l3);
  for (; j < n; ++j) {
    x[j] = exp_scalar(x[j] - max);
    lanes[j % kSumLanes] += static_cast<double>(x[j]);
  }
  return fold_sum(lanes);
}

// out[0 .. 8 R) += p_j v_j over the n keys, R registers held across them.
template <int R>
inline void accumulate8(const float* p, const float* v, std::int64_t v_stride, std::int64_t n, float* out) {
  __m256 a[R];
  for (int i = 0; i < R; ++i) a[i] = _mm256_loadu_ps(out + 8 * i);
  for (std::int64_t j = 0; j < n; ++j) {
    const __m256 pj = _mm256_set1_ps(p[j]);
    const float* vj = v + j * v_stride;
    for (int i = 0; i < R; ++i) a[i] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8 * i), a[i]);
  }
  for (int i = 0; i < R; ++i) _mm256_storeu_ps(out + 8 * i, a[i]);
}

void attn_accumulate(const float* p, const float* v, std::int64_t v_stride, std::int64_t n, std::int64_t hd,
                     float* out) {
  std::int64_t d0 = 0;
  for (; d0 + 64 <= hd; d0 += 64) accumulate8<8>(p, v + d0, v_stride, n, out + d0);
  for (; d0 + 8 <= hd; d0 += 8) accumulate8<1>(p, v + d0, v_stride, n, out + d0);
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t d = d0; d < hd; ++d) out[d] = fma32(p[j], v[j * v_stride + d], out[d]);
}

#else  // GPT_ISA_LEVEL == 2

inline __m512 exp16(__m512 x) {
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-kLn2Hi), x);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(-kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kExpC[7]);
  for (int c = 6; c >= 0; --c) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpC[c]));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  const __m512 y = _mm512_mul_ps(p, _mm512_castsi512_ps(e));
  // x < kExpMin (also -inf) gives 0; NaN compares false and stays NaN.
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(kExpMin), _CMP_NLT_UQ), y);
}

float exp_sum(float* x, std::int64_t n, float max) {
  const __m512 m = _mm512_set1_ps(max);
  __m512d lo = _mm512_setzero_pd(), hi = lo;  // lanes 0-7 and 8-15
  std::int64_t j = 0;
  for (; j + kSumLanes <= n; j += kSumLanes) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + j), m));
    _mm512_storeu_ps(x + j, e);
    lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 0)));
    hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)));
  }
  if (j < n) {  // the tail: lanes at or beyond n - j add nothing (masked)
    const __mmask16 k = static_cast<__mmask16>((1u << (n - j)) - 1);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), m));
    _mm512_mask_storeu_ps(x + j, k, e);
    lo = _mm512_mask_add_pd(lo, static_cast<__mmask8>(k), lo, _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 0)));
    hi = _mm512_mask_add_pd(hi, static_cast<__mmask8>(k >> 8), hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)));
  }
  alignas(64) double lanes[kSumLanes];
  _mm512_store_pd(lanes, lo);
  _mm512_store_pd(lanes + 8, hi);
  return fold_sum(lanes);  // s = 8, then 4, 2, 1
}

// out[0 .. 16 R) += p_j v_j over the n keys, R registers held across them.
template <int R>
inline void accumulate16(const float* p, const float* v, std::int64_t v_stride, std::int64_t n, float* out) {
  __m512 a[R];
  for (int i = 0; i < R; ++i) a[i] = _mm512_loadu_ps(out + 16 * i);
  for (std::int64_t j = 0; j < n; ++j) {
    const __m512 pj = _mm512_set1_ps(p[j]);
    const float* vj = v + j * v_stride;
    for (int i = 0; i < R; ++i) a[i] = _mm512_fmadd_ps(pj, _mm512_loadu_ps(vj + 16 * i), a[i]);
  }
  for (int i = 0; i < R; ++i) _mm512_storeu_ps(out + 16 * i, a[i]);
}

void attn_accumulate(const float* p, const float* v, std::int64_t v_stride, std::int64_t n, std::int64_t hd,
                     float* out) {
  std::int64_t d0 = 0;
  for (; d0 + 128 <= hd; d0 += 128) accumulate16<8>(p, v + d0, v_stride, n, out + d0);
  for (; d0 + 64 <= hd; d0 += 64) accumulate16<4>(p, v + d0, v_stride, n, out + d0);
  for (; d0 + 16 <= hd; d0 += 16) accumulate16<1>(p, v + d0, v_stride, n, out + d0);
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t d = d0; d < hd; ++d) out[d] = fma32(p[j], v[j * v_stride + d], out[d]);
}

#endif  // GPT_ISA_LEVEL

// NOLINTEND(misc-definitions-in-headers)
