// The parts of a loaded model: config, storage, canonical tensor views, and
// each layer's weights bound by role. Built by a loader (safetensors or GGUF),
// then frozen inside a Model.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gpt/config.h"
#include "gpt/tensor.h"

namespace gpt::detail {

// Weights of one decoder block. A null pointer means "absent" (no bias, no
// gate, no such norm...). Either wqkv (fused [3 * ..., d_model]) or wq/wk/wv is set.
struct LayerWeights {
  const TensorView* attn_norm = nullptr;    // [d_model]
  const TensorView* attn_norm_b = nullptr;  // [d_model]
  const TensorView* wq = nullptr;           // [n_head * head_dim, d_model]
  const TensorView* wk = nullptr;           // [n_kv_head * head_dim, d_model]
  const TensorView* wv = nullptr;           // [n_kv_head * head_dim, d_model]
  const TensorView* wqkv = nullptr;         // [(n_head + 2 n_kv_head) * head_dim, d_model]
  const TensorView* bq = nullptr;
  const TensorView* bk = nullptr;
  const TensorView* bv = nullptr;
  const TensorView* bqkv = nullptr;
  const TensorView* q_norm = nullptr;       // [head_dim] (q/k norms only)
  const TensorView* k_norm = nullptr;       // [head_dim]
  const TensorView* wo = nullptr;           // [d_model, n_head * head_dim]
  const TensorView* bo = nullptr;
  const TensorView* post_attn_norm = nullptr;  // [d_model] (sandwich norms only)
  const TensorView* ffn_norm = nullptr;     // [d_model]
  const TensorView* ffn_norm_b = nullptr;
  const TensorView* post_ffn_norm = nullptr;   // [d_model]
  const TensorView* w_gate = nullptr;       // [d_ff, d_model] (gated MLP only)
  const TensorView* b_gate = nullptr;       // [d_ff] (gated MLP with biases only)
  const TensorView* w_up = nullptr;         // [d_ff, d_model]
  const TensorView* b_up = nullptr;
  const TensorView* w_down = nullptr;       // [d_model, d_ff]
  const TensorView* b_down = nullptr;
};

struct ModelData {
  std::filesystem::path path;
  ModelConfig config;
  // Keeps mapped files and converted buffers alive.
  std::vector<std::shared_ptr<const void>> storage;
  // Canonical name -> view. std::map: node-stable, so LayerWeights may point in.
  std::map<std::string, TensorView, std::less<>> tensors;
  // Canonical name -> the name in the checkpoint file, where they differ
  // (for error messages), and tensors whose type the engine cannot compute
  // with (canonical name -> type name).
  std::map<std::string, std::string, std::less<>> source_names;
  std::map<std::string, std::string, std::less<>> unusable;

  // Bound by bind_weights() after tensors is complete.
  const TensorView* token_embd = nullptr;    // [vocab, d_model]
  const TensorView* position_embd = nullptr; // [max_seq_len, d_model] (learned positions)
  const TensorView* output_norm = nullptr;
  const TensorView* output_norm_b = nullptr;
  const TensorView* output = nullptr;        // [vocab, d_model]; == token_embd when tied
  std::vector<LayerWeights> layers;
};

// Checks every tensor the config calls for is present with the right shape
// and a supported type, and fills the role pointers. Throws FormatError
// naming the tensor (and `source` as the file) otherwise.
void bind_weights(ModelData& m, const std::string& source);

}  // namespace gpt::detail
