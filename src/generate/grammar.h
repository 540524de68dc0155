// Constrained decoding: GBNF grammars, a pushdown matcher over code points,
// and a token mask computed by walking a byte trie of the vocabulary.
//
// GBNF (the grammar format of llama.cpp, written here from its description):
//   name ::= alternatives          rules; `root` is where the output starts
//   a b                            sequence;   a | b   alternation;  ( ... )  grouping
//   "text"                         a literal (escapes \n \r \t \\ \" \' \[ \] \xHH \uHHHH \UHHHHHHHH)
//   [a-z0-9_] [^"\\]               character classes, ranges, negation
//   .                              any character
//   x* x+ x? x{m} x{m,} x{m,n} x{,n}   repetition
//   # comment                      to the end of the line
// Newlines end a rule except inside parentheses, after `::=` and after `|`.
// Token references (<[id]>, <text>) are refused with a GrammarError.
//
// Grammar::parse compiles the text into flat rules: every alternative is a
// run of elements (a character class or a rule reference) closed by End;
// groups and repetitions become helper rules (x* -> R ::= x R | empty),
// so a right-recursive loop never grows the stack. Left recursion (a rule
// that can reach itself without consuming a character) is refused, because
// a top-down matcher would loop on it.
//
// GrammarMatcher holds the set of stacks of a pushdown automaton. A stack
// is a chain of return positions whose top is a character class; stacks
// are hash-consed (identical stacks share one id), so a set of stacks is a
// small sorted vector of ids and the result of advancing one stack by one
// code point is memoised. Input arrives as bytes: a token may end inside a
// multi-byte UTF-8 character, and the matcher then keeps only the stacks
// whose top class can still match some completion of it.
//
// allowed() is the set of vocabulary tokens whose bytes keep the output
// inside the language: a depth-first walk of the vocabulary trie, pruned as
// soon as a prefix is rejected, cached per stack id, so a state met again
// (the inside of a string, the digits of a number) costs one bitset union.
// A stack deeper than kTruncate frames is walked in two parts: its top
// frames on a wildcard bottom (cached by those frames alone, so the inside
// of every string shares one walk whatever the string belongs to), then,
// from each trie node where that walk popped into the wildcard, the rest of
// the walk with the real stack (small: the tokens that close the string).
//
// Ownership and threads: a Grammar is immutable and may be shared; a
// VocabularyTrie is immutable and may be shared; a GrammarMatcher (and the
// caches inside it) belongs to one generation and one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gpt/tokenizer.h"
#include "gpt/types.h"

namespace gpt::detail {

struct CharRange {
  char32_t lo = 0, hi = 0;  // inclusive
};

class Grammar {
 public:
  enum class Op : std::uint8_t { End, Chars, Rule };
  struct Element {
    Op op = Op::End;
    bool negated = false;      // Chars: matches code points outside the ranges
    std::uint32_t rule = 0;    // Rule: the referenced rule
    std::uint32_t first = 0;   // Chars: ranges_[first, last)
    std::uint32_t last = 0;
  };
  struct Rule {
    std::string name;                 // helper rules: "<parent>_<n>"
    std::vector<std::uint32_t> alts;  // start positions in elements()
  };

  // Parses and compiles GBNF text. Throws GrammarError (line and column)
  // for a syntax error, an undefined or duplicate rule, a missing `root`,
  // left recursion, or a repetition bound above 10000.
  static std::shared_ptr<const Grammar> parse(std::string_view text);

  const std::vector<Element>& elements() const noexcept { return elements_; }
  const std::vector<Rule>& rules() const noexcept { return rules_; }
  std::uint32_t root() const noexcept { return root_; }
  bool matches(const Element& e, char32_t c) const noexcept;
  // Whether the class e matches some code point in [lo, hi].
  bool intersects(const Element& e, char32_t lo, char32_t hi) const noexcept;

 private:
  friend class GbnfParser;
  std::vector<Element> elements_;
  std::vector<CharRange> ranges_;
  std::vector<Rule> rules_;
  std::uint32_t root_ = 0;
};

// The vocabulary's token bytes in a byte trie (special tokens left out: a
// grammar never produces them; end-of-sequence is handled apart).
class VocabularyTrie {
 public:
  explicit VocabularyTrie(const Tokenizer& tok);
  std::size_t vocab_size() const noexcept { return vocab_size_; }
  std::size_t max_depth() const noexcept { return max_depth_; }  // longest token, in bytes

  struct Node {
    std::uint32_t first_edge = 0, last_edge = 0;    // edges_[first, last), sorted by byte
    std::uint32_t first_token = 0, last_token = 0;  // tokens_[first, last): tokens ending here
  };
  struct Edge {
    std::uint8_t byte = 0;
    std::uint32_t child = 0;
  };
  const std::vector<Node>& nodes() const noexcept { return nodes_; }
  const std::vector<Edge>& edges() const noexcept { return edges_; }
  const std::vector<Token>& tokens() const noexcept { return tokens_; }

