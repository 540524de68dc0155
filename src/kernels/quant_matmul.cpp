// Matmul over block-quantized weights read in place.
//
// Each activation row is quantized once to 8-bit blocks (XBlock32 for the
// 32-element types, XBlockK for the 256-element K-quants). A weight row is then
// a sequence of integer dot products between weight blocks and activation
// blocks, scaled by the product of the two block scales:
//   Q8_0:  sum wd*xd * sum(wq*xq)
//   Q4_1:  sum wd*xd * sum(q*xq) + wm*xs               (Q5_1 likewise; xs ~= xd*sum(xq))
//   Q4_K:  sum over sub-blocks j: d*xd*sc_j*sum(q*xq) - dmin*xd*m_j*sum(xq)
//   Q6_K:  sum over sub-blocks j: d*xd*sc_j*(sum(q*xq) - 32*sum(xq))
//   Q4_0:  sum wd*xd * sum((q-8)*xq)                   (Q5_0 likewise with 16)
// Every level computes the same integer sums and adds them up in the same
// fixed order (kernels/isa/kernels_isa.cpp): the results have the same bits
// on every level, for any thread count and any token tiling.
//
// The kernels themselves (activation quantization and the dot products of
// every type) live in kernels/isa/kernels_isa.cpp, built once per
// instruction-set level; this file picks them and splits the work.
#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "gpt/error.h"
#include "kernels/isa.h"
#include "kernels/kernels.h"
#include "kernels/parallel.h"
#include "kernels/quant.h"

