// GBNF parser and matcher: valid and invalid grammars (error positions),
// acceptance of strings byte by byte, and the vocabulary-trie token mask
// against a token-by-token check.
#include "generate/grammar.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "gpt/error.h"
#include "gpt/generate.h"

namespace gpt::detail {
namespace {

bool matches(const std::string& grammar, const std::string& text) {
  GrammarMatcher m(Grammar::parse(grammar));
  return m.accept(text) && m.accepting();
}

// A prefix of some sentence (accept() did not reject it).
bool viable(const std::string& grammar, const std::string& text) {
  GrammarMatcher m(Grammar::parse(grammar));
  return m.accept(text);
}

std::pair<int, int> error_at(const std::string& grammar) {
  try {
    Grammar::parse(grammar);
  } catch (const GrammarError& e) {
    return {e.line(), e.column()};
  }
  return {0, 0};
}

TEST(Grammar, LiteralsAlternationGrouping) {
  const std::string g = "root ::= \"ab\" (\"c\" | \"de\") # comment\n";
  EXPECT_TRUE(matches(g, "abc"));
  EXPECT_TRUE(matches(g, "abde"));
  EXPECT_FALSE(matches(g, "abd"));
  EXPECT_TRUE(viable(g, "abd"));
  EXPECT_FALSE(viable(g, "abx"));
  EXPECT_FALSE(matches(g, "abcde"));
}

TEST(Grammar, Repetition) {
  const std::string g = "root ::= \"a\"* \"b\"+ \"c\"? [0-9]{2,3} x{2} y{,2}\nx ::= \"x\"\ny ::= \"y\"";
  EXPECT_TRUE(matches(g, "b12xx"));
  EXPECT_TRUE(matches(g, "aaabbbc123xxyy"));
  EXPECT_FALSE(matches(g, "c12xx"));       // b+ needs one b
  EXPECT_FALSE(matches(g, "b1234xx"));     // at most 3 digits
  EXPECT_FALSE(matches(g, "b1xx"));        // at least 2 digits
  EXPECT_FALSE(matches(g, "b12xxx"));      // exactly 2 x
  EXPECT_FALSE(matches(g, "b12xxyyy"));    // at most 2 y
  EXPECT_TRUE(matches("root ::= \"ab\"{2,}", "abababab"));
  EXPECT_FALSE(matches("root ::= \"ab\"{2,}", "ab"));
}

TEST(Grammar, CharacterClassesAndEscapes) {
  const std::string g = R"(root ::= [a-cx] [^a-z\n] "\x41\u00e9\t\\\"" . [\]\-])";
  EXPECT_TRUE(matches(g, "bZA\xC3\xA9\t\\\"\xE2\x82\xAC]"));
  EXPECT_TRUE(matches(g, "x9A\xC3\xA9\t\\\"z-"));
  EXPECT_FALSE(matches(g, "dZA\xC3\xA9\t\\\"z]"));
  EXPECT_FALSE(matches(g, "bqA\xC3\xA9\t\\\"z]"));   // negated class
  EXPECT_FALSE(matches(g, "b\nA\xC3\xA9\t\\\"z]"));
  // Unicode ranges, and a character split across calls (as across tokens).
  GrammarMatcher m(Grammar::parse("root ::= [ぁ-ゟ]+"));
  EXPECT_TRUE(m.accept("\xE3"));      // first byte of あ (U+3042)
  EXPECT_FALSE(m.accepting());
  EXPECT_TRUE(m.accept("\x81\x82"));
  EXPECT_TRUE(m.accepting());
  EXPECT_FALSE(m.accept("\xE3\x82\xA0"));  // U+30A0: just past the range
  EXPECT_FALSE(m.accept("\xE4"));            // U+4000..U+4FFF: no completion fits
  EXPECT_FALSE(m.accept("\xC0\x80"));        // overlong
  GrammarMatcher ascii(Grammar::parse("root ::= \"t\""));
  EXPECT_FALSE(ascii.accept("\xE0"));        // a 3-byte character is at least U+0800, never 't'
  EXPECT_FALSE(ascii.accept("\xF0"));
  EXPECT_TRUE(m.accept("\xE3\x82\x9F"));   // U+309F: the last one in it
}

