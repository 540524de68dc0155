// The one decoder forward pass, for every architecture ModelConfig can
// describe, and the Session that owns the KV cache.
//
// Per token row, top to bottom:
//   x = embed(token) * embedding_scale (+ learned or sinusoidal position)
//                                                                [T, d_model]
//   for each layer l (window and rope base from config.layer(l)):
//     h = pre_attn_norm(x)                                       [T, d_model]
//     q, k, v = h Wq^T, h Wk^T, h Wv^T (+ biases; or one fused Wqkv)
//                                    q: [T, n_head*hd]  k, v: [T, n_kv_head*hd]
//     q, k = q_norm(q), k_norm(k) per head (models with q/k norms)
//     rotary(q, k) at positions n_past .. n_past+T-1 (rotary models)
//     K, V caches += k, v                                        [n_past+T, n_kv_head*hd]
//     x += post_attn_norm(MultiHead(q, K, V) Wo^T (+ bo)), causal, windowed,
//          scores soft-capped (models with attention soft-capping)
//                                                                [T, d_model]
//     h = pre_ffn_norm(x)   (parallel residual: of the block's input x)
//     x += post_ffn_norm(down(act(gate(h)) * up(h)) or down(act(up(h))))
//                                                                [T, d_model]
//   logits = norm(x) Wout^T (soft-capped: cap * tanh(logits / cap)) [T, vocab]
//
// A norm the config does not list is the identity.
#include <omp.h>

#include <algorithm>

#include "gpt/error.h"
#include "gpt/ops.h"
#include "gpt/session.h"
#include "kernels/kernels.h"
#include "model/model_data.h"

namespace gpt {

namespace {

using detail::LayerWeights;
using detail::ModelData;
using VecMap = Eigen::Map<const Eigen::VectorXf>;

VecMap vec(const TensorView* t) {
  return t ? VecMap(reinterpret_cast<const float*>(t->data), t->numel()) : VecMap(nullptr, 0);
}

// x W^T + b with W of any supported type, read in place.
RowMatrix project(const RowMatrix& x, const TensorView* w, const TensorView* b, int threads) {
  RowMatrix y(x.rows(), w->rows());
  kernels::matmul(*w, x.data(), x.rows(), y.data(), threads);
  if (b) y.rowwise() += vec(b).transpose();
  return y;
}

RowMatrix norm(const RowMatrix& x, const ModelConfig& c, const TensorView* g, const TensorView* b) {
  if (!g) return x;  // a norm this architecture does not have
  if (c.norm == NormKind::RMSNorm) return ops::rms_norm(x, vec(g), c.norm_eps);
  return ops::layer_norm(x, vec(g), vec(b), c.norm_eps);
}

// Each head_dim-wide head of x [T, n * head_dim] normalized on its own,
// with one weight [head_dim] shared by the heads (q/k norms), in place.
void norm_heads(RowMatrix& x, std::int64_t head_dim, const ModelConfig& c, const TensorView* g) {
  if (!g) return;
  Eigen::Map<RowMatrix> heads(x.data(), x.size() / head_dim, head_dim);  // [T * n, head_dim]
  heads = norm(heads, c, g, nullptr);
}

// cap * tanh(logits / cap), in place, when cap > 0.
void soft_cap(RowMatrix& logits, float cap) {
  if (cap > 0.0f) logits = ((logits.array() / cap).tanh() * cap).matrix();
}

// Rows of a [rows, cols] table of any type.
void gather_rows(const TensorView& t, std::span<const Token> ids, std::int64_t first, RowMatrix& out, bool add) {
  const std::int64_t cols = t.cols();
  const std::size_t row_bytes = dtype_bytes(t.dtype, cols);
  std::vector<float> row(static_cast<std::size_t>(cols));
  for (Eigen::Index r = 0; r < out.rows(); ++r) {
    const std::int64_t id = ids.empty() ? first + r : ids[static_cast<std::size_t>(r)];
    kernels::dequantize_row(t.dtype, t.data + static_cast<std::size_t>(id) * row_bytes, row.data(), cols);
    if (add) out.row(r) += Eigen::Map<const Eigen::RowVectorXf>(row.data(), cols);
    else out.row(r) = Eigen::Map<const Eigen::RowVectorXf>(row.data(), cols);
  }
}

}  // namespace

struct Session::State {
  std::shared_ptr<const Model> model;
  SessionOptions options;
  std::int64_t capacity = 0;
  std::int64_t n_past = 0;
  std::vector<RowMatrix> k_cache, v_cache;  // per layer [allocated rows, n_kv_head*hd]
  std::vector<RowMatrix> attention;         // capture_attention: per layer and head [n_past, n_past]