namespace gpt::kernels {

namespace {

using isa::kSmallTile;
using isa::kTokenTile;
using isa::XBlock32;
using isa::XBlockK;

int quant_index(DType t) {
  switch (t) {
    case DType::Q8_0: return isa::kQ8_0;
    case DType::Q4_0: return isa::kQ4_0;
    case DType::Q4_1: return isa::kQ4_1;
    case DType::Q5_0: return isa::kQ5_0;
    case DType::Q5_1: return isa::kQ5_1;
    case DType::Q4_K: return isa::kQ4_K;
    case DType::Q5_K: return isa::kQ5_K;
    default: return isa::kQ6_K;
  }
}

}  // namespace

void matmul_quant(const TensorView& w, const float* x, std::int64_t n_tokens, float* y, int threads,
                  QuantPath path) {
  const TensorView* ws[] = {&w};
  float* ys[] = {y};
  matmul_quant_shared(ws, x, n_tokens, ys, threads, path);
}

bool quant_shares_input(std::span<const TensorView* const> ws) noexcept {
  if (ws.empty() || !is_quantized(ws[0]->dtype) || ws[0]->shape.size() != 2) return false;
  const bool k0 = dtype_info(ws[0]->dtype).block_elems == 256;
  for (const TensorView* w : ws)
    if (!is_quantized(w->dtype) || w->shape.size() != 2 || w->cols() != ws[0]->cols() ||
        (dtype_info(w->dtype).block_elems == 256) != k0)
      return false;
  return true;
}

void matmul_quant_shared(std::span<const TensorView* const> ws, const float* x, std::int64_t n_tokens,
                         std::span<float* const> ys, int threads, QuantPath path) {
  if (ws.empty() || ws.size() != ys.size()) throw InvalidArgument("matmul: one output per weight");
  for (const TensorView* w : ws) {
    if (!is_quantized(w->dtype))
      throw InvalidArgument("matmul_quant: weight '" + w->name + "' has type " + std::string(dtype_name(w->dtype)) +
                            ", which is not block-quantized");
    if (w->shape.size() != 2) throw InvalidArgument("matmul: weight '" + w->name + "' is not 2-D");
    if (dtype_bytes(w->dtype, w->cols()) * static_cast<std::size_t>(w->rows()) > w->nbytes)  // throws unless whole blocks
      throw InvalidArgument("matmul: weight '" + w->name + "' holds fewer bytes than its shape needs");
  }
  if (!quant_shares_input(ws))
    throw InvalidArgument("matmul: weight '" + ws[0]->name +
                          "' and the others given with it differ in row length or activation blocks");
  if (n_tokens < 0) throw InvalidArgument("matmul: negative token count");
  const std::int64_t in = ws[0]->cols();
  const bool k_quant = dtype_info(ws[0]->dtype).block_elems == 256;
  if (n_tokens == 0) return;

  const std::int64_t nb = in / dtype_info(ws[0]->dtype).block_elems;
  const std::size_t xstride = static_cast<std::size_t>(nb) * (k_quant ? sizeof(XBlockK) : sizeof(XBlock32));
  std::vector<std::byte> xq(static_cast<std::size_t>(n_tokens) * xstride);
  // The block scales of each full token tile, token-minor (see isa/table.h):
  // tile i's xd at side[i * 2 * nb * kTokenTile], its xs right after.
  const std::int64_t full_tiles = n_tokens / kTokenTile;
  const std::size_t side_stride = static_cast<std::size_t>(2 * nb * kTokenTile);
  std::vector<float> side(k_quant ? 0 : static_cast<std::size_t>(full_tiles) * side_stride);
  const isa::Table& tab = isa_table(path);
  // Tiles of kRowTile weight rows (kept hot in L1 while tokens stream past),
  // numbered across the weights in order: weight i's tiles start at first[i].
  const std::int64_t kRowTile = 16;
  std::vector<std::int64_t> first(ws.size() + 1, 0);
  for (std::size_t i = 0; i < ws.size(); ++i) first[i + 1] = first[i] + (ws[i]->rows() + kRowTile - 1) / kRowTile;
  const std::int64_t n_tiles = first.back();
  if (n_tiles == 0) return;
  // Every activation row is quantized before any tile reads it.
  parallel_for(n_tokens > 1 ? threads : 1, n_tokens, [&](std::int64_t t0, std::int64_t t1) {
    for (std::int64_t t = t0; t < t1; ++t) {
      std::byte* dst = xq.data() + static_cast<std::size_t>(t) * xstride;
      if (k_quant)
        tab.quantize_k(x + t * in, nb, reinterpret_cast<XBlockK*>(dst));
      else
        tab.quantize_32(x + t * in, nb, reinterpret_cast<XBlock32*>(dst));
      if (!k_quant && t < full_tiles * kTokenTile) {
        const auto* xb = reinterpret_cast<const XBlock32*>(dst);
        float* xd = side.data() + static_cast<std::size_t>(t / kTokenTile) * side_stride + t % kTokenTile;
        float* xs = xd + nb * kTokenTile;
        for (std::int64_t b = 0; b < nb; ++b) {
          xd[b * kTokenTile] = xb[b].d;
          xs[b * kTokenTile] = xb[b].s;
        }
      }
    }
  });
  parallel_for(threads, n_tiles, [&](std::int64_t g0, std::int64_t g1) {
    for (std::int64_t g = g0; g < g1; ++g) {
      const auto wi = static_cast<std::size_t>(std::upper_bound(first.begin(), first.end(), g) - first.begin() - 1);
      const TensorView& w = *ws[wi];
      float* y = ys[wi];
      const std::int64_t out = w.rows();
      const std::size_t row_bytes = dtype_bytes(w.dtype, in);
      const isa::QuantKernels kern = tab.quant[quant_index(w.dtype)];
      const std::int64_t o0 = (g - first[wi]) * kRowTile, o1 = std::min(out, o0 + kRowTile);
      float r[kTokenTile];
      std::int64_t t = 0;
      for (; t + kTokenTile <= n_tokens; t += kTokenTile) {
        const std::byte* xt = xq.data() + static_cast<std::size_t>(t) * xstride;
        const float* xd = k_quant ? nullptr : side.data() + static_cast<std::size_t>(t / kTokenTile) * side_stride;
        const float* xs = k_quant ? nullptr : xd + nb * kTokenTile;
        for (std::int64_t o = o0; o < o1; ++o) {
          kern.tile(w.data + static_cast<std::size_t>(o) * row_bytes, xt, xstride, xd, xs, nb, r);
          for (int k = 0; k < kTokenTile; ++k) y[(t + k) * out + o] = r[k];
        }
      }
      for (; t + kSmallTile <= n_tokens; t += kSmallTile) {  // a remainder of 4 to 7 tokens
        const std::byte* xt = xq.data() + static_cast<std::size_t>(t) * xstride;
        for (std::int64_t o = o0; o < o1; ++o) {
          kern.small(w.data + static_cast<std::size_t>(o) * row_bytes, xt, xstride, nb, r);
          for (int k = 0; k < kSmallTile; ++k) y[(t + k) * out + o] = r[k];
        }
      }
      for (; t < n_tokens; ++t) {
        const std::byte* xt = xq.data() + static_cast<std::size_t>(t) * xstride;
        for (std::int64_t o = o0; o < o1; ++o) kern.one(w.data + static_cast<std::size_t>(o) * row_bytes, xt, 0, nb, &y[t * out + o]);
      }
    }
  });
}

}  // namespace gpt::kernels
