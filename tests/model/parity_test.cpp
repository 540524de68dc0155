// Whole-model parity with Hugging Face transformers: tiny random checkpoints
// saved with save_pretrained (tests/data/models, written by
// tools/make_reference_fixtures.py), loaded through the public API only.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gpt/gpt.h"
#include "test_util.h"

namespace gpt {
namespace {

using test::Reference;
using test::read_reference;

class HfParity : public ::testing::TestWithParam<std::string> {
 protected:
  std::string dir() const { return test::data_path("models/" + GetParam()); }
};

TEST_P(HfParity, FullSequenceLogitsMatchTransformers) {
  const auto model = Model::load(dir());
  const Reference ref = read_reference(dir() + "/reference.json");
  Session s(model);
  const RowMatrix logits = s.forward(ref.tokens);
  const float diff = test::max_abs_diff(logits, ref.logits);
  std::printf("[ measure  ] %s: max abs logit diff vs transformers = %.3g over %lld positions\n", GetParam().c_str(),
              double(diff), static_cast<long long>(logits.rows()));
  EXPECT_LE(diff, 1e-4f);
}

TEST_P(HfParity, IncrementalDecodingMatchesFullSequence) {
  const auto model = Model::load(dir());
  const Reference ref = read_reference(dir() + "/reference.json");
  Session s(model);
  // Prompt in two chunks, then one token at a time.
  const std::span<const Token> all(ref.tokens);
  RowMatrix logits(ref.logits.rows(), ref.logits.cols());
  logits.topRows(5) = s.forward(all.first(5));
  for (std::size_t i = 5; i < all.size(); ++i) logits.row(Eigen::Index(i)) = s.forward(all.subspan(i, 1));
  EXPECT_EQ(s.position(), static_cast<std::int64_t>(all.size()));
  EXPECT_LE(test::max_abs_diff(logits, ref.logits), 1e-4f);
}

TEST_P(HfParity, GreedyTokensMatchTransformers) {
  Session s(Model::load(dir()));
  const Reference ref = read_reference(dir() + "/reference.json");
  EXPECT_EQ(greedy_generate(s, ref.tokens, 20), ref.greedy);
}

INSTANTIATE_TEST_SUITE_P(Models, HfParity,
                         ::testing::Values("gpt2", "llama", "llama-bias", "llama-tied-bf16-sharded", "qwen2-f16",
                                           "mistral-window6", "gemma2", "gemma3-text", "gptneox", "qwen3", "phi3", "llama-rope-linear", "llama-rope-llama3",
                                           "llama-rope-yarn"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& ch : n) if (ch == '-') ch = '_';
                           return n;
                         });

TEST(ModelLoad, ConfigFromConfigJson) {
  const auto m = Model::load(test::data_path("models/llama"));
  const ModelConfig& c = m->config();
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.n_head, 4);
  EXPECT_EQ(c.n_kv_head, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_FLOAT_EQ(c.rope.theta, 50000.0f);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_NE(m->find_tensor("output.weight"), nullptr);
  const auto g = Model::load(test::data_path("models/gpt2/model.safetensors"));  // a file, config beside it
  EXPECT_EQ(g->config().position, PositionKind::Learned);
  EXPECT_TRUE(g->config().tied_embeddings);
  EXPECT_EQ(g->find_tensor("blk.0.attn_qkv.weight")->shape, (std::vector<std::int64_t>{192, 64}));  // transposed Conv1D
}

TEST(Session, RejectsBadTokensAndOverflowWithoutChangingState) {
  Session s(Model::load(test::data_path("models/gpt2")), {.context_length = 8});
  const Token ok[] = {1, 2, 3};
  s.forward(ok);
  const Token bad[] = {5, 256};
  EXPECT_THROW(s.forward(bad), InvalidArgument);
  EXPECT_EQ(s.position(), 3);
  const Token six[] = {1, 2, 3, 4, 5, 6};
  EXPECT_THROW(s.forward(six), InvalidArgument);
  EXPECT_EQ(s.position(), 3);
  s.truncate(1);
  EXPECT_EQ(s.position(), 1);
  EXPECT_THROW(Session(Model::load(test::data_path("models/gpt2")), {.context_length = 65}), InvalidArgument);
}

// A fixture tests a feature only if the feature shows: the same weights
// with the field removed from config.json (or set to the value that turns
// the feature off) must be far from the reference.
TEST(HfParityFeatures, DroppingTheFieldChangesTheLogits) {
  namespace fs = std::filesystem;
  struct Case {
    std::string model, field;
    nlohmann::json off;  // null: remove the field
  };
  const std::vector<Case> cases = {
      {"llama-rope-linear", "rope_scaling", nullptr},     {"llama-rope-llama3", "rope_scaling", nullptr},
      {"llama-rope-yarn", "rope_scaling", nullptr},       {"gemma2", "attn_logit_softcapping", nullptr},
      {"gemma2", "final_logit_softcapping", nullptr},     {"gemma2", "query_pre_attn_scalar", nullptr},
      {"gemma2", "sliding_window", nullptr},              {"gptneox", "use_parallel_residual", false},
      {"gemma3-text", "rope_scaling", nullptr},           {"gemma3-text", "rope_local_base_freq", 1000000.0},
      {"gemma3-text", "sliding_window", 1000},            {"phi3", "sliding_window", nullptr}};
  for (const auto& [name, field, off] : cases) {
    const fs::path src = test::data_path("models/" + name);
    const fs::path dir = fs::temp_directory_path() / ("gpt_feature_" + name + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::copy_file(src / "model.safetensors", dir / "model.safetensors", fs::copy_options::overwrite_existing);
    nlohmann::json config = test::read_json((src / "config.json").string());
    ASSERT_TRUE(config.contains(field)) << name << " " << field;
    if (off.is_null()) config.erase(field);
    else config[field] = off;
    std::ofstream(dir / "config.json") << config.dump();
    const Reference ref = read_reference(src.string() + "/reference.json");
    Session s(Model::load(dir.string()));
    const float diff = test::max_abs_diff(s.forward(ref.tokens), ref.logits);
    std::printf("[ measure  ] %s with %s off: max abs logit diff = %.3g\n", name.c_str(), field.c_str(), double(diff));
    EXPECT_GT(diff, 1e-2f) << name << " " << field;
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace gpt
