// The default model (SmolLM2-135M-Instruct, Q4_1 GGUF) against llama.cpp and
// transformers on the same file. References: tests/data/conformance, written
// by tools/make_llamacpp_fixtures.py. The model itself is fetched by
// tools/fetch-model (CI runs it first).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "gpt/generate.h"
#include "gpt/gpt.h"
#include "test_util.h"
#include "default_model.h"

namespace gpt {
namespace {

using test::default_model;

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

// This model is numerically fragile: its activations have outliers of a few
// hundred, and products round activations to 8 bits (as llama.cpp does), so
// an ulp of difference anywhere can move a value across a rounding boundary.
// llama.cpp's own default f16 KV cache and the f32 one used for the reference
// differ by NMSE 8e-5 .. 3e-4 (top-40, all positions) and 4e-5 .. 5e-3 (last
// position), stored in the fixture and printed beside ours. The bounds here
// are for regressions: a wrong block layout or rotary pairing gives NMSE far
// above 1e-2.
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
  std::printf("[ measure  ] %-8s %2zu tokens | vs llama.cpp (f32 KV): top-40 NMSE %.2e max|d| %.3f, last-position NMSE "
              "%.2e max|d| %.3f | llama.cpp f16 KV vs f32 KV: top-40 %.2e, last %.2e | vs transformers top-40: NMSE "
              "%.2e max|d| %.3f\n",
              GetParam().c_str(), tokens.size(), top.nmse, top.max_abs, nmse_last, max_last,
              c["llamacpp"]["f16_kv_cache_nmse_top"].get<double>(), c["llamacpp"]["f16_kv_cache_nmse_last"].get<double>(),
              hf.nmse, hf.max_abs);
  EXPECT_LE(top.nmse, 1e-3);
  EXPECT_LE(nmse_last, 1e-2);
  EXPECT_LE(hf.nmse, 1e-3);
}

// Greedy tokens equal llama.cpp's until the two engines reach a near-tie,
// of any number of tokens. At the first step where they part, call a =
// llama.cpp's token and b = ours: llama.cpp puts b g_L = L[a] - L[b] below a,
// we put a g_O = O[b] - O[a] below b, so the two engines disagree on the
// difference a - b by g_L + g_O. That must be no more than they disagree on
// such differences anyway: D, the largest |(O[a] - O[k]) - (L[a] - L[k])|
// over every prompt position (a = llama.cpp's best there, k its 8 best),
// measured in the same run. The two engines round activations to 8 bits at
// slightly different points of a numerically fragile model, and CPUs with
// and without AVX-512 accumulate in different orders, so D is a few tenths;
// a wrong layout or kernel gives NMSE far above LogitsMatchLlamaCpp's
// bounds. Past the split the contexts differ and the comparison ends.
double pairwise_disagreement(const RowMatrix& ours, const nlohmann::json& ids, const nlohmann::json& vals) {
  double d = 0;
  for (std::size_t t = 0; t < ids.size(); ++t) {
    const auto a = ids[t][0].get<Eigen::Index>();
    const double la = vals[t][0].get<double>();
    for (std::size_t k = 1; k < 8; ++k) {
      const auto b = ids[t][k].get<Eigen::Index>();
      const double ours_diff = double(ours(Eigen::Index(t), a)) - double(ours(Eigen::Index(t), b));
      d = std::max(d, std::abs(ours_diff - (la - vals[t][k].get<double>())));
    }
  }
  return d;
}

TEST_P(Conformance, GreedyContinuationMatchesLlamaCpp) {
  const auto lm = default_model();
  const auto& c = get(GetParam());
  const auto prompt = c["tokens"].get<std::vector<Token>>();
  Session s(lm->model_ptr(), {.context_length = 512});
  const auto ours = greedy_generate(s, prompt, 32);
  const auto& ref = c["llamacpp"];
  const auto theirs = ref["greedy"].get<std::vector<Token>>();
  ASSERT_EQ(ours.size(), theirs.size());
  std::size_t i = 0;
  while (i < ours.size() && ours[i] == theirs[i]) ++i;
  std::printf("[ measure  ] %-8s greedy: %zu of 32 tokens equal to llama.cpp's", GetParam().c_str(), i);
  if (i == ours.size()) {
    std::printf("\n");
    return;
  }
  // llama.cpp's view of the step: its best logit and its logit for our token.
  const auto ids = ref["greedy_top_ids"][i].get<std::vector<Token>>();
  const auto vals = ref["greedy_top_logits"][i].get<std::vector<double>>();
  const auto at = std::find(ids.begin(), ids.end(), ours[i]);
  ASSERT_NE(at, ids.end()) << "step " << i << ": our token " << ours[i] << " is not among llama.cpp's 8 best";
  const double their_gap = vals.front() - vals[std::size_t(at - ids.begin())];
  // Ours: the same context (the tokens agree up to here), our logits.
  std::vector<Token> context = prompt;
  context.insert(context.end(), ours.begin(), ours.begin() + std::ptrdiff_t(i));
  Session replay(lm->model_ptr(), {.context_length = 512});
  const RowMatrix logits = replay.forward(context);
  const auto last = logits.row(logits.rows() - 1);
  const double our_gap = double(last.maxCoeff()) - double(last(theirs[i]));
  Session full(lm->model_ptr(), {.context_length = 512});
  const double D = pairwise_disagreement(full.forward(prompt), ref["top_ids"], ref["top_logits"]);
  std::printf(", then a near-tie: ours %d, llama.cpp's %d; llama.cpp puts ours %.3f below its best (rank %td of 8), "
              "we put llama.cpp's %.3f below ours; sum %.3f, prompt disagreement D %.3f\n",
              ours[i], theirs[i], their_gap, at - ids.begin() + 1, our_gap, their_gap + our_gap, D);
  EXPECT_LE(their_gap + our_gap, D) << "split at step " << i << " beyond the engines' disagreement on the prompt";
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
  // A small model without outliers: the same arithmetic gives the same bits.
  EXPECT_LE(err / norm, 1e-10);
  Session g(model);
  EXPECT_EQ(greedy_generate(g, tokens, 20), j["greedy"].get<std::vector<Token>>());
}

}  // namespace
}  // namespace gpt
