// Scaled dot-product and multi-head attention.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "gpt/error.h"
#include "gpt/ops.h"
#include "kernels/isa.h"
#include "kernels/parallel.h"

namespace gpt::ops {

void softmax_rows(Eigen::Ref<RowMatrix> x) {
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    auto row = x.row(r).array();
    const float m = row.maxCoeff();
    if (m == -std::numeric_limits<float>::infinity()) {  // fully masked row
      row.setZero();
      continue;
    }
    row = (row - m).exp();
    row /= row.sum();
  }
}

namespace {

// Scaled scores -> probabilities, in place: soft cap, causal / window mask,
// softmax per row. Query row i sits at position q_offset + i.
void mask_and_softmax(RowMatrix& scores, bool causal, std::int64_t q_offset, std::int64_t window, float softcap) {
  if (softcap > 0.0f) scores = ((scores.array() / softcap).tanh() * softcap).matrix();
  if (causal || window > 0) {
    const float neg_inf = -std::numeric_limits<float>::infinity();
    for (Eigen::Index i = 0; i < scores.rows(); ++i) {
      const std::int64_t pos = q_offset + i;
      for (Eigen::Index j = 0; j < scores.cols(); ++j) {
        const bool future = causal && j > pos;
        const bool too_old = window > 0 && pos - j >= window;
        if (future || too_old) scores(i, j) = neg_inf;
      }
    }
  }
  softmax_rows(scores);
}

}  // namespace

RowMatrix attention_probabilities(const Eigen::Ref<const RowMatrix>& q, const Eigen::Ref<const RowMatrix>& k,
                                  bool causal, std::int64_t q_offset, float scale, std::int64_t window, float softcap) {
  if (q.cols() != k.cols()) throw InvalidArgument("attention: Q and K head dims differ");
  if (scale <= 0.0f) scale = 1.0f / std::sqrt(static_cast<float>(q.cols()));
  RowMatrix scores = (q * k.transpose()) * scale;  // [Tq, Tk]
  mask_and_softmax(scores, causal, q_offset, window, softcap);
  return scores;
}

void attention_head(const Eigen::Ref<const RowMatrix>& q_h, std::span<const KvBlock> blocks, std::int64_t head,
                    const AttentionShape& s, bool causal, std::int64_t q_offset, std::int64_t window,
                    Eigen::Ref<RowMatrix> out_h, RowMatrix* probabilities) {
  const std::int64_t hd = s.head_dim;
  if (s.n_head <= 0 || s.n_kv_head <= 0 || hd <= 0 || s.n_head % s.n_kv_head != 0)
    throw InvalidArgument("attention_head: n_head must be a positive multiple of n_kv_head");
  if (head < 0 || head >= s.n_head) throw InvalidArgument("attention_head: head out of range");
  if (q_h.cols() != hd || out_h.cols() != hd || out_h.rows() != q_h.rows())
    throw InvalidArgument("attention_head: Q and output must be [Tq, head_dim]");
  const std::int64_t kv = head / (s.n_head / s.n_kv_head), width = s.n_kv_head * hd;
  std::int64_t n = 0;
  for (const KvBlock& b : blocks) {
    if (b.rows < 0 || (b.rows > 0 && (b.k_stride < width || b.v_stride < width)))
      throw InvalidArgument("attention_head: a KV block is narrower than n_kv_head * head_dim");
    n += b.rows;
  }
  const float scale = s.scale > 0.0f ? s.scale : 1.0f / std::sqrt(static_cast<float>(hd));
  const kernels::isa::Table& kern = kernels::isa_table();
  if (probabilities) probabilities->setZero(q_h.rows(), n);
  // Query row i (position q_offset + i) sees keys [lo, hi): the rest are
  // masked (causal: later positions; window: pos - j >= window). Only those
  // are computed, in the fixed orders of the kernels (kernels/isa/attention.h),
  // so a row's result depends on nothing but its own query and keys.
  std::vector<float> p(static_cast<std::size_t>(n));
  for (Eigen::Index i = 0; i < q_h.rows(); ++i) {
    const std::int64_t pos = q_offset + i;
    const std::int64_t hi = causal ? std::min(n, pos + 1) : n;
    const std::int64_t lo = window > 0 ? std::max<std::int64_t>(0, pos - window + 1) : 0;
    auto out = out_h.row(i);
    out.setZero();
    if (hi <= lo) continue;  // every key masked: zeros
    const float* q = q_h.row(i).data();
    const std::int64_t m = hi - lo;
    std::int64_t c = 0;  // the block's first key
    for (const KvBlock& b : blocks) {
      const std::int64_t j0 = std::max(lo, c), j1 = std::min(hi, c + b.rows);
      if (j0 < j1)
        kern.attn_scores(q, b.k + (j0 - c) * b.k_stride + kv * hd, b.k_stride, j1 - j0, hd, scale, &p[j0 - lo]);
      c += b.rows;
    }
    if (s.softcap > 0.0f)
      for (std::int64_t j = 0; j < m; ++j) p[j] = std::tanh(p[j] / s.softcap) * s.softcap;
    float max = -std::numeric_limits<float>::infinity();
    for (std::int64_t j = 0; j < m; ++j) max = p[j] > max ? p[j] : max;
    if (max == -std::numeric_limits<float>::infinity()) continue;  // every score -inf
    const float sum = kern.exp_sum(p.data(), m, max);
    for (std::int64_t j = 0; j < m; ++j) p[j] /= sum;
    c = 0;
    for (const KvBlock& b : blocks) {
      const std::int64_t j0 = std::max(lo, c), j1 = std::min(hi, c + b.rows);
      if (j0 < j1) kern.attn_accumulate(&p[j0 - lo], b.v + (j0 - c) * b.v_stride + kv * hd, b.v_stride, j1 - j0, hd, out.data());
      c += b.rows;
    }
    if (probabilities) std::copy_n(p.data(), m, probabilities->row(i).data() + lo);
  }
}

