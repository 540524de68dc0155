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
  // Rope scaling (longer contexts than the model was trained on), as the
  // reference implementations express it:
  //  - freq_factors: pair i's frequency is divided by freq_factors[i]
  //    (rotary_dim / 2 entries; empty = none). Hugging Face's linear, llama3
  //    and YaRN inverse frequencies; GGUF's rope_freqs tensor (llama3).
  //  - freq_scale: every angle is multiplied by it (GGUF's linear scaling,
  //    1 / factor, as ggml applies it).
  //  - attn_factor: cos and sin are multiplied by it (YaRN's attention factor).
  std::vector<float> freq_factors;
  float freq_scale = 1.0f;
  float attn_factor = 1.0f;
};

// What differs between the layers of one model (Gemma 2/3 interleave
// sliding-window layers, with their own rope base, and global ones).
struct LayerConfig {
  std::int64_t sliding_window = 0;  // attend only to the last N positions; 0 = all
  float rope_theta = 0.0f;          // rope base of this layer; 0 = ModelConfig::rope.theta
  // false: this layer's rope ignores the model's rope scaling (freq_factors,
  // freq_scale, attn_factor): Gemma 3's sliding-window layers.
  bool rope_scaled = true;
};

// Which RMS/LayerNorms a decoder block has, all with the model's NormKind
// and epsilon. Llama: pre-attention and pre-FFN only; Gemma 2/3 add the
// "sandwich" post-norms (applied to the sub-block's output before the
// residual add) and Gemma 3 / Qwen3 an RMSNorm over each query and key head.
struct NormLayout {
  bool pre_attn = true;    // blk.N.attn_norm
  bool post_attn = false;  // blk.N.post_attention_norm
  bool pre_ffn = true;     // blk.N.ffn_norm
  bool post_ffn = false;   // blk.N.post_ffw_norm
  bool qk = false;         // blk.N.attn_q_norm / attn_k_norm, [head_dim], per head, before rotary
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
  std::int64_t sliding_window = 0; // attend only to the last N positions; 0 = all (every layer
                                   // without an entry in `layers`)
  // Per-layer attention window and rope base; empty = every layer uses
  // sliding_window and rope.theta. Either empty or n_layer entries.
  std::vector<LayerConfig> layers;
  NormLayout norms;
  // GPT-NeoX / Pythia: x + attn(attn_norm(x)) + mlp(ffn_norm(x)), both
  // branches reading the block's input, instead of one after the other.
  bool parallel_residual = false;
  // Added to every norm weight as it is loaded: 1 for checkpoints that store
  // w of a (1 + w) RMSNorm (Gemma in Hugging Face form); GGUF files have the
  // 1 added by the converter and use 0.
  float norm_weight_offset = 0.0f;
  // Softmax scale of attention; 0 = 1 / sqrt(head_dim). Gemma:
  // query_pre_attn_scalar^-1/2.
  float attention_scale = 0.0f;
  // Token embeddings are multiplied by this (Gemma: sqrt(d_model), in f32).
  float embedding_scale = 1.0f;
  // Final logits become cap * tanh(logits / cap) when > 0 (Gemma 2).
  float final_logit_softcap = 0.0f;
  // Attention scores (after scaling, before the mask) become
  // cap * tanh(scores / cap) when > 0 (Gemma 2).
  float attn_logit_softcap = 0.0f;

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

  // Layer l's window and rope base, with the model-wide defaults filled in.
  LayerConfig layer(std::int64_t l) const {
    LayerConfig lc = layers.empty() ? LayerConfig{sliding_window, rope.theta} : layers[static_cast<std::size_t>(l)];
    if (lc.rope_theta == 0.0f) lc.rope_theta = rope.theta;
    return lc;
  }
};

}  // namespace gpt
