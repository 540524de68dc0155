// bind_weights: checks a ModelData's canonical tensors against its config and
// fills the per-role pointers the decoder uses. Small vectors (norm weights,
// biases) are converted to f32 here so the decoder can map them directly.
#include <cstring>
#include <set>

#include "gpt/error.h"
#include "kernels/kernels.h"
#include "model/model_data.h"

namespace gpt::detail {

namespace {

struct Binder {
  ModelData& m;
  const std::string& source;
  std::set<std::string, std::less<>> bound;  // canonical names the decoder uses

  // The tensor as the file names it.
  std::string file_name(const std::string& name) const {
    auto it = m.source_names.find(name);
    return it == m.source_names.end() ? name : it->second;
  }

  const TensorView* get(const std::string& name, std::vector<std::int64_t> shape, bool required) {
    auto it = m.tensors.find(name);
    if (it == m.tensors.end()) {
      if (auto u = m.unusable.find(name); u != m.unusable.end())
        throw FormatError(source, "has type " + u->second + ", which the engine cannot compute with", std::nullopt,
                          file_name(name));
      if (required) throw FormatError(source, "missing tensor required by the " + m.config.architecture + " architecture",
                                      std::nullopt, name);
      return nullptr;
    }
    bound.insert(name);
    TensorView& t = it->second;
    if (t.shape != shape) {
      TensorView want;
      want.shape = shape;
      throw FormatError(source, "has shape " + t.shape_string() + ", expected " + want.shape_string(),
                        std::nullopt, file_name(name));
    }
    if (shape.size() == 1 && t.dtype != DType::F32) {  // convert small vectors to f32 once
      auto buf = std::shared_ptr<float[]>(new float[static_cast<std::size_t>(shape[0])]);
      kernels::dequantize_row(t.dtype, t.data, buf.get(), shape[0]);
      t.dtype = DType::F32;
      t.data = reinterpret_cast<const std::byte*>(buf.get());
      t.nbytes = static_cast<std::size_t>(shape[0]) * sizeof(float);
      m.storage.push_back(std::shared_ptr<const void>(buf, buf.get()));
    }
    if (shape.size() == 2 && t.cols() % dtype_info(t.dtype).block_elems != 0)
      throw FormatError(source, "row length is not a multiple of the " + std::string(dtype_name(t.dtype)) +
                        " block size", std::nullopt, file_name(name));
    return &t;
  }

  // A tensor the config announces (a bias, a LayerNorm shift): required when
  // `wanted`, otherwise not read, so that a stray one is refused below.
  const TensorView* get_if(bool wanted, const std::string& name, std::vector<std::int64_t> shape) {
    return wanted ? get(name, std::move(shape), true) : nullptr;
  }

