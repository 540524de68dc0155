// LayerNorm and RMSNorm.
#include <cmath>

#include "gpt/error.h"
#include "gpt/ops.h"

namespace gpt::ops {

RowMatrix layer_norm(const Eigen::Ref<const RowMatrix>& x, const Eigen::Ref<const Eigen::VectorXf>& gamma,
                     const Eigen::Ref<const Eigen::VectorXf>& beta, float eps) {
  if (gamma.size() != x.cols() || (beta.size() != 0 && beta.size() != x.cols()))
    throw InvalidArgument("layer_norm: gamma/beta size differs from the row width");
  RowMatrix y(x.rows(), x.cols());
  const float n = static_cast<float>(x.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const float mean = x.row(r).sum() / n;
    const float var = (x.row(r).array() - mean).square().sum() / n;  // biased, as PyTorch
    const float inv = 1.0f / std::sqrt(var + eps);
    y.row(r) = ((x.row(r).array() - mean) * inv) * gamma.transpose().array();
    if (beta.size() != 0) y.row(r) += beta.transpose();
  }
  return y;
}

RowMatrix rms_norm(const Eigen::Ref<const RowMatrix>& x, const Eigen::Ref<const Eigen::VectorXf>& gamma,
                   float eps) {
  if (gamma.size() != x.cols()) throw InvalidArgument("rms_norm: gamma size differs from the row width");
  RowMatrix y(x.rows(), x.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const float ms = x.row(r).squaredNorm() / static_cast<float>(x.cols());
    const float inv = 1.0f / std::sqrt(ms + eps);
    y.row(r) = (x.row(r).array() * inv) * gamma.transpose().array();
  }
  return y;
}

}  // namespace gpt::ops
