// GBNF parser, pushdown matcher and vocabulary-trie token masks; see grammar.h.
#include "generate/grammar.h"

#include <algorithm>
#include <bit>
#include <map>

#include "gpt/error.h"

namespace gpt::detail {

namespace {

constexpr std::int64_t kMaxRepetition = 10000;  // bound on m and n in x{m,n}
constexpr char32_t kMaxCodePoint = 0x10FFFF;
constexpr std::size_t kMaxCachedMasks = 4096;
constexpr int kMaxNesting = 256;  // parentheses inside parentheses

}  // namespace

// --- Parser ----------------------------------------------------------------------

class GbnfParser {
 public:
  explicit GbnfParser(std::string_view text) : s_(text) {}

  std::shared_ptr<const Grammar> run() {
    auto g = std::make_shared<Grammar>();
    g_ = g.get();
    space(true);
    while (!eof()) {
      const std::size_t at = i_;
      if (!word_char(peek())) fail("expected a rule name");
      const std::string name = word();
      space(false);
      if (s_.substr(i_, 3) != "::=") fail("expected '::=' after the rule name '" + name + "'");
      i_ += 3;
      space(true);
      const std::uint32_t id = rule_id(name, at);
      if (defined_[id]) fail_at(at, "rule '" + name + "' is defined twice");
      defined_[id] = true;
      def_pos_[id] = at;
      alts_[id] = alternates(name, false);
      space(false);
      if (!eof() && peek() != '\n') fail("expected the end of the line after the rule '" + name + "'");
      space(true);
    }
    for (std::uint32_t r = 0; r < alts_.size(); ++r)
      if (!defined_[r]) fail_at(first_ref_[r], "rule '" + g_->rules_[r].name + "' is not defined");
    auto root = names_.find("root");
    if (root == names_.end()) fail_at(s_.size(), "the grammar has no 'root' rule");
    g_->root_ = root->second;
    flatten();
    check_left_recursion();
    return g;
  }

 private:
  using Seq = std::vector<Grammar::Element>;
  using Alts = std::vector<Seq>;

