// Hugging Face checkpoints: config.json -> ModelConfig, and a per-architecture
// table from checkpoint tensor names to canonical (GGUF-style) names.
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <type_traits>

#include "gpt/error.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"
#include "model/loaders.h"

namespace gpt::detail {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct ConfigReader {
  const json& j;
  const std::string& path;

  bool has(const char* key) const { return j.is_object() && j.contains(key) && !j[key].is_null(); }
  template <typename T>
  T get(const char* key) const {
    if (!has(key)) throw FormatError(path, std::string("missing required field '") + key + "'");
    const json& v = j[key];
    // Checked before converting: nlohmann's get<int64_t>() of 1e300 or of
    // 2^64 - 1 and get<float>() of 1e300 are undefined or wrap.
    if constexpr (std::is_same_v<T, std::int64_t>) {
      if (!v.is_number_integer() ||
          (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)))
        throw FormatError(path, std::string("field '") + key + "' = " + v.dump() + " is not a 64-bit integer");
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!v.is_number() || std::fabs(v.get<double>()) > static_cast<double>(std::numeric_limits<T>::max()))
        throw FormatError(path, std::string("field '") + key + "' = " + v.dump() + " is not a finite number");
    }
    try {
      return v.get<T>();
    } catch (const json::exception&) {
      throw FormatError(path, std::string("field '") + key + "' has the wrong type");
    }
  }
  template <typename T>
  T get(const char* key, T fallback) const { return has(key) ? get<T>(key) : fallback; }
};

Activation parse_activation(const std::string& name, const std::string& path) {
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::GeluTanh;
  if (name == "gelu") return Activation::GeluErf;
  if (name == "silu" || name == "swish") return Activation::SiLU;
  if (name == "relu") return Activation::ReLU;
  throw UnsupportedModel(path + ": activation '" + name + "' is not supported");
}

void read_eos(const ConfigReader& r, ModelConfig& c) {
  if (!r.has("eos_token_id")) return;
  const json& e = r.j["eos_token_id"];
  if (e.is_array()) {
    for (const auto& v : e) {
      if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)))
        throw FormatError(r.path, "eos_token_id entry " + v.dump() + " is not an integer");
      c.eos_token_ids.push_back(v.get<std::int64_t>());
    }
  } else {
    c.eos_token_ids.push_back(r.get<std::int64_t>("eos_token_id"));
  }
}

ModelConfig gpt2_config(const ConfigReader& r) {
  ModelConfig c;
  c.architecture = "gpt2";
  c.vocab_size = r.get<std::int64_t>("vocab_size");
  c.d_model = r.get<std::int64_t>("n_embd");
  c.n_layer = r.get<std::int64_t>("n_layer");
  c.n_head = r.get<std::int64_t>("n_head");
  c.n_kv_head = c.n_head;
  c.head_dim = c.n_head > 0 ? c.d_model / c.n_head : 0;
  // 4 * n_embd must not overflow before validate() sees it.
  c.d_ff = r.get<std::int64_t>("n_inner", c.d_model >= 0 && c.d_model <= ModelConfig::kMaxDimension ? 4 * c.d_model : c.d_model);
  c.max_seq_len = r.get<std::int64_t>("n_positions");
  c.norm = NormKind::LayerNorm;
  c.norm_eps = r.get<float>("layer_norm_epsilon", 1e-5f);
  c.position = PositionKind::Learned;
  c.activation = parse_activation(r.get<std::string>("activation_function", "gelu_new"), r.path);
  c.attn_qkv_bias = c.attn_out_bias = c.mlp_bias = true;
  c.tied_embeddings = r.get<bool>("tie_word_embeddings", true);
  if (!r.get<bool>("scale_attn_weights", true) || r.get<bool>("scale_attn_by_inverse_layer_idx", false) ||
      r.get<bool>("add_cross_attention", false))
    throw UnsupportedModel(r.path + ": this GPT-2 attention variant (scale_attn_weights=false, "
                           "scale_attn_by_inverse_layer_idx or cross-attention) is not supported");
  if (c.n_head > 0 && c.d_model % c.n_head != 0)
    throw UnsupportedModel(r.path + ": n_embd is not a multiple of n_head");
  c.bos_token_id = r.get<std::int64_t>("bos_token_id", -1);
  read_eos(r, c);
  return c;
}