TEST(Grammar, MultiLineRulesAndComments) {
  const std::string g =
      "# leading comment\n"
      "root ::=\n"
      "  item (\n"
      "    \",\" item   # inside parentheses newlines are free\n"
      "  )* |\n"
      "  \"none\"\n"
      "\n"
      "item ::= [a-z]+\n";
  EXPECT_TRUE(matches(g, "ab,c,def"));
  EXPECT_TRUE(matches(g, "none"));
  EXPECT_FALSE(matches(g, "ab,"));
}

TEST(Grammar, RecursionAndEmptyAlternatives) {
  const std::string g = "root ::= \"(\" root \")\" | \"\"\n";
  EXPECT_TRUE(matches(g, ""));
  EXPECT_TRUE(matches(g, "((()))"));
  EXPECT_FALSE(matches(g, "(()"));
  const std::string ws = "root ::= \"a\" ws \"b\"\nws ::= | \" \" | \"\\n\" [ \\t]{0,3}\n";
  EXPECT_TRUE(matches(ws, "ab"));
  EXPECT_TRUE(matches(ws, "a\n\t\tb"));
  EXPECT_FALSE(matches(ws, "a  b"));
}

TEST(Grammar, AcceptingAndContinuation) {
  GrammarMatcher m(Grammar::parse("root ::= \"ab\" \"c\"?"));
  EXPECT_TRUE(m.accept("ab"));
  EXPECT_TRUE(m.accepting());
  EXPECT_TRUE(m.can_continue());
  EXPECT_FALSE(m.accept("x"));   // rejected: state unchanged
  EXPECT_TRUE(m.accept("c"));
  EXPECT_TRUE(m.accepting());
  EXPECT_FALSE(m.can_continue());
}

TEST(Grammar, ErrorsNameLineAndColumn) {
  EXPECT_EQ(error_at("root ::= \"a\"\nfoo ::= bar\n"), std::make_pair(2, 9));   // undefined rule
  EXPECT_EQ(error_at("item ::= \"a\"\n"), std::make_pair(2, 1));                // no root
  EXPECT_EQ(error_at("root ::= \"abc\n"), std::make_pair(1, 14));               // unterminated literal
  EXPECT_EQ(error_at("root ::= [a-z\n"), std::make_pair(1, 10));                // unterminated class
  EXPECT_EQ(error_at("root ::= (\"a\"\n"), std::make_pair(2, 1));               // missing ')'
  EXPECT_EQ(error_at("root = \"a\"\n"), std::make_pair(1, 6));                  // missing ::=
  EXPECT_EQ(error_at("root ::= \"a\"\nroot ::= \"b\"\n"), std::make_pair(2, 1)); // defined twice
  EXPECT_EQ(error_at("root ::= * \"a\"\n"), std::make_pair(1, 10));             // repetition of nothing
  EXPECT_EQ(error_at("root ::= \"a\"{3,1}\n"), std::make_pair(1, 13));          // n < m
  EXPECT_EQ(error_at("root ::= \"\\q\"\n"), std::make_pair(1, 11));             // unknown escape
  EXPECT_EQ(error_at("root ::= [z-a]\n"), std::make_pair(1, 14));               // reversed range
  EXPECT_EQ(error_at("root ::= \"a\" <think>\n"), std::make_pair(1, 14));       // token references
  EXPECT_EQ(error_at("root ::= x \"a\"\nx ::= root | \"b\"\n"), std::make_pair(1, 1));  // left recursion
  EXPECT_EQ(error_at("root ::= \"a\"{99999}\n"), std::make_pair(1, 14));        // bound too large
  EXPECT_EQ(error_at("root ::= \"a\" )\n"), std::make_pair(1, 14));             // stray ')'
  EXPECT_EQ(error_at("root ::= " + std::string(1000, '(') + std::string(1000, ')')), std::make_pair(1, 266));  // nesting
  try {
    Grammar::parse("root ::= \"a\"\n  bad ::= \"b\"\n  \"c\" \"d\" ?? \n");
    FAIL() << "no error";
  } catch (const GrammarError& e) {
    EXPECT_NE(std::string(e.what()).find("grammar:"), std::string::npos);
  }
}

