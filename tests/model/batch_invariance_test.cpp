// Batch invariance of the forward pass (model/decoder.h): the logits of a
// sequence run alone equal, bit for bit (memcmp), its logits when it runs in
// batches of 2, 5 and 16 with other sequences joining and leaving at random
// steps, in random order within each pass, with 1 and 2 threads.
//
// Every sequence follows a script: a random prompt (read in 64-token chunks
// from position 0, as Session and Batch read prompts) and then random tokens
// fed one at a time (teacher forcing, so no sampling is involved). Its
// trace is the logits after the prompt and after each fed token.
//
// Models: the tiny fixtures in every weight type the fixtures have (f32,
// f16, bf16, Q8_0) and architecture features that touch the per-row code
// (learned positions, sliding window, soft-capping), and the default model
// (Q4_1).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <list>
#include <random>
#include <vector>

#include "gpt/error.h"
#include "gpt/model.h"
#include "model/decoder.h"
#include "model/kv_cache.h"
#include "test_util.h"

namespace gpt {
namespace {

using detail::ForwardItem;
using detail::KvPool;
using detail::KvSequence;
using detail::kPageTokens;

struct Script {
  std::vector<Token> prompt;
  std::vector<Token> feed;
};
using Trace = std::vector<std::vector<float>>;  // one logits row per draw

std::vector<Script> make_scripts(const Model& m, int count, std::int64_t longest, std::int64_t most_fed, std::uint64_t seed) {
  const auto& c = m.config();
  std::mt19937_64 rng(seed);
  const std::int64_t max_prompt = std::min<std::int64_t>(longest, c.max_seq_len - most_fed - 2);
  std::uniform_int_distribution<Token> tok(0, static_cast<Token>(c.vocab_size - 1));
  std::uniform_int_distribution<std::int64_t> plen(1, max_prompt), flen(1, most_fed);
  std::vector<Script> out(static_cast<std::size_t>(count));
  for (auto& s : out) {
    s.prompt.resize(static_cast<std::size_t>(plen(rng)));
    for (auto& t : s.prompt) t = tok(rng);
    s.feed.resize(static_cast<std::size_t>(flen(rng)));
    for (auto& t : s.feed) t = tok(rng);
  }
  return out;
}

std::vector<float> row(const RowMatrix& m, Eigen::Index r) {
  return std::vector<float>(m.row(r).data(), m.row(r).data() + m.cols());
}

// The sequence on its own: prompt chunks, then one token per pass.
Trace alone(const Model& m, const Script& s, int threads) {
  KvPool pool(m.config(), 64);
  KvSequence seq;
  Trace t;
  const auto len = static_cast<std::int64_t>(s.prompt.size());
  for (std::int64_t i = 0; i < len; i += kPageTokens) {
    const std::int64_t n = std::min(kPageTokens, len - i);
    seq.reserve(pool, seq.length + n);
    ForwardItem it{&seq, std::span<const Token>(s.prompt.data() + i, static_cast<std::size_t>(n))};
    const RowMatrix h = detail::forward(m.data(), pool, std::span<ForwardItem>(&it, 1), threads);
    if (i + n == len) t.push_back(row(detail::logits(m.data(), h, threads, false), 0));
  }
  for (const Token& f : s.feed) {
    seq.reserve(pool, seq.length + 1);
    ForwardItem it{&seq, std::span<const Token>(&f, 1)};
    const RowMatrix h = detail::forward(m.data(), pool, std::span<ForwardItem>(&it, 1), threads);
    t.push_back(row(detail::logits(m.data(), h, threads, false), 0));
  }
  return t;
}

// All scripts through one pool, at most max_b at a time: new sequences join
// at random steps, each pass takes a random subset of the pending prompt
// chunks, items are shuffled, sequences leave when their script ends.
std::vector<Trace> together(const Model& m, const std::vector<Script>& scripts, std::size_t max_b, int threads,
                            std::uint64_t seed) {
  KvPool pool(m.config(), 64 * static_cast<std::int64_t>(max_b));
  std::mt19937_64 rng(seed);
  struct Live {
    std::size_t idx;
    KvSequence seq;
    std::int64_t prompt_fed = 0;
    std::size_t fed = 0;
  };
  std::vector<Trace> out(scripts.size());
  std::list<Live> live;
  std::size_t next = 0;
  while (next < scripts.size() || !live.empty()) {
    while (next < scripts.size() && live.size() < max_b && (live.empty() || rng() % 3 == 0))
      live.push_back({next++, {}});
    struct Planned {
      Live* l;
      std::span<const Token> tokens;
    };
    std::vector<Planned> plan;
    for (Live& l : live) {
      const Script& s = scripts[l.idx];
      const auto len = static_cast<std::int64_t>(s.prompt.size());
      if (l.prompt_fed < len) {
        if (rng() % 4 == 0) continue;  // this chunk waits for a later pass
        const std::int64_t n = std::min(kPageTokens, len - l.prompt_fed);
        plan.push_back({&l, std::span<const Token>(s.prompt.data() + l.prompt_fed, static_cast<std::size_t>(n))});
      } else {
        plan.push_back({&l, std::span<const Token>(&s.feed[l.fed], 1)});
      }
    }
    if (plan.empty()) continue;
    std::shuffle(plan.begin(), plan.end(), rng);
    std::vector<ForwardItem> items;
    for (Planned& p : plan) {
      p.l->seq.reserve(pool, p.l->seq.length + static_cast<std::int64_t>(p.tokens.size()));
      items.push_back({&p.l->seq, p.tokens});
    }
    const RowMatrix h = detail::forward(m.data(), pool, items, threads);
    const RowMatrix logits = detail::logits(m.data(), h, threads, /*rowwise=*/true);
    for (std::size_t i = 0; i < plan.size(); ++i) {
      Live& l = *plan[i].l;
      const Script& s = scripts[l.idx];
      if (l.prompt_fed < static_cast<std::int64_t>(s.prompt.size())) {
        l.prompt_fed += static_cast<std::int64_t>(plan[i].tokens.size());
        if (l.prompt_fed == static_cast<std::int64_t>(s.prompt.size()))
          out[l.idx].push_back(row(logits, static_cast<Eigen::Index>(i)));
      } else {
        ++l.fed;
        out[l.idx].push_back(row(logits, static_cast<Eigen::Index>(i)));
      }
    }
    for (auto it = live.begin(); it != live.end();) {
      if (it->fed == scripts[it->idx].feed.size()) {
        it->seq.clear(pool);
        it = live.erase(it);
      } else {
        ++it;
      }
    }
  }
  EXPECT_EQ(pool.used_pages(), 0) << "pages leaked";
  return out;
}

using Runs = std::vector<std::pair<std::size_t, int>>;  // (largest batch, threads)

// Each run of the scripts against each sequence alone with 1 thread.
void expect_invariant(const std::shared_ptr<const Model>& m, const std::vector<Script>& scripts, const Runs& runs) {
  std::vector<Trace> reference;
  for (const Script& s : scripts) reference.push_back(alone(*m, s, 1));
  for (const auto& [b, threads] : runs) {
      const auto got = together(*m, scripts, b, threads, 100 + b);
      for (std::size_t i = 0; i < scripts.size(); ++i) {
        ASSERT_EQ(got[i].size(), reference[i].size());
        for (std::size_t k = 0; k < got[i].size(); ++k)
          ASSERT_EQ(0, std::memcmp(got[i][k].data(), reference[i][k].data(), got[i][k].size() * sizeof(float)))
              << "sequence " << i << " (prompt " << scripts[i].prompt.size() << " tokens), draw " << k << ", batch "
              << b << ", " << threads << " threads: the logits differ from the sequence run alone";
      }
    }
  // Alone with 2 threads: the same bits as with 1.
  for (std::size_t i = 0; i < 3; ++i) {
    const Trace two = alone(*m, scripts[i], 2);
    for (std::size_t k = 0; k < two.size(); ++k)
      ASSERT_EQ(0, std::memcmp(two[k].data(), reference[i][k].data(), two[k].size() * sizeof(float)));
  }
}

class TinyBatchInvariance : public ::testing::TestWithParam<const char*> {};

TEST_P(TinyBatchInvariance, LogitsEqualTheSequenceAlone) {
  // Batches of 2, 5 and 16 with 1 thread and of 16 with 2; prompts up to
  // 150 tokens (three chunks), up to 12 tokens fed after them.
  const auto m = Model::load(test::data_path(GetParam()));
  expect_invariant(m, make_scripts(*m, 16, 150, 12, 7), {{2, 1}, {5, 1}, {16, 1}, {16, 2}});
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TinyBatchInvariance,
                         ::testing::Values("models/llama",                    // f32, GEMM for long chunks
                                           "models/qwen2-f16",                // f16, biases
                                           "models/llama-tied-bf16-sharded",  // bf16
                                           "gguf/llama.Q8_0.gguf",            // block-quantized
                                           "models/gpt2",                     // learned positions, fused QKV
                                           "models/gemma2",                   // soft-capping, sliding window
                                           "models/mistral-window6"),         // sliding window
                         [](const auto& info) {
                           std::string n = std::filesystem::path(info.param).filename().string();
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

TEST(BatchInvariance, DefaultModel) {
  const std::string path = std::string(GPT_MODELS_DIR) + "/SmolLM2-135M-Instruct.Q4_1.gguf";
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing: run tools/fetch-model first";
  // Batches of 5 with 1 thread and of 16 with 2; prompts up to 80 tokens
  // (two chunks), up to 6 tokens fed after them.
  const auto m = Model::load(path);
  expect_invariant(m, make_scripts(*m, 16, 80, 6, 7), {{5, 1}, {16, 2}});
}

// Pages: sharing a prefix, copy on write, running out.
TEST(KvCache, SharedPagesAreCopiedBeforeTheyAreWritten) {
  auto m = Model::load(test::data_path("models/llama"));
  KvPool pool(m->config(), 4);
  KvSequence a, b;
  std::vector<Token> prompt(70);
  for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<Token>(i % 100);
  a.reserve(pool, 70);
  ForwardItem it{&a, prompt};
  (void)detail::forward(m->data(), pool, std::span<ForwardItem>(&it, 1), 1);
  EXPECT_EQ(pool.used_pages(), 2);
  b.share(pool, a, 70);  // both pages shared, the second partly filled
  EXPECT_EQ(pool.used_pages(), 2);
  EXPECT_EQ(b.pages_needed(pool, 71), 1);  // the copy
  b.reserve(pool, 71);
  EXPECT_EQ(pool.used_pages(), 3);
  EXPECT_EQ(a.pages[0], b.pages[0]);
  EXPECT_NE(a.pages[1], b.pages[1]);
  KvSequence c;
  c.share(pool, a, 64);
  EXPECT_THROW(c.reserve(pool, 64 + 2 * kPageTokens + 1), InvalidArgument);  // three more pages, one free
  EXPECT_EQ(c.length, 64);
  a.clear(pool);
  b.clear(pool);
  c.clear(pool);
  EXPECT_EQ(pool.used_pages(), 0);
}

}  // namespace
}  // namespace gpt
