#include "gpt/config.h"

#include "gpt/error.h"

namespace gpt {

void ModelConfig::validate() const {
  auto fail = [&](const std::string& what) {
    throw UnsupportedModel("model config (" + architecture + "): " + what);
  };
  if (vocab_size <= 0) fail("vocab_size must be positive");
  if (d_model <= 0) fail("hidden size must be positive");
  if (n_layer <= 0) fail("layer count must be positive");
  if (n_head <= 0 || n_kv_head <= 0) fail("head counts must be positive");
  if (n_head % n_kv_head != 0)
    fail("n_head (" + std::to_string(n_head) + ") is not a multiple of n_kv_head (" +
         std::to_string(n_kv_head) + ")");
  if (head_dim <= 0) fail("head_dim must be positive");
  if (d_ff <= 0) fail("MLP size must be positive");
  if (max_seq_len <= 0) fail("context length must be positive");
  if (!(norm_eps > 0.0f)) fail("norm epsilon must be positive");
  if (position == PositionKind::Rotary) {
    const auto rd = rope.rotary_dim > 0 ? rope.rotary_dim : head_dim;
    if (rd % 2 != 0 || rd > head_dim) fail("rotary_dim must be even and at most head_dim");
    if (!(rope.theta > 0.0f)) fail("rope theta must be positive");
  }
  if (position == PositionKind::Sinusoidal && d_model % 2 != 0) fail("sinusoidal positions need an even hidden size");
  if (sliding_window < 0) fail("sliding_window must not be negative");
}

}  // namespace gpt
