// GGUF checkpoints: "<arch>.*" metadata -> ModelConfig; tensor names are
// already the canonical ones, so weights bind as they are, in place.
//
// Rotary layout: llama.cpp's converter permutes the rows of Llama's q and k
// projections so that Hugging Face's half-split rotary pairs (i, i + d/2)
// become adjacent pairs (2i, 2i + 1). A GGUF "llama" model therefore runs with
// RopeLayout::Interleaved on its weights as stored; qwen2 is converted without
// the permutation and keeps the half-split layout.
#include <cmath>
#include <cstdio>
#include <limits>

#include "gpt/error.h"
#include "io/gguf.h"
#include "model/loaders.h"

namespace gpt::detail {

namespace {

std::string shortest(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

struct ArchInfo {
  const char* name;
  NormKind norm;
  PositionKind position;
  RopeLayout rope_layout;
  Activation activation;
  bool gated;
  bool qkv_bias;
  bool out_bias;
  bool mlp_bias;
};

constexpr ArchInfo kArchs[] = {
    {"llama", NormKind::RMSNorm, PositionKind::Rotary, RopeLayout::Interleaved, Activation::SiLU, true, false, false, false},
    {"qwen2", NormKind::RMSNorm, PositionKind::Rotary, RopeLayout::HalfSplit, Activation::SiLU, true, true, false, false},
    {"gpt2", NormKind::LayerNorm, PositionKind::Learned, RopeLayout::HalfSplit, Activation::GeluTanh, false, true, true, true},
};

}  // namespace

std::unique_ptr<ModelData> load_gguf(const std::filesystem::path& path) {
  return load_gguf(std::make_shared<const io::GgufFile>(path.string()));
}

std::unique_ptr<ModelData> load_gguf(std::shared_ptr<const io::GgufFile> gguf) {
  const io::GgufFile& f = *gguf;
  const std::filesystem::path path = f.path();
  const std::string arch = f.get_string("general.architecture");
  const ArchInfo* info = nullptr;
  for (const auto& a : kArchs)
    if (arch == a.name) info = &a;
  if (!info)
    throw UnsupportedModel(path.string() + ": GGUF architecture '" + arch + "' is not supported (llama, qwen2, gpt2 are)");

  auto key = [&](const char* k) { return arch + "." + k; };
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
  c.architecture = arch;
  c.d_model = required_int("embedding_length");
  c.n_layer = required_int("block_count");
  c.n_head = required_int("attention.head_count");
  c.n_kv_head = f.get_int(key("attention.head_count_kv"), c.n_head);
  c.head_dim = f.get_int(key("attention.key_length"), c.d_model / c.n_head);
  c.d_ff = required_int("feed_forward_length");
  c.max_seq_len = required_int("context_length");
  c.norm = info->norm;
  c.norm_bias = info->norm == NormKind::LayerNorm;
  c.norm_eps = info->norm == NormKind::RMSNorm ? f32(key("attention.layer_norm_rms_epsilon"), 1e-5)
                                               : f32(key("attention.layer_norm_epsilon"), 1e-5);
  c.position = info->position;
  c.rope.theta = f32(key("rope.freq_base"), 10000.0);
  c.rope.rotary_dim = f.get_int(key("rope.dimension_count"), c.head_dim);
  c.rope.layout = info->rope_layout;
  c.rope.angles = RopeAngles::Iterative;  // as llama.cpp computes them
  if (f.has(key("rope.scaling.type")) && f.get_string(key("rope.scaling.type")) != "none")
    throw UnsupportedModel(path.string() + ": rope scaling '" + f.get_string(key("rope.scaling.type")) +
                           "' is not supported");
  c.activation = info->activation;
  c.gated_mlp = info->gated;
  // llama.cpp applies these biases wherever a file has them (Llama-family
  // files of models trained with biases carry them): present in the first
  // block means required in every block; a stray one elsewhere is refused.
  auto in_block0 = [&](const char* n) { return f.find_tensor(std::string("blk.0.") + n) != nullptr; };
  c.attn_qkv_bias = info->qkv_bias || in_block0("attn_q.bias") || in_block0("attn_qkv.bias");
  c.attn_out_bias = info->out_bias || in_block0("attn_output.bias");
  c.mlp_bias = info->mlp_bias || in_block0("ffn_up.bias") || in_block0("ffn_down.bias");
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
