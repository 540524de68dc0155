// Exact dequantization of ggml block types. The expressions and their order
// follow ggml's reference code, and contraction into fused multiply-adds is
// turned off for this file, so results are bit-for-bit ggml's (and the gguf
// Python package's).
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <cstring>
#include <string>

#include "gpt/error.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "kernels/quant_blocks.h"

namespace gpt::kernels {

namespace {

using namespace quant;

void deq_q8_0(const std::byte* src, float* y, std::int64_t nb) {
  for (std::int64_t b = 0; b < nb; ++b, src += kQ8_0Bytes, y += 32) {
    const float d = half(src);
    const auto* q = reinterpret_cast<const std::int8_t*>(src + 2);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(q[j]) * d;
  }
}

void deq_q4_0(const std::byte* src, float* y, std::int64_t nb) {
  for (std::int64_t b = 0; b < nb; ++b, src += kQ4_0Bytes, y += 32) {
    const float d = half(src);
    const auto* q = reinterpret_cast<const std::uint8_t*>(src + 2);
    for (int j = 0; j < 16; ++j) {
      y[j] = d * static_cast<float>((q[j] & 0x0F) - 8);
      y[j + 16] = d * static_cast<float>((q[j] >> 4) - 8);
    }
  }
}

void deq_q4_1(const std::byte* src, float* y, std::int64_t nb) {
  for (std::int64_t b = 0; b < nb; ++b, src += kQ4_1Bytes, y += 32) {
    const float d = half(src), m = half(src + 2);
    const auto* q = reinterpret_cast<const std::uint8_t*>(src + 4);
    for (int j = 0; j < 16; ++j) {
      y[j] = d * static_cast<float>(q[j] & 0x0F) + m;
      y[j + 16] = d * static_cast<float>(q[j] >> 4) + m;
    }
  }
}

void deq_q5_0(const std::byte* src, float* y, std::int64_t nb) {
  for (std::int64_t b = 0; b < nb; ++b, src += kQ5_0Bytes, y += 32) {
    const float d = half(src);
    const std::uint32_t qh = u32(src + 2);
    const auto* q = reinterpret_cast<const std::uint8_t*>(src + 6);
    for (int j = 0; j < 16; ++j) {
      const int lo = (q[j] & 0x0F) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int hi = (q[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
      y[j] = d * static_cast<float>(lo - 16);
      y[j + 16] = d * static_cast<float>(hi - 16);
    }
  }
}

void deq_q5_1(const std::byte* src, float* y, std::int64_t nb) {
  for (std::int64_t b = 0; b < nb; ++b, src += kQ5_1Bytes, y += 32) {
    const float d = half(src), m = half(src + 2);
    const std::uint32_t qh = u32(src + 4);
    const auto* q = reinterpret_cast<const std::uint8_t*>(src + 8);
    for (int j = 0; j < 16; ++j) {
      const int lo = (q[j] & 0x0F) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int hi = (q[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
      y[j] = d * static_cast<float>(lo) + m;
      y[j + 16] = d * static_cast<float>(hi) + m;
    }
  }
}

void deq_q4_k(const std::byte* src, float* y, std::int64_t nb) {
  for (std::int64_t b = 0; b < nb; ++b, src += kQ4_KBytes) {
    const float d = half(src), dmin = half(src + 2);
    const auto* scales = reinterpret_cast<const std::uint8_t*>(src + 4);
    const auto* q = reinterpret_cast<const std::uint8_t*>(src + 16);
    std::uint8_t sc[8], mn[8];
    unpack_k_scales(scales, sc, mn);
    for (int c = 0; c < 4; ++c, q += 32) {
      const float d1 = d * static_cast<float>(sc[2 * c]), m1 = dmin * static_cast<float>(mn[2 * c]);
      const float d2 = d * static_cast<float>(sc[2 * c + 1]), m2 = dmin * static_cast<float>(mn[2 * c + 1]);
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0x0F) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

void deq_q5_k(const std::byte* src, float* y, std::int64_t nb) {
  for (std::int64_t b = 0; b < nb; ++b, src += kQ5_KBytes) {
    const float d = half(src), dmin = half(src + 2);
    const auto* scales = reinterpret_cast<const std::uint8_t*>(src + 4);
    const auto* qh = reinterpret_cast<const std::uint8_t*>(src + 16);
    const auto* q = reinterpret_cast<const std::uint8_t*>(src + 48);
    std::uint8_t sc[8], mn[8];
    unpack_k_scales(scales, sc, mn);
    for (int c = 0; c < 4; ++c, q += 32) {
      const float d1 = d * static_cast<float>(sc[2 * c]), m1 = dmin * static_cast<float>(mn[2 * c]);
      const float d2 = d * static_cast<float>(sc[2 * c + 1]), m2 = dmin * static_cast<float>(mn[2 * c + 1]);
      for (int l = 0; l < 32; ++l)
        *y++ = d1 * static_cast<float>((q[l] & 0x0F) | (((qh[l] >> (2 * c)) & 1) << 4)) - m1;
      for (int l = 0; l < 32; ++l)
        *y++ = d2 * static_cast<float>((q[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4)) - m2;
    }
  }
}

void deq_q6_k(const std::byte* src, float* y, std::int64_t nb) {
  for (std::int64_t b = 0; b < nb; ++b, src += kQ6_KBytes) {
    const auto* ql = reinterpret_cast<const std::uint8_t*>(src);
    const auto* qh = reinterpret_cast<const std::uint8_t*>(src + 128);
    const auto* sc = reinterpret_cast<const std::int8_t*>(src + 192);
    const float d = half(src + 208);
    for (int h = 0; h < 2; ++h, ql += 64, qh += 32, sc += 8, y += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = (d * static_cast<float>(sc[is + 0])) * static_cast<float>(q1);
        y[l + 32] = (d * static_cast<float>(sc[is + 2])) * static_cast<float>(q2);
        y[l + 64] = (d * static_cast<float>(sc[is + 4])) * static_cast<float>(q3);
        y[l + 96] = (d * static_cast<float>(sc[is + 6])) * static_cast<float>(q4);
      }
    }
  }
}

}  // namespace

bool is_quantized(DType t) noexcept {
  switch (t) {
    case DType::Q8_0: case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1:
    case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

void dequantize_quant_row(DType t, const std::byte* src, float* dst, std::int64_t n) {
  const auto& info = dtype_info(t);
  if (!is_quantized(t))
    throw InvalidArgument("dequantize_quant_row: " + std::string(info.name) + " is not a quantized type");
  if (n < 0 || n % info.block_elems != 0)
    throw InvalidArgument("dequantize_row: " + std::to_string(n) + " elements is not a whole number of " +
                          std::string(info.name) + " blocks");
  const std::int64_t nb = n / info.block_elems;
  switch (t) {
    case DType::Q8_0: deq_q8_0(src, dst, nb); break;
    case DType::Q4_0: deq_q4_0(src, dst, nb); break;
    case DType::Q4_1: deq_q4_1(src, dst, nb); break;
    case DType::Q5_0: deq_q5_0(src, dst, nb); break;
    case DType::Q5_1: deq_q5_1(src, dst, nb); break;
    case DType::Q4_K: deq_q4_k(src, dst, nb); break;
    case DType::Q5_K: deq_q5_k(src, dst, nb); break;
    case DType::Q6_K: deq_q6_k(src, dst, nb); break;
    default: break;
  }
}

}  // namespace gpt::kernels