// llama, mistral and qwen2 share one layout; they differ in defaults.
ModelConfig llama_like_config(const ConfigReader& r, const std::string& type) {
  ModelConfig c;
  c.architecture = type;
  c.vocab_size = r.get<std::int64_t>("vocab_size");
  c.d_model = r.get<std::int64_t>("hidden_size");
  c.n_layer = r.get<std::int64_t>("num_hidden_layers");
  c.n_head = r.get<std::int64_t>("num_attention_heads");
  c.n_kv_head = r.get<std::int64_t>("num_key_value_heads", c.n_head);
  c.head_dim = r.get<std::int64_t>("head_dim", c.n_head > 0 ? c.d_model / c.n_head : 0);
  c.d_ff = r.get<std::int64_t>("intermediate_size");
  c.max_seq_len = r.get<std::int64_t>("max_position_embeddings", 2048);
  c.norm = NormKind::RMSNorm;
  c.norm_bias = false;
  c.norm_eps = r.get<float>("rms_norm_eps", 1e-6f);
  c.position = PositionKind::Rotary;
  c.rope.layout = RopeLayout::HalfSplit;
  // transformers >= 5 nests rope settings in rope_parameters; older writes
  // rope_theta / rope_scaling at the top level.
  std::string rope_type = "default";
  c.rope.theta = r.get<float>("rope_theta", 10000.0f);
  if (r.has("rope_parameters")) {
    ConfigReader rp{r.j["rope_parameters"], r.path};
    c.rope.theta = rp.get<float>("rope_theta", c.rope.theta);
    rope_type = rp.get<std::string>("rope_type", rope_type);
  }
  if (r.has("rope_scaling")) {
    ConfigReader rs{r.j["rope_scaling"], r.path};
    rope_type = rs.get<std::string>("rope_type", rs.get<std::string>("type", rope_type));
  }
  if (rope_type != "default")
    throw UnsupportedModel(r.path + ": rope type '" + rope_type + "' is not supported (only plain rotary)");
  const double partial = r.get<double>("partial_rotary_factor", 1.0);
  if (!(partial > 0.0 && partial <= 1.0))
    throw FormatError(r.path, "partial_rotary_factor " + json(partial).dump() + " is not in (0, 1]");
  if (c.head_dim > 0 && c.head_dim <= ModelConfig::kMaxDimension)  // else validate() refuses head_dim
    c.rope.rotary_dim = static_cast<std::int64_t>(static_cast<double>(c.head_dim) * partial);
  c.activation = parse_activation(r.get<std::string>("hidden_act", "silu"), r.path);
  c.gated_mlp = true;
  c.attn_qkv_bias = r.get<bool>("attention_bias", type == "qwen2");
  c.attn_out_bias = type == "qwen2" ? false : c.attn_qkv_bias;
  c.mlp_bias = r.get<bool>("mlp_bias", false);
  c.tied_embeddings = r.get<bool>("tie_word_embeddings", false);
  if (type == "mistral") c.sliding_window = r.get<std::int64_t>("sliding_window", 0);
  if (type == "qwen2" && r.get<bool>("use_sliding_window", false))
    throw UnsupportedModel(r.path + ": qwen2 with use_sliding_window=true is not supported");
  c.bos_token_id = r.get<std::int64_t>("bos_token_id", -1);
  read_eos(r, c);
  return c;
}

// Checkpoint name -> canonical name, and whether the weight is stored
// transposed ([in, out], GPT-2's Conv1D).
struct NameRule {
  std::regex pattern;
  std::string canonical;  // "$1" is the layer index
  bool transposed = false;
};