  [[noreturn]] void fail_at(std::size_t pos, const std::string& message) const {
    int line = 1, col = 1;
    for (std::size_t k = 0; k < pos && k < s_.size(); ++k) {
      if (s_[k] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw GrammarError(line, col, message);
  }
  [[noreturn]] void fail(const std::string& message) const { fail_at(i_, message); }

  bool eof() const { return i_ >= s_.size(); }
  char peek() const { return eof() ? '\0' : s_[i_]; }
  static bool word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  }
  std::string word() {
    const std::size_t b = i_;
    while (!eof() && word_char(s_[i_])) ++i_;
    return std::string(s_.substr(b, i_ - b));
  }

  // Skips blanks and comments; newlines only when newline_ok.
  void space(bool newline_ok) {
    while (!eof()) {
      const char c = s_[i_];
      if (c == ' ' || c == '\t' || c == '\r') {
        ++i_;
      } else if (c == '#') {
        while (!eof() && s_[i_] != '\n') ++i_;
      } else if (c == '\n' && newline_ok) {
        ++i_;
      } else {
        break;
      }
    }
  }

  std::uint32_t rule_id(const std::string& name, std::size_t at) {
    auto it = names_.find(name);
    if (it != names_.end()) return it->second;
    const auto id = new_rule(name, at);
    names_.emplace(name, id);
    return id;
  }
  std::uint32_t new_rule(const std::string& name, std::size_t at) {
    const auto id = static_cast<std::uint32_t>(alts_.size());
    g_->rules_.push_back({name, {}});
    alts_.emplace_back();
    defined_.push_back(false);
    first_ref_.push_back(at);
    def_pos_.push_back(at);
    return id;
  }
  std::uint32_t helper(const std::string& base, Alts alts, std::size_t at) {
    const auto id = new_rule(base + "_" + std::to_string(++helpers_), at);
    defined_[id] = true;
    alts_[id] = std::move(alts);
    return id;
  }
  static Grammar::Element ref(std::uint32_t rule) {
    Grammar::Element e;
    e.op = Grammar::Op::Rule;
    e.rule = rule;
    return e;
  }
  Grammar::Element chars(const std::vector<CharRange>& ranges, bool negated) {
    Grammar::Element e;
    e.op = Grammar::Op::Chars;
    e.negated = negated;
    e.first = static_cast<std::uint32_t>(g_->ranges_.size());
    g_->ranges_.insert(g_->ranges_.end(), ranges.begin(), ranges.end());
    e.last = static_cast<std::uint32_t>(g_->ranges_.size());
    return e;
  }

  // One UTF-8 code point of the grammar text.
  char32_t utf8() {
    const auto b = static_cast<unsigned char>(s_[i_]);
    int n = b < 0x80 ? 0 : (b >> 5) == 0x6 ? 1 : (b >> 4) == 0xE ? 2 : (b >> 3) == 0x1E ? 3 : -1;
    if (n < 0) fail("invalid UTF-8 in the grammar");
    char32_t c = n == 0 ? b : n == 1 ? (b & 0x1F) : n == 2 ? (b & 0x0F) : (b & 0x07);
    ++i_;
    for (int k = 0; k < n; ++k) {
      if (eof() || (static_cast<unsigned char>(s_[i_]) & 0xC0) != 0x80) fail("invalid UTF-8 in the grammar");
      c = (c << 6) | (static_cast<unsigned char>(s_[i_]) & 0x3F);
      ++i_;
    }
    return c;
  }
  char32_t hex(int digits) {
    char32_t v = 0;
    for (int k = 0; k < digits; ++k) {
      if (eof()) fail("expected " + std::to_string(digits) + " hex digits");
      const char c = s_[i_];
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (d < 0) fail("expected " + std::to_string(digits) + " hex digits");
      v = v * 16 + static_cast<char32_t>(d);
      ++i_;
    }
    if (v > kMaxCodePoint) fail("code point above U+10FFFF");
    return v;
  }
  // A character inside "..." or [...], with escapes.
  char32_t character() {
    if (eof()) fail("unexpected end of the grammar");
    if (s_[i_] != '\\') return utf8();
    const std::size_t at = i_;
    ++i_;
    if (eof()) fail("unexpected end of the grammar after '\\'");
    const char c = s_[i_++];
    switch (c) {
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case '0': return 0;
      case '\\': case '"': case '\'': case '[': case ']': case '-': case '^': return static_cast<char32_t>(c);
      case 'x': return hex(2);
      case 'u': return hex(4);
      case 'U': return hex(8);
      default: fail_at(at, std::string("unknown escape '\\") + c + "'");
    }
  }

  Alts alternates(const std::string& name, bool nested) {
    Alts alts;
    alts.push_back(sequence(name, nested));
    while (peek() == '|') {
      ++i_;
      space(true);
      alts.push_back(sequence(name, nested));
    }
    return alts;
  }

  Seq sequence(const std::string& name, bool nested) {
    Seq seq;
    std::size_t last = seq.size();  // start of the last symbol, for repetition
    bool have_last = false;
    for (;;) {
      space(nested);
      if (eof()) break;
      const char c = peek();
      const std::size_t at = i_;
      if (c == '"') {
        ++i_;
        last = seq.size();
        while (!eof() && s_[i_] != '"') {
          if (s_[i_] == '\n') fail("unterminated string literal");
          const char32_t ch = character();
          seq.push_back(chars({{ch, ch}}, false));
        }
        if (eof()) fail_at(at, "unterminated string literal");
        ++i_;
        have_last = true;
      } else if (c == '[') {
        ++i_;
        bool negated = false;
        if (peek() == '^') {
          negated = true;
          ++i_;
        }
        std::vector<CharRange> ranges;
        while (!eof() && s_[i_] != ']') {
          const char32_t lo = character();
          char32_t hi = lo;
          if (peek() == '-' && i_ + 1 < s_.size() && s_[i_ + 1] != ']') {
            ++i_;
            hi = character();
            if (hi < lo) fail("character range is reversed");
          }
          ranges.push_back({lo, hi});
        }
        if (eof()) fail_at(at, "unterminated character class");
        ++i_;
        last = seq.size();
        seq.push_back(chars(ranges, negated));
        have_last = true;
      } else if (c == '.') {
        ++i_;
        last = seq.size();
        seq.push_back(chars({}, true));
        have_last = true;
      } else if (c == '(') {
        if (++depth_ > kMaxNesting) fail("parentheses nested deeper than " + std::to_string(kMaxNesting));
        ++i_;
        space(true);
        Alts inner = alternates(name, true);
        --depth_;
        space(true);
        if (peek() != ')') fail("expected ')'");
        ++i_;
        last = seq.size();
        seq.push_back(ref(helper(name, std::move(inner), at)));
        have_last = true;
      } else if (word_char(c)) {
        const std::string w = word();
        last = seq.size();
        seq.push_back(ref(rule_id(w, at)));
        have_last = true;
      } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        if (!have_last) fail(std::string("'") + c + "' must follow a symbol");
        std::int64_t lo = 0, hi = -1;
        ++i_;
        if (c == '+') lo = 1;
        if (c == '?') hi = 1;
        if (c == '{') {
          space(false);
          auto number = [&]() -> std::int64_t {
            if (!(peek() >= '0' && peek() <= '9')) fail("expected a number in '{m,n}'");
            const std::size_t start = i_;
            std::int64_t v = 0;
            while (peek() >= '0' && peek() <= '9') {
              v = v * 10 + (s_[i_++] - '0');
              if (v > kMaxRepetition) fail_at(start, "repetition bound above " + std::to_string(kMaxRepetition));
            }
            return v;
          };
          if (peek() != ',') lo = number();
          space(false);
          if (peek() == ',') {
            ++i_;
            space(false);
            if (peek() != '}') hi = number();
          } else {
            hi = lo;
          }
          space(false);
          if (peek() != '}') fail("expected '}'");
          ++i_;
          if (hi >= 0 && hi < lo) fail_at(at, "repetition {m,n} with n < m");
        }
        const Seq sym(seq.begin() + static_cast<std::ptrdiff_t>(last), seq.end());
        seq.resize(last);
        repeat(name, sym, lo, hi, at, seq);
        have_last = false;  // x** is not GBNF; x*? neither
      } else if (c == '<' || c == '!') {
        fail("token references (<...>, !<...>) are not supported");
      } else {
        break;
      }
    }
    return seq;
  }

