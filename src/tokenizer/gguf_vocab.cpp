// Tokenizers stored in GGUF metadata (tokenizer.ggml.*): "gpt2" -> byte-level BPE
// with the pre-tokenizer tokenizer.ggml.pre names; "llama" -> SentencePiece built
// from tokens, scores and token types.
#include <algorithm>

#include "gpt/error.h"
#include "io/gguf.h"
#include "tokenizer/bpe.h"
#include "tokenizer/loaders.h"
#include "tokenizer/sentencepiece.h"

namespace gpt::tok {

namespace {

// Tokens llama.cpp treats as end-of-generation whatever the file says
// (llama_vocab::load, its list of "control-looking" texts): they stop
// generation, and a user-defined or normal one becomes a control token, so
// that it is matched in the text only when special tokens are parsed (Gemma 3
// stores "</s>" as user-defined; "<end_of_turn>" ends its chat turns).
const char* const kEndOfGeneration[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>",
    "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>"};

bool is_end_of_generation(std::string_view piece) {
  for (const char* text : kEndOfGeneration)
    if (piece == text) return true;
  return false;
}

}  // namespace

std::shared_ptr<Tokenizer> tokenizer_from_gguf(const io::GgufFile& g) {
  const std::string src = g.path();
  const std::string model = g.get_string("tokenizer.ggml.model", "");
  if (model.empty()) throw FormatError(src, "no tokenizer in this file (tokenizer.ggml.model missing)");
  std::vector<std::string> tokens = g.get_string_array("tokenizer.ggml.tokens");
  if (tokens.empty()) throw FormatError(src, "tokenizer.ggml.tokens is missing or empty");
  // Per-token arrays are checked against the token count before they are
  // widened (a u8 array would become 8 bytes per element).
  for (const char* k : {"tokenizer.ggml.token_type", "tokenizer.ggml.scores"})
    if (const io::GgufValue* v = g.find(k); v && v->type == io::GgufType::ARRAY && v->count != tokens.size())
      throw FormatError(src, std::string(k) + " has " + std::to_string(v->count) + " entries for " +
                                 std::to_string(tokens.size()) + " tokens", v->offset);
  std::vector<std::int64_t> types = g.get_int_array("tokenizer.ggml.token_type");
  if (!types.empty() && types.size() != tokens.size())
    throw FormatError(src, "tokenizer.ggml.token_type has " + std::to_string(types.size()) + " entries for " +
                               std::to_string(tokens.size()) + " tokens");
  const auto n = static_cast<std::int64_t>(tokens.size());

  std::shared_ptr<Tokenizer> tok;
  if (model == "gpt2") {
    std::vector<std::pair<std::string, std::string>> merges;
    if (const io::GgufValue* mv = g.find("tokenizer.ggml.merges")) {
      if (mv->type != io::GgufType::ARRAY || mv->element_type != io::GgufType::STRING)
        g.get_string_array("tokenizer.ggml.merges");  // throws the type error
      merges.reserve(mv->strings.size());
      std::size_t i = 0;
      for (std::string_view m : mv->strings) {  // views into the file: checked before copying
        auto sp = m.find(' ', 1);
        if (sp == std::string_view::npos)
          throw FormatError(src, "tokenizer.ggml.merges[" + std::to_string(i) + "] '" + std::string(m) +
                                     "' is not two pieces");
        merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
        ++i;
      }
    }
    const std::string pre = g.get_string("tokenizer.ggml.pre", "default");
    BpeOptions opt;
    opt.source = src;
    opt.ignore_merges = pre == "llama-bpe" || pre == "llama3";
    PreTokenizer pt;
    try {
      pt = PreTokenizer::from_gguf_name(pre);
    } catch (const UnsupportedModel& e) {
      throw UnsupportedModel(src + ": " + e.what());
    }
    tok = std::make_shared<BpeTokenizer>(std::move(tokens), merges, std::move(pt), opt);
    // Control (3) and user-defined (4) tokens are kept whole, as Hugging Face's added tokens.
    for (std::int64_t k = 0; k < static_cast<std::int64_t>(types.size()); ++k)
      if (types[k] == 3 || types[k] == 4)
        tok->add_added_token({static_cast<Token>(k), tok->token_to_piece(static_cast<Token>(k)), types[k] == 3,
                              false, false});
  } else if (model == "llama") {
    SpmVocab v;
    v.pieces = std::move(tokens);
    v.scores = g.get_float_array("tokenizer.ggml.scores");
    v.types.assign(types.begin(), types.end());
    for (std::size_t k = 0; k < v.types.size(); ++k)
      if ((v.types[k] == 1 || v.types[k] == 4) && is_end_of_generation(v.pieces[k])) v.types[k] = 3;
    v.add_dummy_prefix = g.get_bool("tokenizer.ggml.add_space_prefix", true);
    const std::int64_t unk = g.get_int("tokenizer.ggml.unknown_token_id", 0);  // llama.cpp's default: 0
    if (unk < 0 || unk >= n)
      throw FormatError(src, "tokenizer.ggml.unknown_token_id = " + std::to_string(unk) + " is outside the vocabulary");
    v.unk_id = static_cast<int>(unk);
    tok = std::make_shared<SpmTokenizer>(build_model_proto(v), src);
  } else {
    throw UnsupportedModel(src + ": tokenizer model '" + model + "' is not supported (gpt2 and llama are)");
  }

  auto id = [&](const char* key) -> Token {
    std::int64_t x = g.get_int(key, -1);
    if (x < -1 || x >= n) throw FormatError(src, std::string(key) + " = " + std::to_string(x) + " is outside the vocabulary");
    return static_cast<Token>(x);
  };
  SpecialTokens s = tok->special_tokens();
  if (g.has("tokenizer.ggml.bos_token_id")) s.bos = id("tokenizer.ggml.bos_token_id");
  if (g.has("tokenizer.ggml.eos_token_id")) s.eos = {id("tokenizer.ggml.eos_token_id")};
  if (g.has("tokenizer.ggml.eot_token_id")) {
    Token e = id("tokenizer.ggml.eot_token_id");
    if (e >= 0 && std::find(s.eos.begin(), s.eos.end(), e) == s.eos.end()) s.eos.push_back(e);
  }
  // End-of-generation texts (above): stop tokens, and special.
  for (const char* text : kEndOfGeneration) {
    const std::optional<Token> t = tok->piece_to_token(text);
    if (!t) continue;
    if (std::find(s.eos.begin(), s.eos.end(), *t) == s.eos.end()) s.eos.push_back(*t);
    tok->add_added_token({*t, tok->token_to_piece(*t), true, false, false});
  }
  if (g.has("tokenizer.ggml.unknown_token_id")) s.unk = id("tokenizer.ggml.unknown_token_id");
  if (g.has("tokenizer.ggml.padding_token_id")) s.pad = id("tokenizer.ggml.padding_token_id");
  const bool add_bos = g.get_bool("tokenizer.ggml.add_bos_token", model == "llama");
  const bool add_eos = g.get_bool("tokenizer.ggml.add_eos_token", false);
  s.prefix = (add_bos && s.bos >= 0) ? std::vector<Token>{s.bos} : std::vector<Token>{};
  s.suffix = (add_eos && !s.eos.empty() && s.eos[0] >= 0) ? std::vector<Token>{s.eos[0]} : std::vector<Token>{};
  // Without token types (older conversions) the named special ids are still kept whole.
  if (model == "gpt2" && types.empty()) {
    std::vector<Token> named = s.eos;
    named.insert(named.end(), {s.bos, s.unk, s.pad});
    for (Token t : named)
      if (t >= 0) tok->add_added_token({t, tok->token_to_piece(t), true, false, false});
  }
  tok->set_special_tokens(std::move(s));
  tok->set_chat_template(g.get_string("tokenizer.chat_template", ""));
  return tok;
}

std::shared_ptr<Tokenizer> load_gguf_tokenizer(const fs::path& file) {
  io::GgufFile g(file.string());
  return tokenizer_from_gguf(g);
}

}  // namespace gpt::tok
