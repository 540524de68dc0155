// Byte-level BPE (GPT-2, SmolLM2, Llama 3, Qwen2): pre-tokenizer regex split,
// bytes mapped to GPT-2's printable code points, merges applied by rank.
#pragma once

#include <cstdint>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gpt/tokenizer.h"
#include "tokenizer/pretokenizer.h"

namespace gpt::tok {

struct BpeOptions {
  bool byte_level = true;         // GPT-2 byte-to-unicode mapping (all the models named above)
  bool add_prefix_space = false;  // ByteLevel(add_prefix_space): a space before text not starting with one
  bool ignore_merges = false;     // a word found whole in the vocabulary is one token (Llama 3)
  bool nfc = false;               // tokenizer.json normalizer NFC (Qwen2)
  std::string unk_piece;          // emitted for symbols missing from the vocabulary; empty = drop them
  std::string source;             // file named in errors
};

// GPT-2's byte -> code point table, and its inverse (code point -> byte, -1 if none).
const std::vector<std::string>& byte_to_unicode();
int unicode_to_byte(std::uint32_t cp);

// Immutable after construction (see Tokenizer); the word cache has its own lock.
class BpeTokenizer final : public Tokenizer {
 public:
  // pieces: id -> vocabulary string (gaps as empty strings); merges in rank order.
  // Throws FormatError(options.source) when a merge names a piece missing from the vocabulary.
  BpeTokenizer(std::vector<std::string> pieces, const std::vector<std::pair<std::string, std::string>>& merges,
               PreTokenizer pre, BpeOptions options);
  std::string_view kind() const noexcept override { return "bpe"; }

 protected:
  void encode_text(std::string_view text, std::vector<Token>& out) const override;
  std::string model_token_bytes(Token id) const override;
  std::size_t model_encoded_bytes(std::string_view text, std::size_t& per_token) const noexcept override;

 private:
  void encode_word(std::string_view word, std::vector<Token>& out) const;
  void merge_symbols(std::vector<Token>& syms) const;

  PreTokenizer pre_;
  BpeOptions opt_;
  Token unk_ = -1;
  std::vector<Token> byte_token_;  // byte -> id of its one-character piece (-1 if absent)
  std::unordered_map<std::uint64_t, std::pair<std::int32_t, Token>> merges_;  // (left,right) -> (rank, merged)
  std::vector<std::string> decoded_;  // id -> bytes it decodes to
  std::size_t max_token_bytes_ = 0;   // most bytes a token decodes to; 0 = no bound (see min_tokens)

  static constexpr std::size_t kCacheMaxWord = 64;
  static constexpr std::size_t kCacheCapacity = 200000;
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<Token>> cache_;
};

}  // namespace gpt::tok