std::vector<NameRule> name_rules(const std::string& arch) {
  auto R = [](const char* re, const char* to, bool t = false) { return NameRule{std::regex(re), to, t}; };
  if (arch == "gpt2") {
    return {
        R(R"(^(?:transformer\.)?wte\.weight$)", "token_embd.weight"),
        R(R"(^(?:transformer\.)?wpe\.weight$)", "position_embd.weight"),
        R(R"(^(?:transformer\.)?ln_f\.(weight|bias)$)", "output_norm.$1"),
        R(R"(^lm_head\.weight$)", "output.weight"),
        R(R"(^(?:transformer\.)?h\.(\d+)\.ln_1\.(weight|bias)$)", "blk.$1.attn_norm.$2"),
        R(R"(^(?:transformer\.)?h\.(\d+)\.ln_2\.(weight|bias)$)", "blk.$1.ffn_norm.$2"),
        R(R"(^(?:transformer\.)?h\.(\d+)\.attn\.c_attn\.weight$)", "blk.$1.attn_qkv.weight", true),
        R(R"(^(?:transformer\.)?h\.(\d+)\.attn\.c_attn\.bias$)", "blk.$1.attn_qkv.bias"),
        R(R"(^(?:transformer\.)?h\.(\d+)\.attn\.c_proj\.weight$)", "blk.$1.attn_output.weight", true),
        R(R"(^(?:transformer\.)?h\.(\d+)\.attn\.c_proj\.bias$)", "blk.$1.attn_output.bias"),
        R(R"(^(?:transformer\.)?h\.(\d+)\.mlp\.c_fc\.weight$)", "blk.$1.ffn_up.weight", true),
        R(R"(^(?:transformer\.)?h\.(\d+)\.mlp\.c_fc\.bias$)", "blk.$1.ffn_up.bias"),
        R(R"(^(?:transformer\.)?h\.(\d+)\.mlp\.c_proj\.weight$)", "blk.$1.ffn_down.weight", true),
        R(R"(^(?:transformer\.)?h\.(\d+)\.mlp\.c_proj\.bias$)", "blk.$1.ffn_down.bias"),
    };
  }
  return {
      R(R"(^model\.embed_tokens\.weight$)", "token_embd.weight"),
      R(R"(^model\.norm\.weight$)", "output_norm.weight"),
      R(R"(^lm_head\.weight$)", "output.weight"),
      R(R"(^model\.layers\.(\d+)\.input_layernorm\.weight$)", "blk.$1.attn_norm.weight"),
      R(R"(^model\.layers\.(\d+)\.post_attention_layernorm\.weight$)", "blk.$1.ffn_norm.weight"),
      R(R"(^model\.layers\.(\d+)\.self_attn\.q_proj\.(weight|bias)$)", "blk.$1.attn_q.$2"),
      R(R"(^model\.layers\.(\d+)\.self_attn\.k_proj\.(weight|bias)$)", "blk.$1.attn_k.$2"),
      R(R"(^model\.layers\.(\d+)\.self_attn\.v_proj\.(weight|bias)$)", "blk.$1.attn_v.$2"),
      R(R"(^model\.layers\.(\d+)\.self_attn\.o_proj\.(weight|bias)$)", "blk.$1.attn_output.$2"),
      R(R"(^model\.layers\.(\d+)\.mlp\.gate_proj\.(weight|bias)$)", "blk.$1.ffn_gate.$2"),
      R(R"(^model\.layers\.(\d+)\.mlp\.up_proj\.(weight|bias)$)", "blk.$1.ffn_up.$2"),
      R(R"(^model\.layers\.(\d+)\.mlp\.down_proj\.(weight|bias)$)", "blk.$1.ffn_down.$2"),
  };
}

