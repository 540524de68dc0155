// Perplexity as llama-perplexity computes it: on tiny checkpoints against the
// same computation done on transformers' logits (tests/data/ops/
// perplexity_tiny.json), and on the default model against llama.cpp's own
// llama-perplexity (tests/data/conformance/perplexity_gpl3.json); both written
// by tools/make_perplexity_fixtures.py.
#include "gpt/perplexity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gpt/error.h"
#include "gpt/generate.h"
#include "test_util.h"

namespace gpt {
namespace {

double rel(double a, double b) { return std::fabs(a - b) / std::fabs(b); }

TEST(Perplexity, TinyCheckpointsMatchTransformers) {
  const auto doc = test::read_json(test::data_path("ops/perplexity_tiny.json"));
  ASSERT_GE(doc.at("cases").size(), 3u);
  for (const auto& c : doc.at("cases")) {
    const std::string name = c.at("model").get<std::string>();
    const auto model = Model::load(test::data_path("models/" + name));
    const auto tokens = c.at("tokens").get<std::vector<Token>>();
    PerplexityOptions o;
    o.context = c.at("ctx").get<std::int64_t>();
    const PerplexityResult plain = perplexity(model, tokens, o);
    o.bos = c.at("bos").get<Token>();
    const PerplexityResult with_bos = perplexity(model, tokens, o);
    o.bos = -1;
    o.stride = c.at("stride").get<std::int64_t>();
    const PerplexityResult windows = perplexity(model, tokens, o);
    const auto& want_plain = c.at("chunks_no_bos");
    const auto& want_bos = c.at("chunks_bos");
    const auto& want_windows = c.at("strided");
    std::printf("[ measure  ] %s: ppl %.6f vs %.6f (no BOS), %.6f vs %.6f (BOS), %.6f vs %.6f (stride)\n",
                name.c_str(), plain.ppl, want_plain.at("ppl").get<double>(), with_bos.ppl,
                want_bos.at("ppl").get<double>(), windows.ppl, want_windows.at("ppl").get<double>());
    EXPECT_LE(rel(plain.ppl, want_plain.at("ppl").get<double>()), 1e-4) << name;
    EXPECT_LE(rel(plain.ppl_error, want_plain.at("ppl_error").get<double>()), 1e-4) << name;
    EXPECT_EQ(plain.tokens_scored, want_plain.at("tokens_scored").get<std::int64_t>()) << name;
    EXPECT_LE(rel(with_bos.ppl, want_bos.at("ppl").get<double>()), 1e-4) << name;
    EXPECT_LE(rel(with_bos.ppl_error, want_bos.at("ppl_error").get<double>()), 1e-4) << name;
    EXPECT_LE(rel(windows.ppl, want_windows.at("ppl").get<double>()), 1e-4) << name;
    EXPECT_EQ(windows.tokens_scored, want_windows.at("tokens_scored").get<std::int64_t>()) << name;
    EXPECT_EQ(windows.ppl_error, 0.0);
    EXPECT_GT(rel(plain.ppl, with_bos.ppl), 1e-3) << name << ": the BOS case must test something";
  }
}

TEST(Perplexity, RefusesWhatItCannotCompute) {
  const auto model = Model::load(test::data_path("models/llama"));
  const std::vector<Token> few(31, 5);
  PerplexityOptions o;
  o.context = 16;
  EXPECT_THROW(perplexity(model, few, o), InvalidArgument);  // < 2 x context
  const std::vector<Token> enough(64, 5);
  o.stride = 16;
  EXPECT_THROW(perplexity(model, enough, o), InvalidArgument);  // stride >= context
  o.stride = 0;
  o.context = 2;
  EXPECT_THROW(perplexity(model, enough, o), InvalidArgument);
  o.context = 16;
  std::vector<Token> bad = enough;
  bad[40] = 100000;
  EXPECT_THROW(perplexity(model, bad, o), InvalidArgument);
  EXPECT_THROW(perplexity(nullptr, enough, o), InvalidArgument);
}

// The default model on a text every Debian machine has, against llama.cpp's
// llama-perplexity run on the same file, context and chunks. Its most
// precise setting (no flash attention, f32 KV cache, as this engine keeps
// its cache) is the reference; its default setting (f16 inside flash
// attention) moves its own figure by 0.6 %, printed for comparison.
TEST(Perplexity, DefaultModelMatchesLlamaCpp) {
  const auto ref = test::read_json(test::data_path("conformance/perplexity_gpl3.json"));
  const std::string text_path = ref.at("text").get<std::string>();
  std::ifstream in(text_path, std::ios::binary);
  ASSERT_TRUE(in) << text_path << " is missing (Debian's base-files package installs it)";
  std::ostringstream text;
  text << in.rdbuf();
  ASSERT_EQ(text.str().size(), ref.at("bytes").get<std::size_t>())
      << text_path << " is not the file the reference was computed on";
  const auto lm = LanguageModel::load(std::string(GPT_MODELS_DIR) + "/SmolLM2-135M-Instruct.Q4_1.gguf");
  const auto tokens = lm->tokenizer().encode(text.str(), {.add_special_tokens = true});
  PerplexityOptions o;
  o.context = ref.at("ctx").get<std::int64_t>();
  o.max_chunks = ref.at("chunks").get<std::int64_t>();
  const PerplexityResult r = perplexity(lm->model_ptr(), tokens, o);
  const auto& precise = ref.at("llama_cpp").at("fa_off_f32_kv");
  const double want = precise.at("ppl").get<double>();
  const double dflt = ref.at("llama_cpp").at("default").at("ppl").get<double>();
  std::printf("[ measure  ] GPL-3, ctx %lld, %lld chunks: ppl %.4f +/- %.4f; llama.cpp %.4f +/- %.4f (f32 KV, no FA: "
              "%+.2f %%), %.4f (its defaults: %+.2f %%)\n",
              static_cast<long long>(o.context), static_cast<long long>(o.max_chunks), r.ppl, r.ppl_error, want,
              precise.at("ppl_error").get<double>(), 100.0 * (r.ppl / want - 1.0), dflt, 100.0 * (r.ppl / dflt - 1.0));
  EXPECT_LE(rel(r.ppl, want), 0.005);
  EXPECT_LE(rel(r.ppl_error, precise.at("ppl_error").get<double>()), 0.02);
  const auto per_chunk = precise.at("ppl_after_chunk").get<std::vector<double>>();
  ASSERT_EQ(r.ppl_after_chunk.size(), per_chunk.size());
  for (std::size_t i = 0; i < per_chunk.size(); ++i) EXPECT_LE(rel(r.ppl_after_chunk[i], per_chunk[i]), 0.01) << i;
}

}  // namespace
}  // namespace gpt
