// SentencePiece models run by libsentencepiece: from a tokenizer.model file, or
// from a vocabulary given as pieces, scores and types (a GGUF "llama" vocabulary),
// turned into a serialized ModelProto in memory so both load the same way.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gpt/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace gpt::tok {

// SentencePiece piece types (sentencepiece_model.proto; GGUF token_type uses the same numbers).
enum class PieceType : int { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct SpmVocab {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<int> types;          // PieceType values
  bool add_dummy_prefix = true;    // "▁" before the text (Llama)
  bool remove_extra_whitespaces = false;
  bool byte_fallback = true;       // set from the presence of BYTE pieces by the builder
  int model_type = 2;              // 1 unigram, 2 BPE
  // The unknown piece when the vocabulary marks none UNKNOWN (Gemma's GGUF
  // stores <unk> as a control token): made the UNKNOWN piece. -1 = none.
  int unk_id = -1;
};

// Encodes the vocabulary as a sentencepiece ModelProto (wire format, hand-written:
// Debian's libsentencepiece ships no proto header). libsentencepiece needs
// exactly one UNKNOWN piece: without one, v.unk_id's piece becomes it; a
// second UNKNOWN piece (some Phi-3 files) becomes CONTROL, which encodes the
// same way here (both are only ever produced as special tokens, as in
// llama.cpp). Throws FormatError when there is no unknown piece at all.
std::string build_model_proto(const SpmVocab& v);

// Immutable after construction; SentencePieceProcessor::Encode is const and thread-safe.
class SpmTokenizer final : public Tokenizer {
 public:
  // serialized: the bytes of a tokenizer.model (or build_model_proto's output).
  // source names the file in errors. Throws FormatError(source) when libsentencepiece rejects it.
  SpmTokenizer(const std::string& serialized, const std::string& source);
  ~SpmTokenizer() override;
  std::string_view kind() const noexcept override { return "sentencepiece"; }

  float score(Token id) const;
  PieceType type(Token id) const;
  bool add_dummy_prefix() const noexcept { return add_dummy_prefix_; }

 protected:
  void encode_text(std::string_view text, std::vector<Token>& out) const override;
  std::string model_token_bytes(Token id) const override;
  bool strip_leading_space() const noexcept override { return add_dummy_prefix_; }

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::vector<std::string> decoded_;
  std::vector<PieceType> types_;
  bool add_dummy_prefix_ = true;
};

}  // namespace gpt::tok
