// GGUF checkpoints: "<arch>.*" metadata -> ModelConfig; tensor names are
// already the canonical ones, so weights bind as they are, in place.
//
// Rotary layout: llama.cpp's converter permutes the rows of Llama's q and k
// projections so that Hugging Face's half-split rotary pairs (i, i + d/2)
// become adjacent pairs (2i, 2i + 1). A GGUF "llama" model therefore runs with
// RopeLayout::Interleaved on its weights as stored; qwen2 is converted without
// the permutation and keeps the half-split layout.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "gpt/error.h"
#include "io/gguf.h"
#include "model/arch.h"
#include "model/loaders.h"

namespace gpt::detail {

namespace {

std::string shortest(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// The value of a metadata entry as text ("none", "1", "true"...), for
// comparing with a GgufKey's neutral value.
std::string value_text(const io::GgufValue& v) {
  if (v.type == io::GgufType::STRING) return v.str;
  if (v.type == io::GgufType::BOOL) return v.b ? "true" : "false";
  if (auto i = v.as_int()) return std::to_string(*i);
  if (auto d = v.as_float()) return shortest(*d);
  return "(" + io::gguf_type_name(v.type) + ")";
}

}  // namespace

std::unique_ptr<ModelData> load_gguf(const std::filesystem::path& path) {
  return load_gguf(std::make_shared<const io::GgufFile>(path.string()));
}

std::unique_ptr<ModelData> load_gguf(std::shared_ptr<const io::GgufFile> gguf) {
  const io::GgufFile& f = *gguf;
  const std::filesystem::path path = f.path();
  const std::string arch = f.get_string("general.architecture");
  const ArchSpec* info = find_gguf_arch(arch);
  if (!info)
    throw UnsupportedModel(path.string() + ": GGUF architecture '" + arch + "' is not supported (" +
                           known_gguf_archs() + " are)");

  auto key = [&](const char* k) { return arch + "." + k; };
  // Every "<arch>.*" key is one this architecture reads, or one whose value
  // leaves the math as it is; anything else (rope scaling, experts, soft-
  // capping, parallel residuals...) is math the engine would skip: refused.
  for (const std::string& k : f.keys()) {
    if (k.size() <= arch.size() + 1 || k.compare(0, arch.size() + 1, arch + ".") != 0) continue;
    const std::string suffix = k.substr(arch.size() + 1);
    auto match = [&](const std::vector<GgufKey>& keys) -> const GgufKey* {
      for (const GgufKey& g : keys)
        if (suffix == g.suffix) return &g;
      return nullptr;
    };
    const GgufKey* g = match(info->gguf_keys);
    if (!g) g = match(kCommonGgufKeys);
    const io::GgufValue& v = *f.find(k);
    if (!g)
      throw UnsupportedModel(path.string() + ": metadata '" + k + "' is not supported by the engine's " + arch +
                             " decoder (the feature it configures is not implemented)");
    if (g->neutral && value_text(v) != g->neutral &&
        !(v.is_float() && v.as_float() && shortest(*v.as_float()) == g->neutral))
      throw UnsupportedModel(path.string() + ": metadata '" + k + "' = " + value_text(v) +
                             " is not supported (only " + g->neutral + ", which changes nothing)");
  }
  auto required_int = [&](const char* k) {
    const std::int64_t v = f.get_int(key(k), -1);
    if (v <= 0) throw FormatError(path.string(), "missing or non-positive metadata '" + key(k) + "'");
    return v;
  };

  // An f32 hyperparameter: a double outside float's range would make the
  // conversion undefined, and a non-finite one is never meaningful.
  auto f32 = [&](const std::string& k, double fallback) {
    const double v = f.get_float(k, fallback);
    if (!std::isfinite(v) || std::fabs(v) > std::numeric_limits<float>::max())
      throw FormatError(path.string(), "metadata '" + k + "' = " + shortest(v) + " is not a finite f32",
                        f.find(k) ? std::optional<std::uint64_t>(f.find(k)->offset) : std::nullopt);
    return static_cast<float>(v);
  };

  auto m = std::make_unique<ModelData>();
  m->path = path;
  ModelConfig& c = m->config;
  c = info->base;
  c.architecture = arch;
  c.d_model = required_int("embedding_length");
  c.n_layer = required_int("block_count");
  c.n_head = required_int("attention.head_count");
  c.n_kv_head = f.get_int(key("attention.head_count_kv"), c.n_head);
  c.head_dim = f.get_int(key("attention.key_length"), c.d_model / c.n_head);
  if (f.get_int(key("attention.value_length"), c.head_dim) != c.head_dim)
    throw UnsupportedModel(path.string() + ": metadata '" + key("attention.value_length") +
                           "' differs from the key length (not supported)");
  c.d_ff = required_int("feed_forward_length");
  c.max_seq_len = required_int("context_length");
  c.norm_eps = info->base.norm == NormKind::RMSNorm ? f32(key("attention.layer_norm_rms_epsilon"), info->base.norm_eps)
                                                    : f32(key("attention.layer_norm_epsilon"), info->base.norm_eps);
  c.rope.theta = f32(key("rope.freq_base"), 10000.0);
  c.rope.rotary_dim = f.get_int(key("rope.dimension_count"), c.head_dim);
  c.rope.layout = info->gguf_rope_layout;
  c.rope.angles = RopeAngles::Iterative;  // as llama.cpp computes them
  // Rope scaling as llama.cpp reads it: the type defaults to linear, whose
  // angle scale is 1 / rope.scaling.factor (or the older rope.scale_linear);
  // "none" never scales. YaRN and the other types are refused. A llama3
  // model's frequency divisors come as the tensor rope_freqs.weight
  // (bind_weights reads it).
  {
    const std::string type = f.get_string(key("rope.scaling.type"), "linear");
    const std::string factor_key = f.has(key("rope.scaling.factor")) ? key("rope.scaling.factor") : key("rope.scale_linear");
    const float factor = f32(factor_key, 0.0);
    if (type != "none" && type != "linear")
      throw UnsupportedModel(path.string() + ": metadata '" + key("rope.scaling.type") + "' = " + type +
                             " is not supported (none and linear are)");
    if (factor < 0.0f) throw FormatError(path.string(), "metadata '" + factor_key + "' is negative");
    if (type == "linear" && factor != 0.0f) c.rope.freq_scale = 1.0f / factor;
  }
  c.parallel_residual = f.get_bool(key("use_parallel_residual"), info->base.parallel_residual);
  c.final_logit_softcap = f32(key("final_logit_softcapping"), info->base.final_logit_softcap);
  c.attn_logit_softcap = f32(key("attn_logit_softcapping"), info->base.attn_logit_softcap);
  // The norm weights of GGUF files already hold any (1 + w) offset.
  c.norm_weight_offset = 0.0f;
  if (info->scale_embeddings)  // Gemma: sqrt(d_model) in f32, as llama.cpp
    c.embedding_scale = std::sqrt(static_cast<float>(c.d_model));
  if (info->gemma_query_scale) {
    // Gemma's query_pre_attn_scalar is not stored in GGUF; llama.cpp takes
    // head_dim, except for the 27B model, d_model / n_head.
    const float q_scalar = c.n_layer == info->gemma_query_scale_layers ? static_cast<float>(c.d_model / c.n_head) : static_cast<float>(c.head_dim);
    c.attention_scale = 1.0f / std::sqrt(q_scalar);
  }
  // Sliding-window layers: window and rope base of their own.
  if (const std::int64_t window = info->gguf_window_ignored ? 0 : f.get_int(key("attention.sliding_window"), info->gguf_default_window);
      window > 0) {
    const float theta_swa = f32(key("rope.freq_base_swa"), info->gguf_rope_theta_swa > 0.0f ? info->gguf_rope_theta_swa : c.rope.theta);
    std::int64_t pattern = info->gguf_swa_pattern;
    std::vector<std::int64_t> flags;  // per layer, from an array-valued pattern
    if (const io::GgufValue* pv = f.find(key("attention.sliding_window_pattern"))) {
      if (pv->type == io::GgufType::ARRAY) {
        if (pv->element_type == io::GgufType::BOOL) {
          for (std::uint64_t i = 0; i < pv->count; ++i) flags.push_back(pv->at(i).b);
        } else {
          flags = f.get_int_array(key("attention.sliding_window_pattern"));
        }
        if (static_cast<std::int64_t>(flags.size()) != c.n_layer)
          throw FormatError(path.string(), "metadata '" + key("attention.sliding_window_pattern") + "' has " +
                                               std::to_string(flags.size()) + " entries for " +
                                               std::to_string(c.n_layer) + " layers", pv->offset);
      } else {
        pattern = f.get_int(key("attention.sliding_window_pattern"), pattern);
        if (pattern < 0) throw FormatError(path.string(), "negative '" + key("attention.sliding_window_pattern") + "'", pv->offset);
      }
    }
    // Sized from the file's count only once the file can back it (each
    // layer has tensors of its own).
    if (c.n_layer > static_cast<std::int64_t>(f.tensors().size()))
      throw FormatError(path.string(), "the config declares " + std::to_string(c.n_layer) +
                                           " layers but the checkpoint holds " + std::to_string(f.tensors().size()) +
                                           " tensors in all");
    c.layers.resize(static_cast<std::size_t>(c.n_layer));
    for (std::int64_t l = 0; l < static_cast<std::int64_t>(c.layers.size()); ++l) {
      const bool swa = !flags.empty() ? flags[static_cast<std::size_t>(l)] != 0
                                      : (pattern == 0 || l % pattern < pattern - 1);
      c.layers[static_cast<std::size_t>(l)] =
          swa ? LayerConfig{window, theta_swa, !info->swa_rope_unscaled} : LayerConfig{0, c.rope.theta};
    }
  }
  // llama.cpp applies these biases wherever a file has them (Llama-family
  // files of models trained with biases carry them): present in the first
  // block means required in every block; a stray one elsewhere is refused.
  auto in_block0 = [&](const char* n) { return f.find_tensor(std::string("blk.0.") + n) != nullptr; };
  c.attn_qkv_bias = info->base.attn_qkv_bias || in_block0("attn_q.bias") || in_block0("attn_qkv.bias");
  c.attn_out_bias = info->base.attn_out_bias || in_block0("attn_output.bias");
  c.mlp_bias = info->base.mlp_bias || in_block0("ffn_up.bias") || in_block0("ffn_down.bias");
  c.bos_token_id = f.get_int("tokenizer.ggml.bos_token_id", -1);
  if (f.has("tokenizer.ggml.eos_token_id")) c.eos_token_ids.push_back(f.get_int("tokenizer.ggml.eos_token_id", -1));

  for (const TensorView& t : f.tensors()) m->tensors[t.name] = t;
  const TensorView* embd = f.find_tensor("token_embd.weight");
  if (!embd || embd->shape.size() != 2) throw FormatError(path.string(), "missing 2-D tensor", std::nullopt, "token_embd.weight");
  c.vocab_size = f.get_int(key("vocab_size"), embd->shape[0]);
  c.tied_embeddings = f.find_tensor("output.weight") == nullptr;
  m->storage.push_back(gguf);
  bind_weights(*m, path.string());
  return m;
}

}  // namespace gpt::detail
