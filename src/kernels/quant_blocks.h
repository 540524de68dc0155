// Shared helpers for the block-quantized kernels (internal to src/kernels).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#ifdef __F16C__
#include <immintrin.h>
#endif

#include "kernels/kernels.h"

namespace gpt::kernels::quant {

constexpr std::size_t kQ8_0Bytes = 34, kQ4_0Bytes = 18, kQ4_1Bytes = 20, kQ5_0Bytes = 22,
                      kQ5_1Bytes = 24, kQ4_KBytes = 144, kQ5_KBytes = 176, kQ6_KBytes = 210;

inline float half(const std::byte* p) noexcept {
  std::uint16_t h;
  std::memcpy(&h, p, 2);
#ifdef __F16C__
  return _cvtsh_ss(h);  // exact, like f16_to_f32, but one instruction
#else
  return f16_to_f32(h);
#endif
}

inline std::uint32_t u32(const std::byte* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// The eight 6-bit scales and mins of a Q4_K / Q5_K super-block, packed in 12
// bytes: bytes 0-3 hold scales 0-3 (low 6 bits) and the top 2 bits of scales
// 4-7; bytes 4-7 the same for the mins; bytes 8-11 the low 4 bits of scale
// (low nibble) and min (high nibble) 4-7.
inline void unpack_k_scales(const std::uint8_t* s, std::uint8_t sc[8], std::uint8_t mn[8]) noexcept {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 63;
    mn[j] = s[j + 4] & 63;
    sc[j + 4] = static_cast<std::uint8_t>((s[j + 8] & 0x0F) | ((s[j] >> 6) << 4));
    mn[j + 4] = static_cast<std::uint8_t>((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
  }
}

}  // namespace gpt::kernels::quant
