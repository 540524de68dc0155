// Fuzz targets: untrusted bytes -> the library's parsers, the way a user's
// file reaches them. Each function here is one target; the libFuzzer harnesses
// (tests/fuzz/<target>_fuzz.cpp) and the regression test that replays the
// committed reproducers (tests/fuzz/regressions_test.cpp) both call it, so a
// reproducer exercises exactly the code path of the harness that found it.
//
// Contract checked by every target:
//   * the library either succeeds or throws a gpt::Error subclass; any other
//     exception escapes the target (libFuzzer reports it as a crash, the test
//     fails);
//   * what a successful load returns is consistent: token ids inside the
//     vocabulary, decoded and streamed text valid UTF-8, streamed text equal
//     to decode(), tensor views inside their file. A broken property throws
//     InvariantViolation (not a gpt::Error, so it escapes too).
// Memory errors and undefined behaviour are the sanitizers' business.
//
// The loaders read paths (and look for sibling files such as
// tokenizer_config.json), so inputs are written to a private scratch folder
// (under /dev/shm when it exists) before each call. Inputs that stand for
// several files are split at NUL bytes, which none of those text formats may
// hold; see each target.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "generate/chat_template.h"
#include "generate/generation.h"
#include "generate/jinja.h"
#include "gpt/error.h"
#include "gpt/model.h"
#include "gpt/session.h"
#include "gpt/tokenizer.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "model/loaders.h"
#include "tokenizer/loaders.h"

#ifndef GPT_TEST_DATA_DIR
#error "GPT_TEST_DATA_DIR must name tests/data"
#endif

namespace gpt::fuzz {

namespace fs = std::filesystem;

using Bytes = std::span<const std::uint8_t>;

// A property of a successful result does not hold.
struct InvariantViolation : std::logic_error {
  using std::logic_error::logic_error;
};

inline void require(bool ok, const std::string& what) {
  if (!ok) throw InvariantViolation(what);
}

// Strict UTF-8 check (RFC 3629: no overlongs, surrogates or code points past
// U+10FFFF), written independently of the tokenizer's own UTF-8 code.
inline bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const unsigned c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      const unsigned d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    static constexpr std::uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

// The input cut at NUL bytes into at most `max_parts` pieces (the last piece
// keeps any further NULs).
inline std::vector<std::string_view> split_parts(Bytes data, std::size_t max_parts) {
  std::string_view s(reinterpret_cast<const char*>(data.data()), data.size());
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const std::size_t nul = s.find('\0');
    if (nul == std::string_view::npos) break;
    parts.push_back(s.substr(0, nul));
    s.remove_prefix(nul + 1);
  }
  parts.push_back(s);
  return parts;
}

// A private folder per target, emptied before each input.
class Scratch {
 public:
  explicit Scratch(const char* target) {
    std::error_code ec;
    fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    std::string tmpl = (base / ("gpt-fuzz-" + std::string(target) + "-XXXXXX")).string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a scratch folder under " + base.string());
    dir_ = tmpl;
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  const fs::path& dir() const { return dir_; }

  void clear() const {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir_, ec)) fs::remove_all(e.path(), ec);
  }
  fs::path write(const char* name, std::string_view bytes) const {
    const fs::path p = dir_ / name;
    std::FILE* f = std::fopen(p.c_str(), "wb");
    if (!f) throw std::runtime_error("cannot write " + p.string());
    const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    if (std::fclose(f) != 0 || !ok) throw std::runtime_error("cannot write " + p.string());
    return p;
  }
  void link(const char* name, const fs::path& target) const { fs::create_symlink(target, dir_ / name); }

 private:
  fs::path dir_;
};

inline fs::path data_path(const char* rel) { return fs::path(GPT_TEST_DATA_DIR) / rel; }