  // Bytes of K and V caches holding `rows` positions, all layers.
  double cache_bytes(std::int64_t rows) const {
    const auto& c = model->config();
    return 2.0 * static_cast<double>(c.n_layer) * static_cast<double>(rows) *
           static_cast<double>(c.n_kv_head * c.head_dim) * sizeof(float);
  }

  // The largest buffers one forward() call over T tokens allocates, in
  // bytes (an estimate from the shapes; Eigen temporaries come on top):
  // hidden states and projections per row, the logits, and the attention
  // scores of the heads computed at once.
  double scratch_bytes(std::int64_t T) const {
    const auto& c = model->config();
    const double t = static_cast<double>(T);
    const double row = 4.0 * static_cast<double>(c.d_model) + 2.0 * static_cast<double>((c.n_head + 2 * c.n_kv_head) * c.head_dim) +
                       3.0 * static_cast<double>(c.d_ff) + static_cast<double>(c.vocab_size);
    const int threads = options.threads > 0 ? options.threads : omp_get_max_threads();
    const double heads = static_cast<double>(std::min<std::int64_t>(c.n_head, threads));
    return sizeof(float) * (t * row + heads * 2.0 * t * static_cast<double>(n_past + T));
  }

  // Throws InvalidArgument when the cache for `rows` positions plus the
  // scratch of a T-token call exceed the session's memory cap.
  void check_memory(std::int64_t rows, std::int64_t T) const {
    if (options.max_memory_bytes == 0) return;
    double cache = cache_bytes(rows), scratch = scratch_bytes(T);
    if (options.capture_attention) {
      const auto& c = model->config();
      const double n = static_cast<double>(n_past + T);
      cache += sizeof(float) * static_cast<double>(c.n_layer * c.n_head) * n * n;
    }
    if (cache + scratch > static_cast<double>(options.max_memory_bytes)) {
      auto mib = [](double b) { return std::to_string(static_cast<std::uint64_t>(b / (1024.0 * 1024.0))) + " MiB"; };
      throw InvalidArgument("memory cap: " + std::to_string(rows) + " cached positions and " + std::to_string(T) +
                            " new tokens need about " + mib(cache + scratch) + " (KV cache " + mib(cache) +
                            ", scratch " + mib(scratch) + "), more than max_memory_bytes = " +
                            mib(static_cast<double>(options.max_memory_bytes)) +
                            "; use a shorter context or prompt batch, or raise the cap");
    }
  }

  // Stores one layer's per-head probabilities [T, n_past + T] as rows
  // n_past.. of the [n_past + T, n_past + T] maps.
  void keep_attention(std::size_t layer, const std::vector<RowMatrix>& probs, std::int64_t T) {
    const std::int64_t n = n_past + T;
    const std::size_t heads = probs.size();
    if (attention.size() < (layer + 1) * heads) attention.resize(static_cast<std::size_t>(model->config().n_layer) * heads);
    for (std::size_t h = 0; h < heads; ++h) {
      RowMatrix& m = attention[layer * heads + h];
      m.conservativeResizeLike(RowMatrix::Zero(n, n));
      m.block(n_past, 0, T, n) = probs[h];
    }
  }

  void reserve(std::int64_t rows) {
    const auto& c = model->config();
    if (!k_cache.empty() && k_cache[0].rows() >= rows) return;
    const std::int64_t have = k_cache.empty() ? 0 : k_cache[0].rows();
    std::int64_t want = std::min(capacity, std::max({rows, 2 * have, std::int64_t{64}}));
    // Growth by doubling never takes the cache past the cap on its own.
    if (options.max_memory_bytes != 0 && cache_bytes(want) > static_cast<double>(options.max_memory_bytes)) {
      const double fit = static_cast<double>(options.max_memory_bytes) / cache_bytes(1);
      want = std::max(rows, static_cast<std::int64_t>(std::min(fit, static_cast<double>(want))));
    }
    const std::int64_t width = c.n_kv_head * c.head_dim;
    k_cache.resize(static_cast<std::size_t>(c.n_layer));
    v_cache.resize(static_cast<std::size_t>(c.n_layer));
    for (auto* cache : {&k_cache, &v_cache})
      for (auto& m : *cache) m.conservativeResize(want, width);
  }

