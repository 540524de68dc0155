// The architectures the engine runs, described as data: one entry per
// architecture with its Hugging Face model_type names, its GGUF architecture
// name, the config defaults both loaders start from, the GGUF metadata keys
// it understands, and the table from Hugging Face tensor names to canonical
// (GGUF-style) ones. The loaders look an architecture up here; nothing else
// branches on its name. Adding an architecture adds an entry (and, only for
// something genuinely new, a config field the decoder reads).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gpt/config.h"

namespace gpt::detail {

// Checkpoint tensor name (a regex; "$1" in `canonical` is its first group)
// -> canonical name; `transposed`: stored [in, out] (GPT-2's Conv1D).
// `heads_qkv`: a fused q/k/v projection stored head by head, [n_head, 3,
// head_dim] rows (GPT-NeoX), reordered to the canonical [q | k | v].
struct TensorNameRule {
  const char* pattern;
  const char* canonical;
  bool transposed = false;
  bool heads_qkv = false;
};

// How a Hugging Face config.json is read (the field names differ by family).
enum class HfConfigFamily { None, Gpt2, LlamaLike, NeoX };

// A GGUF metadata key "<arch>.<suffix>" the engine reads or knows to be
// harmless. Any other "<arch>.*" key changes the math in a way the engine
// does not implement and is refused by name, unless its value is `neutral`
// (the one value that leaves the math as it is).
struct GgufKey {
  const char* suffix;
  const char* neutral = nullptr;  // "none", "1", "0", "true": accepted with this value only
};

struct ArchSpec {
  const char* name = "";                   // ModelConfig::architecture and GGUF general.architecture
  std::vector<const char*> hf_model_types; // config.json "model_type" values loaded as this architecture
  HfConfigFamily hf_family = HfConfigFamily::None;
  // Defaults: norm kind, positions, activation, MLP shape, biases, norm
  // layout, scales. Loaders overwrite sizes and whatever the checkpoint says.
  ModelConfig base;
  // Rotary pairing of the GGUF file's q/k rows (llama.cpp's converter
  // permutes Llama's into adjacent pairs; other architectures keep HF's).
  RopeLayout gguf_rope_layout = RopeLayout::HalfSplit;
  std::vector<GgufKey> gguf_keys;            // beyond the common ones (kCommonGgufKeys)
  // GGUF sliding-window layers: every layer whose index i has
  // i % swa_pattern < swa_pattern - 1 uses the window (llama.cpp's default
  // pattern for the architecture; a file's sliding_window_pattern overrides);
  // 0 = all layers when the file declares a window.
  std::int64_t gguf_swa_pattern = 0;
  // The sliding-window layers' rope ignores the model's rope scaling (Gemma 3,
  // in transformers and llama.cpp alike).
  bool swa_rope_unscaled = false;
  float gguf_rope_theta_swa = 10000.0f;      // rope base of the windowed layers when the file omits it (0: the file's rope base)
  bool scale_embeddings = false;   // embeddings * sqrt(d_model) (Gemma)
  // Attention scale query_pre_attn_scalar^-1/2 (Gemma); GGUF files do not
  // store the scalar: head_dim, or d_model / n_head for the model with
  // gemma_query_scale_layers layers (the 27B), as llama.cpp derives it.
  bool gemma_query_scale = false;
  std::int64_t gemma_query_scale_layers = 0;
  // GGUF defaults llama.cpp assumes when the file omits the key.
  std::int64_t gguf_default_window = 0;  // attention.sliding_window
  // llama.cpp reads the file's window and does not apply it (Phi-3, whose
  // converted files carry a window its graph leaves out): we do the same.
  bool gguf_window_ignored = false;
  // Hugging Face form: config fields of kHfRefusedFields this architecture
  // reads (soft-capping, query_pre_attn_scalar), the (1 + w) norm offset,
  // and the sliding-window layer pattern when config.json has no
  // layer_types (as gguf_swa_pattern; 0 = every layer).
  std::vector<const char*> hf_fields;
  float hf_norm_weight_offset = 0.0f;
  std::int64_t hf_swa_pattern = 0;  // config.json's sliding_window_pattern overrides
  // Field holding the rope base of the windowed layers (Gemma 3); null:
  // all layers use rope_theta.
  const char* hf_local_rope_theta = nullptr;
  std::vector<TensorNameRule> hf_tensor_names;
  // Hugging Face's attention_bias adds a bias to the output projection too
  // (Llama); false: q/k/v only (Qwen2).
  bool hf_attention_bias_on_output = true;
};

// A config.json field that changes the math in a way the engine does not
// implement, unless it has one of its neutral values (JSON text; null or
// absent is always neutral). Refused by name otherwise (see load_hf).
struct HfRefusedField {
  const char* name;
  std::vector<const char*> neutral;  // e.g. {"false"}, {"0", "1"}
};
extern const std::vector<HfRefusedField> kHfRefusedFields;

// Keys every architecture's GGUF reader understands.
extern const std::vector<GgufKey> kCommonGgufKeys;

const std::vector<ArchSpec>& architectures();
const ArchSpec* find_gguf_arch(std::string_view gguf_name);
const ArchSpec* find_hf_arch(std::string_view model_type);
std::string known_gguf_archs();  // "llama, qwen2, ..." for error messages
std::string known_hf_types();

}  // namespace gpt::detail
