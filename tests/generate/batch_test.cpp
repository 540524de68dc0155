// gpt::Batch on the default model: sequences that join and leave a running
// batch get exactly the tokens, text and log-probabilities they get alone
// (LanguageModel::complete_tokens); prompts are shared; a full KV pool makes
// sequences wait; cancellation frees pages; bad input is refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "gpt/batch.h"
#include "gpt/error.h"
#include "gpt/generate.h"
#include "default_model.h"

namespace gpt {
namespace {

std::shared_ptr<const LanguageModel> lm() { return test::default_model(); }

std::vector<Token> encode(const std::string& text) {
  return lm()->tokenizer().encode(text, {.add_special_tokens = true, .parse_special = false});
}

std::string words(int n, int salt) {
  static const char* w[] = {"river", "stone", "quiet", "lamp", "orange", "window", "seven", "cloud", "paper", "north"};
  std::string s;
  for (int i = 0; i < n; ++i) s += std::string(w[(i * 7 + salt) % 10]) + (i % 9 == 8 ? ". " : " ");
  return s;
}

GenerateOptions sampled(std::uint64_t seed, int max_tokens) {
  GenerateOptions o;
  o.max_tokens = max_tokens;
  o.sampling.temperature = 0.9f;
  o.sampling.seed = seed;
  o.logprobs = 3;
  o.threads = 2;
  return o;
}

void expect_same(const Completion& got, const Completion& alone, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(got.tokens, alone.tokens);
  EXPECT_EQ(got.text, alone.text);
  EXPECT_EQ(got.finish_reason, alone.finish_reason);
  ASSERT_EQ(got.logprobs.size(), alone.logprobs.size());
  for (std::size_t k = 0; k < got.logprobs.size(); ++k) {
    EXPECT_EQ(got.logprobs[k].logprob, alone.logprobs[k].logprob) << "token " << k;  // exact: the same logits
    EXPECT_EQ(got.logprobs[k].top, alone.logprobs[k].top) << "token " << k;
  }
}

TEST(Batch, SequencesJoiningAndLeavingGetTheTokensTheyGetAlone) {
  struct Request {
    std::vector<Token> prompt;
    GenerateOptions options;
  };
  std::vector<Request> requests;
  std::mt19937 rng(3);
  for (int i = 0; i < 10; ++i) {
    const int len = i == 0 ? 150 : i == 1 ? 70 : 3 + static_cast<int>(rng() % 40);  // chunk boundaries crossed
    GenerateOptions o = sampled(50 + static_cast<std::uint64_t>(i), 4 + static_cast<int>(rng() % 16));
    if (i % 3 == 0) o.stop = {"."};
    if (i == 4) o.sampling.temperature = 0.0f;
    requests.push_back({encode(words(len, i)), o});
  }
  for (int threads : {1, 2}) {
    Batch batch(lm(), {.threads = threads, .max_sequences = 5});
    std::vector<Batch::Id> ids;
    std::size_t next = 0;
    while (next < requests.size() || batch.queued() + batch.running() > 0) {
      // A new request at some steps, so sequences join a running batch.
      if (next < requests.size() && (next < 3 || rng() % 3 == 0)) {
        GenerateOptions o = requests[next].options;
        o.threads = threads;
        ids.push_back(batch.submit(requests[next].prompt, o).at(0));
        ++next;
      }
      batch.step();
    }
    for (std::size_t i = 0; i < requests.size(); ++i) {
      ASSERT_TRUE(batch.finished(ids[i]));
      expect_same(batch.take(ids[i]), lm()->complete_tokens(requests[i].prompt, requests[i].options),
                  "request " + std::to_string(i) + ", " + std::to_string(threads) + " threads");
    }
    EXPECT_EQ(batch.stats().kv_pages_used, 0);
  }
}

TEST(Batch, NCompletionsShareThePrompt) {
  const std::vector<Token> prompt = encode(words(90, 1));
  GenerateOptions o = sampled(7, 12);
  o.n = 4;
  Batch batch(lm(), {.threads = 2, .max_sequences = 4});
  const auto ids = batch.submit(prompt, o);
  ASSERT_EQ(ids.size(), 4u);
  batch.run();
  const auto st = batch.stats();
  EXPECT_EQ(st.prompt_tokens_computed, static_cast<std::int64_t>(prompt.size()));
  EXPECT_EQ(st.prompt_tokens_shared, 3 * static_cast<std::int64_t>(prompt.size()));
  for (int k = 0; k < 4; ++k) {
    GenerateOptions one = o;
    one.n = 1;
    one.sampling.seed = 7 + static_cast<std::uint64_t>(k);
    expect_same(batch.take(ids[static_cast<std::size_t>(k)]), lm()->complete_tokens(prompt, one), "completion " + std::to_string(k));
  }
}

TEST(Batch, WholeChunksOfACommonPrefixAreShared) {
  const std::vector<Token> a = encode(words(160, 2));
  ASSERT_GT(a.size(), 140u);
  std::vector<Token> b(a.begin(), a.begin() + 135);
  const std::vector<Token> tail = encode(" something else entirely, with a different end");
  b.insert(b.end(), tail.begin() + 1, tail.end());  // (no second BOS)
  Batch batch(lm(), {.threads = 2, .max_sequences = 4, .step_tokens = 64});
  const auto ia = batch.submit(a, sampled(1, 6)).at(0);
  batch.step();
  batch.step();  // a has read two chunks: 128 tokens
  const auto ib = batch.submit(b, sampled(2, 6)).at(0);
  batch.run();
  EXPECT_EQ(batch.stats().prompt_tokens_shared, 128);
  EXPECT_EQ(batch.stats().prompt_tokens_computed, static_cast<std::int64_t>(a.size() + b.size() - 128));
  expect_same(batch.take(ia), lm()->complete_tokens(a, sampled(1, 6)), "a");
  expect_same(batch.take(ib), lm()->complete_tokens(b, sampled(2, 6)), "b");
}

TEST(Batch, AFullKvPoolMakesSequencesWait) {
  // Each request: 20-odd prompt tokens + 30 new < 64 positions: worst case
  // one page plus one copy = 2 pages. A pool of 5 pages runs two at once.
  Batch batch(lm(), {.threads = 2, .max_sequences = 8, .kv_cache_tokens = 5 * Batch::kPromptChunk});
  std::vector<Batch::Id> ids;
  std::vector<std::vector<Token>> prompts;
  for (int i = 0; i < 3; ++i) {
    prompts.push_back(encode(words(20, i)));
    ids.push_back(batch.submit(prompts.back(), sampled(10 + static_cast<std::uint64_t>(i), 30)).at(0));
  }
  batch.step();
  EXPECT_EQ(batch.running(), 2u);
  EXPECT_EQ(batch.queued(), 1u);
  batch.run();
  for (int i = 0; i < 3; ++i)
    expect_same(batch.take(ids[static_cast<std::size_t>(i)]), lm()->complete_tokens(prompts[static_cast<std::size_t>(i)], sampled(10 + static_cast<std::uint64_t>(i), 30)),
                "request " + std::to_string(i));
  // A request that could never fit is refused at once, naming the budget.
  GenerateOptions big = sampled(1, 400);
  try {
    batch.submit(prompts[0], big);
    ADD_FAILURE() << "no error";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("kv_cache_tokens"), std::string::npos) << e.what();
  }
}

TEST(Batch, CancellingFreesThePages) {
  Batch batch(lm(), {.threads = 2, .max_sequences = 4});
  GenerateOptions o = sampled(3, 200);
  o.ignore_eos = true;
  const auto a = batch.submit(encode(words(30, 3)), o).at(0);
  int pieces = 0;
  GenerateOptions streamed = o;
  streamed.on_text = [&](const std::string& p) { return p.empty() || ++pieces < 5; };
  const auto b = batch.submit(encode(words(30, 4)), streamed).at(0);
  const auto c = batch.submit(encode(words(30, 5)), o).at(0);
  batch.cancel(c);  // still queued
  for (int i = 0; i < 10; ++i) batch.step();
  EXPECT_TRUE(batch.finished(b));
  EXPECT_FALSE(batch.finished(a));
  batch.cancel(a);
  batch.step();
  EXPECT_EQ(batch.queued() + batch.running(), 0u);
  EXPECT_EQ(batch.stats().kv_pages_used, 0);
  EXPECT_EQ(batch.take(a).finish_reason, FinishReason::Cancelled);
  const Completion cb = batch.take(b);
  EXPECT_EQ(cb.finish_reason, FinishReason::Cancelled);
  EXPECT_EQ(cb.tokens.size(), 5u);
  EXPECT_EQ(batch.take(c).finish_reason, FinishReason::Cancelled);
  EXPECT_THROW(batch.take(c), InvalidArgument);  // taken already
}

TEST(Batch, BadInputIsRefused) {
  EXPECT_THROW(Batch(lm(), {.max_sequences = 0}), InvalidArgument);
  EXPECT_THROW(Batch(lm(), {.step_tokens = 0}), InvalidArgument);
  Batch batch(lm(), {.max_sequences = 2, .context_length = 64});
  GenerateOptions o = sampled(1, 4);
  EXPECT_THROW(batch.submit({}, o), InvalidArgument);
  EXPECT_THROW(batch.submit({1, -3}, o), InvalidArgument);
  EXPECT_THROW(batch.submit({1, 1 << 30}, o), InvalidArgument);
  EXPECT_THROW(batch.submit(std::vector<Token>(64, 1), o), InvalidArgument);  // no room for a new token
  o.n = 3;
  EXPECT_THROW(batch.submit({1, 2}, o), InvalidArgument);  // n > max_sequences
  o.n = 1;
  o.max_tokens = -1;
  EXPECT_THROW(batch.submit({1, 2}, o), InvalidArgument);
  EXPECT_EQ(batch.queued(), 0u);
}

}  // namespace
}  // namespace gpt
