#include "tokenizer/bpe.h"

#include <algorithm>
#include <mutex>
#include <queue>

#include "gpt/error.h"
#include "tokenizer/nfc.h"
#include "tokenizer/utf8.h"

namespace gpt::tok {

namespace {
std::vector<std::string> make_byte_table() {
  // Printable Latin-1 bytes stand for themselves; the others (controls, space,
  // DEL, NBSP, soft hyphen) take code points 256, 257, ... in byte order.
  std::vector<std::string> t(256);
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    append_utf8(t[b], printable ? static_cast<std::uint32_t>(b) : static_cast<std::uint32_t>(256 + n++));
  }
  return t;
}
}  // namespace

const std::vector<std::string>& byte_to_unicode() {
  static const std::vector<std::string> table = make_byte_table();
  return table;
}

int unicode_to_byte(std::uint32_t cp) {
  static const std::vector<int> inv = [] {
    std::vector<int> v(512, -1);
    const auto& t = byte_to_unicode();
    for (int b = 0; b < 256; ++b) {
      std::size_t i = 0;
      v[next_cp(t[b], i)] = b;
    }
    return v;
  }();
  return cp < inv.size() ? inv[cp] : -1;
}

static std::uint64_t pair_key(Token a, Token b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}

BpeTokenizer::BpeTokenizer(std::vector<std::string> pieces,
                           const std::vector<std::pair<std::string, std::string>>& merges, PreTokenizer pre,
                           BpeOptions options)
    : pre_(std::move(pre)), opt_(std::move(options)) {
  set_vocab(std::move(pieces));
  if (!opt_.unk_piece.empty()) {
    auto u = piece_to_token(opt_.unk_piece);
    if (!u) throw FormatError(opt_.source, "unk_token '" + opt_.unk_piece + "' is not in the vocabulary");
    unk_ = *u;
  }
  byte_token_.assign(256, -1);
  for (int b = 0; b < 256; ++b) {
    std::string s = opt_.byte_level ? byte_to_unicode()[b] : std::string(1, static_cast<char>(b));
    if (auto id = piece_to_token(s)) byte_token_[b] = *id;
  }
  merges_.reserve(merges.size() * 2);
  for (std::size_t r = 0; r < merges.size(); ++r) {
    const auto& [l, rr] = merges[r];
    auto a = piece_to_token(l), b = piece_to_token(rr), m = piece_to_token(l + rr);
    if (!a || !b || !m)
      throw FormatError(opt_.source, "merge " + std::to_string(r) + " ('" + l + "' '" + rr +
                                         "') names a piece missing from the vocabulary");
    merges_.try_emplace(pair_key(*a, *b), static_cast<std::int32_t>(r), *m);
  }
  decoded_.resize(vocab_size());
  for (std::size_t id = 0; id < vocab_size(); ++id) {
    const std::string& p = token_to_piece(static_cast<Token>(id));
    if (!opt_.byte_level) {
      decoded_[id] = p;
      continue;
    }
    std::string& d = decoded_[id];
    for (std::size_t i = 0; i < p.size();) {
      int n = utf8_char(p, i);
      if (n <= 0) {  // not valid UTF-8: keep the byte
        d += p[i++];
        continue;
      }
      std::size_t j = i;
      std::uint32_t cp = next_cp(p, j);
      int b = unicode_to_byte(cp);
      if (b >= 0) d += static_cast<char>(b);
      else d.append(p, i, static_cast<std::size_t>(n));
      i += static_cast<std::size_t>(n);
    }
  }
  // Byte-level BPE without NFC: every token covers exactly the bytes it
  // decodes to (a byte without a byte token becomes unk or nothing).
  if (opt_.byte_level && !opt_.nfc) {
    max_token_bytes_ = 1;
    for (const std::string& d : decoded_) max_token_bytes_ = std::max(max_token_bytes_, d.size());
  }
}