// Decodes ids with decode() and, id by id, with an IncrementalDecoder; both
// must give valid UTF-8 and the same text.
inline void check_decoding(const std::shared_ptr<const Tokenizer>& tok, std::span<const Token> ids, bool skip_special) {
  const std::string whole = tok->decode(ids, skip_special);
  require(valid_utf8(whole), "decode() returned invalid UTF-8");
  IncrementalDecoder stream(tok, skip_special);
  std::string streamed;
  for (Token id : ids) {
    const std::string piece = stream.push(id);
    require(valid_utf8(piece), "IncrementalDecoder::push returned invalid UTF-8");
    streamed += piece;
  }
  const std::string rest = stream.flush();
  require(valid_utf8(rest), "IncrementalDecoder::flush returned invalid UTF-8");
  streamed += rest;
  require(streamed == whole, "streamed text differs from decode()");
}

// Encodes `text` and checks the ids and their decoding.
inline void check_encoding(const std::shared_ptr<const Tokenizer>& tok, std::string_view text, const EncodeOptions& opt,
                           bool skip_special) {
  const std::vector<Token> ids = tok->encode(text, opt);
  for (Token id : ids)
    require(id >= 0 && static_cast<std::size_t>(id) < tok->vocab_size(),
            "encode() returned id " + std::to_string(id) + " outside the vocabulary of " +
                std::to_string(tok->vocab_size()));
  check_decoding(tok, ids, skip_special);
}

// A freshly loaded tokenizer (from a fuzzed file) on a fixed, awkward text.
inline void exercise_tokenizer(const std::shared_ptr<const Tokenizer>& tok) {
  static constexpr std::string_view kText =
      "Hello world! <|im_start|>user\n  caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x99\x82 <s></s>\t12345 "
      "\xFF\xC3(\xE2\x82 \xED\xA0\x80 end";
  check_encoding(tok, kText, {.add_special_tokens = true, .parse_special = true}, false);
  check_encoding(tok, kText, {.add_special_tokens = false, .parse_special = false}, true);
  for (Token id : tok->special_tokens().prefix) require(id >= 0 && static_cast<std::size_t>(id) < tok->vocab_size(), "prefix id outside the vocabulary");
  for (Token id : tok->special_tokens().suffix) require(id >= 0 && static_cast<std::size_t>(id) < tok->vocab_size(), "suffix id outside the vocabulary");
}

// --- targets -------------------------------------------------------------------

// A .gguf file: header, metadata, tensor infos; then the model (config and
// weight binding, as Model::load does), the tokenizer built from the same
// parsed file (as LanguageModel::load does), and for a model that loads, one
// forward step of a short prompt.
inline void gguf(Bytes data) {
  static const Scratch scratch("gguf");
  scratch.clear();
  const fs::path path = scratch.write("model.gguf", {reinterpret_cast<const char*>(data.data()), data.size()});
  std::shared_ptr<const io::GgufFile> g;
  try {
    g = std::make_shared<const io::GgufFile>(path.string());
  } catch (const Error&) {
    return;
  }
  const std::size_t file_size = g->file()->size();
  const std::byte* base = g->file()->data();
  for (const TensorView& t : g->tensors())
    require(t.data >= base + g->data_offset() && t.nbytes <= file_size &&
                static_cast<std::size_t>(t.data - base) <= file_size - t.nbytes,
            "tensor '" + t.name + "' lies outside the file");
  try {
    for (const std::string& k : g->keys()) (void)g->get_string(k, "");
  } catch (const Error&) {
  }
  std::shared_ptr<const Model> model;
  try {
    model = std::make_shared<const Model>(detail::load_gguf(g));
  } catch (const Error&) {
  }
  std::shared_ptr<const Tokenizer> tok;
  try {
    tok = tok::tokenizer_from_gguf(*g);
    exercise_tokenizer(tok);
  } catch (const Error&) {
  }
  if (model) {
    try {
      const Token last = static_cast<Token>(model->config().vocab_size - 1);
      Session session(model, {.context_length = 4, .threads = 1});
      const std::vector<Token> prompt = {0, last, 0};
      (void)session.forward_last(prompt);
    } catch (const Error&) {
    }
  }
}