// A transposed f32 copy of a [in, out] matrix of any dense type.
TensorView transpose_to_f32(const TensorView& t, const std::string& name, ModelData& m, const std::string& file) {
  if (t.shape.size() != 2) throw FormatError(file, "expected a 2-D Conv1D weight", std::nullopt, t.name);
  const std::int64_t in = t.shape[0], out = t.shape[1];
  std::vector<float> src(static_cast<std::size_t>(in * out));
  kernels::dequantize_row(t.dtype, t.data, src.data(), in * out);
  auto buf = std::shared_ptr<float[]>(new float[static_cast<std::size_t>(in * out)]);
  for (std::int64_t i = 0; i < in; ++i)
    for (std::int64_t o = 0; o < out; ++o) buf[static_cast<std::size_t>(o * in + i)] = src[static_cast<std::size_t>(i * out + o)];
  TensorView v;
  v.name = name;
  v.dtype = DType::F32;
  v.shape = {out, in};
  v.data = reinterpret_cast<const std::byte*>(buf.get());
  v.nbytes = static_cast<std::size_t>(in * out) * sizeof(float);
  m.storage.push_back(std::shared_ptr<const void>(buf, buf.get()));
  return v;
}

}  // namespace

std::unique_ptr<ModelData> load_hf(const fs::path& path) {
  fs::path dir = fs::is_directory(path) ? path : path.parent_path();
  if (dir.empty()) dir = ".";
  const fs::path config_path = dir / "config.json";
  std::ifstream in(config_path, std::ios::binary);
  if (!in) throw IoError(config_path.string(), "cannot open (a Hugging Face checkpoint needs config.json next to its weights)");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw IoError(config_path.string(), "read failed");
  const json j = io::parse_json(text.str(), config_path.string());
  if (!j.is_object()) throw FormatError(config_path.string(), "is not a JSON object");
  const std::string cpath = config_path.string();
  ConfigReader r{j, cpath};
  const std::string type = r.get<std::string>("model_type");

  auto m = std::make_unique<ModelData>();
  m->path = path;
  if (type == "gpt2") m->config = gpt2_config(r);
  else if (type == "llama" || type == "mistral" || type == "qwen2") m->config = llama_like_config(r, type);
  else throw UnsupportedModel(cpath + ": model_type '" + type + "' is not supported (gpt2, llama, mistral, qwen2 are)");
  m->config.validate();

  const io::SafetensorsCheckpoint ck = io::open_safetensors(path);
  for (const auto& f : ck.files) m->storage.push_back(f);
  const auto rules = name_rules(type);
  // Buffers some checkpoints save that are not weights: rotary frequency
  // tables (recomputed from the config) and GPT-2's causal-mask buffers.
  static const std::regex buffers(R"(^.*rotary_emb\.inv_freq$|^(?:transformer\.)?h\.\d+\.attn\.(?:bias|masked_bias)$)");
  for (const auto& [name, entry] : ck.tensors) {
    const auto& [view, file] = entry;
    bool known = false;
    for (const auto& rule : rules) {
      std::smatch match;
      if (!std::regex_match(name, match, rule.pattern)) continue;
      const std::string canonical = match.format(rule.canonical);
      TensorView v = rule.transposed ? transpose_to_f32(view, canonical, *m, file) : view;
      v.name = canonical;
      m->tensors[canonical] = std::move(v);
      m->source_names[canonical] = name;
      known = true;
      break;
    }
    // A tensor of a part the engine does not implement (a q/k norm, a
    // scaling table...): refuse rather than run without it.
    if (!known && !std::regex_match(name, buffers))
      throw UnsupportedModel(file + ": tensor '" + name + "' is not used by the engine's " + type +
                             " decoder (the feature it belongs to is not implemented)");
  }
  for (const auto& f : ck.files)
    for (const auto& [name, type] : f->other_tensors())
      for (const auto& rule : rules) {
        std::smatch match;
        if (!std::regex_match(name, match, rule.pattern)) continue;
        const std::string canonical = match.format(rule.canonical);
        m->unusable[canonical] = type;
        m->source_names[canonical] = name;
        break;
      }
  const std::string source = ck.files.size() == 1 ? ck.files[0]->path() : (dir / "model.safetensors.index.json").string();
  bind_weights(*m, source);
  return m;
}

}  // namespace gpt::detail
