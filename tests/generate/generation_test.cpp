// The generation API on the default model: determinism, greedy equivalence,
// stop strings, streaming and cancellation, n completions, logprobs, chat
// with a KV cache kept across turns, and bad options.
#include <gtest/gtest.h>

#include <filesystem>

#include "gpt/error.h"
#include "gpt/generate.h"
#include "default_model.h"

namespace gpt {
namespace {

std::shared_ptr<const LanguageModel> lm() { return test::default_model(); }

GenerateOptions sampled(std::uint64_t seed, int threads) {
  GenerateOptions o;
  o.max_tokens = 24;
  o.sampling.temperature = 0.9f;
  o.sampling.seed = seed;
  o.threads = threads;
  o.ignore_eos = true;
  return o;
}

TEST(Generation, SameSeedSameTokensWhateverTheThreadCount) {
  const auto a = lm()->complete("Once upon a time", sampled(42, 1));
  const auto b = lm()->complete("Once upon a time", sampled(42, 2));
  const auto c = lm()->complete("Once upon a time", sampled(42, 2));
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(b.tokens, c.tokens);
  EXPECT_EQ(a.text, b.text);
  const auto d = lm()->complete("Once upon a time", sampled(43, 2));
  EXPECT_NE(a.tokens, d.tokens);
}

TEST(Generation, TemperatureZeroEqualsGreedyDecoding) {
  GenerateOptions o;
  o.max_tokens = 20;
  o.sampling.temperature = 0;
  o.ignore_eos = true;
  const auto prompt = lm()->tokenizer().encode("The three primary colours are");
  const auto c = lm()->complete_tokens(prompt, o);
  Session s(lm()->model_ptr(), {.context_length = 256});
  EXPECT_EQ(c.tokens, greedy_generate(s, prompt, 20));
  EXPECT_EQ(c.text, lm()->tokenizer().decode(c.tokens));
  EXPECT_EQ(c.finish_reason, FinishReason::Length);
  EXPECT_EQ(c.completion_tokens, 20);
  EXPECT_EQ(c.prompt_tokens, static_cast<std::int64_t>(prompt.size()));
}

TEST(Generation, StopStringEndsTheTextBeforeIt) {
  GenerateOptions o;
  o.max_tokens = 40;
  o.sampling.temperature = 0;
  o.ignore_eos = true;
  const auto full = lm()->complete("List of fruits: apple, banana,", o);
  ASSERT_GT(full.text.size(), 12u);
  // A stop string taken from the middle of the greedy text, spanning tokens.
  const std::string stop = full.text.substr(full.text.size() / 2, 5);
  o.stop = {stop};
  const auto cut = lm()->complete("List of fruits: apple, banana,", o);
  EXPECT_EQ(cut.finish_reason, FinishReason::Stop);
  EXPECT_EQ(cut.text, full.text.substr(0, full.text.find(stop)));
  EXPECT_EQ(cut.text.find(stop), std::string::npos);
}

TEST(Generation, StreamingPiecesConcatenateToTheTextAndCanCancel) {
  GenerateOptions o = sampled(7, 2);
  std::string streamed;
  o.on_text = [&](const std::string& p) {
    streamed += p;
    return true;
  };
  const auto c = lm()->complete("北京是", o);
  EXPECT_EQ(streamed, c.text);
  int calls = 0;
  o.on_text = [&](const std::string& p) { return p.empty() || ++calls < 3; };
  const auto d = lm()->complete("北京是", o);
  EXPECT_EQ(d.finish_reason, FinishReason::Cancelled);
  EXPECT_LT(d.completion_tokens, 24);
}

TEST(Generation, CancelDuringLongPrompt) {
  GenerateOptions o = sampled(1, 2);
  o.prompt_batch = 8;
  int calls = 0;
  o.on_text = [&](const std::string& p) { return !(p.empty() && ++calls == 2); };
  std::string prompt;
  for (int i = 0; i < 20; ++i) prompt += "word ";
  const auto c = lm()->complete(prompt, o);
  EXPECT_EQ(c.finish_reason, FinishReason::Cancelled);
  EXPECT_TRUE(c.tokens.empty());
}

TEST(Generation, NCompletionsUseSuccessiveSeeds) {
  GenerateOptions o = sampled(100, 2);
  o.n = 3;
  const auto all = lm()->complete_n("My favourite animal is", o);
  ASSERT_EQ(all.size(), 3u);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(all[k].tokens, lm()->complete("My favourite animal is", sampled(100 + k, 2)).tokens);
}

TEST(Generation, LogprobsAreSortedAndConsistent) {
  GenerateOptions o;
  o.max_tokens = 8;
  o.sampling.temperature = 0;
  o.logprobs = 5;
  const auto c = lm()->complete("Paris is the capital of", o);
  ASSERT_EQ(c.logprobs.size(), c.tokens.size());
  for (const auto& e : c.logprobs) {
    ASSERT_EQ(e.top.size(), 5u);
    EXPECT_LE(e.logprob, 0.0f);
    EXPECT_EQ(e.top[0].first, e.token);  // greedy picks the most likely
    EXPECT_FLOAT_EQ(e.top[0].second, e.logprob);
    for (std::size_t k = 1; k < e.top.size(); ++k) EXPECT_GE(e.top[k - 1].second, e.top[k].second);
  }
}

// Greedy tokens after `ids`, fed as ChatSession feeds them: the new part of
// the prompt in one pass, then one token at a time.
std::vector<Token> greedy_after(Session& s, std::span<const Token> ids, int max_tokens) {
  std::vector<Token> out;
  Eigen::VectorXf logits = s.forward_last(ids);
  for (int i = 0; i < max_tokens; ++i) {
    Eigen::Index best;
    logits.maxCoeff(&best);
    const Token t = static_cast<Token>(best);
    if (lm()->tokenizer().is_eos(t)) break;
    out.push_back(t);
    if (i + 1 < max_tokens) logits = s.forward_last(std::span<const Token>(&t, 1));
  }
  return out;
}

std::vector<Token> chat_ids(const std::vector<ChatMessage>& messages) {
  return lm()->tokenizer().encode(render_chat(ChatFormat::ChatML, messages, true), {.parse_special = true});
}

TEST(Generation, ChatKeepsTheKvCacheAcrossTurns) {
  GenerateOptions o;
  o.max_tokens = 24;
  o.sampling.temperature = 0;
  const std::string system = "You are a helpful assistant.";
  ChatSession chat(lm(), o, "", system);
  const auto first = chat.send("What is the capital of France?");
  const auto second = chat.send("And of Italy?");
  const auto history = chat.history();
  ASSERT_EQ(history.size(), 5u);
  EXPECT_EQ(history[2].content, first.text);
  EXPECT_EQ(history[4].content, second.text);

  // The second turn feeds only what the cache does not hold yet.
  const auto full = chat_ids({history.begin(), history.begin() + 4});
  EXPECT_LT(second.prompt_tokens, static_cast<std::int64_t>(full.size()) / 2);

  // Replay by hand: turn 1 prompt, its reply token by token, then only the
  // tokens of the re-rendered conversation that differ from the cache.
  Session s(lm()->model_ptr(), {.context_length = 4096});
  const auto ids1 = chat_ids({history.begin(), history.begin() + 2});
  EXPECT_EQ(greedy_after(s, ids1, 24), first.tokens);
  std::vector<Token> cached = ids1;
  cached.insert(cached.end(), first.tokens.begin(), first.tokens.end());
  // Every reply token is in the cache except a last one that ended on length.
  ASSERT_GE(s.position(), static_cast<std::int64_t>(cached.size()) - 1);
  cached.resize(static_cast<std::size_t>(s.position()));
  std::size_t keep = 0;
  while (keep < cached.size() && keep < full.size() && cached[keep] == full[keep]) ++keep;
  EXPECT_EQ(static_cast<std::int64_t>(full.size() - keep), second.prompt_tokens);
  s.truncate(static_cast<std::int64_t>(keep));
  EXPECT_EQ(greedy_after(s, std::span<const Token>(full).subspan(keep), 24), second.tokens);
}

TEST(Generation, BadOptionsAndPromptsAreInvalidArguments) {
  GenerateOptions o;
  o.sampling.temperature = -1;
  EXPECT_THROW(lm()->complete("hi", o), InvalidArgument);
  o = {};
  o.sampling.top_p = 0;
  EXPECT_THROW(lm()->complete("hi", o), InvalidArgument);
  o = {};
  o.context_length = 16;
  std::string long_prompt;
  for (int i = 0; i < 40; ++i) long_prompt += "token ";
  EXPECT_THROW(lm()->complete(long_prompt, o), InvalidArgument);
  o = {};
  o.stop = {""};
  EXPECT_THROW(lm()->complete("hi", o), InvalidArgument);
  EXPECT_THROW(lm()->chat({{"user", "hi"}}, {}, "no-such-template"), InvalidArgument);
}

}  // namespace
}  // namespace gpt