// A safetensors checkpoint: input = model.safetensors.index.json NUL shard
// bytes. The shard is written as model-00001-of-00001.safetensors and read on
// its own, then the index (when non-empty) is opened beside it.
inline void safetensors(Bytes data) {
  static const Scratch scratch("safetensors");
  scratch.clear();
  const auto parts = split_parts(data, 2);
  const std::string_view index = parts[0];
  const std::string_view shard = parts.size() > 1 ? parts[1] : std::string_view();
  const fs::path shard_path = scratch.write("model-00001-of-00001.safetensors", shard);
  try {
    io::SafetensorsFile f(shard_path.string());
    const std::byte* base = f.file()->data();
    const std::size_t size = f.file()->size();
    for (const TensorView& t : f.tensors()) {
      require(t.data >= base && t.nbytes <= size && static_cast<std::size_t>(t.data - base) <= size - t.nbytes,
              "tensor '" + t.name + "' lies outside the file");
      require(f.find(t.name) != nullptr, "find() misses tensor '" + t.name + "'");
    }
  } catch (const Error&) {
  }
  if (index.empty()) return;
  const fs::path index_path = scratch.write("model.safetensors.index.json", index);
  try {
    const io::SafetensorsCheckpoint ck = io::open_safetensors(index_path);
    (void)ck.tensors.size();
  } catch (const Error&) {
  }
}

// config.json of a Hugging Face checkpoint, loaded as Model::load does, next to
// a real tiny checkpoint (llama; gpt2 or qwen2 when the text names them) so
// that configs matching its tensors bind all the way.
inline void hf_config(Bytes data) {
  static const Scratch scratch("hf_config");
  scratch.clear();
  const std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
  const char* weights = text.find("gpt2") != std::string_view::npos    ? "models/gpt2/model.safetensors"
                        : text.find("qwen2") != std::string_view::npos ? "models/qwen2-f16/model.safetensors"
                                                                       : "models/llama/model.safetensors";
  scratch.write("config.json", text);
  scratch.link("model.safetensors", data_path(weights));
  try {
    auto m = detail::load_hf(scratch.dir());
    m->config.validate();
  } catch (const Error&) {
  }
}

// tokenizer.json alone in its folder.
inline void tokenizer_json(Bytes data) {
  static const Scratch scratch("tokenizer_json");
  scratch.clear();
  const fs::path p = scratch.write("tokenizer.json", {reinterpret_cast<const char*>(data.data()), data.size()});
  try {
    exercise_tokenizer(tok::load_tokenizer_json(p));
  } catch (const Error&) {
  }
}

// GPT-2 layout: input = vocab.json NUL merges.txt.
inline void vocab_merges(Bytes data) {
  static const Scratch scratch("vocab_merges");
  scratch.clear();
  const auto parts = split_parts(data, 2);
  const fs::path vocab = scratch.write("vocab.json", parts[0]);
  const fs::path merges = scratch.write("merges.txt", parts.size() > 1 ? parts[1] : std::string_view());
  try {
    exercise_tokenizer(tok::load_vocab_merges(vocab, merges));
  } catch (const Error&) {
  }
}

// tokenizer.model (a SentencePiece ModelProto) alone in its folder.
inline void sentencepiece(Bytes data) {
  static const Scratch scratch("sentencepiece");
  scratch.clear();
  const fs::path p = scratch.write("tokenizer.model", {reinterpret_cast<const char*>(data.data()), data.size()});
  try {
    exercise_tokenizer(tok::load_sentencepiece(p));
  } catch (const Error&) {
  }
}