 private:
  std::size_t vocab_size_ = 0;
  std::size_t max_depth_ = 0;
  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  std::vector<Token> tokens_;
};

// A set of vocabulary tokens as a bitset.
class TokenMask {
 public:
  TokenMask() = default;
  explicit TokenMask(std::size_t n) : bits_((n + 63) / 64, 0) {}
  void set(Token t) noexcept { bits_[static_cast<std::size_t>(t) >> 6] |= std::uint64_t{1} << (t & 63); }
  bool test(Token t) const noexcept {
    const auto i = static_cast<std::size_t>(t) >> 6;
    return i < bits_.size() && ((bits_[i] >> (t & 63)) & 1) != 0;
  }
  void merge(const TokenMask& o) noexcept {
    for (std::size_t i = 0; i < bits_.size() && i < o.bits_.size(); ++i) bits_[i] |= o.bits_[i];
  }
  std::size_t count() const noexcept;

 private:
  std::vector<std::uint64_t> bits_;
};

class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<const Grammar> grammar);

  // Advances by bytes (a token's text). Returns false and leaves the state
  // unchanged when the bytes leave the language.
  bool accept(std::string_view bytes);
  // Whether accept(bytes) would succeed, without changing the state.
  bool can_accept(std::string_view bytes);
  // Whether the bytes so far are a sentence of the grammar.
  bool accepting() const noexcept;
  // Whether some continuation (at least one more byte) is possible.
  bool can_continue() const noexcept;
  // The tokens of the trie whose bytes can follow now (not end-of-sequence).
  const TokenMask& allowed(const VocabularyTrie& trie);

  // Work done so far: trie walks (cache misses; resumes after a pop
  // counted apart) and trie edges they tried.
  struct Stats {
    std::size_t walks = 0, resumes = 0, edges = 0;
  };
  const Stats& stats() const noexcept { return stats_; }

 private:
  // An incomplete UTF-8 character: the bits so far and the bytes to come.
  struct Partial {
    std::uint32_t value = 0;
    std::uint8_t need = 0;  // continuation bytes still to come; 0 = none pending
    std::uint8_t len = 0;   // total length of the character
    bool operator==(const Partial&) const = default;
  };
  struct State {
    std::vector<std::uint32_t> stacks;  // sorted ids; kEmpty = the grammar is complete
    Partial partial;
  };
  struct Node {
    std::uint32_t pos;     // next element to match (a Chars element for a top)
    std::uint32_t parent;  // the stack below; kEmpty at the bottom
  };
  static constexpr std::uint32_t kEmpty = 0;   // the bottom: the grammar is complete
  static constexpr std::uint32_t kWild = 1;    // the bottom of a truncated stack: "some context"
  static constexpr std::uint32_t kPopped = 2;  // a walk state that popped into kWild
  static constexpr int kTruncate = 3;          // frames kept by truncate()
  // A mask that holds whatever the context below a truncated stack is: the
  // tokens it allows, and the trie nodes where the walk popped into the
  // context (the caller continues there with the real stack).
  struct Local {
    TokenMask mask;
    std::vector<std::uint32_t> pops;
  };
  // The top kTruncate frames of stack on kWild, and the real stack below
  // them (kEmpty when the stack is not deeper than that: then first == stack).
  std::pair<std::uint32_t, std::uint32_t> truncate(std::uint32_t stack);

  std::uint32_t intern(std::uint32_t pos, std::uint32_t parent);
  void expand(std::uint32_t pos, std::uint32_t parent, std::vector<std::uint32_t>& out);
  // The stacks after one stack consumes code point c (memoised).
  std::span<const std::uint32_t> advance(std::uint32_t stack, char32_t c);
  // One byte: false when nothing survives.
  bool step(const State& in, std::uint8_t byte, State& out);
  void walk(const VocabularyTrie& trie, std::uint32_t node, const State& state, TokenMask& mask, std::size_t depth,
            std::vector<std::uint32_t>* pops);
  const TokenMask& stack_mask(const VocabularyTrie& trie, std::uint32_t stack, Partial p);

  std::shared_ptr<const Grammar> g_;
  std::vector<Node> nodes_;
  std::unordered_map<std::uint64_t, std::uint32_t> interned_;
  std::unordered_map<std::uint64_t, std::pair<std::uint32_t, std::uint32_t>> advanced_;  // -> pool_[a, b)
  std::vector<std::uint32_t> pool_;
  std::unordered_map<std::uint64_t, TokenMask> stack_masks_;  // (stack, partial) -> mask
  std::unordered_map<std::uint64_t, Local> local_masks_;      // (truncated stack, partial) -> Local
  std::vector<State> scratch_;  // one per trie depth
  State state_;
  Stats stats_;
  TokenMask current_;
  bool current_valid_ = false;
};

}  // namespace gpt::detail