  // Appends sym{lo,hi} (hi = -1: unbounded) to seq.
  void repeat(const std::string& name, const Seq& sym, std::int64_t lo, std::int64_t hi, std::size_t at, Seq& seq) {
    if (static_cast<std::int64_t>(sym.size()) * std::max(lo, hi) > 4 * kMaxRepetition)
      fail_at(at, "repetition too large");
    for (std::int64_t k = 0; k < lo; ++k) seq.insert(seq.end(), sym.begin(), sym.end());
    if (hi < 0) {
      // R ::= sym R | empty
      const auto id = helper(name, {}, at);
      Seq body = sym;
      body.push_back(ref(id));
      alts_[id] = {body, Seq{}};
      seq.push_back(ref(id));
    } else if (hi > lo) {
      // R_1 ::= sym | empty;  R_k ::= sym R_{k-1} | empty
      std::uint32_t prev = helper(name, {sym, Seq{}}, at);
      for (std::int64_t k = 1; k < hi - lo; ++k) {
        Seq body = sym;
        body.push_back(ref(prev));
        prev = helper(name, {body, Seq{}}, at);
      }
      seq.push_back(ref(prev));
    }
  }

  void flatten() {
    auto& el = g_->elements_;
    for (std::uint32_t r = 0; r < alts_.size(); ++r) {
      for (const Seq& seq : alts_[r]) {
        g_->rules_[r].alts.push_back(static_cast<std::uint32_t>(el.size()));
        el.insert(el.end(), seq.begin(), seq.end());
        el.push_back(Grammar::Element{});  // End
      }
    }
  }

