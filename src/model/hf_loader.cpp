// Hugging Face checkpoints: config.json -> ModelConfig, read by the config
// family of the model_type's registry entry (src/model/arch.h), and the
// entry's table from checkpoint tensor names to canonical (GGUF-style) names.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
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
#include "model/arch.h"
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

ModelConfig gpt2_config(const ConfigReader& r, const ArchSpec& spec) {
  ModelConfig c = spec.base;
  c.architecture = spec.name;
  c.vocab_size = r.get<std::int64_t>("vocab_size");
  c.d_model = r.get<std::int64_t>("n_embd");
  c.n_layer = r.get<std::int64_t>("n_layer");
  c.n_head = r.get<std::int64_t>("n_head");
  c.n_kv_head = c.n_head;
  c.head_dim = c.n_head > 0 ? c.d_model / c.n_head : 0;
  // 4 * n_embd must not overflow before validate() sees it.
  c.d_ff = r.get<std::int64_t>("n_inner", c.d_model >= 0 && c.d_model <= ModelConfig::kMaxDimension ? 4 * c.d_model : c.d_model);
  c.max_seq_len = r.get<std::int64_t>("n_positions");
  c.norm_eps = r.get<float>("layer_norm_epsilon", 1e-5f);
  c.activation = parse_activation(r.get<std::string>("activation_function", "gelu_new"), r.path);
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

// Rope scaling from rope_scaling (or transformers 5's rope_parameters), as
// transformers' rope initialisation functions compute it: the scaled
// inverse frequencies become per-pair divisors of the plain ones
// (RopeConfig::freq_factors). Types: linear, llama3, yarn. Any other type,
// and any key the type does not define, is refused by name. YaRN's
// original_max_position_embeddings, mscale and mscale_all_dim are refused:
// transformers versions disagree on what they change.
void read_rope_scaling(const ConfigReader& rs, const std::string& where, ModelConfig& c) {
  if (!rs.j.is_object()) throw FormatError(rs.path, "field '" + where + "' is not an object");
  const std::string type = rs.get<std::string>("rope_type", rs.get<std::string>("type", "default"));
  std::vector<std::string> known = {"rope_type", "type", "rope_theta"};
  if (type == "linear") known.insert(known.end(), {"factor"});
  else if (type == "llama3") known.insert(known.end(), {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"});
  else if (type == "yarn") known.insert(known.end(), {"factor", "attention_factor", "beta_fast", "beta_slow"});
  else if (type != "default")
    throw UnsupportedModel(rs.path + ": rope type '" + type + "' in '" + where +
                           "' is not supported (default, linear, llama3 and yarn are)");
  for (const auto& [k, v] : rs.j.items())
    if (!v.is_null() && std::find(known.begin(), known.end(), k) == known.end())
      throw UnsupportedModel(rs.path + ": field '" + where + "." + k + "' is not supported for rope type '" + type + "'");
  if (type == "default") return;
  const double factor = rs.get<double>("factor");
  if (!(factor >= 1.0) || !std::isfinite(factor))
    throw FormatError(rs.path, "field '" + where + ".factor' = " + json(factor).dump() + " is not a number >= 1");
  const std::int64_t rd = c.rope.rotary_dim > 0 ? c.rope.rotary_dim : c.head_dim;
  if (rd <= 0 || rd % 2 != 0 || rd > ModelConfig::kMaxDimension) return;  // validate() names the problem
  const std::int64_t half = rd / 2;
  // Plain inverse frequencies in f32, as transformers computes them.
  std::vector<double> inv(static_cast<std::size_t>(half));
  for (std::int64_t i = 0; i < half; ++i)
    inv[static_cast<std::size_t>(i)] = 1.0f / std::pow(c.rope.theta, static_cast<float>(2 * i) / static_cast<float>(rd));
  std::vector<float>& ff = c.rope.freq_factors;
  ff.assign(static_cast<std::size_t>(half), 1.0f);
  if (type == "linear") {
    std::fill(ff.begin(), ff.end(), static_cast<float>(factor));
  } else if (type == "llama3") {
    const double low = rs.get<double>("low_freq_factor"), high = rs.get<double>("high_freq_factor");
    const double old_ctx = rs.get<double>("original_max_position_embeddings");
    if (!(low > 0.0) || !(high > low) || !(old_ctx > 0.0) || !std::isfinite(high) || !std::isfinite(old_ctx))
      throw FormatError(rs.path, "'" + where + "': llama3 needs 0 < low_freq_factor < high_freq_factor and a "
                                               "positive original_max_position_embeddings");
    const double low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
    for (std::size_t i = 0; i < ff.size(); ++i) {
      const double wavelen = 2.0 * M_PI / inv[i];
      if (wavelen > low_wavelen) {
        ff[i] = static_cast<float>(factor);
      } else if (wavelen >= high_wavelen) {  // between the two: smooth
        const double smooth = (old_ctx / wavelen - low) / (high - low);
        ff[i] = static_cast<float>(1.0 / ((1.0 - smooth) / factor + smooth));
      }
    }
  } else {  // yarn
    const double attention = rs.get<double>("attention_factor", 0.1 * std::log(factor) + 1.0);
    const double beta_fast = rs.get<double>("beta_fast", 32.0), beta_slow = rs.get<double>("beta_slow", 1.0);
    if (!(attention > 0.0) || !std::isfinite(attention) || !(beta_fast > 0.0) || !(beta_slow > 0.0) ||
        !std::isfinite(beta_fast) || !std::isfinite(beta_slow))
      throw FormatError(rs.path, "'" + where + "': yarn attention_factor, beta_fast and beta_slow must be positive");
    const double max_pos = static_cast<double>(c.max_seq_len), d = static_cast<double>(rd);
    const double base = static_cast<double>(c.rope.theta);
    auto correction_dim = [&](double rotations) {
      return d * std::log(max_pos / (rotations * 2.0 * M_PI)) / (2.0 * std::log(base));
    };
    const double lo = std::max(std::floor(correction_dim(beta_fast)), 0.0);
    double hi = std::min(std::ceil(correction_dim(beta_slow)), d - 1.0);
    if (lo == hi) hi += 0.001;
    for (std::size_t i = 0; i < ff.size(); ++i) {
      // extrapolation weight: 1 for the fastest pairs, 0 for the slowest.
      const double ramp = std::clamp((static_cast<double>(i) - lo) / (hi - lo), 0.0, 1.0);
      const double extrapolate = 1.0 - ramp;
      ff[i] = static_cast<float>(1.0 / ((1.0 - extrapolate) / factor + extrapolate));
    }
    c.rope.attn_factor = static_cast<float>(attention);
  }
}

// llama, mistral and qwen2 share one layout; they differ in the defaults
// their registry entry holds.
ModelConfig llama_like_config(const ConfigReader& r, const ArchSpec& spec) {
  ModelConfig c = spec.base;
  c.architecture = r.get<std::string>("model_type");
  c.vocab_size = r.get<std::int64_t>("vocab_size");
  c.d_model = r.get<std::int64_t>("hidden_size");
  c.n_layer = r.get<std::int64_t>("num_hidden_layers");
  c.n_head = r.get<std::int64_t>("num_attention_heads");
  c.n_kv_head = r.get<std::int64_t>("num_key_value_heads", c.n_head);
  c.head_dim = r.get<std::int64_t>("head_dim", c.n_head > 0 ? c.d_model / c.n_head : 0);
  c.d_ff = r.get<std::int64_t>("intermediate_size");
  c.max_seq_len = r.get<std::int64_t>("max_position_embeddings", 2048);
  c.norm_eps = r.get<float>("rms_norm_eps", 1e-6f);
  c.rope.layout = RopeLayout::HalfSplit;
  // transformers >= 5 nests rope settings in rope_parameters; older writes
  // rope_theta / rope_scaling at the top level.
  c.rope.theta = r.get<float>("rope_theta", 10000.0f);
  if (r.has("rope_parameters")) c.rope.theta = ConfigReader{r.j["rope_parameters"], r.path}.get<float>("rope_theta", c.rope.theta);
  const double partial = r.get<double>("partial_rotary_factor", 1.0);
  if (!(partial > 0.0 && partial <= 1.0))
    throw FormatError(r.path, "partial_rotary_factor " + json(partial).dump() + " is not in (0, 1]");
  if (c.head_dim > 0 && c.head_dim <= ModelConfig::kMaxDimension)  // else validate() refuses head_dim
    c.rope.rotary_dim = static_cast<std::int64_t>(static_cast<double>(c.head_dim) * partial);
  if (r.has("rope_scaling")) read_rope_scaling(ConfigReader{r.j["rope_scaling"], r.path}, "rope_scaling", c);
  else if (r.has("rope_parameters")) read_rope_scaling(ConfigReader{r.j["rope_parameters"], r.path}, "rope_parameters", c);
  auto reads = [&](const char* field) {
    return std::any_of(spec.hf_fields.begin(), spec.hf_fields.end(), [&](const char* f) { return std::string_view(f) == field; });
  };
  // Gemma's MLP uses hidden_activation (hidden_act is its older name).
  const bool gemma_act = reads("hidden_activation") && r.has("hidden_activation");
  c.activation = parse_activation(gemma_act ? r.get<std::string>("hidden_activation")
                                            : r.get<std::string>("hidden_act", "silu"), r.path);
  c.attn_qkv_bias = r.get<bool>("attention_bias", spec.base.attn_qkv_bias);
  c.attn_out_bias = spec.hf_attention_bias_on_output && c.attn_qkv_bias;
  c.mlp_bias = r.get<bool>("mlp_bias", false);
  // save_pretrained omits a value equal to the class default.
  c.tied_embeddings = r.get<bool>("tie_word_embeddings", spec.base.tied_embeddings);
  // Gemma: soft-capping (null: none), query_pre_attn_scalar, (1 + w) norms,
  // sqrt(d_model)-scaled embeddings (in f32, as the model's dtype here).
  if (reads("attn_logit_softcapping")) c.attn_logit_softcap = r.get<float>("attn_logit_softcapping", 0.0f);
  if (reads("final_logit_softcapping")) c.final_logit_softcap = r.get<float>("final_logit_softcapping", 0.0f);
  if (reads("query_pre_attn_scalar") && r.has("query_pre_attn_scalar")) {
    const double s = r.get<double>("query_pre_attn_scalar");
    if (!(s > 0.0)) throw FormatError(r.path, "field 'query_pre_attn_scalar' must be positive");
    c.attention_scale = static_cast<float>(std::pow(s, -0.5));
  }
  c.norm_weight_offset = spec.hf_norm_weight_offset;
  if (spec.scale_embeddings) c.embedding_scale = static_cast<float>(std::sqrt(static_cast<double>(c.d_model)));
  // Sliding windows: Mistral's sliding_window applies to every layer;
  // Qwen2 announces its (layer-dependent) window with use_sliding_window,
  // which is not implemented; layer_types picks windowed layers one by one.
  if (r.has("use_sliding_window")) {
    if (r.get<bool>("use_sliding_window"))
      throw UnsupportedModel(r.path + ": field 'use_sliding_window' = true is not supported");
  } else {
    c.sliding_window = r.get<std::int64_t>("sliding_window", 0);
  }
  // Architectures whose windowed layers follow a fixed pattern (Gemma 2:
  // the even layers) when config.json does not list layer_types.
  if (spec.hf_swa_pattern > 0 && c.sliding_window > 0 && !r.has("layer_types") && c.n_layer > 0) {
    if (c.n_layer > 65536) throw UnsupportedModel(r.path + ": num_hidden_layers " + std::to_string(c.n_layer) + " is too large");
    const std::int64_t pattern = r.get<std::int64_t>("sliding_window_pattern", spec.hf_swa_pattern);
    if (pattern <= 0) throw FormatError(r.path, "field 'sliding_window_pattern' must be positive");
    for (std::int64_t l = 0; l < c.n_layer; ++l) c.layers.push_back({l % pattern < pattern - 1 ? c.sliding_window : 0, 0.0f});
  }
  if (r.has("layer_types")) {
    const json& types = r.j["layer_types"];
    if (!types.is_array()) throw FormatError(r.path, "field 'layer_types' is not an array");
    if (c.n_layer >= 0 && types.size() != static_cast<std::size_t>(c.n_layer))
      throw FormatError(r.path, "field 'layer_types' has " + std::to_string(types.size()) + " entries for " +
                                    std::to_string(c.n_layer) + " layers");
    for (const json& t : types) {
      if (t == "full_attention") c.layers.push_back({0, 0.0f});
      else if (t == "sliding_attention" && c.sliding_window > 0) c.layers.push_back({c.sliding_window, 0.0f});
      else throw UnsupportedModel(r.path + ": field 'layer_types' entry " + t.dump() + " is not supported");
    }
  }
  // Windowed layers with a rope of their own (Gemma 3: base
  // rope_local_base_freq, no rope scaling).
  for (LayerConfig& lc : c.layers) {
    if (lc.sliding_window == 0) continue;
    if (spec.hf_local_rope_theta) lc.rope_theta = r.get<float>(spec.hf_local_rope_theta, 10000.0f);
    lc.rope_scaled = !spec.swa_rope_unscaled;
  }
  c.bos_token_id = r.get<std::int64_t>("bos_token_id", -1);
  read_eos(r, c);
  return c;
}

// GPT-NeoX (Pythia): its own field names; rotary over rotary_pct of each
// head with base rotary_emb_base; parallel residual unless switched off.
ModelConfig neox_config(const ConfigReader& r, const ArchSpec& spec) {
  ModelConfig c = spec.base;
  c.architecture = spec.name;
  c.vocab_size = r.get<std::int64_t>("vocab_size");
  c.d_model = r.get<std::int64_t>("hidden_size");
  c.n_layer = r.get<std::int64_t>("num_hidden_layers");
  c.n_head = r.get<std::int64_t>("num_attention_heads");
  c.n_kv_head = c.n_head;
  c.head_dim = c.n_head > 0 ? c.d_model / c.n_head : 0;
  if (c.n_head > 0 && c.d_model % c.n_head != 0)
    throw UnsupportedModel(r.path + ": hidden_size is not a multiple of num_attention_heads");
  c.d_ff = r.get<std::int64_t>("intermediate_size");
  c.max_seq_len = r.get<std::int64_t>("max_position_embeddings", 2048);
  c.norm_eps = r.get<float>("layer_norm_eps", 1e-5f);
  c.activation = parse_activation(r.get<std::string>("hidden_act", "gelu"), r.path);
  // transformers >= 4.45 also writes these under the generic names
  // (rope_theta, partial_rotary_factor) and newer versions read only those;
  // a file whose two names disagree is ambiguous.
  auto either = [&](const char* old_name, const char* new_name, double fallback) {
    const double a = r.get<double>(old_name, fallback), b = r.get<double>(new_name, a);
    if (r.has(old_name) && r.has(new_name) && a != b)
      throw UnsupportedModel(r.path + ": fields '" + old_name + "' and '" + new_name + "' disagree");
    return r.has(new_name) ? b : a;
  };
  c.rope.theta = static_cast<float>(either("rotary_emb_base", "rope_theta", 10000.0));
  c.rope.layout = RopeLayout::HalfSplit;
  const double pct = either("rotary_pct", "partial_rotary_factor", 0.25);
  if (!(pct > 0.0 && pct <= 1.0)) throw FormatError(r.path, "rotary_pct " + json(pct).dump() + " is not in (0, 1]");
  if (c.head_dim > 0 && c.head_dim <= ModelConfig::kMaxDimension)
    c.rope.rotary_dim = static_cast<std::int64_t>(static_cast<double>(c.head_dim) * pct);
  if (r.has("rope_scaling")) read_rope_scaling(ConfigReader{r.j["rope_scaling"], r.path}, "rope_scaling", c);
  c.parallel_residual = r.get<bool>("use_parallel_residual", true);
  const bool bias = r.get<bool>("attention_bias", true);
  c.attn_qkv_bias = c.attn_out_bias = bias;
  c.tied_embeddings = r.get<bool>("tie_word_embeddings", false);
  c.bos_token_id = r.get<std::int64_t>("bos_token_id", -1);
  read_eos(r, c);
  return c;
}

// Checkpoint name -> canonical name, and how the weight is stored
// (TensorNameRule: transposed Conv1D, head-by-head q/k/v).
struct NameRule {
  std::regex pattern;
  std::string canonical;  // "$1" is the layer index
  bool transposed = false;
  bool heads_qkv = false;
};

std::vector<NameRule> name_rules(const ArchSpec& spec) {
  std::vector<NameRule> rules;
  for (const TensorNameRule& t : spec.hf_tensor_names)
    rules.push_back({std::regex(t.pattern), t.canonical, t.transposed, t.heads_qkv});
  return rules;
}

// Refuses a field of kHfRefusedFields that has a non-neutral value, unless
// the architecture reads it.
void refuse_unimplemented_fields(const ConfigReader& r, const ArchSpec& spec) {
  for (const HfRefusedField& f : kHfRefusedFields) {
    if (!r.has(f.name)) continue;
    if (std::any_of(spec.hf_fields.begin(), spec.hf_fields.end(), [&](const char* n) { return std::string_view(n) == f.name; }))
      continue;
    const json& v = r.j[f.name];
    bool neutral = false;
    for (const char* n : f.neutral) {
      const json nv = json::parse(n);
      if (v == nv || (v.is_number() && nv.is_number() && v.get<double>() == nv.get<double>())) neutral = true;
    }
    if (!neutral)
      throw UnsupportedModel(r.path + ": field '" + f.name + "' = " + v.dump() +
                             " is not supported (the feature it configures is not implemented)");
  }
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

// A fused q/k/v weight [n_head * 3 * hd, cols] (or bias) stored head by
// head (q, k, v of head 0, then head 1...) reordered to [q | k | v], rows
// copied as they are (any dense type).
TensorView heads_qkv_to_blocks(const TensorView& t, const std::string& name, const ModelConfig& c, ModelData& m,
                               const std::string& file) {
  const std::int64_t hd = c.head_dim, nh = c.n_head;
  if (t.shape.empty() || t.shape.size() > 2 || t.shape[0] != 3 * nh * hd)
    throw FormatError(file, "has shape " + t.shape_string() + ", expected " + std::to_string(3 * nh * hd) +
                                " rows (3 x num_attention_heads x head size)", std::nullopt, t.name);
  const std::int64_t cols = t.shape.size() == 2 ? t.shape[1] : 1;
  const std::size_t row = dtype_bytes(t.dtype, cols);
  if (row * static_cast<std::size_t>(3 * nh * hd) != t.nbytes)
    throw FormatError(file, "has a size that does not match its shape", std::nullopt, t.name);
  auto buf = std::shared_ptr<std::byte[]>(new std::byte[t.nbytes]);
  for (std::int64_t h = 0; h < nh; ++h)
    for (std::int64_t part = 0; part < 3; ++part)
      for (std::int64_t i = 0; i < hd; ++i) {
        const std::int64_t from = (h * 3 + part) * hd + i, to = (part * nh + h) * hd + i;
        std::memcpy(buf.get() + static_cast<std::size_t>(to) * row, t.data + static_cast<std::size_t>(from) * row, row);
      }
  TensorView v = t;
  v.name = name;
  v.data = buf.get();
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

  const ArchSpec* spec = find_hf_arch(type);
  if (!spec || spec->hf_family == HfConfigFamily::None)
    throw UnsupportedModel(cpath + ": model_type '" + type + "' is not supported (" + known_hf_types() + " are)");
  refuse_unimplemented_fields(r, *spec);

  auto m = std::make_unique<ModelData>();
  m->path = path;
  switch (spec->hf_family) {
    case HfConfigFamily::Gpt2: m->config = gpt2_config(r, *spec); break;
    case HfConfigFamily::LlamaLike: m->config = llama_like_config(r, *spec); break;
    case HfConfigFamily::NeoX: m->config = neox_config(r, *spec); break;
    case HfConfigFamily::None: break;
  }
  m->config.validate();

  const io::SafetensorsCheckpoint ck = io::open_safetensors(path);
  for (const auto& f : ck.files) m->storage.push_back(f);
  const auto rules = name_rules(*spec);
  // Buffers some checkpoints save that are not weights: rotary frequency
  // tables (recomputed from the config) and GPT-2's causal-mask buffers.
  static const std::regex buffers(
      R"(^.*rotary_emb\.inv_freq$|^(?:transformer\.)?h\.\d+\.attn\.(?:bias|masked_bias)$|^gpt_neox\.layers\.\d+\.attention\.(?:bias|masked_bias)$)");
  for (const auto& [name, entry] : ck.tensors) {
    const auto& [view, file] = entry;
    bool known = false;
    for (const auto& rule : rules) {
      std::smatch match;
      if (!std::regex_match(name, match, rule.pattern)) continue;
      const std::string canonical = match.format(rule.canonical);
      TensorView v = rule.transposed    ? transpose_to_f32(view, canonical, *m, file)
                     : rule.heads_qkv ? heads_qkv_to_blocks(view, canonical, m->config, *m, file)
                                      : view;
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