  // A norm weight (required when `wanted`), with config.norm_weight_offset
  // added once here ((1 + w) RMSNorms stored as w).
  const TensorView* norm(bool wanted, const std::string& name, std::int64_t size) {
    const TensorView* g = get_if(wanted, name, {size});
    const float offset = m.config.norm_weight_offset;
    if (!g || offset == 0.0f) return g;
    TensorView& t = m.tensors.find(name)->second;
    auto buf = std::shared_ptr<float[]>(new float[static_cast<std::size_t>(size)]);
    const float* src = reinterpret_cast<const float*>(t.data);
    for (std::int64_t i = 0; i < size; ++i) buf[static_cast<std::size_t>(i)] = src[i] + offset;
    t.data = reinterpret_cast<const std::byte*>(buf.get());
    m.storage.push_back(std::shared_ptr<const void>(buf, buf.get()));
    return &t;
  }
};

// A gated MLP stored as one fused gate-and-up matrix (Phi-3's gate_up_proj;
// its GGUF ffn_up with 2 * d_ff rows and no ffn_gate): the first d_ff rows
// are the gate, the rest the up projection, as transformers' chunk(2) and
// llama.cpp's fused SwiGLU split it. Two views of the same rows.
void split_gate_up(ModelData& m, const std::string& p) {
  const std::int64_t d_ff = m.config.d_ff;
  auto up = m.tensors.find(p + "ffn_up.weight");
  if (up == m.tensors.end() || m.tensors.count(p + "ffn_gate.weight") || up->second.shape.size() != 2 ||
      up->second.shape[0] != 2 * d_ff)
    return;
  const TensorView fused = up->second;
  const std::size_t half = dtype_bytes(fused.dtype, fused.shape[1]) * static_cast<std::size_t>(d_ff);
  if (fused.nbytes != 2 * half) return;  // the shape check below reports it
  TensorView gate = fused, upper = fused;
  gate.name = p + "ffn_gate.weight";
  gate.shape = upper.shape = {d_ff, fused.shape[1]};
  gate.nbytes = upper.nbytes = half;
  upper.data = fused.data + half;
  m.tensors[gate.name] = gate;
  up->second = upper;
  if (auto s = m.source_names.find(p + "ffn_up.weight"); s != m.source_names.end()) m.source_names[gate.name] = s->second;
}

}  // namespace

void bind_weights(ModelData& m, const std::string& source) {
  const ModelConfig& c = m.config;
  c.validate();
  Binder b{m, source, {}};
  const std::int64_t d = c.d_model, hd = c.head_dim;
  const std::int64_t q_out = c.n_head * hd, kv_out = c.n_kv_head * hd;
  const bool ln = c.norm == NormKind::LayerNorm && c.norm_bias;

  m.token_embd = b.get("token_embd.weight", {c.vocab_size, d}, true);
  if (c.position == PositionKind::Learned)
    m.position_embd = b.get("position_embd.weight", {c.max_seq_len, d}, true);
  m.output_norm = b.norm(true, "output_norm.weight", d);
  m.output_norm_b = b.get_if(ln, "output_norm.bias", {d});
  m.output = c.tied_embeddings ? m.token_embd : b.get("output.weight", {c.vocab_size, d}, false);
  // GGUF's rope_freqs.weight: per-pair frequency divisors (llama3 rope
  // scaling, as llama.cpp's converter writes them).
  if (m.tensors.count("rope_freqs.weight")) {
    if (c.position != PositionKind::Rotary)
      throw UnsupportedModel(source + ": tensor 'rope_freqs.weight' in a model without rotary positions");
    if (!c.rope.freq_factors.empty())
      throw UnsupportedModel(source + ": tensor 'rope_freqs.weight' and rope scaling in the config both scale the rope");
    for (const LayerConfig& lc : c.layers)
      if (lc.sliding_window > 0)
        throw UnsupportedModel(source + ": tensor 'rope_freqs.weight' with sliding-window layers is not supported");
    const std::int64_t rd = c.rope.rotary_dim > 0 ? c.rope.rotary_dim : hd;
    const TensorView* t = b.get("rope_freqs.weight", {rd / 2}, true);
    const float* v = reinterpret_cast<const float*>(t->data);
    m.config.rope.freq_factors.assign(v, v + rd / 2);
    c.validate();  // the factors must be positive and finite
  }
  if (!m.output) m.output = m.token_embd;  // checkpoints without an LM head tie it implicitly

  // Per-layer storage is sized from the config: every layer needs tensors of
  // its own, so a layer count the checkpoint cannot back is refused first.
  if (c.n_layer > static_cast<std::int64_t>(m.tensors.size()))
    throw FormatError(source, "the config declares " + std::to_string(c.n_layer) + " layers but the checkpoint holds " +
                      std::to_string(m.tensors.size()) + " tensors in all");
  if (!m.tensors.count("blk." + std::to_string(c.n_layer - 1) + ".attn_norm.weight") &&
      !m.unusable.count("blk." + std::to_string(c.n_layer - 1) + ".attn_norm.weight"))
    throw FormatError(source, "missing tensor required by the " + m.config.architecture + " architecture (the config declares " +
                      std::to_string(c.n_layer) + " layers)", std::nullopt, "blk." + std::to_string(c.n_layer - 1) + ".attn_norm.weight");
  m.layers.assign(static_cast<std::size_t>(c.n_layer), LayerWeights{});
  for (std::int64_t i = 0; i < c.n_layer; ++i) {
    LayerWeights& L = m.layers[static_cast<std::size_t>(i)];
    const std::string p = "blk." + std::to_string(i) + ".";
    L.attn_norm = b.norm(c.norms.pre_attn, p + "attn_norm.weight", d);
    L.attn_norm_b = b.get_if(ln && c.norms.pre_attn, p + "attn_norm.bias", {d});
    if (m.tensors.count(p + "attn_qkv.weight")) {
      L.wqkv = b.get(p + "attn_qkv.weight", {q_out + 2 * kv_out, d}, true);
      L.bqkv = b.get_if(c.attn_qkv_bias, p + "attn_qkv.bias", {q_out + 2 * kv_out});
    } else {
      L.wq = b.get(p + "attn_q.weight", {q_out, d}, true);
      L.wk = b.get(p + "attn_k.weight", {kv_out, d}, true);
      L.wv = b.get(p + "attn_v.weight", {kv_out, d}, true);
      L.bq = b.get_if(c.attn_qkv_bias, p + "attn_q.bias", {q_out});
      L.bk = b.get_if(c.attn_qkv_bias, p + "attn_k.bias", {kv_out});
      L.bv = b.get_if(c.attn_qkv_bias, p + "attn_v.bias", {kv_out});
    }
    L.q_norm = b.norm(c.norms.qk, p + "attn_q_norm.weight", hd);
    L.k_norm = b.norm(c.norms.qk, p + "attn_k_norm.weight", hd);
    L.wo = b.get(p + "attn_output.weight", {d, q_out}, true);
    L.bo = b.get_if(c.attn_out_bias, p + "attn_output.bias", {d});
    L.post_attn_norm = b.norm(c.norms.post_attn, p + "post_attention_norm.weight", d);
    L.ffn_norm = b.norm(c.norms.pre_ffn, p + "ffn_norm.weight", d);
    L.ffn_norm_b = b.get_if(ln && c.norms.pre_ffn, p + "ffn_norm.bias", {d});
    L.post_ffn_norm = b.norm(c.norms.post_ffn, p + "post_ffw_norm.weight", d);
    if (c.gated_mlp) split_gate_up(m, p);
    if (c.gated_mlp) L.w_gate = b.get(p + "ffn_gate.weight", {c.d_ff, d}, true);
    L.w_up = b.get(p + "ffn_up.weight", {c.d_ff, d}, true);
    L.b_up = b.get_if(c.mlp_bias, p + "ffn_up.bias", {c.d_ff});
    L.w_down = b.get(p + "ffn_down.weight", {d, c.d_ff}, true);
    L.b_down = b.get_if(c.mlp_bias, p + "ffn_down.bias", {d});
    if (c.gated_mlp) L.b_gate = b.get_if(c.mlp_bias, p + "ffn_gate.bias", {c.d_ff});
  }
  // A tied checkpoint may still carry its LM head; the decoder reads the
  // embedding for it, as transformers does.
  if (c.tied_embeddings && m.tensors.count("output.weight")) b.bound.insert("output.weight");
  // A tensor the decoder does not read is math the engine would silently
  // skip (a bias, a norm, a scaling table): refuse the checkpoint instead.
  for (const auto& [name, t] : m.tensors)
    if (!b.bound.count(name))
      throw UnsupportedModel(source + ": tensor '" + b.file_name(name) + "' is not used by the engine's " +
                             c.architecture + " decoder (the feature it belongs to is not implemented)");
}

}  // namespace gpt::detail
