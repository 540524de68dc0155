// Every checkpoint setting that changes the math and that the engine does not
// implement is refused with an error naming it: a table of GGUF metadata keys
// and of Hugging Face config.json fields, each added to a checkpoint that
// loads without it. Neutral values (the one value that changes nothing) load.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gpt/error.h"
#include "gpt/model.h"
#include "io/gguf.h"
#include "test_util.h"

namespace gpt {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using io::GgufType;

// --- a tiny llama GGUF (d_model 8, one block, vocab 4, zero weights) ----------

struct Bytes {
  std::string b;
  template <typename T>
  Bytes& put(T v) {
    char tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    b.append(tmp, sizeof(T));
    return *this;
  }
  Bytes& str(const std::string& s) { return put<std::uint64_t>(s.size()), b += s, *this; }
  Bytes& type(GgufType t) { return put<std::uint32_t>(static_cast<std::uint32_t>(t)); }
};

// A metadata value: its GGUF type and encoded bytes.
struct Value {
  GgufType type;
  std::string bytes;
};
Value u32(std::uint32_t v) { return {GgufType::UINT32, Bytes().put(v).b}; }
Value f32(float v) { return {GgufType::FLOAT32, Bytes().put(v).b}; }
Value boolean(bool v) { return {GgufType::BOOL, Bytes().put<std::uint8_t>(v).b}; }
Value str(const std::string& v) { return {GgufType::STRING, Bytes().str(v).b}; }

std::string tiny_llama(const std::vector<std::pair<std::string, Value>>& extra) {
  std::vector<std::pair<std::string, Value>> kv = {
      {"general.architecture", str("llama")},   {"llama.embedding_length", u32(8)},
      {"llama.block_count", u32(1)},            {"llama.attention.head_count", u32(2)},
      {"llama.feed_forward_length", u32(16)},   {"llama.context_length", u32(32)}};
  kv.insert(kv.end(), extra.begin(), extra.end());
  struct T {
    std::string name;
    std::vector<std::uint64_t> ne;
  };
  std::vector<T> tensors = {{"token_embd.weight", {8, 4}},     {"output_norm.weight", {8}},
                            {"blk.0.attn_norm.weight", {8}},   {"blk.0.ffn_norm.weight", {8}},
                            {"blk.0.attn_q.weight", {8, 8}},   {"blk.0.attn_k.weight", {8, 8}},
                            {"blk.0.attn_v.weight", {8, 8}},   {"blk.0.attn_output.weight", {8, 8}},
                            {"blk.0.ffn_gate.weight", {8, 16}}, {"blk.0.ffn_up.weight", {8, 16}},
                            {"blk.0.ffn_down.weight", {16, 8}}};
  Bytes out;
  out.b = "GGUF";
  out.put<std::uint32_t>(3).put<std::uint64_t>(tensors.size()).put<std::uint64_t>(kv.size());
  for (const auto& [k, v] : kv) out.str(k).type(v.type).b += v.bytes;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    out.str(t.name).put<std::uint32_t>(static_cast<std::uint32_t>(t.ne.size()));
    std::uint64_t bytes = 4;
    for (auto d : t.ne) out.put<std::uint64_t>(d), bytes *= d;
    out.put<std::uint32_t>(0).put<std::uint64_t>(offset);
    offset += (bytes + 31) / 32 * 32;
  }
  while (out.b.size() % 32) out.b.push_back('\0');
  out.b.append(static_cast<std::size_t>(offset), '\0');
  return out.b;
}