RowMatrix scaled_dot_product_attention(const Eigen::Ref<const RowMatrix>& q,
                                       const Eigen::Ref<const RowMatrix>& k,
                                       const Eigen::Ref<const RowMatrix>& v, bool causal,
                                       std::int64_t q_offset, float scale, std::int64_t window, float softcap) {
  if (k.rows() != v.rows()) throw InvalidArgument("attention: K and V lengths differ");
  return attention_probabilities(q, k, causal, q_offset, scale, window, softcap) * v;
}

RowMatrix multi_head_attention(const Eigen::Ref<const RowMatrix>& q, std::span<const KvBlock> blocks,
                               const AttentionShape& s, bool causal, std::int64_t q_offset, std::int64_t window,
                               int threads, std::vector<RowMatrix>* probabilities) {
  if (s.n_head <= 0 || s.n_kv_head <= 0 || s.head_dim <= 0 || s.n_head % s.n_kv_head != 0)
    throw InvalidArgument("multi_head_attention: n_head must be a positive multiple of n_kv_head");
  if (q.cols() != s.n_head * s.head_dim)
    throw InvalidArgument("multi_head_attention: input widths do not match the head counts");
  const std::int64_t hd = s.head_dim;
  std::int64_t keys = 0;
  for (const KvBlock& b : blocks) keys += b.rows;
  RowMatrix out(q.rows(), s.n_head * hd);
  if (probabilities) probabilities->assign(static_cast<std::size_t>(s.n_head), RowMatrix());
  // Each head writes its own columns; a head is worth a thread only when
  // there is more than a row or two of work.
  const bool parallel = threads > 1 && q.rows() * keys >= 256;
  kernels::parallel_for(parallel ? threads : 1, s.n_head, [&](std::int64_t h0, std::int64_t h1) {
    for (std::int64_t h = h0; h < h1; ++h)
      attention_head(q.middleCols(h * hd, hd), blocks, h, s, causal, q_offset, window, out.middleCols(h * hd, hd),
                     probabilities ? &(*probabilities)[static_cast<std::size_t>(h)] : nullptr);
  });
  return out;
}

RowMatrix multi_head_attention(const Eigen::Ref<const RowMatrix>& q,
                               const Eigen::Ref<const RowMatrix>& k,
                               const Eigen::Ref<const RowMatrix>& v, const AttentionShape& s,
                               bool causal, std::int64_t q_offset, std::int64_t window, int threads,
                               std::vector<RowMatrix>* probabilities) {
  if (s.n_head <= 0 || s.n_kv_head <= 0 || s.head_dim <= 0 || s.n_head % s.n_kv_head != 0)
    throw InvalidArgument("multi_head_attention: n_head must be a positive multiple of n_kv_head");
  if (q.cols() != s.n_head * s.head_dim || k.cols() != s.n_kv_head * s.head_dim ||
      v.cols() != s.n_kv_head * s.head_dim)
    throw InvalidArgument("multi_head_attention: input widths do not match the head counts");
  if (k.rows() != v.rows()) throw InvalidArgument("attention: K and V lengths differ");
  const KvBlock block{k.data(), v.data(), k.rows(), k.outerStride(), v.outerStride()};
  return multi_head_attention(q, std::span<const KvBlock>(&block, 1), s, causal, q_offset, window, threads,
                              probabilities);
}

}  // namespace gpt::ops