TEST(Grammar, LlamaCppArithmeticAndJson) {
  const std::string arith =
      "root  ::= (expr \"=\" ws term \"\\n\")+\n"
      "expr  ::= term ([-+*/] term)*\n"
      "term  ::= ident | num | \"(\" ws expr \")\" ws\n"
      "ident ::= [a-z] [a-z0-9_]* ws\n"
      "num   ::= [0-9]+ ws\n"
      "ws    ::= [ \\t\\n]*\n";
  EXPECT_TRUE(matches(arith, "1+2= 3\n(a*b)-c = x1\n"));
  EXPECT_FALSE(matches(arith, "1+= 3\n"));
}

// The mask from one trie walk equals checking every token of the real
// vocabulary on its own, in states inside strings, numbers, between
// elements and in the middle of a UTF-8 character.
TEST(GrammarMask, TrieWalkEqualsTokenByTokenCheck) {
  const std::string model = std::string(GPT_MODELS_DIR) + "/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(model)) throw std::runtime_error(model + " is missing: run tools/fetch-model first");
  const auto lm = LanguageModel::load(model);
  const Tokenizer& tok = lm->tokenizer();
  const VocabularyTrie& trie = lm->vocabulary_trie();
  const std::string arith = "root ::= (expr \"=\" [0-9]+ \"\\n\")+\nexpr ::= term ([-+*/] term)*\nterm ::= [0-9]+ | \"(\" expr \")\"\n";
  const std::pair<std::string, std::string> cases[] = {
      {json_object_grammar(), ""},
      {json_object_grammar(), "{"},
      {json_object_grammar(), "{\"na"},
      {json_object_grammar(), "{\"name\": -1"},
      {json_object_grammar(), "{\"a\": \"x\\"},
      {json_object_grammar(), "{\"a\": [true, "},
      {json_object_grammar(), "{\"a\": \"caf\xC3"},
      {json_object_grammar(), "{\"a\": \"\xF0\x9F"},
      {json_object_grammar(), "{\"a\": {}}"},
      {json_object_grammar(), "{\"a\": [{\"b\": \"x"},
      {json_object_grammar(), "{\"a\": [{\"b\": [1, 2.5"},
      {json_object_grammar(), "{\"a\": [{\"b\": [\"\xC3"},
      {json_schema_to_grammar(R"({"type":"object","properties":{"n":{"type":"string","maxLength":3},"v":{"type":"number"}}})"), "{\"n\": \"ab"},
      {json_schema_to_grammar(R"({"type":"object","properties":{"n":{"type":"string","maxLength":3},"v":{"type":"number"}}})"), "{\"v\": 1"},
      {arith, "((1+(2"},
      {arith, "(1+2"},
      {arith, "12=3\n"},
      {"root ::= [ぁ-ゟ]+ \"!\"?", "\xE3\x81"},
      {"root ::= \" \" [a-z]{2,5} (\" \" [a-z]{2,5})*", ""},
  };
  std::size_t resumes = 0;
  for (const auto& [grammar, prefix] : cases) {
    SCOPED_TRACE(prefix);
    GrammarMatcher m(Grammar::parse(grammar));
    ASSERT_TRUE(m.accept(prefix));
    const TokenMask& mask = m.allowed(trie);
    std::size_t allowed = 0, mismatches = 0;
    for (std::size_t t = 0; t < tok.vocab_size(); ++t) {
      const auto id = static_cast<Token>(t);
      const std::string bytes = tok.token_bytes(id);
      const bool expect = !tok.is_special(id) && !bytes.empty() && m.can_accept(bytes);
      allowed += expect;
      if (mask.test(id) != expect && ++mismatches <= 5)
        ADD_FAILURE() << "token " << t << " '" << bytes << "': mask " << mask.test(id) << ", direct " << expect;
    }
    EXPECT_EQ(mask.count(), allowed);
    EXPECT_EQ(allowed > 0, m.can_continue());  // a finished object allows nothing more
    resumes += m.stats().resumes;
  }
  EXPECT_GT(resumes, 0u);  // the two-part walk of deep stacks was exercised
}

}  // namespace
}  // namespace gpt::detail
