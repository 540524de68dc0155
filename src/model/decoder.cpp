// The one decoder forward pass, for every architecture ModelConfig can
// describe, over one or several sequences (decoder.h), and the Session that
// runs it on one sequence.
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
//     K, V caches += k, v     (the sequence's pages, kv_cache.h) [n_past+T, n_kv_head*hd]
//     x += post_attn_norm(MultiHead(q, K, V) Wo^T (+ bo)), causal, windowed,
//          scores soft-capped (models with attention soft-capping)
//                                                                [T, d_model]
//     h = pre_ffn_norm(x)   (parallel residual: of the block's input x)
//     x += post_ffn_norm(down(act(gate(h)) * up(h)) or down(act(up(h))))
//                                                                [T, d_model]
//   logits = norm(x) Wout^T (soft-capped: cap * tanh(logits / cap)) [T, vocab]
//
// A norm the config does not list is the identity.
#include <algorithm>
#include <array>

#include "gpt/error.h"
#include "gpt/ops.h"
#include "gpt/session.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "kernels/parallel.h"
#include "model/decoder.h"
#include "model/model_data.h"

namespace gpt {

namespace {

using detail::LayerWeights;
using detail::ModelData;
using VecMap = Eigen::Map<const Eigen::VectorXf>;

VecMap vec(const TensorView* t) {
  return t ? VecMap(reinterpret_cast<const float*>(t->data), t->numel()) : VecMap(nullptr, 0);
}

// Rows of a forward pass that one matmul call computes: a run of one-token
// items (row by row) or one longer item.
struct Group {
  Eigen::Index row = 0, rows = 0;
  bool rowwise = false;
};

// Query rows [row, row + rows) of one item's head: a unit of attention work.
struct AttnUnit {
  std::size_t item = 0;
  std::int64_t head = 0, row = 0, rows = 0;
};

// x W^T + b with W of any supported type, read in place. Block-quantized
// weights give every row the same bits in one call; float weights are
// called per group (the GEMM of a long item depends on its row count).
RowMatrix project(const RowMatrix& x, const TensorView* w, const TensorView* b, int threads,
                  std::span<const Group> groups) {
  RowMatrix y(x.rows(), w->rows());
  if (groups.size() <= 1 || kernels::is_quantized(w->dtype)) {
    const bool rowwise = groups.size() == 1 && groups[0].rowwise;
    kernels::matmul(*w, x.data(), x.rows(), y.data(), threads, rowwise);
  } else {
    for (const Group& g : groups)
      kernels::matmul(*w, x.row(g.row).data(), g.rows, y.row(g.row).data(), threads, g.rowwise);
  }
  if (b) y.rowwise() += vec(b).transpose();
  return y;
}

// project() for several weights over the same x (Q, K, V; gate, up): with
// block-quantized weights x is quantized once and one parallel region
// computes them all, with the bits of separate calls.
template <std::size_t N>
std::array<RowMatrix, N> project_shared(const RowMatrix& x, const std::array<const TensorView*, N>& ws,
                                        const std::array<const TensorView*, N>& bs, int threads,
                                        std::span<const Group> groups) {
  std::array<RowMatrix, N> ys;
  if (!kernels::quant_shares_input(ws)) {
    for (std::size_t i = 0; i < N; ++i) ys[i] = project(x, ws[i], bs[i], threads, groups);
    return ys;
  }
  std::array<float*, N> out{};
  for (std::size_t i = 0; i < N; ++i) {
    ys[i].resize(x.rows(), ws[i]->rows());
    out[i] = ys[i].data();
  }
  kernels::matmul_quant_shared(ws, x.data(), x.rows(), out, threads);
  for (std::size_t i = 0; i < N; ++i)
    if (bs[i]) ys[i].rowwise() += vec(bs[i]).transpose();
  return ys;
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
void gather_rows(const TensorView& t, std::span<const Token> ids, std::int64_t first, Eigen::Ref<RowMatrix> out,
                 bool add) {
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

namespace detail {

RowMatrix forward(const ModelData& m, KvPool& pool, std::span<ForwardItem> items, int threads) {
  const ModelConfig& c = m.config;
  if (items.empty()) throw InvalidArgument("forward: no sequences given");
  // Rows, groups and validation.
  std::vector<Eigen::Index> first(items.size());
  std::vector<Group> groups;
  Eigen::Index T = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const ForwardItem& it = items[i];
    if (it.tokens.empty()) throw InvalidArgument("forward: no tokens given");
    for (Token id : it.tokens)
      if (id < 0 || id >= c.vocab_size)
        throw InvalidArgument("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                              std::to_string(c.vocab_size) + ")");
    const auto n = static_cast<Eigen::Index>(it.tokens.size());
    if (static_cast<std::int64_t>(it.seq->pages.size()) * kPageTokens < it.seq->length + n)
      throw InvalidArgument("forward: the KV cache pages were not reserved");
    first[i] = T;
    if (n == 1 && !groups.empty() && groups.back().rowwise && groups.back().row + groups.back().rows == T)
      ++groups.back().rows;
    else
      groups.push_back({T, n, n == 1});
    T += n;
  }
  if (threads <= 0) threads = kernels::default_threads();
  std::int64_t work = 0;  // query rows x keys, for deciding whether attention is worth threads
  for (const ForwardItem& it : items) {
    const auto n = static_cast<std::int64_t>(it.tokens.size());
    work += n * (it.seq->length + n);
  }

  RowMatrix x(T, c.d_model);  // [T, d_model]
  for (std::size_t i = 0; i < items.size(); ++i) {
    const ForwardItem& it = items[i];
    const auto n = static_cast<Eigen::Index>(it.tokens.size());
    auto rows = x.middleRows(first[i], n);
    gather_rows(*m.token_embd, it.tokens, 0, rows, false);
    if (c.embedding_scale != 1.0f) rows *= c.embedding_scale;
    if (c.position == PositionKind::Learned) gather_rows(*m.position_embd, {}, it.seq->length, rows, true);
    if (c.position == PositionKind::Sinusoidal) rows += ops::sinusoidal_positions(it.seq->length, n, c.d_model);
  }

  const std::int64_t hd = c.head_dim, q_w = c.n_head * hd, kv_w = c.n_kv_head * hd;
  const ops::AttentionShape shape{c.n_head, c.n_kv_head, hd, c.attention_scale, c.attn_logit_softcap};
  std::vector<std::vector<ops::KvBlock>> blocks(items.size());
  std::vector<AttnUnit> units;
  for (std::size_t l = 0; l < m.layers.size(); ++l) {
    const LayerWeights& L = m.layers[l];
    const LayerConfig lc = c.layer(static_cast<std::int64_t>(l));
    RowMatrix h = norm(x, c, L.attn_norm, L.attn_norm_b);
    RowMatrix q, k, v;
    if (L.wqkv) {
      const RowMatrix qkv = project(h, L.wqkv, L.bqkv, threads, groups);  // [T, q_w + 2 kv_w]
      q = qkv.leftCols(q_w);
      k = qkv.middleCols(q_w, kv_w);
      v = qkv.rightCols(kv_w);
    } else {
      auto [q_, k_, v_] = project_shared<3>(h, {L.wq, L.wk, L.wv}, {L.bq, L.bk, L.bv}, threads, groups);
      q = std::move(q_);  // [T, n_head*hd]
      k = std::move(k_);  // [T, n_kv_head*hd]
      v = std::move(v_);
    }
    norm_heads(q, hd, c, L.q_norm);
    norm_heads(k, hd, c, L.k_norm);
    RopeConfig rope;
    if (c.position == PositionKind::Rotary) {
      rope = c.rope;
      rope.theta = lc.rope_theta;
      if (!lc.rope_scaled) {
        rope.freq_factors.clear();
        rope.freq_scale = rope.attn_factor = 1.0f;
      }
    }
    // Per item: positions, then K and V into its pages.
    for (std::size_t i = 0; i < items.size(); ++i) {
      const ForwardItem& it = items[i];
      const auto n = static_cast<Eigen::Index>(it.tokens.size());
      const std::int64_t past = it.seq->length;
      if (c.position == PositionKind::Rotary) {
        ops::apply_rope(q.middleRows(first[i], n), c.n_head, hd, past, rope);
        ops::apply_rope(k.middleRows(first[i], n), c.n_kv_head, hd, past, rope);
      }
      for (Eigen::Index r = 0; r < n; ++r) {
        const std::int64_t pos = past + r;
        const std::int32_t page = it.seq->pages[static_cast<std::size_t>(pos / kPageTokens)];
        const std::int64_t row = pos % kPageTokens;
        std::copy_n(k.row(first[i] + r).data(), kv_w, pool.k(page, static_cast<std::int64_t>(l)) + row * kv_w);
        std::copy_n(v.row(first[i] + r).data(), kv_w, pool.v(page, static_cast<std::int64_t>(l)) + row * kv_w);
      }
      auto& b = blocks[i];
      b.clear();
      for (std::int64_t p = 0, total = past + n; p * kPageTokens < total; ++p) {
        const std::int32_t page = it.seq->pages[static_cast<std::size_t>(p)];
        b.push_back({pool.k(page, static_cast<std::int64_t>(l)), pool.v(page, static_cast<std::int64_t>(l)),
                     std::min(kPageTokens, total - p * kPageTokens), kv_w, kv_w});
      }
      if (it.attention) {
        const std::size_t heads = static_cast<std::size_t>(c.n_head);
        if (it.attention->size() < (l + 1) * heads) it.attention->resize((l + 1) * heads);
      }
    }
    // Attention: units of up to kAttnRows query rows of one (item, head)
    // pair, each on one thread (a row's result depends on nothing but its own
    // query and keys, so neither the split nor the thread count changes it).
    // An item whose attention maps are asked for keeps each head in one unit.
    constexpr std::int64_t kAttnRows = 16;
    RowMatrix attn(T, q_w);
    units.clear();
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto n = static_cast<std::int64_t>(items[i].tokens.size());
      const std::int64_t step = items[i].attention ? n : kAttnRows;
      for (std::int64_t head = 0; head < c.n_head; ++head)
        for (std::int64_t r = 0; r < n; r += step) units.push_back({i, head, r, std::min(step, n - r)});
    }
    const auto n_units = static_cast<std::int64_t>(units.size());
    const bool parallel = threads > 1 && n_units > 1 && work >= 256;
    kernels::parallel_for(parallel ? threads : 1, n_units, [&](std::int64_t u0, std::int64_t u1) {
      for (std::int64_t u = u0; u < u1; ++u) {
        const AttnUnit& a = units[static_cast<std::size_t>(u)];
        const ForwardItem& it = items[a.item];
        RowMatrix* probs = it.attention ? &(*it.attention)[l * static_cast<std::size_t>(c.n_head) + static_cast<std::size_t>(a.head)] : nullptr;
        const Eigen::Index row0 = first[a.item] + a.row;
        ops::attention_head(q.block(row0, a.head * hd, a.rows, hd), blocks[a.item], a.head, shape, /*causal=*/true,
                            it.seq->length + a.row, lc.sliding_window, attn.block(row0, a.head * hd, a.rows, hd), probs);
      }
    });
    if (c.parallel_residual) {  // the MLP reads the block's input too
      h = norm(x, c, L.ffn_norm, L.ffn_norm_b);
      x += norm(project(attn, L.wo, L.bo, threads, groups), c, L.post_attn_norm, nullptr);
    } else {
      x += norm(project(attn, L.wo, L.bo, threads, groups), c, L.post_attn_norm, nullptr);
      h = norm(x, c, L.ffn_norm, L.ffn_norm_b);
    }
    RowMatrix up;  // [T, d_ff]
    if (L.w_gate) {
      auto [up_, gate] = project_shared<2>(h, {L.w_up, L.w_gate}, {L.b_up, L.b_gate}, threads, groups);
      up = std::move(up_);
      ops::activate(gate, c.activation);
      up.array() *= gate.array();
    } else {
      up = project(h, L.w_up, L.b_up, threads, groups);
      ops::activate(up, c.activation);
    }
    x += norm(project(up, L.w_down, L.b_down, threads, groups), c, L.post_ffn_norm, nullptr);
  }
  // The rows asked for, then the output norm.
  Eigen::Index out_rows = 0;
  for (const ForwardItem& it : items) out_rows += it.all_rows ? static_cast<Eigen::Index>(it.tokens.size()) : 1;
  RowMatrix out(out_rows, c.d_model);
  Eigen::Index r = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    ForwardItem& it = items[i];
    const auto n = static_cast<Eigen::Index>(it.tokens.size());
    if (it.all_rows) {
      out.middleRows(r, n) = x.middleRows(first[i], n);
      r += n;
    } else {
      out.row(r++) = x.row(first[i] + n - 1);
    }
    it.seq->length += n;
  }
  return norm(out, c, m.output_norm, m.output_norm_b);
}

RowMatrix logits(const ModelData& m, const RowMatrix& h, int threads, bool rowwise) {
  RowMatrix y(h.rows(), m.output->rows());  // [rows, vocab]
  kernels::matmul(*m.output, h.data(), h.rows(), y.data(), threads, rowwise);
  soft_cap(y, m.config.final_logit_softcap);
  return y;
}

}  // namespace detail

struct Session::State {
  std::shared_ptr<const Model> model;
  SessionOptions options;
  std::int64_t capacity = 0;
  detail::KvPool pool;
  detail::KvSequence seq;
  std::vector<RowMatrix> attention;  // capture_attention: per layer and head [n_past, n_past]

