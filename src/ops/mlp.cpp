// Linear layers, activations and the two MLP forms.
#include <cmath>
#include <numbers>

#include "gpt/error.h"
#include "gpt/ops.h"

namespace gpt::ops {

RowMatrix linear(const Eigen::Ref<const RowMatrix>& x, const Eigen::Ref<const RowMatrix>& w,
                 const Eigen::Ref<const Eigen::VectorXf>& b) {
  if (x.cols() != w.cols()) throw InvalidArgument("linear: input width differs from the weight's");
  if (b.size() != 0 && b.size() != w.rows()) throw InvalidArgument("linear: bias size differs");
  RowMatrix y = x * w.transpose();
  if (b.size() != 0) y.rowwise() += b.transpose();
  return y;
}

void gelu_tanh(Eigen::Ref<RowMatrix> x) {
  const float k = std::sqrt(2.0f / std::numbers::pi_v<float>);
  x = x.unaryExpr([k](float v) { return 0.5f * v * (1.0f + std::tanh(k * (v + 0.044715f * v * v * v))); });
}

void gelu_erf(Eigen::Ref<RowMatrix> x) {
  x = x.unaryExpr([](float v) { return 0.5f * v * (1.0f + std::erf(v * std::numbers::sqrt2_v<float> / 2.0f)); });
}

void silu(Eigen::Ref<RowMatrix> x) {
  x = x.unaryExpr([](float v) { return v / (1.0f + std::exp(-v)); });
}

void relu(Eigen::Ref<RowMatrix> x) { x = x.cwiseMax(0.0f); }

void activate(Eigen::Ref<RowMatrix> x, Activation a) {
  switch (a) {
    case Activation::GeluTanh: return gelu_tanh(x);
    case Activation::GeluErf: return gelu_erf(x);
    case Activation::SiLU: return silu(x);
    case Activation::ReLU: return relu(x);
  }
}

RowMatrix mlp(const Eigen::Ref<const RowMatrix>& x, const Eigen::Ref<const RowMatrix>& w1,
              const Eigen::Ref<const Eigen::VectorXf>& b1, const Eigen::Ref<const RowMatrix>& w2,
              const Eigen::Ref<const Eigen::VectorXf>& b2, Activation a) {
  RowMatrix h = linear(x, w1, b1);
  activate(h, a);
  return linear(h, w2, b2);
}

RowMatrix gated_mlp(const Eigen::Ref<const RowMatrix>& x, const Eigen::Ref<const RowMatrix>& w_gate,
                    const Eigen::Ref<const RowMatrix>& w_up, const Eigen::Ref<const RowMatrix>& w_down,
                    Activation a) {
  const Eigen::VectorXf none;
  RowMatrix g = linear(x, w_gate, none);
  activate(g, a);
  const RowMatrix u = linear(x, w_up, none);
  g.array() *= u.array();
  return linear(g, w_down, none);
}

}  // namespace gpt::ops
