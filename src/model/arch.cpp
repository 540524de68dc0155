#include "model/arch.h"

#include <cmath>

namespace gpt::detail {

namespace {

ModelConfig rms_rotary_gated(Activation act) {
  ModelConfig c;
  c.norm = NormKind::RMSNorm;
  c.norm_bias = false;
  c.position = PositionKind::Rotary;
  c.activation = act;
  c.gated_mlp = true;
  return c;
}

const std::vector<TensorNameRule> kLlamaNames = {
    {R"(^model\.embed_tokens\.weight$)", "token_embd.weight"},
    {R"(^model\.norm\.weight$)", "output_norm.weight"},
    {R"(^lm_head\.weight$)", "output.weight"},
    {R"(^model\.layers\.(\d+)\.input_layernorm\.weight$)", "blk.$1.attn_norm.weight"},
    {R"(^model\.layers\.(\d+)\.post_attention_layernorm\.weight$)", "blk.$1.ffn_norm.weight"},
    {R"(^model\.layers\.(\d+)\.self_attn\.q_proj\.(weight|bias)$)", "blk.$1.attn_q.$2"},
    {R"(^model\.layers\.(\d+)\.self_attn\.k_proj\.(weight|bias)$)", "blk.$1.attn_k.$2"},
    {R"(^model\.layers\.(\d+)\.self_attn\.v_proj\.(weight|bias)$)", "blk.$1.attn_v.$2"},
    {R"(^model\.layers\.(\d+)\.self_attn\.o_proj\.(weight|bias)$)", "blk.$1.attn_output.$2"},
    {R"(^model\.layers\.(\d+)\.mlp\.gate_proj\.(weight|bias)$)", "blk.$1.ffn_gate.$2"},
    {R"(^model\.layers\.(\d+)\.mlp\.up_proj\.(weight|bias)$)", "blk.$1.ffn_up.$2"},
    {R"(^model\.layers\.(\d+)\.mlp\.down_proj\.(weight|bias)$)", "blk.$1.ffn_down.$2"},
};

const std::vector<TensorNameRule> kGpt2Names = {
    {R"(^(?:transformer\.)?wte\.weight$)", "token_embd.weight"},
    {R"(^(?:transformer\.)?wpe\.weight$)", "position_embd.weight"},
    {R"(^(?:transformer\.)?ln_f\.(weight|bias)$)", "output_norm.$1"},
    {R"(^lm_head\.weight$)", "output.weight"},
    {R"(^(?:transformer\.)?h\.(\d+)\.ln_1\.(weight|bias)$)", "blk.$1.attn_norm.$2"},
    {R"(^(?:transformer\.)?h\.(\d+)\.ln_2\.(weight|bias)$)", "blk.$1.ffn_norm.$2"},
    {R"(^(?:transformer\.)?h\.(\d+)\.attn\.c_attn\.weight$)", "blk.$1.attn_qkv.weight", true},
    {R"(^(?:transformer\.)?h\.(\d+)\.attn\.c_attn\.bias$)", "blk.$1.attn_qkv.bias"},
    {R"(^(?:transformer\.)?h\.(\d+)\.attn\.c_proj\.weight$)", "blk.$1.attn_output.weight", true},
    {R"(^(?:transformer\.)?h\.(\d+)\.attn\.c_proj\.bias$)", "blk.$1.attn_output.bias"},
    {R"(^(?:transformer\.)?h\.(\d+)\.mlp\.c_fc\.weight$)", "blk.$1.ffn_up.weight", true},
    {R"(^(?:transformer\.)?h\.(\d+)\.mlp\.c_fc\.bias$)", "blk.$1.ffn_up.bias"},
    {R"(^(?:transformer\.)?h\.(\d+)\.mlp\.c_proj\.weight$)", "blk.$1.ffn_down.weight", true},
    {R"(^(?:transformer\.)?h\.(\d+)\.mlp\.c_proj\.bias$)", "blk.$1.ffn_down.bias"},
};

// Qwen3: Llama's names plus an RMSNorm over each query and key head.
std::vector<TensorNameRule> with_qk_norms(std::vector<TensorNameRule> names) {
  names.push_back({R"(^model\.layers\.(\d+)\.self_attn\.q_norm\.weight$)", "blk.$1.attn_q_norm.weight"});
  names.push_back({R"(^model\.layers\.(\d+)\.self_attn\.k_norm\.weight$)", "blk.$1.attn_k_norm.weight"});
  return names;
}

// Gemma 2/3: sandwich norms (post-attention / pre- and post-feedforward),
// q/k norms (Gemma 3).
const std::vector<TensorNameRule> kGemmaNames = {
    {R"(^model\.embed_tokens\.weight$)", "token_embd.weight"},
    {R"(^model\.norm\.weight$)", "output_norm.weight"},
    {R"(^lm_head\.weight$)", "output.weight"},
    {R"(^model\.layers\.(\d+)\.input_layernorm\.weight$)", "blk.$1.attn_norm.weight"},
    {R"(^model\.layers\.(\d+)\.post_attention_layernorm\.weight$)", "blk.$1.post_attention_norm.weight"},
    {R"(^model\.layers\.(\d+)\.pre_feedforward_layernorm\.weight$)", "blk.$1.ffn_norm.weight"},
    {R"(^model\.layers\.(\d+)\.post_feedforward_layernorm\.weight$)", "blk.$1.post_ffw_norm.weight"},
    {R"(^model\.layers\.(\d+)\.self_attn\.q_norm\.weight$)", "blk.$1.attn_q_norm.weight"},
    {R"(^model\.layers\.(\d+)\.self_attn\.k_norm\.weight$)", "blk.$1.attn_k_norm.weight"},
    {R"(^model\.layers\.(\d+)\.self_attn\.q_proj\.weight$)", "blk.$1.attn_q.weight"},
    {R"(^model\.layers\.(\d+)\.self_attn\.k_proj\.weight$)", "blk.$1.attn_k.weight"},
    {R"(^model\.layers\.(\d+)\.self_attn\.v_proj\.weight$)", "blk.$1.attn_v.weight"},
    {R"(^model\.layers\.(\d+)\.self_attn\.o_proj\.weight$)", "blk.$1.attn_output.weight"},
    {R"(^model\.layers\.(\d+)\.mlp\.gate_proj\.weight$)", "blk.$1.ffn_gate.weight"},
    {R"(^model\.layers\.(\d+)\.mlp\.up_proj\.weight$)", "blk.$1.ffn_up.weight"},
    {R"(^model\.layers\.(\d+)\.mlp\.down_proj\.weight$)", "blk.$1.ffn_down.weight"},
};

const std::vector<TensorNameRule> kNeoXNames = {
    {R"(^gpt_neox\.embed_in\.weight$)", "token_embd.weight"},
    {R"(^gpt_neox\.final_layer_norm\.(weight|bias)$)", "output_norm.$1"},
    {R"(^embed_out\.weight$)", "output.weight"},
    {R"(^gpt_neox\.layers\.(\d+)\.input_layernorm\.(weight|bias)$)", "blk.$1.attn_norm.$2"},
    {R"(^gpt_neox\.layers\.(\d+)\.post_attention_layernorm\.(weight|bias)$)", "blk.$1.ffn_norm.$2"},
    {R"(^gpt_neox\.layers\.(\d+)\.attention\.query_key_value\.(weight|bias)$)", "blk.$1.attn_qkv.$2", false, true},
    {R"(^gpt_neox\.layers\.(\d+)\.attention\.dense\.(weight|bias)$)", "blk.$1.attn_output.$2"},
    {R"(^gpt_neox\.layers\.(\d+)\.mlp\.dense_h_to_4h\.(weight|bias)$)", "blk.$1.ffn_up.$2"},
    {R"(^gpt_neox\.layers\.(\d+)\.mlp\.dense_4h_to_h\.(weight|bias)$)", "blk.$1.ffn_down.$2"},
};

// Phi-3: fused q/k/v ([q | k | v], as canonical) and fused gate/up
// (bind_weights splits it).
const std::vector<TensorNameRule> kPhi3Names = {
    {R"(^model\.embed_tokens\.weight$)", "token_embd.weight"},
    {R"(^model\.norm\.weight$)", "output_norm.weight"},
    {R"(^lm_head\.weight$)", "output.weight"},
    {R"(^model\.layers\.(\d+)\.input_layernorm\.weight$)", "blk.$1.attn_norm.weight"},
    {R"(^model\.layers\.(\d+)\.post_attention_layernorm\.weight$)", "blk.$1.ffn_norm.weight"},
    {R"(^model\.layers\.(\d+)\.self_attn\.qkv_proj\.weight$)", "blk.$1.attn_qkv.weight"},
    {R"(^model\.layers\.(\d+)\.self_attn\.o_proj\.weight$)", "blk.$1.attn_output.weight"},
    {R"(^model\.layers\.(\d+)\.mlp\.gate_up_proj\.weight$)", "blk.$1.ffn_up.weight"},
    {R"(^model\.layers\.(\d+)\.mlp\.down_proj\.weight$)", "blk.$1.ffn_down.weight"},
};

ArchSpec make(const char* name, std::vector<const char*> hf_types, HfConfigFamily family, const ModelConfig& base) {
  ArchSpec s;
  s.name = name;
  s.hf_model_types = std::move(hf_types);
  s.hf_family = family;
  s.base = base;
  return s;
}

std::vector<ArchSpec> build() {
  std::vector<ArchSpec> a;

  {  // Llama (and Mistral, same layout); GGUF rows permuted to adjacent rotary pairs.
    ArchSpec s = make("llama", {"llama", "mistral"}, HfConfigFamily::LlamaLike, rms_rotary_gated(Activation::SiLU));
    s.gguf_rope_layout = RopeLayout::Interleaved;
    s.hf_tensor_names = kLlamaNames;
    a.push_back(s);
  }
  {  // Qwen2: Llama with q/k/v biases.
    ArchSpec s = make("qwen2", {"qwen2"}, HfConfigFamily::LlamaLike, rms_rotary_gated(Activation::SiLU));
    s.base.attn_qkv_bias = true;
    s.hf_attention_bias_on_output = false;
    s.hf_tensor_names = kLlamaNames;
    a.push_back(s);
  }
  {  // Qwen3: Llama with q/k RMSNorms per head (before rotary), head_dim of
     // its own, no biases unless attention_bias.
    ArchSpec s = make("qwen3", {"qwen3"}, HfConfigFamily::LlamaLike, rms_rotary_gated(Activation::SiLU));
    s.base.norms.qk = true;
    s.hf_tensor_names = with_qk_norms(kLlamaNames);
    a.push_back(s);
  }
  {  // Phi-3: Llama's math with fused projections. longrope scaling (Phi-3
     // 128k, Phi-3.5) is refused by the rope-scaling reader.
    ArchSpec s = make("phi3", {"phi3"}, HfConfigFamily::LlamaLike, rms_rotary_gated(Activation::SiLU));
    s.gguf_keys = {{"attention.sliding_window"}};
    s.gguf_window_ignored = true;  // as llama.cpp; transformers >= 4.48 applies it (the Hugging Face form here too)
    s.hf_tensor_names = kPhi3Names;
    a.push_back(s);
  }
  {  // GPT-2: LayerNorm, learned positions, fused qkv, biases everywhere.
    ModelConfig c;
    c.norm = NormKind::LayerNorm;
    c.position = PositionKind::Learned;
    c.activation = Activation::GeluTanh;
    c.attn_qkv_bias = c.attn_out_bias = c.mlp_bias = true;
    c.tied_embeddings = true;
    ArchSpec s = make("gpt2", {"gpt2"}, HfConfigFamily::Gpt2, c);
    s.hf_tensor_names = kGpt2Names;
    a.push_back(s);
  }
  {  // GPT-NeoX (Pythia): LayerNorm with biases, partial rotary (half-split
     // pairs over the rotated dims), fused head-by-head q/k/v, GELU (erf),
     // parallel residual, biases everywhere, untied output.
    ModelConfig c;
    c.norm = NormKind::LayerNorm;
    c.position = PositionKind::Rotary;
    c.activation = Activation::GeluErf;
    c.attn_qkv_bias = c.attn_out_bias = c.mlp_bias = true;
    c.parallel_residual = true;
    ArchSpec s = make("gptneox", {"gpt_neox"}, HfConfigFamily::NeoX, c);
    s.gguf_keys = {{"use_parallel_residual"}};
    s.hf_tensor_names = kNeoXNames;
    s.hf_fields = {"use_parallel_residual"};
    a.push_back(s);
  }
  {  // Gemma 3 (text): sandwich norms, q/k norms, sqrt(d_model)-scaled
     // embeddings, GELU-tanh gated MLP, tied output, 5 sliding-window layers
     // (rope base 10000) per global one (rope base from the file).
    ModelConfig c = rms_rotary_gated(Activation::GeluTanh);
    c.norms = NormLayout{.pre_attn = true, .post_attn = true, .pre_ffn = true, .post_ffn = true, .qk = true};
    c.tied_embeddings = true;
    c.norm_eps = 1e-6f;
    // Hugging Face form: model_type gemma3_text, (1 + w) norm weights, the
    // windowed layers' rope base rope_local_base_freq, unscaled.
    ArchSpec s = make("gemma3", {"gemma3_text"}, HfConfigFamily::LlamaLike, c);
    s.hf_tensor_names = kGemmaNames;
    s.hf_fields = {"attn_logit_softcapping", "final_logit_softcapping", "query_pre_attn_scalar", "hidden_activation",
                   "rope_local_base_freq"};
    s.hf_norm_weight_offset = 1.0f;
    s.hf_swa_pattern = 6;
    s.hf_local_rope_theta = "rope_local_base_freq";
    s.gguf_keys = {{"attention.sliding_window"}, {"attention.sliding_window_pattern"}, {"rope.freq_base_swa"},
                   {"final_logit_softcapping"}};
    s.gguf_swa_pattern = 6;
    s.gguf_rope_theta_swa = 10000.0f;
    s.scale_embeddings = true;
    s.gemma_query_scale = true;
    s.gemma_query_scale_layers = 62;
    s.swa_rope_unscaled = true;
    a.push_back(s);
  }
  {  // Gemma 2: Gemma 3's layout without q/k norms; attention and final
     // logit soft-capping; every other layer (the even ones) windowed, all
     // with one rope base.
    ModelConfig c = rms_rotary_gated(Activation::GeluTanh);
    c.norms = NormLayout{.pre_attn = true, .post_attn = true, .pre_ffn = true, .post_ffn = true, .qk = false};
    c.tied_embeddings = true;
    c.norm_eps = 1e-6f;
    c.attn_logit_softcap = 50.0f;   // llama.cpp's defaults when a GGUF file omits them
    c.final_logit_softcap = 30.0f;
    ArchSpec s = make("gemma2", {"gemma2"}, HfConfigFamily::LlamaLike, c);
    s.gguf_keys = {{"attention.sliding_window"}, {"attention.sliding_window_pattern"}, {"rope.freq_base_swa"},
                   {"attn_logit_softcapping"}, {"final_logit_softcapping"}};
    s.gguf_swa_pattern = 2;
    s.gguf_default_window = 4096;
    s.gguf_rope_theta_swa = 0.0f;  // the file's rope base
    s.scale_embeddings = true;
    s.gemma_query_scale = true;
    s.gemma_query_scale_layers = 46;
    s.hf_tensor_names = kGemmaNames;
    s.hf_fields = {"attn_logit_softcapping", "final_logit_softcapping", "query_pre_attn_scalar", "hidden_activation"};
    s.hf_norm_weight_offset = 1.0f;
    s.hf_swa_pattern = 2;
    a.push_back(s);
  }
  return a;
}

std::string join(bool gguf) {
  std::string out;
  for (const auto& s : architectures()) {
    if (gguf) {
      out += (out.empty() ? "" : ", ") + std::string(s.name);
    } else {
      for (const char* t : s.hf_model_types) out += (out.empty() ? "" : ", ") + std::string(t);
    }
  }
  return out;
}

}  // namespace

// Sizes, epsilons, rope base and dimensions: the keys of a plain
// decoder. Keys with a neutral value are accepted only with it.
const std::vector<GgufKey> kCommonGgufKeys = {
    {"context_length"}, {"embedding_length"}, {"block_count"}, {"feed_forward_length"},
    {"attention.head_count"}, {"attention.head_count_kv"}, {"attention.layer_norm_rms_epsilon"},
    {"attention.layer_norm_epsilon"}, {"attention.key_length"}, {"attention.value_length"},
    {"rope.dimension_count"}, {"rope.freq_base"}, {"vocab_size"},
    {"rope.scaling.type"}, {"rope.freq_scale", "1"}, {"rope.scale_linear"},
    {"rope.scaling.factor"}, {"expert_count", "0"}, {"expert_used_count", "0"},
    {"attention.causal", "true"}, {"use_parallel_residual", "false"},
    {"attn_logit_softcapping", "0"}, {"final_logit_softcapping", "0"}, {"logit_scale", "1"},
    {"embedding_scale", "1"}, {"residual_scale", "1"}, {"attention.scale", "0"},
    {"attention.clamp_kqv", "0"},
};

// Fields of Hugging Face configs (any family) for math the decoder does not
// run: soft-capping, mixtures of experts, attention sinks, extra scales
// (Granite, Gemma), q/k norms and parallel residuals announced by flag,
// clipping, per-layer dense/sparse patterns.
const std::vector<HfRefusedField> kHfRefusedFields = {
    {"attn_logit_softcapping", {}},
    {"final_logit_softcapping", {}},
    {"query_pre_attn_scalar", {}},
    {"num_experts", {"0"}},
    {"num_local_experts", {"0"}},
    {"n_routed_experts", {"0"}},
    {"num_experts_per_tok", {"0"}},
    {"moe_intermediate_size", {"0"}},
    {"decoder_sparse_step", {"0"}},
    {"mlp_only_layers", {"[]"}},
    {"attention_sink", {"false"}},
    {"use_sink", {"false"}},
    {"embedding_multiplier", {"1", "1.0"}},
    {"logits_scaling", {"1", "1.0"}},
    {"residual_multiplier", {"1", "1.0"}},
    {"attention_multiplier", {}},
    {"scale_embedding", {"false"}},
    {"use_qk_norm", {"false"}},
    {"qk_layernorm", {"false"}},
    {"use_parallel_residual", {"false"}},
    {"parallel_attn", {"false"}},
    {"clip_qkv", {}},
    {"alibi", {"false"}},
    {"no_rope_layers", {}},
    {"rope_interleaved", {"false"}},
    {"use_bidirectional_attention", {"false"}},
};

const std::vector<ArchSpec>& architectures() {
  static const std::vector<ArchSpec> all = build();
  return all;
}

const ArchSpec* find_gguf_arch(std::string_view gguf_name) {
  for (const auto& s : architectures())
    if (gguf_name == s.name) return &s;
  return nullptr;
}

const ArchSpec* find_hf_arch(std::string_view model_type) {
  for (const auto& s : architectures())
    for (const char* t : s.hf_model_types)
      if (model_type == t) return &s;
  return nullptr;
}

std::string known_gguf_archs() { return join(true); }
std::string known_hf_types() { return join(false); }

}  // namespace gpt::detail