// What LanguageModel::chat does with a model's template, without the model:
// detect the template, render a conversation, encode the result with special
// tokens parsed. Kept in one place so that a new renderer (a Jinja engine)
// only changes this function.
inline void render_model_template(const std::shared_ptr<const Tokenizer>& tok) {
  static const std::vector<std::vector<ChatMessage>> conversations = {
      {{"system", "Be brief."}, {"user", "Hi <|im_end|> there"}, {"assistant", " Hello! "}, {"user", "caf\xC3\xA9?"}},
      {{"user", "\xFF only user \xE4\xBD"}},
      {{"assistant", "starts with assistant"}, {"user", ""}},
  };
  const std::string& tmpl = tok->chat_template();
  if (tmpl.empty()) return;
  // The model's own template through the Jinja renderer, as
  // LanguageModel::chat does: parsed once, rendered for every conversation.
  std::optional<jinja::Template> parsed;
  try {
    parsed.emplace(tmpl);
  } catch (const Error&) {
    return;
  }
  for (const auto& messages : conversations) {
    for (bool gen : {false, true}) {
      try {
        const std::string text =
            parsed->render(detail::chat_context(messages, gen, detail::bos_text(*tok), detail::eos_text(*tok)));
        const std::vector<Token> ids = detail::encode_chat(*tok, text);
        for (Token id : ids)
          require(id >= 0 && static_cast<std::size_t>(id) < tok->vocab_size(), "chat encoding gave an id outside the vocabulary");
        check_decoding(tok, ids, true);
      } catch (const Error&) {
      }
    }
  }
}

// tokenizer_config.json and the files read with it, beside a fixed
// SentencePiece tokenizer.model: input = tokenizer_config.json NUL
// special_tokens_map.json NUL generation_config.json NUL chat_template.jinja
// (missing parts: the file is absent). Then the chat template is rendered.
inline void chat(Bytes data) {
  static const Scratch scratch("chat");
  scratch.clear();
  const auto parts = split_parts(data, 4);
  static const char* kNames[] = {"tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
                                 "chat_template.jinja"};
  for (std::size_t i = 0; i < parts.size(); ++i) scratch.write(kNames[i], parts[i]);
  scratch.link("tokenizer.model", data_path("tokenizer/spm/tokenizer.model"));
  std::shared_ptr<const Tokenizer> tok;
  try {
    tok = tok::load_sentencepiece(scratch.dir() / "tokenizer.model");
    exercise_tokenizer(tok);
  } catch (const Error&) {
    return;
  }
  render_model_template(tok);
}

// Tokenizers from tests/data used by `tokenize`.
inline const std::vector<std::shared_ptr<const Tokenizer>>& fixed_tokenizers() {
  static const std::vector<std::shared_ptr<const Tokenizer>> all = {
      load_tokenizer(data_path("tokenizer/bpe/tokenizer.json")),
      load_tokenizer(data_path("tokenizer/bpe_llama3/tokenizer.json")),
      load_tokenizer(data_path("tokenizer/bpe_qwen2/tokenizer.json")),
      load_tokenizer(data_path("tokenizer/bpe/vocab.json")),
      load_tokenizer(data_path("tokenizer/spm/tokenizer.model")),
      load_tokenizer(data_path("tokenizer/spm/vocab.gguf")),
  };
  return all;
}

// Encoding and decoding arbitrary bytes with fixed real vocabularies. The
// first byte chooses: bits 0-2 the tokenizer (of fixed_tokenizers()), bit 3
// parse_special, bit 4 add_special_tokens, bit 5 skip_special when decoding,
// bit 6 what the rest is: text to encode (0) or token ids to decode
// (1: little-endian 16-bit values modulo the vocabulary size).
inline void tokenize(Bytes data) {
  if (data.empty()) return;
  const auto& toks = fixed_tokenizers();
  const std::uint8_t mode = data[0];
  const auto& tok = toks[(mode & 7u) % toks.size()];
  const bool skip_special = mode & 0x20;
  const Bytes rest = data.subspan(1);
  try {
    if (mode & 0x40) {
      std::vector<Token> ids;
      for (std::size_t i = 0; i + 1 < rest.size(); i += 2)
        ids.push_back(static_cast<Token>((rest[i] | (rest[i + 1] << 8)) % tok->vocab_size()));
      check_decoding(tok, ids, skip_special);
    } else {
      const std::string_view text(reinterpret_cast<const char*>(rest.data()), rest.size());
      check_encoding(tok, text, {.add_special_tokens = bool(mode & 0x10), .parse_special = bool(mode & 0x08)},
                     skip_special);
    }
  } catch (const Error&) {
  }
}

}  // namespace gpt::fuzz
