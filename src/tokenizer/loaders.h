// Tokenizer loaders (internal). The public entry point is gpt::load_tokenizer.
#pragma once

#include <filesystem>
#include <memory>

#include "gpt/tokenizer.h"

namespace gpt::io {
class GgufFile;
}

namespace gpt::tok {

namespace fs = std::filesystem;

// tokenizer.json (Hugging Face tokenizers). Configuration files in its folder
// (tokenizer_config.json, special_tokens_map.json, generation_config.json) are read too.
std::shared_ptr<Tokenizer> load_tokenizer_json(const fs::path& file);
// vocab.json with merges.txt beside it (GPT-2 layout).
std::shared_ptr<Tokenizer> load_vocab_merges(const fs::path& vocab_json, const fs::path& merges_txt);
// tokenizer.model (SentencePiece).
std::shared_ptr<Tokenizer> load_sentencepiece(const fs::path& file);
// The tokenizer.ggml.* metadata of a GGUF file.
std::shared_ptr<Tokenizer> tokenizer_from_gguf(const io::GgufFile& gguf);
std::shared_ptr<Tokenizer> load_gguf_tokenizer(const fs::path& file);

// Applies tokenizer_config.json / special_tokens_map.json / generation_config.json /
// chat_template.jinja found in dir: special ids, BOS/EOS rules, added tokens, chat template.
// default_add_bos: what applies when the config does not say (true for SentencePiece/Llama).
void apply_hf_config(Tokenizer& tok, const fs::path& dir, bool default_add_bos);

}  // namespace gpt::tok
