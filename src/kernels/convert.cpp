#include <bit>
#include <cstring>

#include "gpt/error.h"
#include "kernels/kernels.h"

namespace gpt::kernels {

float f16_to_f32(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0x1f) {  // inf / nan
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {  // normal
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {  // zero
    bits = sign;
  } else {  // subnormal: normalise
    exp = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    mant &= 0x3ffu;
    bits = sign | (exp << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

float bf16_to_f32(std::uint16_t h) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

std::uint16_t f32_to_bf16(float f) noexcept {
  std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40);  // quiet nan
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>(x >> 16);
}

std::uint16_t f32_to_f16(float f) noexcept {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return sign | 0x7e00u;           // nan
  if (ax >= 0x477ff000u) return sign | 0x7c00u;          // overflow (>= 65520) -> inf
  if (ax < 0x33000001u) return sign;                     // underflow to zero
  int exp = static_cast<int>(ax >> 23) - 127;
  std::uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
  int shift;
  std::uint32_t base;
  if (exp < -14) {  // subnormal half
    shift = -exp - 14 + 13;
    base = 0;
  } else {
    shift = 13;
    base = static_cast<std::uint32_t>(exp + 15) << 10;
    mant &= 0x7fffffu;
  }
  const std::uint32_t half = 1u << (shift - 1);
  const std::uint32_t rem = mant & ((1u << shift) - 1);
  std::uint32_t q = mant >> shift;
  if (rem > half || (rem == half && (q & 1u))) ++q;
  return static_cast<std::uint16_t>(sign | (base + q));  // carry rolls into exponent correctly
}

}  // namespace gpt::kernels
