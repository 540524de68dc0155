#include "gpt/config.h"

#include <cmath>
#include <limits>

#include "gpt/error.h"

namespace gpt {

void ModelConfig::validate() const {
  auto fail = [&](const std::string& what) {
    throw UnsupportedModel("model config (" + architecture + "): " + what);
  };
  // Sizes are bounded so that every product the decoder forms (row widths,
  // tensor element counts, cache sizes) fits in int64 without overflow;
  // anything larger than any real model is refused here, before a loader
  // sizes per-layer storage from it.
  auto at_most = [&](std::int64_t v, std::int64_t limit, const char* what) {
    if (v > limit) fail(std::string(what) + " " + std::to_string(v) + " exceeds " + std::to_string(limit));
  };
  at_most(vocab_size, std::numeric_limits<std::int32_t>::max(), "vocab_size");  // ids are int32
  at_most(d_model, kMaxDimension, "hidden size");
  at_most(n_layer, kMaxDimension, "layer count");
  at_most(n_head, kMaxDimension, "head count");
  at_most(n_kv_head, kMaxDimension, "kv head count");
  at_most(head_dim, kMaxDimension, "head_dim");
  at_most(d_ff, kMaxDimension, "MLP size");
  at_most(max_seq_len, kMaxDimension, "context length");
  if (vocab_size <= 0) fail("vocab_size must be positive");
  if (d_model <= 0) fail("hidden size must be positive");
  if (n_layer <= 0) fail("layer count must be positive");
  if (n_head <= 0 || n_kv_head <= 0) fail("head counts must be positive");
  if (n_head % n_kv_head != 0)
    fail("n_head (" + std::to_string(n_head) + ") is not a multiple of n_kv_head (" +
         std::to_string(n_kv_head) + ")");
  if (head_dim <= 0) fail("head_dim must be positive");
  at_most(n_head * head_dim, kMaxDimension, "n_head * head_dim");  // both <= 2^31: no overflow
  at_most(n_kv_head * head_dim, kMaxDimension, "n_kv_head * head_dim");
  if (d_ff <= 0) fail("MLP size must be positive");
  if (max_seq_len <= 0) fail("context length must be positive");
  if (!(norm_eps > 0.0f) || !std::isfinite(norm_eps)) fail("norm epsilon must be positive and finite");
  if (position == PositionKind::Rotary) {
    const auto rd = rope.rotary_dim > 0 ? rope.rotary_dim : head_dim;
    if (rd % 2 != 0 || rd > head_dim || rope.rotary_dim < 0) fail("rotary_dim must be even and at most head_dim");
    if (!(rope.theta > 0.0f) || !std::isfinite(rope.theta)) fail("rope theta must be positive and finite");
    if (!rope.freq_factors.empty() && static_cast<std::int64_t>(rope.freq_factors.size()) != rd / 2)
      fail("rope frequency factors: " + std::to_string(rope.freq_factors.size()) + " entries for " +
           std::to_string(rd / 2) + " rotary pairs");
    for (float f : rope.freq_factors)
      if (!(f > 0.0f) || !std::isfinite(f)) fail("rope frequency factors must be positive and finite");
    if (!(rope.freq_scale > 0.0f) || !std::isfinite(rope.freq_scale)) fail("rope frequency scale must be positive and finite");
    if (!(rope.attn_factor > 0.0f) || !std::isfinite(rope.attn_factor)) fail("rope attention factor must be positive and finite");
  }
  if (position == PositionKind::Sinusoidal && d_model % 2 != 0) fail("sinusoidal positions need an even hidden size");
  if (sliding_window < 0) fail("sliding_window must not be negative");
  if (!layers.empty() && static_cast<std::int64_t>(layers.size()) != n_layer)
    fail("per-layer config has " + std::to_string(layers.size()) + " entries for " + std::to_string(n_layer) + " layers");
  for (std::size_t l = 0; l < layers.size(); ++l) {
    if (layers[l].sliding_window < 0) fail("layer " + std::to_string(l) + ": sliding window must not be negative");
    if (!(layers[l].rope_theta >= 0.0f) || !std::isfinite(layers[l].rope_theta))
      fail("layer " + std::to_string(l) + ": rope theta must be positive and finite");
  }
  auto finite = [&](float v, const char* what, bool positive) {
    if (!std::isfinite(v) || (positive ? !(v > 0.0f) : v < 0.0f)) fail(std::string(what) + " must be finite and " +
                                                                         (positive ? "positive" : "not negative"));
  };
  finite(norm_weight_offset, "norm weight offset", false);
  finite(attention_scale, "attention scale", false);
  finite(embedding_scale, "embedding scale", true);
  finite(final_logit_softcap, "final logit soft-capping", false);
  finite(attn_logit_softcap, "attention logit soft-capping", false);
}

}  // namespace gpt
