// The default model (SmolLM2-135M-Instruct, Q4_1 GGUF) against llama.cpp and
// transformers on the same file. References: tests/data/conformance, written
// by tools/make_llamacpp_fixtures.py. The model itself is fetched by
// tools/fetch-model (CI runs it first).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "gpt/generate.h"
#include "gpt/gpt.h"
#include "test_util.h"

namespace gpt {
namespace {

const std::string kModel = std::string(GPT_MODELS_DIR) + "/SmolLM2-135M-Instruct.Q4_1.gguf";

std::shared_ptr<const LanguageModel> default_model() {
  static std::shared_ptr<const LanguageModel> lm = [] {
    if (!std::filesystem::exists(kModel))
      throw std::runtime_error(kModel + " is missing: run tools/fetch-model first");
    return LanguageModel::load(kModel);
  }();
  return lm;
}

struct Stats {
  double nmse = 0, max_abs = 0;
};

// NMSE and max |diff| of ours against the reference's top-k entries.
Stats compare_top(const RowMatrix& ours, const nlohmann::json& ids, const nlohmann::json& vals) {
  double err = 0, norm = 0, mx = 0;
  for (std::size_t t = 0; t < ids.size(); ++t)
    for (std::size_t k = 0; k < ids[t].size(); ++k) {
      const double ref = vals[t][k].get<double>();
      const double d = double(ours(Eigen::Index(t), ids[t][k].get<Eigen::Index>())) - ref;
      err += d * d;
      norm += ref * ref;
      mx = std::max(mx, std::abs(d));
    }
  return {err / norm, mx};
}

class Conformance : public ::testing::TestWithParam<std::string> {
 protected:
  static const nlohmann::json& cases() {
    static const nlohmann::json j = test::read_json(test::data_path("conformance/smollm2.json"));
    return j["cases"];
  }
  static const nlohmann::json& get(const std::string& name) {
    for (const auto& c : cases())
      if (c["name"] == name) return c;
    throw std::runtime_error("no conformance case " + name);
  }
};

TEST_P(Conformance, LogitsMatchLlamaCpp) {
  const auto lm = default_model();
  const auto& c = get(GetParam());
  const std::vector<Token> tokens = c["tokens"].get<std::vector<Token>>();
  Session s(lm->model_ptr(), {.context_length = 512});
  const RowMatrix logits = s.forward(tokens);

  // Full vocabulary at the last position (the reference is stored as f16).
  const test::Fixture last("conformance/smollm2_last.safetensors");
  const Eigen::VectorXf ref_last = last.vector(GetParam());
  const Eigen::VectorXf ours_last = logits.bottomRows(1).transpose();
  const double nmse_last = (ours_last - ref_last).squaredNorm() / ref_last.squaredNorm();
  const double max_last = (ours_last - ref_last).cwiseAbs().maxCoeff();
  // Every position, on llama.cpp's 40 most likely tokens.
  const Stats top = compare_top(logits, c["llamacpp"]["top_ids"], c["llamacpp"]["top_logits"]);
  const Stats hf = compare_top(logits, c["transformers"]["top_ids"], c["transformers"]["top_logits"]);
  std::printf("[ measure  ] %-8s %3zu tokens | vs llama.cpp: last-position NMSE %.2e max|d| %.4f, top-40 all positions "
              "NMSE %.2e max|d| %.4f | vs transformers top-40: NMSE %.2e max|d| %.4f\n",
              GetParam().c_str(), tokens.size(), nmse_last, max_last, top.nmse, top.max_abs, hf.nmse, hf.max_abs);
  EXPECT_LE(nmse_last, 1e-4);
  EXPECT_LE(top.nmse, 1e-4);
}

TEST_P(Conformance, GreedyContinuationMatchesLlamaCpp) {
  const auto lm = default_model();
  const auto& c = get(GetParam());
  Session s(lm->model_ptr(), {.context_length = 512});
  const auto ours = greedy_generate(s, c["tokens"].get<std::vector<Token>>(), 32);
  EXPECT_EQ(ours, c["llamacpp"]["greedy"].get<std::vector<Token>>());
}

TEST_P(Conformance, TokenizerMatchesLlamaCpp) {
  const auto lm = default_model();
  const auto& c = get(GetParam());
  const auto ids = lm->tokenizer().encode(c["text"].get<std::string>(),
                                          {.add_special_tokens = false, .parse_special = c["special"].get<bool>()});
  EXPECT_EQ(ids, c["tokens"].get<std::vector<Token>>());
}

INSTANTIATE_TEST_SUITE_P(SmolLM2, Conformance,
                         ::testing::Values("english", "code", "chinese", "chat", "numbers", "mixed"));

TEST(TinyQ8_0, MatchesLlamaCpp) {
  const auto model = Model::load(test::data_path("gguf/llama.Q8_0.gguf"));
  const auto j = test::read_json(test::data_path("gguf/llama.Q8_0.llamacpp.json"));
  const auto tokens = j["tokens"].get<std::vector<Token>>();
  Session s(model);
  const RowMatrix logits = s.forward(tokens);
  double err = 0, norm = 0;
  for (std::size_t t = 0; t < tokens.size(); ++t)
    for (std::size_t v = 0; v < j["logits"][t].size(); ++v) {
      const double ref = j["logits"][t][v].get<double>();
      err += std::pow(double(logits(Eigen::Index(t), Eigen::Index(v))) - ref, 2);
      norm += ref * ref;
    }
  std::printf("[ measure  ] tiny llama.Q8_0.gguf vs llama.cpp: NMSE %.2e\n", err / norm);
  EXPECT_LE(err / norm, 1e-4);
  Session g(model);
  EXPECT_EQ(greedy_generate(g, tokens, 20), j["greedy"].get<std::vector<Token>>());
}

}  // namespace
}  // namespace gpt
