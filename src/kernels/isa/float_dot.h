// Part of kernels_isa.cpp, included once per instruction-set level inside its
// anonymous namespace (GPT_ISA_LEVEL, the helpers and the intrinsics headers
// come from there): F32 / F16 / BF16 dot products in the 64-lane order of
// kernels/half.h, and exact conversion to f32.
#pragma once

// NOLINTBEGIN(misc-definitions-in-headers)

constexpr int kLanes = 64;
enum Elem { kF32, kF16, kBF16 };

#if GPT_ISA_LEVEL >= 1
template <Elem T>
constexpr std::size_t kElemBytes = T == kF32 ? 4 : 2;
#endif

template <Elem T>
inline float load_elem(const std::byte* w, std::int64_t i) {
  if constexpr (T == kF32) {
    float f;
    std::memcpy(&f, w + 4 * i, 4);
    return f;
  } else {
    std::uint16_t h;
    std::memcpy(&h, w + 2 * i, 2);
    if constexpr (T == kF16) {
#if GPT_ISA_LEVEL >= 1
      return _cvtsh_ss(h);
#else
      return f16_to_f32(h);
#endif
    } else {
      const std::uint32_t b = static_cast<std::uint32_t>(h) << 16;
      float f;
      std::memcpy(&f, &b, 4);
      return f;
    }
  }
}

// Elements [i0, n) into their lanes, one fused multiply-add each.
template <Elem T>
inline void accumulate_scalar(const std::byte* w, const float* x, std::int64_t i0, std::int64_t n, float* lanes) {
  for (std::int64_t i = i0; i < n; ++i) lanes[i % kLanes] = fma32(load_elem<T>(w, i), x[i], lanes[i % kLanes]);
}

// The pairwise fold of the 64 lanes: lane j += lane j + s, s = 32 ... 1.
inline float fold_lanes(float* lanes) {
  for (int s = kLanes / 2; s >= 1; s /= 2)
    for (int j = 0; j < s; ++j) lanes[j] = lanes[j] + lanes[j + s];
  return lanes[0];
}

// The pairwise fold of 16 lanes: lane j += lane j + s, s = 8, 4, 2, 1.
inline float fold16(float* a) {
  for (int s = 8; s >= 1; s /= 2)
    for (int j = 0; j < s; ++j) a[j] = a[j] + a[j + s];
  return a[0];
}

#if GPT_ISA_LEVEL == 0

template <Elem T>
float dot_f(const std::byte* w, const float* x, std::int64_t n) {
  float lanes[kLanes] = {};
  accumulate_scalar<T>(w, x, 0, n, lanes);
  return fold_lanes(lanes);
}

template <Elem T>
void convert_f(const std::byte* w, float* dst, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = load_elem<T>(w, i);
}

#endif

#if GPT_ISA_LEVEL >= 1

// Lanes 0-7 folded: 4, 2, 1.
inline float fold8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

#endif

#if GPT_ISA_LEVEL == 1

template <Elem T>
inline __m256 load8(const std::byte* p) {
  if constexpr (T == kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if constexpr (T == kF16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

template <Elem T>
float dot_f(const std::byte* w, const float* x, std::int64_t n) {
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

template <Elem T>
void convert_f(const std::byte* w, float* dst, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8<T>(w + static_cast<std::size_t>(i) * kElemBytes<T>));
  for (; i < n; ++i) dst[i] = load_elem<T>(w, i);
}

#endif  // GPT_ISA_LEVEL == 1

#if GPT_ISA_LEVEL == 2

template <Elem T>
inline __m512 load16(const std::byte* p) {
  if constexpr (T == kF32) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(p));
  } else {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    if constexpr (T == kF16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

template <Elem T>
float dot_f(const std::byte* w, const float* x, std::int64_t n) {
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

template <Elem T>
void convert_f(const std::byte* w, float* dst, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(dst + i, load16<T>(w + static_cast<std::size_t>(i) * kElemBytes<T>));
  for (; i < n; ++i) dst[i] = load_elem<T>(w, i);
}

#endif  // GPT_ISA_LEVEL == 2
// NOLINTEND(misc-definitions-in-headers)
