// StopMatcher: stop strings across pushes (token boundaries), overlapping
// prefixes, UTF-8, several stops.
#include "generate/stop.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "gpt/error.h"

namespace gpt::detail {
namespace {

// Pushes every piece, collecting what comes out; flushes when not stopped.
struct Outcome {
  std::vector<std::string> outputs;
  std::string text;
  bool stopped = false;
};

Outcome feed(std::vector<std::string> stops, const std::vector<std::string>& pieces) {
  StopMatcher m(std::move(stops));
  Outcome r;
  for (const auto& p : pieces) {
    r.outputs.push_back(m.push(p));
    r.text += r.outputs.back();
  }
  r.stopped = m.stopped();
  if (!r.stopped) r.text += m.flush();
  return r;
}

// The rule stated in stop.h, computed directly on the whole text after each
// push: the stops whose first occurrence ends by now complete in this push;
// the earliest start among them cuts the text.
Outcome reference(const std::vector<std::string>& stops, const std::vector<std::string>& pieces) {
  Outcome r;
  std::string all;
  for (const auto& p : pieces) {
    all += p;
    std::size_t cut = std::string::npos;
    for (const auto& s : stops)
      if (auto at = all.find(s); at != std::string::npos) cut = std::min(cut, at);
    if (cut != std::string::npos) {
      r.text = all.substr(0, cut);
      r.stopped = true;
      return r;
    }
  }
  r.text = all;
  return r;
}

// Random texts over a three-letter alphabet (many partial and overlapping
// matches), random stop sets and random push sizes, against the reference.
TEST(StopMatcher, AgreesWithTheDirectRuleOnRandomInput) {
  std::mt19937 rng(11);
  auto random_string = [&](std::size_t lo, std::size_t hi) {
    std::string s(std::uniform_int_distribution<std::size_t>(lo, hi)(rng), 'a');
    for (char& c : s) c = static_cast<char>('a' + rng() % 3);
    return s;
  };
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<std::string> stops;
    for (std::size_t k = 0, n = 1 + rng() % 4; k < n; ++k) stops.push_back(random_string(1, 6));
    const std::string text = random_string(0, 60);
    std::vector<std::string> pieces;
    for (std::size_t at = 0; at < text.size();) {
      const std::size_t len = std::min(text.size() - at, std::size_t(1 + rng() % 5));
      pieces.push_back(text.substr(at, len));
      at += len;
    }
    const Outcome ours = feed(stops, pieces);
    const Outcome want = reference(stops, pieces);
    ASSERT_EQ(ours.stopped, want.stopped) << "trial " << trial << " text " << text;
    ASSERT_EQ(ours.text, want.text) << "trial " << trial << " text " << text;
  }
}

TEST(StopMatcher, RejectsEmptyStopString) {
  EXPECT_THROW(StopMatcher({"ok", ""}), InvalidArgument);
  EXPECT_NO_THROW(StopMatcher({}));
}

TEST(StopMatcher, NoStopsPassesThrough) {
  StopMatcher m({});
  EXPECT_EQ(m.push("hello "), "hello ");
  EXPECT_EQ(m.push("world"), "world");
  EXPECT_EQ(m.flush(), "");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcher, NoneMatchingAllTextComesOutAfterFlush) {
  StopMatcher m({"STOP", "\n\n"});
  std::string out;
  for (const char* p : {"a S", "TO", "p-less? no: ST", "O", "\n"}) out += m.push(p);
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(out, "a STOp-less? no: STO");  // the last "\n" may still start "\n\n"
  out += m.flush();
  EXPECT_EQ(out, "a STOp-less? no: STO\n");
}

TEST(StopMatcher, HoldsBackOnlyAPossiblePrefix) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.push("abc S"), "abc ");
  EXPECT_EQ(m.held(), 1u);
  EXPECT_EQ(m.push("T"), "");
  EXPECT_EQ(m.push("x"), "STx");  // no longer a prefix: released
  EXPECT_EQ(m.held(), 0u);
  EXPECT_EQ(m.push("yz"), "yz");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, SpansTwoPushes) {
  const Outcome r = feed({"</s>"}, {"Hello wor", "ld</", "s> trailing"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "Hello world");
  EXPECT_EQ(r.outputs, (std::vector<std::string>{"Hello wor", "ld", ""}));
}

TEST(StopMatcher, SpansThreePushes) {
  const Outcome r = feed({"<|im_end|>"}, {"The answer is 4.<|im", "_e", "nd|>ignored", "more"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "The answer is 4.");
  EXPECT_EQ(r.outputs.back(), "");
}

TEST(StopMatcher, StopAtTheVeryStart) {
  const Outcome r = feed({"User:"}, {"User:", " hello"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
  const Outcome split = feed({"User:"}, {"Us", "er: hi"});
  EXPECT_TRUE(split.stopped);
  EXPECT_EQ(split.text, "");
}

TEST(StopMatcher, OverlappingPrefixes) {
  // "abab" / "abc": after "abab" is broken, "abc" must still be found inside.
  Outcome r = feed({"abab", "abc"}, {"xab", "a", "bc"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "x");  // "abab" completes first ("x" + "abab" + "c")
  r = feed({"abab", "abc"}, {"xab", "abc"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "x");  // "xababc": "abab" at 1 beats "abc" at 3
  r = feed({"abab"}, {"ab", "a", "a", "bab"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "aba");  // "abaabab": the stop starts at 3
  r = feed({"abab", "abc"}, {"aba", "c", "abx"});
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.text, "abacabx");
}

TEST(StopMatcher, SelfOverlappingStopHoldsTheLongestPrefix) {
  StopMatcher m({"aaab"});
  EXPECT_EQ(m.push("xaaa"), "x");
  EXPECT_EQ(m.push("a"), "a");  // "aaaa": the last three can still start "aaab"
  EXPECT_EQ(m.push("b"), "");
  EXPECT_TRUE(m.stopped());
}

TEST(StopMatcher, MultiByteUtf8Stop) {
  // "。" is E3 80 82; pushed a byte at a time, as a byte-level tokenizer might.
  const Outcome r = feed({"。", "終わり"}, {"你好", "\xE3", "\x80", "\x82", "世界"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "你好");
  const Outcome r2 = feed({"終わり"}, {"これで終", "わ", "り です"});
  EXPECT_TRUE(r2.stopped);
  EXPECT_EQ(r2.text, "これで");
  // A near miss: same first bytes, different last byte (。 vs 、 = E3 80 81).
  const Outcome r3 = feed({"。"}, {"a\xE3\x80", "\x81", "b"});
  EXPECT_FALSE(r3.stopped);
  EXPECT_EQ(r3.text, "a、b");
}

TEST(StopMatcher, EmitsWholeUtf8CharactersOnly) {
  StopMatcher m({"zz"});
  EXPECT_EQ(m.push("é\xE4\xB8"), "é");  // 中 = E4 B8 AD arrives in two pieces
  EXPECT_EQ(m.push("\xAD!"), "中!");
  EXPECT_EQ(m.push("\xF0\x9F"), "");  // half an emoji
  EXPECT_EQ(m.flush(), "\xF0\x9F");  // flush returns whatever is left
}

TEST(StopMatcher, SeveralStopsEarliestWins) {
  Outcome r = feed({"world", "lo"}, {"hello world"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "hel");
  r = feed({"C", "B", "A"}, {"xxB", "A"});
  EXPECT_EQ(r.text, "xx");
  // "bcd" completes first, but "abcdef" (completed in the same push) starts earlier.
  r = feed({"bcd", "abcdef"}, {"xabc", "def"});
  EXPECT_EQ(r.text, "x");
  // Across pushes the first stop to complete ends the text.
  r = feed({"bcd", "abcdef"}, {"xabcd", "ef"});
  EXPECT_EQ(r.text, "xa");
}

TEST(StopMatcher, AfterStopEverythingIsDropped) {
  StopMatcher m({"."});
  EXPECT_EQ(m.push("One. Two."), "One");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.push("Three"), "");
  EXPECT_EQ(m.flush(), "");
}

}  // namespace
}  // namespace gpt::detail
