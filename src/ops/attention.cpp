// Scaled dot-product and multi-head attention.
#include <cmath>
#include <limits>

#include "gpt/error.h"
#include "gpt/ops.h"
#include "kernels/omp_exceptions.h"

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

RowMatrix scaled_dot_product_attention(const Eigen::Ref<const RowMatrix>& q,
                                       const Eigen::Ref<const RowMatrix>& k,
                                       const Eigen::Ref<const RowMatrix>& v, bool causal,
                                       std::int64_t q_offset, float scale, std::int64_t window) {
  if (q.cols() != k.cols()) throw InvalidArgument("attention: Q and K head dims differ");
  if (k.rows() != v.rows()) throw InvalidArgument("attention: K and V lengths differ");
  if (scale <= 0.0f) scale = 1.0f / std::sqrt(static_cast<float>(q.cols()));
  RowMatrix scores = (q * k.transpose()) * scale;  // [Tq, Tk]
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
  return scores * v;
}

RowMatrix multi_head_attention(const Eigen::Ref<const RowMatrix>& q,
                               const Eigen::Ref<const RowMatrix>& k,
                               const Eigen::Ref<const RowMatrix>& v, const AttentionShape& s,
                               bool causal, std::int64_t q_offset, std::int64_t window, int threads) {
  if (s.n_head <= 0 || s.n_kv_head <= 0 || s.head_dim <= 0 || s.n_head % s.n_kv_head != 0)
    throw InvalidArgument("multi_head_attention: n_head must be a positive multiple of n_kv_head");
  if (q.cols() != s.n_head * s.head_dim || k.cols() != s.n_kv_head * s.head_dim ||
      v.cols() != s.n_kv_head * s.head_dim)
    throw InvalidArgument("multi_head_attention: input widths do not match the head counts");
  const std::int64_t group = s.n_head / s.n_kv_head;
  const std::int64_t hd = s.head_dim;
  RowMatrix out(q.rows(), s.n_head * hd);
  // Each head writes its own columns; a head is worth a thread only when
  // there is more than a row or two of work.
  const bool parallel = threads > 1 && q.rows() * k.rows() >= 256;
  kernels::OmpExceptions errors;  // (allocations inside may throw)
#pragma omp parallel for num_threads(threads) schedule(static) if (parallel)
  for (std::int64_t h = 0; h < s.n_head; ++h) {
    errors.capture([&] {
      const std::int64_t kv = h / group;
      out.middleCols(h * hd, hd) =
          scaled_dot_product_attention(q.middleCols(h * hd, hd), k.middleCols(kv * hd, hd),
                                       v.middleCols(kv * hd, hd), causal, q_offset, s.scale, window);
    });
  }
  errors.rethrow();
  return out;
}

}  // namespace gpt::ops
