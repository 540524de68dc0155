// GGUF checkpoints against transformers loading the same GGUF files
// (tests/data/gguf, written by tools/make_gguf_fixtures.py), and against the
// safetensors checkpoint they were converted from.
#include <gtest/gtest.h>

#include <cstdio>

#include "gpt/gpt.h"
#include "test_util.h"

namespace gpt {
namespace {

using test::Reference;
using test::read_reference;

struct Case {
  const char* name;
  float tolerance;    // max abs logit difference allowed
  bool same_greedy;   // whether the 20 greedy tokens must be equal
};

class GgufParity : public ::testing::TestWithParam<Case> {};

TEST_P(GgufParity, LogitsAndGreedyTokensMatchTransformers) {
  const std::string base = test::data_path(std::string("gguf/") + GetParam().name);
  const auto model = Model::load(base + ".gguf");
  const Reference ref = read_reference(base + ".reference.json");
  Session s(model);
  const float diff = test::max_abs_diff(s.forward(ref.tokens), ref.logits);
  std::printf("[ measure  ] %s.gguf: max abs logit diff vs transformers = %.3g\n", GetParam().name, double(diff));
  EXPECT_LE(diff, GetParam().tolerance);
  if (GetParam().same_greedy) {
    Session g(model);
    EXPECT_EQ(greedy_generate(g, ref.tokens, 20), ref.greedy);
  }
}

INSTANTIATE_TEST_SUITE_P(Tiny, GgufParity,
                         ::testing::Values(Case{"llama.F32", 1e-4f, true}, Case{"gpt2.F32", 1e-4f, true}, Case{"qwen2.F32", 1e-4f, true},
                                           // Rope scaling: linear as metadata, llama3 as the
                                           // rope_freqs tensor; the reference is transformers
                                           // on the checkpoint they were converted from.
                                           Case{"llama-rope-linear.F32", 1e-4f, true},
                                           Case{"llama-rope-llama3.F32", 1e-4f, true},
                                           // Gemma 2: soft-capping and window from metadata,
                                           // llama.cpp's query scale (head_dim).
                                           Case{"gemma2.F32", 1e-4f, true},
                                           // GPT-NeoX: q/k/v regrouped by the converter,
                                           // partial rotary, parallel residual.
                                           Case{"gptneox.F32", 1e-4f, true},
                                           Case{"qwen3.F32", 1e-4f, true},  // q/k norms, head_dim 12 != 32 / 4
                                           // Phi-3: fused gate/up split at load; the file's
                                           // window is not applied, as llama.cpp does not.
                                           Case{"phi3.F32", 1e-4f, true},
                                           // Q8_0 products round the activations to 8 bits, as
                                           // llama.cpp does (and match llama.cpp to the bit:
                                           // conformance_test); transformers multiplies the
                                           // dequantized weights in f32, so logits differ by
                                           // the activation rounding and greedy paths may part.
                                           Case{"llama.Q8_0", 0.25f, false}),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (auto& ch : n) if (ch == '.' || ch == '-') ch = '_';
                           return n;
                         });

TEST(GgufParity, SameWeightsAsSafetensorsGiveSameLogits) {
  // The GGUF file stores Llama's q/k rows permuted for interleaved rotary
  // pairs; the safetensors original uses half-split pairs.
  const auto gguf = Model::load(test::data_path("gguf/llama.F32.gguf"));
  const auto hf = Model::load(test::data_path("models/llama"));
  EXPECT_EQ(gguf->config().rope.layout, RopeLayout::Interleaved);
  EXPECT_EQ(hf->config().rope.layout, RopeLayout::HalfSplit);
  const Reference ref = read_reference(test::data_path("models/llama/reference.json"));
  Session a(gguf), b(hf);
  EXPECT_LE(test::max_abs_diff(a.forward(ref.tokens), b.forward(ref.tokens)), 1e-5f);
}

}  // namespace
}  // namespace gpt
