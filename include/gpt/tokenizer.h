// Text <-> token ids. Two engines sit behind one interface:
//   * SentencePiece (Llama / TinyLlama / Mistral tokenizer.model, or a GGUF "llama"
//     vocabulary), run by libsentencepiece;
//   * byte-level BPE (GPT-2, SmolLM2, Llama 3, Qwen2 tokenizer.json, vocab.json +
//     merges.txt, or a GGUF "gpt2" vocabulary), with PCRE2 pre-tokenizer regexes.
// Both give the same ids as Hugging Face tokenizers for the same files.
//
//   auto tok = gpt::load_tokenizer("models/SmolLM2-135M-Instruct.Q4_1.gguf");
//   std::vector<gpt::Token> ids = tok->encode("Hello world");
//   std::string text = tok->decode(ids);
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gpt {

using Token = std::int32_t;

// How encode() treats its input.
struct EncodeOptions {
  // Add the model's special tokens around the text (BOS and/or EOS as the
  // tokenizer's configuration says). Default off: encode() returns the text's ids only.
  bool add_special_tokens = false;
  // Recognise special-token text ("<|im_start|>", "<s>") in the input and emit the
  // special ids. Off by default, so user text can never inject control tokens; a
  // chat template's output is encoded with this on. Non-special added tokens are
  // always recognised, as in Hugging Face tokenizers.
  bool parse_special = false;
};

// A token kept whole by the tokenizer (Hugging Face "added_tokens", SentencePiece
// control and user-defined pieces).
struct AddedToken {
  Token id = -1;
  std::string content;
  bool special = true;  // a control token: skipped by decode(skip_special=true)
  bool lstrip = false;  // swallows whitespace on its left when matched
  bool rstrip = false;  // swallows whitespace on its right when matched
};

// The model's special ids; -1 where the tokenizer has none.
struct SpecialTokens {
  Token bos = -1;
  std::vector<Token> eos;  // one or more end-of-sequence ids (e.g. <|im_end|> and <|endoftext|>)
  Token pad = -1;
  Token unk = -1;
  std::vector<Token> prefix;  // ids encode() puts first when add_special_tokens (usually {bos})
  std::vector<Token> suffix;  // ids encode() puts last when add_special_tokens (usually {} or {eos})
};

// A loaded tokenizer. Immutable after load: every const member function is safe
// to call from many threads at once, and one instance is meant to be shared
// (load_tokenizer returns shared_ptr<const Tokenizer>). The BPE word cache inside
// is guarded by its own lock.
class Tokenizer {
 public:
  virtual ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Text (UTF-8) -> ids. Invalid UTF-8 is accepted and encoded byte by byte.
  std::vector<Token> encode(std::string_view text, const EncodeOptions& options = {}) const;
  // Ids -> text, as Hugging Face's decode(ids, skip_special_tokens) does; bytes that
  // do not form valid UTF-8 become U+FFFD. Throws InvalidArgument for an id outside
  // [0, vocab_size()).
  std::string decode(std::span<const Token> ids, bool skip_special = false) const;

  // The vocabulary string of an id as stored in the model ("Ġhello", "▁the", "<0x0A>").
  const std::string& token_to_piece(Token id) const;
  // The id of a vocabulary string, if there is one.
  std::optional<Token> piece_to_token(std::string_view piece) const;
  // The bytes an id contributes to decoded text (not necessarily valid UTF-8 alone).
  std::string token_bytes(Token id) const;

  std::size_t vocab_size() const noexcept { return pieces_.size(); }
  const SpecialTokens& special_tokens() const noexcept { return special_; }
  Token bos_id() const noexcept { return special_.bos; }
  std::span<const Token> eos_ids() const noexcept { return special_.eos; }
  bool is_eos(Token id) const noexcept;
  // True for control tokens (BOS/EOS/PAD/UNK, chat markers...).
  bool is_special(Token id) const noexcept;
  const std::vector<AddedToken>& added_tokens() const noexcept { return added_; }
  // The chat template (Jinja source) shipped with the tokenizer; empty if none.
  const std::string& chat_template() const noexcept { return chat_template_; }
  // "bpe" or "sentencepiece".
  virtual std::string_view kind() const noexcept = 0;

  // A lower bound on encode(text).size() (without added special tokens),
  // found in one pass over the text without encoding it, so that a caller
  // can refuse a prompt that cannot fit the context before paying for its
  // encoding. Sound, not a guess: every token covers at most a known number
  // of the text's bytes that encode to something. 0 when the tokenizer gives
  // no such bound (a normalizer that can shrink the text, SentencePiece's
  // whitespace folding, added tokens that swallow whitespace).
  std::size_t min_tokens(std::string_view text) const noexcept;

  // For loaders: fills in what the model files say beyond the vocabulary.
  // Not for use once the tokenizer is shared.
  void set_special_tokens(SpecialTokens s) { special_ = std::move(s); }
  void set_chat_template(std::string t) { chat_template_ = std::move(t); }
  void add_added_token(AddedToken t);

 protected:
  Tokenizer() = default;
  // Sets the vocabulary (id -> piece) and builds the reverse map.
  void set_vocab(std::vector<std::string> pieces);
  // Encodes text that holds no added tokens, appending to out.
  virtual void encode_text(std::string_view text, std::vector<Token>& out) const = 0;
  // The bytes a vocabulary (non-added) token decodes to.
  virtual std::string model_token_bytes(Token id) const = 0;
  // SentencePiece removes the space its dummy prefix put before the first word.
  virtual bool strip_leading_space() const noexcept { return false; }
  // For min_tokens(): the bytes of text that encode to at least part of a
  // token, and in per_token the most such bytes one vocabulary token covers
  // (left 0 when no bound holds).
  virtual std::size_t model_encoded_bytes(std::string_view text, std::size_t& per_token) const noexcept {
    (void)text;
    per_token = 0;
    return 0;
  }

 private:
  friend class IncrementalDecoder;
  void check_id(Token id) const;
  // Splits text at added tokens (all of them, or only the non-special ones).
  void encode_with_added(std::string_view text, bool parse_special, std::vector<Token>& out) const;

  std::vector<std::string> pieces_;
  std::unordered_map<std::string, Token> piece_ids_;
  std::vector<AddedToken> added_;
  std::unordered_map<Token, std::size_t> added_index_;  // id -> index in added_
  // A byte trie over the added tokens' contents, for longest-match splitting
  // in one pass: node 0 is the root; trie_edges_ maps node * 256 + byte to
  // a child; trie_token_[node] holds the first and last added_ indices whose
  // content ends there (-1 if none), and same_content_[i] the next added_
  // index with the same content as added_[i] (-1 at the end of that list).
  std::unordered_map<std::uint64_t, std::int32_t> trie_edges_;
  std::vector<std::pair<std::int32_t, std::int32_t>> trie_token_;
  std::vector<std::int32_t> same_content_;
  std::size_t added_max_bytes_ = 0;  // longest added token content
  bool added_strip_ = false;         // some added token has lstrip or rstrip
  SpecialTokens special_;
  std::string chat_template_;
};

// Streams ids to text for one generation: push() returns only whole UTF-8
// characters, holding back the bytes of a character split across tokens (byte-
// fallback tokens <0xE4><0xBD><0xA0>, or byte-level pieces). Per stream, not
// thread-safe; keeps the tokenizer alive through a shared_ptr.
class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(std::shared_ptr<const Tokenizer> tokenizer, bool skip_special = false);
  // Adds one id; returns the text now complete (possibly empty).
  std::string push(Token id);
  // Ends the stream: returns what is held back, incomplete bytes as U+FFFD.
  std::string flush();
  // Forget the stream (a new generation).
  void reset();

 private:
  std::shared_ptr<const Tokenizer> tok_;
  bool skip_special_;
  bool at_start_ = true;
  std::string pending_;
};

// Loads the tokenizer that belongs to a model. p may be
//   * a Hugging Face directory (tokenizer.json, or tokenizer.model; tokenizer_config.json,
//     special_tokens_map.json and generation_config.json add BOS/EOS rules and the chat template),
//   * a tokenizer.json, a tokenizer.model, a vocab.json (merges.txt beside it),
//   * a .gguf file (tokenizer.ggml.* metadata).
// Throws IoError (cannot read), FormatError naming the file (malformed), or
// UnsupportedModel (a pre-tokenizer, normalizer or model type this engine lacks).
std::shared_ptr<const Tokenizer> load_tokenizer(const std::filesystem::path& p);

}  // namespace gpt