  void check_left_recursion() {
    const auto& el = g_->elements_;
    const auto& rules = g_->rules_;
    const std::size_t n = rules.size();
    std::vector<bool> nullable(n, false);
    for (bool changed = true; changed;) {
      changed = false;
      for (std::size_t r = 0; r < n; ++r) {
        if (nullable[r]) continue;
        for (std::uint32_t a : rules[r].alts) {
          std::uint32_t p = a;
          while (el[p].op == Grammar::Op::Rule && nullable[el[p].rule]) ++p;
          if (el[p].op == Grammar::Op::End) {
            nullable[r] = changed = true;
            break;
          }
        }
      }
    }
    // Depth-first search over "can start with" edges; a back edge is left recursion.
    std::vector<int> color(n, 0);
    for (std::uint32_t start = 0; start < n; ++start) {
      if (color[start]) continue;
      std::vector<std::vector<std::uint32_t>> next(1);
      std::vector<std::uint32_t> path{start};
      auto succ = [&](std::uint32_t r) {
        std::vector<std::uint32_t> out;
        for (std::uint32_t a : rules[r].alts)
          for (std::uint32_t p = a; el[p].op == Grammar::Op::Rule; ++p) {
            out.push_back(el[p].rule);
            if (!nullable[el[p].rule]) break;
          }
        return out;
      };
      color[start] = 1;
      next[0] = succ(start);
      while (!path.empty()) {
        if (next.back().empty()) {
          color[path.back()] = 2;
          path.pop_back();
          next.pop_back();
          continue;
        }
        const std::uint32_t q = next.back().back();
        next.back().pop_back();
        if (color[q] == 1) {
          // Name the user's rule: helpers are named after the rule they came from.
          std::string nm = rules[q].name;
          fail_at(def_pos_[q], "left recursion: rule '" + nm +
                                   "' can reach itself without consuming a character (a top-down matcher "
                                   "would loop; rewrite it right-recursively, e.g. x ::= y x? for x ::= x? y)");
        }
        if (color[q] == 0) {
          color[q] = 1;
          path.push_back(q);
          next.push_back(succ(q));
        }
      }
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
  Grammar* g_ = nullptr;
  std::map<std::string, std::uint32_t> names_;
  std::vector<Alts> alts_;
  std::vector<bool> defined_;
  std::vector<std::size_t> first_ref_, def_pos_;
  int helpers_ = 0;
  int depth_ = 0;
};

std::shared_ptr<const Grammar> Grammar::parse(std::string_view text) { return GbnfParser(text).run(); }

bool Grammar::matches(const Element& e, char32_t c) const noexcept {
  bool in = false;
  for (std::uint32_t k = e.first; k < e.last; ++k)
    if (c >= ranges_[k].lo && c <= ranges_[k].hi) {
      in = true;
      break;
    }
  return in != e.negated;
}

bool Grammar::intersects(const Element& e, char32_t lo, char32_t hi) const noexcept {
  if (!e.negated) {
    for (std::uint32_t k = e.first; k < e.last; ++k)
      if (ranges_[k].lo <= hi && ranges_[k].hi >= lo) return true;
    return false;
  }
  // Negated: some point of [lo, hi] lies outside every range. Walk lo
  // upwards past ranges that cover it.
  char32_t c = lo;
  for (bool moved = true; moved && c <= hi;) {
    moved = false;
    for (std::uint32_t k = e.first; k < e.last; ++k)
      if (c >= ranges_[k].lo && c <= ranges_[k].hi) {
        if (ranges_[k].hi >= hi) return false;
        c = ranges_[k].hi + 1;
        moved = true;
      }
  }
  return c <= hi;
}

// --- Vocabulary trie ------------------------------------------------------------

VocabularyTrie::VocabularyTrie(const Tokenizer& tok) : vocab_size_(tok.vocab_size()) {
  std::vector<std::pair<std::string, Token>> items;
  items.reserve(vocab_size_);
  for (std::size_t t = 0; t < vocab_size_; ++t) {
    const auto id = static_cast<Token>(t);
    if (tok.is_special(id)) continue;
    std::string b = tok.token_bytes(id);
    if (!b.empty()) items.emplace_back(std::move(b), id);
  }
  std::sort(items.begin(), items.end());
  // Depth-first construction over the sorted items; a node's edges are contiguous.
  struct Frame {
    std::size_t lo, hi, depth;
    std::uint32_t node;
  };
  auto make = [&](std::size_t lo, std::size_t hi, std::size_t depth) {
    const auto id = static_cast<std::uint32_t>(nodes_.size());
    nodes_.push_back({});
    std::size_t i = lo;
    nodes_[id].first_token = static_cast<std::uint32_t>(tokens_.size());
    while (i < hi && items[i].first.size() == depth) tokens_.push_back(items[i++].second);
    nodes_[id].last_token = static_cast<std::uint32_t>(tokens_.size());
    return std::pair{id, i};
  };
  std::vector<Frame> work;
  auto [root, rest] = make(0, items.size(), 0);
  work.push_back({rest, items.size(), 0, root});
  while (!work.empty()) {
    const Frame f = work.back();
    work.pop_back();
    // Group [f.lo, f.hi) by the byte at f.depth; one child per group.
    std::vector<Frame> children;
    nodes_[f.node].first_edge = static_cast<std::uint32_t>(edges_.size());
    for (std::size_t j = f.lo; j < f.hi;) {
      const auto b = static_cast<std::uint8_t>(items[j].first[f.depth]);
      std::size_t k = j;
      while (k < f.hi && static_cast<std::uint8_t>(items[k].first[f.depth]) == b) ++k;
      auto [child, crest] = make(j, k, f.depth + 1);
      max_depth_ = std::max(max_depth_, f.depth + 1);
      edges_.push_back({b, child});
      children.push_back({crest, k, f.depth + 1, child});
      j = k;
    }
    nodes_[f.node].last_edge = static_cast<std::uint32_t>(edges_.size());
    work.insert(work.end(), children.begin(), children.end());
  }
}

std::size_t TokenMask::count() const noexcept {
  std::size_t n = 0;
  for (auto w : bits_) n += static_cast<std::size_t>(std::popcount(w));
  return n;
}

// --- Matcher --------------------------------------------------------------------

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar) : g_(std::move(grammar)) {
  nodes_.push_back({0, 0});  // kEmpty
  nodes_.push_back({0, 0});  // kWild
  nodes_.push_back({0, 0});  // kPopped
  for (std::uint32_t a : g_->rules()[g_->root()].alts) expand(a, kEmpty, state_.stacks);
  std::sort(state_.stacks.begin(), state_.stacks.end());
  state_.stacks.erase(std::unique(state_.stacks.begin(), state_.stacks.end()), state_.stacks.end());
}

std::uint32_t GrammarMatcher::intern(std::uint32_t pos, std::uint32_t parent) {
  const std::uint64_t key = (std::uint64_t{pos} << 32) | parent;
  auto [it, inserted] = interned_.try_emplace(key, static_cast<std::uint32_t>(nodes_.size()));
  if (inserted) nodes_.push_back({pos, parent});
  return it->second;
}

void GrammarMatcher::expand(std::uint32_t pos, std::uint32_t parent, std::vector<std::uint32_t>& out) {
  const auto& el = g_->elements();
  const Grammar::Element& e = el[pos];
  switch (e.op) {
    case Grammar::Op::Chars:
      out.push_back(intern(pos, parent));
      return;
    case Grammar::Op::End:
      if (parent == kEmpty || parent == kWild) {
        out.push_back(parent == kEmpty ? kEmpty : kPopped);
      } else {
        const Node p = nodes_[parent];
        expand(p.pos, p.parent, out);
      }
      return;
    case Grammar::Op::Rule: {
      // Tail position: nothing left after the reference, so return straight to parent.
      const std::uint32_t cont = el[pos + 1].op == Grammar::Op::End ? parent : intern(pos + 1, parent);
      for (std::uint32_t a : g_->rules()[e.rule].alts) expand(a, cont, out);
      return;
    }
  }
}

std::span<const std::uint32_t> GrammarMatcher::advance(std::uint32_t stack, char32_t c) {
  const std::uint64_t key = (std::uint64_t{stack} << 21) | c;
  auto it = advanced_.find(key);
  if (it == advanced_.end()) {
    std::vector<std::uint32_t> out;
    const Node n = nodes_[stack];
    if (g_->matches(g_->elements()[n.pos], c)) expand(n.pos + 1, n.parent, out);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    const auto b = static_cast<std::uint32_t>(pool_.size());
    pool_.insert(pool_.end(), out.begin(), out.end());
    it = advanced_.emplace(key, std::pair{b, static_cast<std::uint32_t>(pool_.size())}).first;
  }
  return {pool_.data() + it->second.first, pool_.data() + it->second.second};
}

bool GrammarMatcher::step(const State& in, std::uint8_t byte, State& out) {
  out.stacks.clear();
  Partial p = in.partial;
  char32_t cp = 0;
  bool complete = false;
  if (p.need == 0) {
    if (byte < 0x80) {
      cp = byte;
      complete = true;
    } else if (byte >= 0xC2 && byte <= 0xDF) {
      p = {static_cast<std::uint32_t>(byte & 0x1F), 1, 2};
    } else if (byte >= 0xE0 && byte <= 0xEF) {
      p = {static_cast<std::uint32_t>(byte & 0x0F), 2, 3};
    } else if (byte >= 0xF0 && byte <= 0xF4) {
      p = {static_cast<std::uint32_t>(byte & 0x07), 3, 4};
    } else {
      return false;
    }
  } else {
    if ((byte & 0xC0) != 0x80) return false;
    p.value = (p.value << 6) | (byte & 0x3F);
    if (--p.need == 0) {
      cp = p.value;
      if ((p.len == 3 && cp < 0x800) || (p.len == 4 && (cp < 0x10000 || cp > kMaxCodePoint)) ||
          (cp >= 0xD800 && cp <= 0xDFFF))
        return false;
      complete = true;
    }
  }
  if (complete) {
    out.partial = {};
    for (std::uint32_t s : in.stacks) {
      if (s <= kPopped) continue;
      const auto next = advance(s, cp);
      out.stacks.insert(out.stacks.end(), next.begin(), next.end());
    }
    if (out.stacks.size() > 1) {
      std::sort(out.stacks.begin(), out.stacks.end());
      out.stacks.erase(std::unique(out.stacks.begin(), out.stacks.end()), out.stacks.end());
    }
  } else {
    out.partial = p;
    // The code points this prefix can still become (no overlong forms, none past U+10FFFF).
    const char32_t least = p.len == 2 ? 0x80 : p.len == 3 ? 0x800 : 0x10000;
    const char32_t lo = std::max<char32_t>(p.value << (6 * p.need), least);
    const char32_t hi = std::min<char32_t>((p.value << (6 * p.need)) | ((char32_t{1} << (6 * p.need)) - 1), kMaxCodePoint);
    if (lo > hi) return false;
    for (std::uint32_t s : in.stacks)
      if (s > kPopped && g_->intersects(g_->elements()[nodes_[s].pos], lo, hi)) out.stacks.push_back(s);
  }
  return !out.stacks.empty();
}

bool GrammarMatcher::accept(std::string_view bytes) {
  State cur = state_, next;
  for (char ch : bytes) {
    if (!step(cur, static_cast<std::uint8_t>(ch), next)) return false;
    std::swap(cur, next);
  }
  state_ = std::move(cur);
  current_valid_ = false;
  return true;
}

bool GrammarMatcher::can_accept(std::string_view bytes) {
  State cur = state_, next;
  for (char ch : bytes) {
    if (!step(cur, static_cast<std::uint8_t>(ch), next)) return false;
    std::swap(cur, next);
  }
  return true;
}

bool GrammarMatcher::accepting() const noexcept {
  return state_.partial.need == 0 && !state_.stacks.empty() && state_.stacks.front() == kEmpty;
}

bool GrammarMatcher::can_continue() const noexcept {
  return !state_.stacks.empty() && state_.stacks.back() != kEmpty;
}

void GrammarMatcher::walk(const VocabularyTrie& trie, std::uint32_t node, const State& state, TokenMask& mask,
                          std::size_t depth, std::vector<std::uint32_t>* pops) {
  const auto& nodes = trie.nodes();
  const auto& edges = trie.edges();
  const auto& tokens = trie.tokens();
  const auto n = nodes[node];
  stats_.edges += n.last_edge - n.first_edge;
  for (std::uint32_t k = n.first_edge; k < n.last_edge; ++k) {
    State& next = scratch_[depth];
    if (!step(state, edges[k].byte, next)) continue;
    const std::uint32_t c = edges[k].child;
    if (pops && next.stacks.front() == kPopped) {  // sorted: kPopped comes first (kEmpty cannot occur here)
      pops->push_back(c);
      next.stacks.erase(next.stacks.begin());
    }
    const auto child = nodes[c];
    for (std::uint32_t t = child.first_token; t < child.last_token; ++t) mask.set(tokens[t]);
    if (child.first_edge != child.last_edge && !next.stacks.empty()) walk(trie, c, next, mask, depth + 1, pops);
  }
}

std::pair<std::uint32_t, std::uint32_t> GrammarMatcher::truncate(std::uint32_t stack) {
  std::uint32_t pos[kTruncate];
  std::uint32_t cur = stack;
  int m = 0;
  while (m < kTruncate && cur != kEmpty) {
    pos[m++] = nodes_[cur].pos;
    cur = nodes_[cur].parent;
  }
  if (cur == kEmpty) return {stack, kEmpty};
  std::uint32_t t = kWild;
  for (int i = m - 1; i >= 0; --i) t = intern(pos[i], t);
  return {t, cur};
}

const TokenMask& GrammarMatcher::stack_mask(const VocabularyTrie& trie, std::uint32_t s, Partial p) {
  auto key = [&](std::uint32_t id) {
    return (std::uint64_t{id} << 32) | (std::uint64_t{p.value} << 5) | (std::uint64_t{p.need} << 3) | p.len;
  };
  auto it = stack_masks_.find(key(s));
  if (it != stack_masks_.end()) return it->second;
  if (stack_masks_.size() >= kMaxCachedMasks) stack_masks_.clear();
  if (local_masks_.size() >= kMaxCachedMasks) local_masks_.clear();
  TokenMask m(trie.vocab_size());
  const auto [top, rest] = truncate(s);
  State start;
  start.partial = p;
  if (rest == kEmpty) {
    start.stacks = {s};
    ++stats_.walks;
    walk(trie, 0, start, m, 0, nullptr);
  } else {
    auto lt = local_masks_.find(key(top));
    if (lt == local_masks_.end()) {
      Local local{TokenMask(trie.vocab_size()), {}};
      start.stacks = {top};
      ++stats_.walks;
      walk(trie, 0, start, local.mask, 0, &local.pops);
      std::sort(local.pops.begin(), local.pops.end());
      local.pops.erase(std::unique(local.pops.begin(), local.pops.end()), local.pops.end());
      lt = local_masks_.emplace(key(top), std::move(local)).first;
    }
    m = lt->second.mask;
    if (!lt->second.pops.empty()) {
      // Continue from each pop point with the real stack below the frames.
      State resume;
      expand(nodes_[rest].pos, nodes_[rest].parent, resume.stacks);
      std::sort(resume.stacks.begin(), resume.stacks.end());
      resume.stacks.erase(std::unique(resume.stacks.begin(), resume.stacks.end()), resume.stacks.end());
      for (std::uint32_t node : lt->second.pops) {
        ++stats_.resumes;
        walk(trie, node, resume, m, 0, nullptr);
      }
    }
  }
  return stack_masks_.emplace(key(s), std::move(m)).first->second;
}

const TokenMask& GrammarMatcher::allowed(const VocabularyTrie& trie) {
  if (current_valid_) return current_;
  current_ = TokenMask(trie.vocab_size());
  if (scratch_.size() < trie.max_depth() + 1) scratch_.resize(trie.max_depth() + 1);  // walk() keeps references
  for (std::uint32_t s : state_.stacks)
    if (s > kPopped) current_.merge(stack_mask(trie, s, state_.partial));
  current_valid_ = true;
  return current_;
}

}  // namespace gpt::detail
