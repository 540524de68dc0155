// The engine-independent half of Tokenizer: added-token splitting, special
// tokens, decode, and the streaming decoder.
#include "gpt/tokenizer.h"

#include <algorithm>

#include "gpt/error.h"
#include "tokenizer/utf8.h"

namespace gpt {

Tokenizer::~Tokenizer() = default;

void Tokenizer::set_vocab(std::vector<std::string> pieces) {
  pieces_ = std::move(pieces);
  piece_ids_.clear();
  piece_ids_.reserve(pieces_.size());
  for (std::size_t i = 0; i < pieces_.size(); ++i) piece_ids_.emplace(pieces_[i], static_cast<Token>(i));
}

void Tokenizer::add_added_token(AddedToken t) {
  if (t.id < 0) throw InvalidArgument("added token '" + t.content + "' has a negative id");
  if (static_cast<std::size_t>(t.id) >= pieces_.size()) {
    // Hugging Face lets added tokens extend the vocabulary.
    while (pieces_.size() < static_cast<std::size_t>(t.id)) pieces_.emplace_back();
    pieces_.push_back(t.content);
  }
  piece_ids_.emplace(t.content, t.id);
  if (auto it = added_index_.find(t.id); it != added_index_.end()) {
    added_[it->second].special = added_[it->second].special || t.special;
    return;
  }
  if (t.content.empty()) return;
  added_index_[t.id] = added_.size();
  // Walk / extend the trie along the content; O(content length).
  if (trie_token_.empty()) trie_token_.push_back({-1, -1});
  std::int32_t node = 0;
  for (char ch : t.content) {
    const std::uint64_t key = static_cast<std::uint64_t>(node) * 256 + static_cast<unsigned char>(ch);
    auto [it, inserted] = trie_edges_.try_emplace(key, static_cast<std::int32_t>(trie_token_.size()));
    if (inserted) trie_token_.push_back({-1, -1});
    node = it->second;
  }
  added_max_bytes_ = std::max(added_max_bytes_, t.content.size());
  added_strip_ = added_strip_ || t.lstrip || t.rstrip;
  const auto index = static_cast<std::int32_t>(added_.size());
  added_.push_back(std::move(t));
  same_content_.push_back(-1);
  auto& [first, last] = trie_token_[static_cast<std::size_t>(node)];
  if (first < 0) first = index;
  else same_content_[static_cast<std::size_t>(last)] = index;  // same content as earlier tokens, which win
  last = index;
}

std::size_t Tokenizer::min_tokens(std::string_view text) const noexcept {
  if (added_strip_) return 0;
  std::size_t per_token = 0;
  const std::size_t bytes = model_encoded_bytes(text, per_token);
  if (per_token == 0) return 0;
  // An added token covers at most its content's bytes.
  per_token = std::max(per_token, added_max_bytes_);
  return bytes / per_token + (bytes % per_token != 0);
}

void Tokenizer::check_id(Token id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= pieces_.size())
    throw InvalidArgument("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                          std::to_string(pieces_.size()) + ")");
}

const std::string& Tokenizer::token_to_piece(Token id) const {
  check_id(id);
  return pieces_[static_cast<std::size_t>(id)];
}

std::optional<Token> Tokenizer::piece_to_token(std::string_view piece) const {
  auto it = piece_ids_.find(std::string(piece));
  if (it == piece_ids_.end()) return std::nullopt;
  return it->second;
}

std::string Tokenizer::token_bytes(Token id) const {
  check_id(id);
  if (auto it = added_index_.find(id); it != added_index_.end()) return added_[it->second].content;
  return model_token_bytes(id);
}

bool Tokenizer::is_eos(Token id) const noexcept {
  return std::find(special_.eos.begin(), special_.eos.end(), id) != special_.eos.end();
}

