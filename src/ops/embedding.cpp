// Token embedding and positional encodings.
#include <cmath>
#include <string>

#include "gpt/error.h"
#include "gpt/ops.h"

namespace gpt::ops {

RowMatrix embed(const Eigen::Ref<const RowMatrix>& table, std::span<const Token> tokens) {
  RowMatrix out(static_cast<Eigen::Index>(tokens.size()), table.cols());
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    const Token id = tokens[t];
    if (id < 0 || id >= table.rows())
      throw InvalidArgument("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                            std::to_string(table.rows()) + ")");
    out.row(static_cast<Eigen::Index>(t)) = table.row(id);
  }
  return out;
}

RowMatrix sinusoidal_positions(std::int64_t start, std::int64_t n, std::int64_t d, float base) {
  if (d <= 0 || d % 2 != 0) throw InvalidArgument("sinusoidal_positions: d must be even and positive");
  if (start < 0 || n < 0) throw InvalidArgument("sinusoidal_positions: negative position");
  RowMatrix pe(n, d);
  for (std::int64_t i = 0; i < d / 2; ++i) {
    // Frequencies in double so large positions keep their precision.
    const double inv_freq = std::pow(static_cast<double>(base), -2.0 * static_cast<double>(i) / d);
    for (std::int64_t t = 0; t < n; ++t) {
      const double angle = static_cast<double>(start + t) * inv_freq;
      pe(t, 2 * i) = static_cast<float>(std::sin(angle));
      pe(t, 2 * i + 1) = static_cast<float>(std::cos(angle));
    }
  }
  return pe;
}

void apply_rope(Eigen::Ref<RowMatrix> x, std::int64_t n_heads, std::int64_t head_dim,
                std::int64_t start, const RopeConfig& rope) {
  const std::int64_t rd = rope.rotary_dim > 0 ? rope.rotary_dim : head_dim;
  if (rd > head_dim || rd % 2 != 0)
    throw InvalidArgument("apply_rope: rotary_dim must be even and at most head_dim");
  if (x.cols() != n_heads * head_dim) throw InvalidArgument("apply_rope: x has the wrong width");
  const std::int64_t half = rd / 2;
  // inv_freq[i] = theta^(-2i/rd), computed in f32 as PyTorch does
  // (1.0 / base ** (arange(0, rd, 2).float() / rd)); or, for Iterative, the
  // angle of pair i+1 is that of pair i times theta^(-2/rd), as ggml does.
  if (!rope.freq_factors.empty() && static_cast<std::int64_t>(rope.freq_factors.size()) != half)
    throw InvalidArgument("apply_rope: freq_factors must have rotary_dim / 2 entries");
  const auto factor = [&](std::int64_t i) {
    return rope.freq_factors.empty() ? 1.0f : rope.freq_factors[static_cast<std::size_t>(i)];
  };
  // Scaled (PerFrequency): inv_freq[i] / freq_factors[i], the frequencies
  // transformers computes; (Iterative) ggml's theta / freq_factor * freq_scale.
  std::vector<float> inv_freq(static_cast<std::size_t>(half));
  for (std::int64_t i = 0; i < half; ++i)
    inv_freq[static_cast<std::size_t>(i)] =
        1.0f / std::pow(rope.theta, static_cast<float>(2 * i) / static_cast<float>(rd)) / factor(i);
  const float theta_scale = std::pow(rope.theta, -2.0f / static_cast<float>(rd));
  std::vector<float> cos_t(static_cast<std::size_t>(half)), sin_t(static_cast<std::size_t>(half));
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    const float pos = static_cast<float>(start + t);
    float angle = pos;
    for (std::int64_t i = 0; i < half; ++i) {
      float a = rope.angles == RopeAngles::PerFrequency ? pos * inv_freq[static_cast<std::size_t>(i)]
                                                         : angle / factor(i) * rope.freq_scale;
      if (rope.angles == RopeAngles::PerFrequency && rope.freq_scale != 1.0f) a *= rope.freq_scale;
      cos_t[static_cast<std::size_t>(i)] = std::cos(a) * rope.attn_factor;
      sin_t[static_cast<std::size_t>(i)] = std::sin(a) * rope.attn_factor;
      if (rope.angles == RopeAngles::Iterative) angle *= theta_scale;
    }
    for (std::int64_t h = 0; h < n_heads; ++h) {
      float* v = x.row(t).data() + h * head_dim;
      for (std::int64_t i = 0; i < half; ++i) {
        const std::int64_t a = rope.layout == RopeLayout::HalfSplit ? i : 2 * i;
        const std::int64_t b = rope.layout == RopeLayout::HalfSplit ? i + half : 2 * i + 1;
        const float c = cos_t[static_cast<std::size_t>(i)], s = sin_t[static_cast<std::size_t>(i)];
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x1 * c + x0 * s;
      }
    }
  }
}

}  // namespace gpt::ops