  State(std::shared_ptr<const Model> m, const SessionOptions& o, std::int64_t cap)
      : model(std::move(m)), options(o), capacity(cap),
        pool(model->config(), detail::KvSequence::pages_for(cap)) {}

  // The largest buffers one forward() call over T tokens allocates, in
  // bytes (an estimate from the shapes; Eigen temporaries come on top):
  // hidden states and projections per row, the logits, and the attention
  // scores of the heads computed at once.
  double scratch_bytes(std::int64_t T) const {
    const auto& c = model->config();
    const double t = static_cast<double>(T);
    const double row = 4.0 * static_cast<double>(c.d_model) + 2.0 * static_cast<double>((c.n_head + 2 * c.n_kv_head) * c.head_dim) +
                       3.0 * static_cast<double>(c.d_ff) + static_cast<double>(c.vocab_size);
    const int threads = options.threads > 0 ? options.threads : kernels::default_threads();
    const double heads = static_cast<double>(std::min<std::int64_t>(c.n_head, threads));
    return sizeof(float) * (t * row + heads * 2.0 * t * static_cast<double>(seq.length + T));
  }

  // Throws InvalidArgument when the cache for `rows` positions plus the
  // scratch of a T-token call exceed the session's memory cap.
  void check_memory(std::int64_t rows, std::int64_t T) const {
    if (options.max_memory_bytes == 0) return;
    double cache = static_cast<double>(detail::KvSequence::pages_for(rows)) * static_cast<double>(pool.page_bytes());
    const double scratch = scratch_bytes(T);
    if (options.capture_attention) {
      const auto& c = model->config();
      const double n = static_cast<double>(seq.length + T);
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

  // Stores one pass's per-layer, per-head probabilities [T, n_past + T] as
  // rows n_past.. of the [n_past + T, n_past + T] maps.
  void keep_attention(const std::vector<RowMatrix>& probs, std::int64_t n_past, std::int64_t T) {
    const std::int64_t n = n_past + T;
    if (attention.size() < probs.size()) attention.resize(probs.size());
    for (std::size_t i = 0; i < probs.size(); ++i) {
      RowMatrix& m = attention[i];
      m.conservativeResizeLike(RowMatrix::Zero(n, n));
      m.block(n_past, 0, T, n) = probs[i];
    }
  }

  // Runs tokens through the decoder; returns the final hidden states after
  // the output norm, [T, d_model] (only the last row when last_only).
  RowMatrix run(std::span<const Token> tokens, bool last_only) {
    const std::int64_t T = static_cast<std::int64_t>(tokens.size());
    if (T == 0) throw InvalidArgument("forward: no tokens given");
    const auto& c = model->config();
    for (Token id : tokens)
      if (id < 0 || id >= c.vocab_size)
        throw InvalidArgument("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                              std::to_string(c.vocab_size) + ")");
    const std::int64_t n_past = seq.length;
    if (n_past + T > capacity)
      throw InvalidArgument("context overflow: " + std::to_string(n_past) + " tokens in the cache + " +
                            std::to_string(T) + " new > context length " + std::to_string(capacity));
    check_memory(n_past + T, T);
    seq.reserve(pool, n_past + T);
    std::vector<RowMatrix> probs;
    detail::ForwardItem item{&seq, tokens, !last_only, options.capture_attention ? &probs : nullptr};
    RowMatrix h = detail::forward(model->data(), pool, std::span<detail::ForwardItem>(&item, 1), options.threads);
    if (options.capture_attention) keep_attention(probs, n_past, T);
    return h;
  }
};

Session::Session(std::shared_ptr<const Model> model, const SessionOptions& options) {
  if (!model) throw InvalidArgument("Session: model is null");
  const auto& c = model->config();
  if (options.context_length < 0) throw InvalidArgument("Session: context_length must not be negative");
  const std::int64_t capacity = options.context_length > 0 ? options.context_length : c.max_seq_len;
  if (c.position == PositionKind::Learned && capacity > c.max_seq_len)
    throw InvalidArgument("Session: context_length " + std::to_string(capacity) +
                          " exceeds the model's " + std::to_string(c.max_seq_len) + " learned positions");
  s_ = std::make_unique<State>(std::move(model), options, capacity);
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

RowMatrix Session::forward(std::span<const Token> tokens) {
  return detail::logits(s_->model->data(), s_->run(tokens, false), s_->options.threads, false);  // [T, vocab]
}

Eigen::VectorXf Session::forward_last(std::span<const Token> tokens) {
  return detail::logits(s_->model->data(), s_->run(tokens, true), s_->options.threads, false).row(0).transpose();
}

std::int64_t Session::position() const noexcept { return s_->seq.length; }
std::int64_t Session::context_length() const noexcept { return s_->capacity; }
void Session::reset() noexcept {
  s_->seq.clear(s_->pool);
  s_->attention.clear();
}
void Session::truncate(std::int64_t n_tokens) {
  if (n_tokens < 0 || n_tokens > s_->seq.length)
    throw InvalidArgument("truncate: " + std::to_string(n_tokens) + " is outside [0, " + std::to_string(s_->seq.length) + "]");
  s_->seq.truncate(s_->pool, n_tokens);
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