bool Tokenizer::is_special(Token id) const noexcept {
  auto it = added_index_.find(id);
  if (it != added_index_.end()) return added_[it->second].special;
  return id >= 0 && (id == special_.bos || id == special_.pad || id == special_.unk || is_eos(id));
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

void Tokenizer::encode_with_added(std::string_view text, bool parse_special, std::vector<Token>& out) const {
  if (added_.empty()) {
    if (!text.empty()) encode_text(text, out);
    return;
  }
  std::size_t start = 0;  // start of the text not yet encoded
  std::size_t i = 0;
  while (i < text.size()) {
    // The longest added token starting at i (the first added, among tokens
    // with the same content), found by walking the trie: O(longest token).
    const AddedToken* hit = nullptr;
    std::int32_t node = 0;
    for (std::size_t j = i; j < text.size(); ++j) {
      const std::uint64_t key = static_cast<std::uint64_t>(node) * 256 + static_cast<unsigned char>(text[j]);
      const auto it = trie_edges_.find(key);
      if (it == trie_edges_.end()) break;
      node = it->second;
      for (std::int32_t k = trie_token_[static_cast<std::size_t>(node)].first; k >= 0;
           k = same_content_[static_cast<std::size_t>(k)]) {
        const AddedToken& a = added_[static_cast<std::size_t>(k)];
        if (a.special && !parse_special) continue;
        hit = &a;
        break;
      }
    }
    if (!hit) {
      ++i;
      continue;
    }
    std::size_t left = i, right = i + hit->content.size();
    if (hit->lstrip)
      while (left > start && is_space(text[left - 1])) --left;
    if (hit->rstrip)
      while (right < text.size() && is_space(text[right])) ++right;
    if (left > start) encode_text(text.substr(start, left - start), out);
    out.push_back(hit->id);
    start = i = right;
  }
  if (start < text.size()) encode_text(text.substr(start), out);
}

std::vector<Token> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  std::vector<Token> out;
  out.reserve(text.size() / 3 + 4);
  if (options.add_special_tokens) out.insert(out.end(), special_.prefix.begin(), special_.prefix.end());
  encode_with_added(text, options.parse_special, out);
  if (options.add_special_tokens) out.insert(out.end(), special_.suffix.begin(), special_.suffix.end());
  return out;
}

std::string Tokenizer::decode(std::span<const Token> ids, bool skip_special) const {
  std::string bytes;
  for (Token id : ids) {
    check_id(id);
    if (auto it = added_index_.find(id); it != added_index_.end()) {
      if (skip_special && added_[it->second].special) continue;
      bytes += added_[it->second].content;
    } else {
      bytes += model_token_bytes(id);
    }
  }
  if (strip_leading_space() && !bytes.empty() && bytes[0] == ' ') bytes.erase(0, 1);
  return tok::utf8_lossy(bytes);
}

// --- IncrementalDecoder -------------------------------------------------------

IncrementalDecoder::IncrementalDecoder(std::shared_ptr<const Tokenizer> tokenizer, bool skip_special)
    : tok_(std::move(tokenizer)), skip_special_(skip_special) {
  if (!tok_) throw InvalidArgument("IncrementalDecoder needs a tokenizer");
}

std::string IncrementalDecoder::push(Token id) {
  tok_->check_id(id);
  if (skip_special_ && tok_->is_special(id) && tok_->added_index_.count(id)) return {};
  pending_ += tok_->token_bytes(id);
  if (at_start_ && !pending_.empty()) {
    if (tok_->strip_leading_space() && pending_[0] == ' ') pending_.erase(0, 1);
    at_start_ = false;
  }
  std::string out;
  std::size_t i = 0;
  while (i < pending_.size()) {
    int n = tok::utf8_char(pending_, i);
    if (n == 0) break;  // a character still waiting for its last bytes
    if (n > 0) {
      out.append(pending_, i, static_cast<std::size_t>(n));
      i += static_cast<std::size_t>(n);
    } else {
      out += "\xEF\xBF\xBD";
      i += static_cast<std::size_t>(-n);
    }
  }
  pending_.erase(0, i);
  return out;
}

std::string IncrementalDecoder::flush() {
  std::string out = tok::utf8_lossy(pending_);
  pending_.clear();
  return out;
}

void IncrementalDecoder::reset() {
  pending_.clear();
  at_start_ = true;
}

}  // namespace gpt