std::size_t BpeTokenizer::model_encoded_bytes(std::string_view text, std::size_t& per_token) const noexcept {
  per_token = max_token_bytes_;
  if (per_token == 0) return 0;
  if (unk_ >= 0) return text.size();  // every byte becomes some token
  std::size_t n = 0;
  for (char c : text) n += byte_token_[static_cast<unsigned char>(c)] >= 0;
  return n;
}

std::string BpeTokenizer::model_token_bytes(Token id) const { return decoded_[static_cast<std::size_t>(id)]; }

void BpeTokenizer::encode_text(std::string_view text, std::vector<Token>& out) const {
  std::string normalized, prefixed;
  if (opt_.nfc && nfc_may_change(text)) {
    normalized = nfc(text);
    text = normalized;
  }
  if (opt_.add_prefix_space && !text.empty() && text[0] != ' ') {
    prefixed.resize(text.size() + 1);
    prefixed[0] = ' ';
    text.copy(prefixed.data() + 1, text.size());
    text = prefixed;
  }
  if (pre_.empty()) {
    encode_word(text, out);
    return;
  }
  for (const Span& s : pre_.split(text)) encode_word(text.substr(s.first, s.second - s.first), out);
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<Token>& out) const {
  if (word.empty()) return;
  const bool cacheable = word.size() <= kCacheMaxWord;
  std::string key;
  if (cacheable) {
    key.assign(word);
    std::shared_lock lock(cache_mutex_);
    if (auto it = cache_.find(key); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<Token> syms;
  syms.reserve(word.size());
  bool whole = false;
  if (opt_.ignore_merges) {
    std::string mapped;
    if (opt_.byte_level)
      for (char c : word) mapped += byte_to_unicode()[static_cast<unsigned char>(c)];
    else
      mapped.assign(word);
    if (auto id = piece_to_token(mapped)) {
      syms.push_back(*id);
      whole = true;
    }
  }
  if (!whole) {
    if (opt_.byte_level) {
      for (char c : word) {
        Token t = byte_token_[static_cast<unsigned char>(c)];
        if (t < 0) t = unk_;
        if (t >= 0) syms.push_back(t);
      }
    } else {
      for (std::size_t i = 0; i < word.size();) {
        int n = utf8_char(word, i);
        std::size_t len = n > 0 ? static_cast<std::size_t>(n) : 1;
        auto id = piece_to_token(word.substr(i, len));
        Token t = id ? *id : unk_;
        if (t >= 0 && !(t == unk_ && !syms.empty() && syms.back() == unk_)) syms.push_back(t);
        i += len;
      }
    }
    merge_symbols(syms);
  }
  out.insert(out.end(), syms.begin(), syms.end());
  if (cacheable) {
    std::unique_lock lock(cache_mutex_);
    if (cache_.size() < kCacheCapacity) cache_.emplace(std::move(key), std::move(syms));
  }
}

// Applies merges lowest rank first (leftmost among equals), as Hugging Face's
// Word::merge_all does, with a heap over candidate pairs and a linked list of symbols.
void BpeTokenizer::merge_symbols(std::vector<Token>& syms) const {
  const int n = static_cast<int>(syms.size());
  if (n < 2) return;
  struct Cand {
    std::int32_t rank;
    int pos;
    Token merged;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<int> prev(n), next(n);
  std::vector<char> alive(n, 1);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push = [&](int i) {
    int j = next[i];
    if (i < 0 || j < 0) return;
    auto it = merges_.find(pair_key(syms[i], syms[j]));
    if (it != merges_.end()) heap.push({it->second.first, i, it->second.second});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    int i = c.pos;
    if (!alive[i] || next[i] < 0) continue;
    int j = next[i];
    auto it = merges_.find(pair_key(syms[i], syms[j]));
    if (it == merges_.end() || it->second.second != c.merged) continue;  // stale
    syms[i] = c.merged;
    alive[j] = 0;
    next[i] = next[j];
    if (next[j] >= 0) prev[next[j]] = i;
    if (prev[i] >= 0) push(prev[i]);
    push(i);
  }
  int w = 0;
  for (int i = 0; i >= 0 && i < n; i = next[i]) syms[w++] = syms[i];
  syms.resize(w);
}

}  // namespace gpt::tok
