// The transformer's building blocks over Eigen matrices.
//
// Conventions: activations are RowMatrix, one row per token ([T, d]). Weights
// of linear layers are [out, in] as in PyTorch, so y = x W^T + b. All
// functions are pure (no hidden state, no globals) and thread-compatible.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <span>

#include "gpt/config.h"
#include "gpt/types.h"

namespace gpt {

namespace ops {

// --- embeddings and positions ------------------------------------------------

// Rows of `table` [vocab, d] for each token: [tokens.size(), d].
// Throws InvalidArgument for an id outside [0, vocab).
RowMatrix embed(const Eigen::Ref<const RowMatrix>& table, std::span<const Token> tokens);

// Sinusoidal encoding of "Attention Is All You Need" for positions
// [start, start + n): PE(p, 2i) = sin(p / 10000^(2i/d)),
// PE(p, 2i+1) = cos(p / 10000^(2i/d)). Returns [n, d]; d must be even.
RowMatrix sinusoidal_positions(std::int64_t start, std::int64_t n, std::int64_t d,
                               float base = 10000.0f);

// Rotary embedding, in place, on x = [T, n_heads * head_dim] whose row t is at
// absolute position start + t. Rotates the first rope.rotary_dim dims of
// each head (all when 0) with inverse frequencies theta^(-2i/rotary_dim),
// pairing dims as rope.layout says.
void apply_rope(Eigen::Ref<RowMatrix> x, std::int64_t n_heads, std::int64_t head_dim,
                std::int64_t start, const RopeConfig& rope);

// --- norms -------------------------------------------------------------------

// (x - mean) / sqrt(var + eps) * gamma + beta, per row (beta may be empty).
RowMatrix layer_norm(const Eigen::Ref<const RowMatrix>& x, const Eigen::Ref<const Eigen::VectorXf>& gamma,
                     const Eigen::Ref<const Eigen::VectorXf>& beta, float eps);
// x / sqrt(mean(x^2) + eps) * gamma, per row.
RowMatrix rms_norm(const Eigen::Ref<const RowMatrix>& x, const Eigen::Ref<const Eigen::VectorXf>& gamma,
                   float eps);

// --- attention ---------------------------------------------------------------

// softmax(Q K^T * scale + mask) V for one head. Q [Tq, dk], K [Tk, dk],
// V [Tk, dv]. With causal, query i sits at absolute position
// q_offset + i and sees keys 0 .. q_offset + i (keys are positions 0..Tk-1);
// with window > 0 only the last `window` of those. scale <= 0 means
// 1 / sqrt(dk). softcap > 0 caps the scaled scores to
// softcap * tanh(scores / softcap) before the mask (Gemma 2). Returns [Tq, dv].
// The attention probabilities alone: softmax(Q K^T * scale + mask), [Tq, Tk]
// (rows of masked-out keys hold 0).
RowMatrix attention_probabilities(const Eigen::Ref<const RowMatrix>& q, const Eigen::Ref<const RowMatrix>& k,
                                  bool causal, std::int64_t q_offset = 0, float scale = 0.0f, std::int64_t window = 0,
                                  float softcap = 0.0f);
RowMatrix scaled_dot_product_attention(const Eigen::Ref<const RowMatrix>& q,
                                       const Eigen::Ref<const RowMatrix>& k,
                                       const Eigen::Ref<const RowMatrix>& v, bool causal,
                                       std::int64_t q_offset = 0, float scale = 0.0f,
                                       std::int64_t window = 0, float softcap = 0.0f);

struct AttentionShape {
  std::int64_t n_head = 1;     // query heads
  std::int64_t n_kv_head = 1;  // key/value heads; n_head must be a multiple
  std::int64_t head_dim = 0;
  float scale = 0.0f;          // softmax scale of Q K^T; <= 0 means 1 / sqrt(head_dim)
  float softcap = 0.0f;        // > 0: scaled scores become softcap * tanh(scores / softcap)
};

// Multi-head attention over already-projected inputs: Q [Tq, n_head*hd],
// K and V [Tk, n_kv_head*hd] (heads side by side in each row). Query head h
// uses key/value head h / (n_head / n_kv_head) (grouped-query; 1 kv head is
// multi-query). Returns Concat(head_1..head_h) = [Tq, n_head*hd]; the output
// projection W^O is the caller's linear(). Heads are computed on up to
// `threads` threads (the result does not depend on the count).
// probabilities (optional) receives each query head's attention
// probabilities, n_head matrices [Tq, Tk].
RowMatrix multi_head_attention(const Eigen::Ref<const RowMatrix>& q,
                               const Eigen::Ref<const RowMatrix>& k,
                               const Eigen::Ref<const RowMatrix>& v, const AttentionShape& shape,
                               bool causal, std::int64_t q_offset = 0, std::int64_t window = 0,
                               int threads = 1, std::vector<RowMatrix>* probabilities = nullptr);

// Keys and values of consecutive positions stored in blocks (the pages of a
// KV cache): `rows` positions, each row n_kv_head * head_dim floats (heads
// side by side), rows k_stride / v_stride floats apart.
struct KvBlock {
  const float* k = nullptr;
  const float* v = nullptr;
  std::int64_t rows = 0;
  std::int64_t k_stride = 0;
  std::int64_t v_stride = 0;
};

// One query head over keys and values held in blocks (positions 0.. in
// block order): q_h [Tq, head_dim] is query head `head`, which reads
// key/value head head / (n_head / n_kv_head) of every block; out_h
// [Tq, head_dim] receives softmax(q_h K^T * scale + mask) V. Masking and
// soft-capping as multi_head_attention. probabilities (optional) receives
// the [Tq, Tk] probabilities. Each query row is computed on its own, over
// only the keys it may see, in fixed orders (the run-time kernels of
// src/kernels/isa/attention.h): its result depends only on its query and
// those keys, not on the other rows, the block sizes, the thread count or the
// CPU's instruction set.
void attention_head(const Eigen::Ref<const RowMatrix>& q_h, std::span<const KvBlock> blocks, std::int64_t head,
                    const AttentionShape& shape, bool causal, std::int64_t q_offset, std::int64_t window,
                    Eigen::Ref<RowMatrix> out_h, RowMatrix* probabilities = nullptr);

// multi_head_attention over keys and values held in blocks.
RowMatrix multi_head_attention(const Eigen::Ref<const RowMatrix>& q, std::span<const KvBlock> blocks,
                               const AttentionShape& shape, bool causal, std::int64_t q_offset = 0,
                               std::int64_t window = 0, int threads = 1,
                               std::vector<RowMatrix>* probabilities = nullptr);

// --- linear layers and MLP ---------------------------------------------------

// x W^T + b (b may be empty).
RowMatrix linear(const Eigen::Ref<const RowMatrix>& x, const Eigen::Ref<const RowMatrix>& w,
                 const Eigen::Ref<const Eigen::VectorXf>& b);

// Element-wise activations, in place.
void gelu_tanh(Eigen::Ref<RowMatrix> x);  // 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))
void gelu_erf(Eigen::Ref<RowMatrix> x);   // 0.5x(1 + erf(x / sqrt 2))
void silu(Eigen::Ref<RowMatrix> x);       // x * sigmoid(x)
void relu(Eigen::Ref<RowMatrix> x);
void activate(Eigen::Ref<RowMatrix> x, Activation a);

// Two-layer MLP: act(x W1^T + b1) W2^T + b2.
RowMatrix mlp(const Eigen::Ref<const RowMatrix>& x, const Eigen::Ref<const RowMatrix>& w1,
              const Eigen::Ref<const Eigen::VectorXf>& b1, const Eigen::Ref<const RowMatrix>& w2,
              const Eigen::Ref<const Eigen::VectorXf>& b2, Activation a);

// Gated MLP (SwiGLU when a = SiLU): (act(x Wg^T) * (x Wu^T)) Wd^T.
RowMatrix gated_mlp(const Eigen::Ref<const RowMatrix>& x, const Eigen::Ref<const RowMatrix>& w_gate,
                    const Eigen::Ref<const RowMatrix>& w_up, const Eigen::Ref<const RowMatrix>& w_down,
                    Activation a);

// Softmax of each row, in place (numerically stable).
void softmax_rows(Eigen::Ref<RowMatrix> x);

}  // namespace ops
}  // namespace gpt
