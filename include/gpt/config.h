// ModelConfig: everything the one generic decoder needs to know about an
// architecture. Loaders fill it from a Hugging Face config.json or from GGUF
// metadata; nothing else in the forward pass depends on the model's name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gpt {

enum class NormKind { LayerNorm, RMSNorm };

enum class PositionKind {
  None,        // no positional information added (tests only)
  Learned,     // absolute, a learned table added to the embeddings (GPT-2)
  Sinusoidal,  // absolute, sin/cos table of "Attention Is All You Need"
  Rotary,      // rotary embedding applied to queries and keys (Llama)
};

// How the rotated dimensions of a head are paired.
enum class RopeLayout {
  HalfSplit,    // (x[i], x[i + d/2]) pairs: Hugging Face Llama, GPT-NeoX
  Interleaved,  // (x[2i], x[2i + 1]) pairs: GPT-J, Meta's original Llama, GGUF llama
};

enum class Activation { GeluTanh, GeluErf, SiLU, ReLU };

// How the rotation angle p * theta^(-2i/d) of pair i at position p is
// computed in f32. The two give the same angles up to rounding; each
// reference implementation uses one, and long generations follow its
// rounding more closely when we do the same.
enum class RopeAngles {
  PerFrequency,  // inv_freq[i] = 1 / theta^(2i/d); angle = p * inv_freq[i] (PyTorch / transformers)
  Iterative,     // angle_0 = p; angle_{i+1} = angle_i * theta^(-2/d) (ggml / llama.cpp)
};

struct RopeConfig {
  float theta = 10000.0f;      // base of the inverse frequencies
  std::int64_t rotary_dim = 0;  // dims of each head that rotate; 0 = whole head
  RopeLayout layout = RopeLayout::HalfSplit;
  RopeAngles angles = RopeAngles::PerFrequency;
};

struct ModelConfig {
  std::string architecture;        // "gpt2", "llama", "qwen2", ... (informational)
  std::int64_t vocab_size = 0;
  std::int64_t d_model = 0;        // hidden size
  std::int64_t n_layer = 0;
  std::int64_t n_head = 0;         // query heads
  std::int64_t n_kv_head = 0;      // key/value heads (== n_head: MHA, 1: MQA, else GQA)
  std::int64_t head_dim = 0;       // usually d_model / n_head
  std::int64_t d_ff = 0;           // MLP hidden size
  std::int64_t max_seq_len = 0;    // context length the model was trained for

  NormKind norm = NormKind::LayerNorm;
  float norm_eps = 1e-5f;
  PositionKind position = PositionKind::Learned;
  RopeConfig rope;
  Activation activation = Activation::GeluTanh;
  bool gated_mlp = false;          // SwiGLU-style: down(act(gate(x)) * up(x))
  bool attn_qkv_bias = false;      // biases on the q/k/v projections
  bool attn_out_bias = false;      // bias on the output projection
  bool mlp_bias = false;           // biases on the MLP projections
  bool norm_bias = true;           // LayerNorm has beta (ignored for RMSNorm)
  bool tied_embeddings = false;    // LM head reuses the token embedding matrix
  std::int64_t sliding_window = 0; // attend only to the last N positions; 0 = all

  // Special tokens as the checkpoint declares them (-1 when absent).
  std::int64_t bos_token_id = -1;
  std::vector<std::int64_t> eos_token_ids;

  // Largest accepted size of any one dimension or row width (d_model,
  // n_layer, head counts, head_dim, d_ff, n_head * head_dim, context).
  static constexpr std::int64_t kMaxDimension = std::int64_t{1} << 31;

  // Throws UnsupportedModel naming the first inconsistent field
  // (e.g. n_head not a multiple of n_kv_head, odd rotary_dim, a size past
  // kMaxDimension, a non-finite epsilon or rope theta).
  void validate() const;
};

}  // namespace gpt
