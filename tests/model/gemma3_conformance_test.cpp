// The real Gemma 3 270M (Q4_K_M GGUF) against llama.cpp on the same file:
// sliding-window and global layers with their two rope bases, q/k norms,
// sandwich norms, scaled embeddings, GELU-tanh gated MLP, tied output, and
// its SentencePiece vocabulary. References: tests/data/conformance/gemma3.json,
// written by tools/make_gemma3_fixtures.py. The model is fetched by
// `tools/fetch-model gemma3-270m` (CI runs it first); without it every test
// here fails with a message saying so.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "gpt/generate.h"
#include "gpt/gpt.h"
#include "test_util.h"

namespace gpt {
namespace {

const std::string kModel = std::string(GPT_MODELS_DIR) + "/gemma-3-270m-q4_k_m.gguf";

std::shared_ptr<const LanguageModel> gemma3() {
  static std::shared_ptr<const LanguageModel> lm = [] {
    if (!std::filesystem::exists(kModel))
      throw std::runtime_error(kModel + " is missing: run `tools/fetch-model gemma3-270m` first");
    return LanguageModel::load(kModel);
  }();
  return lm;
}

struct Stats {
  double nmse = 0, max_abs = 0;
};

// NMSE and max |diff| of ours against the reference's top-k entries; row t
// of the reference is row first + t of ours.
Stats compare_top(const RowMatrix& ours, const nlohmann::json& ids, const nlohmann::json& vals, std::size_t first = 0) {
  double err = 0, norm = 0, mx = 0;
  for (std::size_t t = 0; t < ids.size(); ++t)
    for (std::size_t k = 0; k < ids[t].size(); ++k) {
      const double ref = vals[t][k].get<double>();
      const double d = double(ours(Eigen::Index(first + t), ids[t][k].get<Eigen::Index>())) - ref;
      err += d * d;
      norm += ref * ref;
      mx = std::max(mx, std::abs(d));
    }
  return {err / norm, mx};
}

class Gemma3Conformance : public ::testing::TestWithParam<std::string> {
 protected:
  static const nlohmann::json& get(const std::string& name) {
    static const nlohmann::json j = test::read_json(test::data_path("conformance/gemma3.json"));
    for (const auto& c : j["cases"])
      if (c["name"] == name) return c;
    throw std::runtime_error("no conformance case " + name);
  }
};

constexpr std::int64_t kContext = 1024;  // the long prompt passes the 512-position window

// The bounds of the SmolLM2 conformance test, NMSE 1e-3 over llama.cpp's 40
// best logits at every position (the last 64 of the long prompt) and 1e-2
// at the last position (here over its 2048 best: the whole 262144-entry
// vector is too large a fixture), or three times llama.cpp's own spread on
// the prompt where that is larger. This model is more fragile than SmolLM2:
// llama.cpp's default f16 KV cache moves its f32-cache logits by NMSE up to
// 8.5e-3 (top-40) and 5.5e-2 (last position) on these prompts, so the fixed
// bounds alone would fail the reference against itself on three of them;
// ours differ from the reference by 0.4x to 1.7x that spread. A wrong rope
// base, norm, scale or layer pattern gives NMSE far above either bound.
TEST_P(Gemma3Conformance, LogitsMatchLlamaCpp) {
  const auto lm = gemma3();
  const auto& c = get(GetParam());
  const auto& ref = c["llamacpp"];
  const std::vector<Token> tokens = c["tokens"].get<std::vector<Token>>();
  Session s(lm->model_ptr(), {.context_length = kContext});
  const RowMatrix logits = s.forward(tokens);
  const Stats top = compare_top(logits, ref["top_ids"], ref["top_logits"], ref["top_first"].get<std::size_t>());
  const RowMatrix last_row = logits.bottomRows(1);
  const Stats last = compare_top(last_row, nlohmann::json::array({ref["last_ids"]}),
                                 nlohmann::json::array({ref["last_logits"]}));
  std::printf("[ measure  ] %-8s %2zu tokens | vs llama.cpp (f32 KV): top-40 NMSE %.2e max|d| %.3f, last-position "
              "top-2048 NMSE %.2e max|d| %.3f | llama.cpp f16 KV vs f32 KV: top-40 %.2e, last %.2e\n",
              GetParam().c_str(), tokens.size(), top.nmse, top.max_abs, last.nmse, last.max_abs,
              ref["f16_kv_cache_nmse_top"].get<double>(), ref["f16_kv_cache_nmse_last"].get<double>());
  EXPECT_LE(top.nmse, std::max(1e-3, 3 * ref["f16_kv_cache_nmse_top"].get<double>()));
  EXPECT_LE(last.nmse, std::max(1e-2, 3 * ref["f16_kv_cache_nmse_last"].get<double>()));
}

// The near-tie rule of the SmolLM2 test (tests/model/conformance_test.cpp):
// greedy tokens equal llama.cpp's until a step where the engines' combined
// disagreement on the two candidates, g_L + g_O, is within D, the largest
// disagreement on such differences over the prompt (llama.cpp's best against
// its 8 best at every position), measured in the same run.
double pairwise_disagreement(const RowMatrix& ours, const nlohmann::json& ids, const nlohmann::json& vals,
                             std::size_t first) {
  double d = 0;
  for (std::size_t t = 0; t < ids.size(); ++t) {
    const auto a = ids[t][0].get<Eigen::Index>();
    const double la = vals[t][0].get<double>();
    const auto row = Eigen::Index(first + t);
    for (std::size_t k = 1; k < 8; ++k) {
      const auto b = ids[t][k].get<Eigen::Index>();
      const double ours_diff = double(ours(row, a)) - double(ours(row, b));
      d = std::max(d, std::abs(ours_diff - (la - vals[t][k].get<double>())));
    }
  }
  return d;
}

TEST_P(Gemma3Conformance, GreedyContinuationMatchesLlamaCpp) {
  const auto lm = gemma3();
  const auto& c = get(GetParam());
  const auto prompt = c["tokens"].get<std::vector<Token>>();
  Session s(lm->model_ptr(), {.context_length = kContext});
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
  const auto ids = ref["greedy_top_ids"][i].get<std::vector<Token>>();
  const auto vals = ref["greedy_top_logits"][i].get<std::vector<double>>();
  const auto at = std::find(ids.begin(), ids.end(), ours[i]);
  ASSERT_NE(at, ids.end()) << "step " << i << ": our token " << ours[i] << " is not among llama.cpp's 8 best";
  const double their_gap = vals.front() - vals[std::size_t(at - ids.begin())];
  std::vector<Token> context = prompt;
  context.insert(context.end(), ours.begin(), ours.begin() + std::ptrdiff_t(i));
  Session replay(lm->model_ptr(), {.context_length = kContext});
  const RowMatrix logits = replay.forward(context);
  const auto last = logits.row(logits.rows() - 1);
  const double our_gap = double(last.maxCoeff()) - double(last(theirs[i]));
  Session full(lm->model_ptr(), {.context_length = kContext});
  const double D = pairwise_disagreement(full.forward(prompt), ref["top_ids"], ref["top_logits"],
                                        ref["top_first"].get<std::size_t>());
  std::printf(", then a near-tie: ours %d, llama.cpp's %d; llama.cpp puts ours %.3f below its best (rank %td of 8), "
              "we put llama.cpp's %.3f below ours; sum %.3f, prompt disagreement D %.3f\n",
              ours[i], theirs[i], their_gap, at - ids.begin() + 1, our_gap, their_gap + our_gap, D);
  EXPECT_LE(their_gap + our_gap, D) << "split at step " << i << " beyond the engines' disagreement on the prompt";
}

// llama.cpp's ids, BOS included (the file asks for one).
TEST_P(Gemma3Conformance, TokenizerMatchesLlamaCpp) {
  const auto lm = gemma3();
  const auto& c = get(GetParam());
  const auto ids = lm->tokenizer().encode(c["text"].get<std::string>(),
                                          {.add_special_tokens = true, .parse_special = c["special"].get<bool>()});
  EXPECT_EQ(ids, c["tokens"].get<std::vector<Token>>());
}

INSTANTIATE_TEST_SUITE_P(Gemma3, Gemma3Conformance,
                         ::testing::Values("english", "code", "chinese", "chat", "numbers", "mixed", "spaces", "long"));

// The tokenizer parity corpus (606 lines: prose, code, many scripts, emoji,
// NFD text, whitespace runs): llama.cpp's ids for every line (no BOS, special
// tokens not parsed; tests/data/tokenizer/ref_gemma3_llamacpp.json), and
// decoding gives llama.cpp's text for them: the line itself, except where
// the line holds a literal U+2581, which SentencePiece reads as a space.
TEST(Gemma3Tokenizer, CorpusMatchesLlamaCpp) {
  const auto lm = gemma3();
  const auto lines = test::read_json(test::data_path("tokenizer/corpus.json")).get<std::vector<std::string>>();
  const auto j = test::read_json(test::data_path("tokenizer/ref_gemma3_llamacpp.json"));
  const auto& ref = j["ids"];
  ASSERT_EQ(lines.size(), ref.size());
  std::size_t same = 0, round_trip = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto ids = lm->tokenizer().encode(lines[i], {.add_special_tokens = false, .parse_special = false});
    const auto want = ref[i].get<std::vector<Token>>();
    if (ids == want) ++same;
    else ADD_FAILURE() << "line " << i << " '" << lines[i] << "': ids differ from llama.cpp's";
    const std::string key = std::to_string(i);
    const std::string text = j["decoded"].contains(key) ? j["decoded"][key].get<std::string>() : lines[i];
    if (lm->tokenizer().decode(ids) == text) ++round_trip;
    else ADD_FAILURE() << "line " << i << " '" << lines[i] << "' decodes to '" << lm->tokenizer().decode(ids)
                       << "', llama.cpp to '" << text << "'";
  }
  std::printf("[ measure  ] gemma3 tokenizer: %zu of %zu corpus lines identical to llama.cpp, %zu decode as llama.cpp's\n", same,
              lines.size(), round_trip);
}

// What the loader made of the file: the layer pattern and scales the
// decoder runs with (llama.cpp: 5 sliding-window layers of 512 positions at
// rope base 10000 per global layer at the file's 1e6).
TEST(Gemma3Config, LayerPatternAndScales) {
  const auto lm = gemma3();
  const ModelConfig& c = lm->model().config();
  EXPECT_EQ(c.architecture, "gemma3");
  ASSERT_EQ(c.layers.size(), 18u);
  for (std::int64_t l = 0; l < 18; ++l) {
    const bool global = l % 6 == 5;
    EXPECT_EQ(c.layer(l).sliding_window, global ? 0 : 512) << "layer " << l;
    EXPECT_EQ(c.layer(l).rope_theta, global ? 1e6f : 1e4f) << "layer " << l;
  }
  EXPECT_FLOAT_EQ(c.embedding_scale, std::sqrt(640.0f));
  EXPECT_FLOAT_EQ(c.attention_scale, 1.0f / 16.0f);
  EXPECT_TRUE(c.norms.qk && c.norms.post_attn && c.norms.post_ffn);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.rope.layout, RopeLayout::HalfSplit);
}

}  // namespace
}  // namespace gpt