fs::path write_temp(const std::string& name, const std::string& bytes) {
  const fs::path p = fs::temp_directory_path() / ("gpt_refused_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

// The message of the UnsupportedModel loading `path` throws ("" if it loads).
std::string refusal(const fs::path& path) {
  try {
    Model::load(path);
  } catch (const UnsupportedModel& e) {
    return e.what();
  }
  return "";
}

TEST(RefusedGgufKeys, TheBaseFileLoads) {
  const auto p = write_temp("base.gguf", tiny_llama({}));
  EXPECT_NO_THROW(Model::load(p));
  fs::remove(p);
}

struct GgufCase {
  const char* key;  // without the "llama." prefix
  Value value;
};

// Rope scaling of every kind, experts, soft-capping, parallel residuals,
// extra scales, windows and sinks the llama decoder does not run.
TEST(RefusedGgufKeys, EachIsRefusedByName) {
  const std::vector<GgufCase> cases = {
      {"rope.scaling.type", str("longrope")},      {"rope.scaling.type", str("yarn")},
      {"rope.freq_scale", f32(0.25f)},             {"rope.scaling.original_context_length", u32(8192)},
      {"rope.scaling.attn_factor", f32(1.1f)},     {"rope.scaling.yarn_log_multiplier", f32(0.1f)},
      {"rope.dimension_sections", u32(4)},         {"expert_count", u32(8)},
      {"expert_used_count", u32(2)},               {"expert_feed_forward_length", u32(16)},
      {"expert_shared_count", u32(1)},             {"attn_logit_softcapping", f32(50.0f)},
      {"final_logit_softcapping", f32(30.0f)},     {"use_parallel_residual", boolean(true)},
      {"logit_scale", f32(0.5f)},                  {"embedding_scale", f32(12.0f)},
      {"residual_scale", f32(0.2f)},               {"attention.scale", f32(0.1f)},
      {"attention.clamp_kqv", f32(8.0f)},          {"attention.causal", boolean(false)},
      {"attention.sliding_window", u32(4)},        {"attention.sliding_window_pattern", u32(2)},
      {"rope.freq_base_swa", f32(10000.0f)},       {"attention.value_length", u32(8)},
      {"attention.q_lora_rank", u32(4)},           {"attention.kv_lora_rank", u32(4)},
      {"swin_norm", boolean(true)},                {"attention.layer_norm_epsilon", f32(1e-5f)},
      {"attn_sinks", boolean(true)},               {"leading_dense_block_count", u32(1)},
  };
  for (const auto& c : cases) {
    const std::string key = std::string("llama.") + c.key;
    const auto p = write_temp("case.gguf", tiny_llama({{key, c.value}}));
    const std::string msg = refusal(p);
    fs::remove(p);
    if (std::string(c.key) == "attention.layer_norm_epsilon") {
      // An epsilon of a norm llama does not have changes nothing: not refused.
      EXPECT_EQ(msg, "") << key;
      continue;
    }
    EXPECT_NE(msg.find("'" + key + "'"), std::string::npos) << key << " was not refused by name: '" << msg << "'";
  }
}

TEST(RefusedGgufKeys, NeutralValuesLoad) {
  const std::vector<GgufCase> neutral = {
      {"rope.scaling.type", str("none")}, {"rope.freq_scale", f32(1.0f)},   {"expert_count", u32(0)},
      {"rope.scaling.type", str("linear")}, {"rope.scaling.factor", f32(1.0f)},
      {"attention.causal", boolean(true)}, {"final_logit_softcapping", f32(0.0f)},
      {"use_parallel_residual", boolean(false)}, {"attention.value_length", u32(4)}};
  for (const auto& c : neutral) {
    const auto p = write_temp("neutral.gguf", tiny_llama({{std::string("llama.") + c.key, c.value}}));
    EXPECT_EQ(refusal(p), "") << c.key;
    fs::remove(p);
  }
}

// --- Hugging Face config.json fields, on the tiny llama fixture ---------------

fs::path hf_with(const std::string& field, const json& value) {
  const fs::path dir = fs::temp_directory_path() / ("gpt_refused_hf_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path src = test::data_path("models/llama");
  fs::copy_file(src / "model.safetensors", dir / "model.safetensors", fs::copy_options::overwrite_existing);
  json config = test::read_json((src / "config.json").string());
  if (!field.empty()) config[field] = value;
  std::ofstream(dir / "config.json") << config.dump();
  return dir;
}

TEST(RefusedHfFields, TheBaseCheckpointLoads) {
  const auto dir = hf_with("", nullptr);
  EXPECT_EQ(refusal(dir), "");
  fs::remove_all(dir);
}

TEST(RefusedHfFields, EachIsRefusedByName) {
  const std::vector<std::pair<std::string, json>> cases = {
      // Scaling types that are implemented, with a key their type does not
      // define (or one whose meaning transformers versions disagree on).
      {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                        {"original_max_position_embeddings", 64}, {"beta_fast", 32}}},
      {"rope_scaling", {{"type", "linear"}, {"factor", 2.0}, {"original_max_position_embeddings", 64}}},
      {"rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 64}}},
      {"rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0}, {"mscale", 0.707}}},
      {"rope_parameters", {{"rope_theta", 10000.0}, {"rope_type", "linear"}, {"factor", 2.0}, {"partial_rotary_factor", 0.5}}},
      {"rope_scaling", {{"rope_type", "dynamic"}, {"factor", 2.0}}},
      {"rope_parameters", {{"rope_theta", 10000.0}, {"rope_type", "longrope"}}},
      {"attn_logit_softcapping", 50.0},
      {"final_logit_softcapping", 30.0},
      {"query_pre_attn_scalar", 256},
      {"num_experts", 8},
      {"num_local_experts", 8},
      {"n_routed_experts", 64},
      {"num_experts_per_tok", 2},
      {"moe_intermediate_size", 64},
      {"decoder_sparse_step", 1},
      {"mlp_only_layers", {0}},
      {"attention_sink", true},
      {"use_sink", true},
      {"embedding_multiplier", 12.0},
      {"logits_scaling", 8.0},
      {"residual_multiplier", 0.22},
      {"attention_multiplier", 0.0078125},
      {"scale_embedding", true},
      {"use_qk_norm", true},
      {"qk_layernorm", true},
      {"use_parallel_residual", true},
      {"parallel_attn", true},
      {"clip_qkv", 8.0},
      {"alibi", true},
      {"no_rope_layers", {1, 1}},
      {"rope_interleaved", true},
      {"use_bidirectional_attention", true},
      {"use_sliding_window", true},
      {"layer_types", {"sliding_attention", "full_attention"}},
      {"hidden_act", "gelu_quick"},
  };
  for (const auto& [field, value] : cases) {
    const auto dir = hf_with(field, value);
    const std::string msg = refusal(dir);
    fs::remove_all(dir);
    // The message names the field, or (rope types, activations) its value.
    const bool named = msg.find(field) != std::string::npos ||
                       (value.is_object() && msg.find("rope type") != std::string::npos) ||
                       (value.is_string() && msg.find(value.get<std::string>()) != std::string::npos);
    EXPECT_TRUE(named) << field << " = " << value.dump() << " was not refused by name: '" << msg << "'";
  }
}

TEST(RefusedHfFields, NeutralValuesLoad) {
  const std::vector<std::pair<std::string, json>> neutral = {
      {"num_experts", 0}, {"use_qk_norm", false}, {"final_logit_softcapping", nullptr},
      {"use_sliding_window", false}, {"layer_types", {"full_attention", "full_attention"}},
      {"rope_scaling", nullptr}, {"embedding_multiplier", 1.0}};
  for (const auto& [field, value] : neutral) {
    const auto dir = hf_with(field, value);
    EXPECT_EQ(refusal(dir), "") << field << " = " << value.dump();
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace gpt