  // Runs tokens through the decoder; returns the final hidden states after
  // the output norm, [T, d_model] (only the last row when last_only).
  RowMatrix run(std::span<const Token> tokens, bool last_only) {
    const ModelData& m = model->data();
    const ModelConfig& c = m.config;
    const std::int64_t T = static_cast<std::int64_t>(tokens.size());
    if (T == 0) throw InvalidArgument("forward: no tokens given");
    for (Token id : tokens)
      if (id < 0 || id >= c.vocab_size)
        throw InvalidArgument("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                              std::to_string(c.vocab_size) + ")");
    if (n_past + T > capacity)
      throw InvalidArgument("context overflow: " + std::to_string(n_past) + " tokens in the cache + " +
                            std::to_string(T) + " new > context length " + std::to_string(capacity));
    check_memory(std::max(n_past + T, k_cache.empty() ? std::int64_t{0} : k_cache[0].rows()), T);
    reserve(n_past + T);
    const int threads = options.threads;

    RowMatrix x(T, c.d_model);  // [T, d_model]
    gather_rows(*m.token_embd, tokens, 0, x, false);
    if (c.embedding_scale != 1.0f) x *= c.embedding_scale;
    if (c.position == PositionKind::Learned) gather_rows(*m.position_embd, {}, n_past, x, true);
    if (c.position == PositionKind::Sinusoidal) x += ops::sinusoidal_positions(n_past, T, c.d_model);

    const std::int64_t hd = c.head_dim, q_w = c.n_head * hd, kv_w = c.n_kv_head * hd;
    const ops::AttentionShape shape{c.n_head, c.n_kv_head, hd, c.attention_scale, c.attn_logit_softcap};
    for (std::size_t l = 0; l < m.layers.size(); ++l) {
      const LayerWeights& L = m.layers[l];
      const LayerConfig lc = c.layer(static_cast<std::int64_t>(l));
      RowMatrix h = norm(x, c, L.attn_norm, L.attn_norm_b);
      RowMatrix q, k, v;
      if (L.wqkv) {
        const RowMatrix qkv = project(h, L.wqkv, L.bqkv, threads);  // [T, q_w + 2 kv_w]
        q = qkv.leftCols(q_w);
        k = qkv.middleCols(q_w, kv_w);
        v = qkv.rightCols(kv_w);
      } else {
        q = project(h, L.wq, L.bq, threads);  // [T, n_head*hd]
        k = project(h, L.wk, L.bk, threads);  // [T, n_kv_head*hd]
        v = project(h, L.wv, L.bv, threads);
      }
      norm_heads(q, hd, c, L.q_norm);
      norm_heads(k, hd, c, L.k_norm);
      if (c.position == PositionKind::Rotary) {
        RopeConfig rope = c.rope;
        rope.theta = lc.rope_theta;
        if (!lc.rope_scaled) {
          rope.freq_factors.clear();
          rope.freq_scale = rope.attn_factor = 1.0f;
        }
        ops::apply_rope(q, c.n_head, hd, n_past, rope);
        ops::apply_rope(k, c.n_kv_head, hd, n_past, rope);
      }
      RowMatrix& K = k_cache[l];
      RowMatrix& V = v_cache[l];
      K.middleRows(n_past, T) = k;
      V.middleRows(n_past, T) = v;
      std::vector<RowMatrix> probs;
      const RowMatrix attn = ops::multi_head_attention(q, K.topRows(n_past + T), V.topRows(n_past + T), shape,
                                                       /*causal=*/true, n_past, lc.sliding_window,
                                                       threads > 0 ? threads : omp_get_max_threads(),
                                                       options.capture_attention ? &probs : nullptr);
      if (options.capture_attention) keep_attention(l, probs, T);
      if (c.parallel_residual) {  // the MLP reads the block's input too
        h = norm(x, c, L.ffn_norm, L.ffn_norm_b);
        x += norm(project(attn, L.wo, L.bo, threads), c, L.post_attn_norm, nullptr);
      } else {
        x += norm(project(attn, L.wo, L.bo, threads), c, L.post_attn_norm, nullptr);
        h = norm(x, c, L.ffn_norm, L.ffn_norm_b);
      }
      RowMatrix up = project(h, L.w_up, L.b_up, threads);  // [T, d_ff]
      if (L.w_gate) {
        RowMatrix gate = project(h, L.w_gate, L.b_gate, threads);  // [T, d_ff]
        ops::activate(gate, c.activation);
        up.array() *= gate.array();
      } else {
        ops::activate(up, c.activation);
      }
      x += norm(project(up, L.w_down, L.b_down, threads), c, L.post_ffn_norm, nullptr);
    }
    n_past += T;
    if (last_only) return norm(x.bottomRows(1), c, m.output_norm, m.output_norm_b);
    return norm(x, c, m.output_norm, m.output_norm_b);
  }
};

Session::Session(std::shared_ptr<const Model> model, const SessionOptions& options)
    : s_(std::make_unique<State>()) {
  if (!model) throw InvalidArgument("Session: model is null");
  const auto& c = model->config();
  if (options.context_length < 0) throw InvalidArgument("Session: context_length must not be negative");
  s_->capacity = options.context_length > 0 ? options.context_length : c.max_seq_len;
  if (c.position == PositionKind::Learned && s_->capacity > c.max_seq_len)
    throw InvalidArgument("Session: context_length " + std::to_string(s_->capacity) +
                          " exceeds the model's " + std::to_string(c.max_seq_len) + " learned positions");
  s_->model = std::move(model);
  s_->options = options;
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

RowMatrix Session::forward(std::span<const Token> tokens) {
  const RowMatrix h = s_->run(tokens, false);
  const auto& m = s_->model->data();
  RowMatrix logits = project(h, m.output, nullptr, s_->options.threads);  // [T, vocab]
  soft_cap(logits, m.config.final_logit_softcap);
  return logits;
}

Eigen::VectorXf Session::forward_last(std::span<const Token> tokens) {
  const RowMatrix h = s_->run(tokens, true);
  const auto& m = s_->model->data();
  RowMatrix logits = project(h, m.output, nullptr, s_->options.threads);  // [1, vocab]
  soft_cap(logits, m.config.final_logit_softcap);
  return logits.row(0).transpose();
}

std::int64_t Session::position() const noexcept { return s_->n_past; }
std::int64_t Session::context_length() const noexcept { return s_->capacity; }
void Session::reset() noexcept {
  s_->n_past = 0;
  s_->attention.clear();
}
void Session::truncate(std::int64_t n_tokens) {
  if (n_tokens < 0 || n_tokens > s_->n_past)
    throw InvalidArgument("truncate: " + std::to_string(n_tokens) + " is outside [0, " + std::to_string(s_->n_past) + "]");
  s_->n_past = n_tokens;
  for (RowMatrix& m : s_->attention) m.conservativeResize(n_tokens, n_tokens);
}
const std::vector<RowMatrix>& Session::attention() const noexcept { return s_->attention; }
const Model& Session::model() const noexcept { return *s_->model; }

std::vector<Token> greedy_generate(Session& session, std::span<const Token> prompt, std::int64_t max_new_tokens,
                                   std::span<const Token> stop_tokens) {
  std::vector<Token> out;
  if (max_new_tokens <= 0) return out;
  Eigen::VectorXf logits = session.forward_last(prompt);
  for (;;) {
    Eigen::Index best = 0;
    logits.maxCoeff(&best);  // first maximum on ties, as torch.argmax
    const Token t = static_cast<Token>(best);
    out.push_back(t);
    if (static_cast<std::int64_t>(out.size()) >= max_new_tokens ||
        std::find(stop_tokens.begin(), stop_tokens.end(), t) != stop_tokens.end())
      break;
    logits = session.forward_last(std::span<const Token>(&t, 1));
  }
  return out;
}

}  // namespace gpt
