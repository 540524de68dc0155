// Tokenizer behaviour beyond corpus parity: streaming decode, special tokens,
// configuration files, error reporting, thread safety.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "gpt/error.h"
#include "gpt/tokenizer.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/sentencepiece.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kData = fs::path(GPT_TEST_DATA_DIR) / "tokenizer";

// A fresh temporary directory per test.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("gpt_tok_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path write(const std::string& name, const std::string& content) const {
    std::ofstream(path / name, std::ios::binary) << content;
    return path / name;
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

// Streams ids one by one; no push may return a broken UTF-8 character.
std::string stream(std::shared_ptr<const gpt::Tokenizer> tok, const std::vector<gpt::Token>& ids,
                   std::vector<std::string>* chunks = nullptr) {
  gpt::IncrementalDecoder dec(tok);
  std::string out;
  for (auto id : ids) {
    std::string c = dec.push(id);
    if (chunks) chunks->push_back(c);
    out += c;
  }
  return out + dec.flush();
}

TEST(tokenizer_stream, byte_fallback_character_split_over_tokens) {
  auto tok = gpt::load_tokenizer(kData / "spm" / "tokenizer.model");
  const std::string text = "한국어";  // not in the small vocabulary: byte-fallback tokens
  auto ids = tok->encode(text);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(tok->token_to_piece(ids[1]).rfind("<0x", 0), 0u) << tok->token_to_piece(ids[1]);
  std::vector<std::string> chunks;
  EXPECT_EQ(stream(tok, ids, &chunks), text);
  for (const auto& c : chunks)  // every chunk is empty or whole characters
    EXPECT_TRUE(c.empty() || c == "한" || c == "국" || c == "어" || c == " 한") << c;
}

TEST(tokenizer_stream, byte_level_emoji) {
  auto tok = gpt::load_tokenizer(kData / "bpe" / "tokenizer.json");
  const std::string text = "ok 👨‍👩‍👧 done";
  auto ids = tok->encode(text);
  std::vector<std::string> chunks;
  EXPECT_EQ(stream(tok, ids, &chunks), text);
  for (const auto& c : chunks) EXPECT_EQ(c.find("\xEF\xBF\xBD"), std::string::npos);
}

TEST(tokenizer_stream, incomplete_tail_becomes_replacement_on_flush) {
  auto tok = gpt::load_tokenizer(kData / "spm" / "tokenizer.model");
  auto e4 = tok->piece_to_token("<0xE4>");
  ASSERT_TRUE(e4);
  gpt::IncrementalDecoder dec(tok);
  EXPECT_EQ(dec.push(*e4), "");
  EXPECT_EQ(dec.flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(tok->decode(std::vector<gpt::Token>{*e4}), "\xEF\xBF\xBD");
}

TEST(tokenizer_api, pieces_ids_and_errors) {
  auto tok = gpt::load_tokenizer(kData / "bpe" / "tokenizer.json");
  EXPECT_EQ(tok->vocab_size(), 1200u);
  for (gpt::Token i : {0, 5, 300, 1199}) EXPECT_EQ(tok->piece_to_token(tok->token_to_piece(i)), i);
  EXPECT_FALSE(tok->piece_to_token("no such piece"));
  EXPECT_THROW(tok->token_to_piece(1200), gpt::InvalidArgument);
  EXPECT_THROW(tok->token_to_piece(-1), gpt::InvalidArgument);
  EXPECT_THROW(tok->decode(std::vector<gpt::Token>{5, 99999}), gpt::InvalidArgument);
  EXPECT_EQ(tok->token_bytes(*tok->piece_to_token("Ġthe")), " the");
}

TEST(tokenizer_api, special_tokens_parse_and_skip) {
  auto tok = gpt::load_tokenizer(fs::path(GPT_MODELS_DIR) / "SmolLM2-135M-Instruct.Q4_1.gguf");
  const gpt::Token im_start = *tok->piece_to_token("<|im_start|>");
  EXPECT_TRUE(tok->is_special(im_start));
  auto plain = tok->encode("<|im_start|>user");
  EXPECT_EQ(std::count(plain.begin(), plain.end(), im_start), 0);  // off by default
  auto parsed = tok->encode("<|im_start|>user", {.parse_special = true});
  ASSERT_FALSE(parsed.empty());
  EXPECT_EQ(parsed[0], im_start);
  EXPECT_EQ(tok->decode(parsed), "<|im_start|>user");
  EXPECT_EQ(tok->decode(parsed, /*skip_special=*/true), "user");
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_TRUE(tok->is_eos(2));
  EXPECT_NE(tok->chat_template().find("im_start"), std::string::npos);
}

TEST(tokenizer_api, sentencepiece_bos_and_dummy_prefix) {
  auto tok = gpt::load_tokenizer(kData / "spm" / "tokenizer.model");
  EXPECT_EQ(tok->bos_id(), 1);
  ASSERT_EQ(tok->eos_ids().size(), 1u);
  EXPECT_EQ(tok->eos_ids()[0], 2);
  auto ids = tok->encode("hello", {.add_special_tokens = true});
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(tok->decode(ids, true), "hello");
  EXPECT_EQ(tok->decode(ids), "<s> hello");  // as Hugging Face: only a leading space is stripped
}

TEST(tokenizer_load, hf_directory_with_config) {
  TempDir d;
  fs::copy_file(kData / "bpe" / "tokenizer.json", d.path / "tokenizer.json");
  d.write("tokenizer_config.json", R"({"bos_token": "<|endoftext|>", "eos_token": {"content": "<|endoftext|>"},
      "add_bos_token": true, "chat_template": "{{ messages }}"})");
  d.write("generation_config.json", R"({"eos_token_id": [0, 5]})");
  auto tok = gpt::load_tokenizer(d.path);
  EXPECT_EQ(tok->bos_id(), 0);
  EXPECT_EQ(std::vector<gpt::Token>(tok->eos_ids().begin(), tok->eos_ids().end()), (std::vector<gpt::Token>{0, 5}));
  EXPECT_EQ(tok->chat_template(), "{{ messages }}");
  EXPECT_EQ(tok->encode("hi", {.add_special_tokens = true}).front(), 0);
}

TEST(tokenizer_load, directory_with_tokenizer_model) {
  TempDir d;
  fs::copy_file(kData / "spm" / "tokenizer.model", d.path / "tokenizer.model");
  d.write("tokenizer_config.json", R"({"add_bos_token": false, "add_eos_token": true})");
  auto tok = gpt::load_tokenizer(d.path);
  auto ids = tok->encode("hi", {.add_special_tokens = true});
  EXPECT_NE(ids.front(), 1);
  EXPECT_EQ(ids.back(), 2);
}

void expect_format_error(const fs::path& p, const std::string& what_part) {
  try {
    gpt::load_tokenizer(p);
    ADD_FAILURE() << "no error for " << p;
  } catch (const gpt::FormatError& e) {
    EXPECT_EQ(e.path(), p.string());
    EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(what_part), std::string::npos) << e.what();
  }
}

TEST(tokenizer_load, malformed_files_name_the_file) {
  TempDir d;
  const std::string good = slurp(kData / "bpe" / "tokenizer.json");
  expect_format_error(d.write("tokenizer.json", good.substr(0, good.size() / 2)), "not valid JSON");
  expect_format_error(d.write("tokenizer.json", R"({"version": "1.0"})"), "model");
  json j = json::parse(good);
  j["model"]["merges"].push_back(json::array({"zzz_missing", "q"}));
  expect_format_error(d.write("tokenizer.json", j.dump()), "merge");
  j = json::parse(good);
  j["model"]["vocab"] = json::array({1, 2});
  expect_format_error(d.write("tokenizer.json", j.dump()), "tokenizer.json");
  const std::string model = slurp(kData / "spm" / "tokenizer.model");
  expect_format_error(d.write("tokenizer.model", model.substr(0, model.size() / 3)), "SentencePiece");
  expect_format_error(d.write("broken.gguf", "GGUF\x03\0\0\0garbage"), "broken.gguf");
  fs::create_directories(d.path / "vm");
  fs::copy_file(kData / "bpe" / "vocab.json", d.path / "vm" / "vocab.json");
  std::ofstream(d.path / "vm" / "merges.txt") << "#version: 0.2\nĠ t\nthree pieces here\n";
  try {
    gpt::load_tokenizer(d.path / "vm" / "vocab.json");
    ADD_FAILURE() << "no error";
  } catch (const gpt::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("merges.txt"), std::string::npos) << e.what();
  }
  EXPECT_THROW(gpt::load_tokenizer(d.path / "missing.model"), gpt::IoError);
}

TEST(tokenizer_load, unsupported_parts_are_named) {
  TempDir d;
  json j = json::parse(slurp(kData / "bpe" / "tokenizer.json"));
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "▁"}};
  d.write("tokenizer.json", j.dump());
  try {
    gpt::load_tokenizer(d.path / "tokenizer.json");
    ADD_FAILURE() << "no error";
  } catch (const gpt::UnsupportedModel& e) {
    EXPECT_NE(std::string(e.what()).find("Metaspace"), std::string::npos) << e.what();
  }
  j = json::parse(slurp(kData / "bpe" / "tokenizer.json"));
  j["normalizer"] = {{"type", "Lowercase"}};
  d.write("tokenizer.json", j.dump());
  EXPECT_THROW(gpt::load_tokenizer(d.path / "tokenizer.json"), gpt::UnsupportedModel);
  EXPECT_THROW(gpt::tok::PreTokenizer::from_gguf_name("no-such-pre"), gpt::UnsupportedModel);
}

TEST(tokenizer_pretokenizer, named_regexes_compile_and_split) {
  for (const char* name : {"gpt2", "default", "smollm", "llama-bpe", "qwen2"}) {
    auto p = gpt::tok::PreTokenizer::from_gguf_name(name);
    const std::string s = "Hello, world!  It's 12345 x\n\n  中文";
    std::string joined;
    for (auto [b, e] : p.split(s)) joined += s.substr(b, e - b);
    EXPECT_EQ(joined, s) << name;  // splits cover the text exactly
  }
  gpt::tok::PreTokenizer gpt2 = gpt::tok::PreTokenizer::from_gguf_name("gpt2");
  const std::string s = "I'm  here 123";
  std::vector<std::string> words;
  for (auto [b, e] : gpt2.split(s)) words.push_back(s.substr(b, e - b));
  EXPECT_EQ(words, (std::vector<std::string>{"I", "'m", " ", " here", " 123"}));
}

TEST(tokenizer_api, invalid_utf8_input_is_encoded) {
  auto tok = gpt::load_tokenizer(kData / "bpe" / "tokenizer.json");
  const std::string bad = "ab\xFF\xC3 cd";
  auto ids = tok->encode(bad);
  EXPECT_FALSE(ids.empty());
  std::string bytes;
  for (auto id : ids) bytes += tok->token_bytes(id);
  EXPECT_EQ(bytes, bad);  // byte-level BPE keeps every byte
}

TEST(tokenizer_api, shared_across_threads) {
  auto tok = gpt::load_tokenizer(kData / "bpe" / "tokenizer.json");
  const auto lines = json::parse(slurp(kData / "corpus.json")).get<std::vector<std::string>>();
  std::vector<std::vector<gpt::Token>> want;
  for (const auto& l : lines) want.push_back(tok->encode(l));
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (std::size_t i = t; i < lines.size() * 2; i += 3)
        if (tok->encode(lines[i % lines.size()]) != want[i % lines.size()]) ++bad;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace

#include "tokenizer/nfc.h"

namespace {

TEST(tokenizer_nfc, composition_ordering_exclusions) {
  using gpt::tok::nfc;
  EXPECT_EQ(nfc("plain ascii"), "plain ascii");
  EXPECT_EQ(nfc("e\u0301"), "\u00E9");
  EXPECT_EQ(nfc("\u212B"), "\u00C5");                      // singleton decomposition
  EXPECT_EQ(nfc("\u1100\u1161\u11A8"), "\uAC01");          // Hangul L V T
  EXPECT_EQ(nfc("\uAC00\u11A8"), "\uAC01");                // Hangul LV + T
  EXPECT_EQ(nfc("a\u0302\u0323"), "\u1EAD");               // reordered, then composed twice
  EXPECT_EQ(nfc("\u0958"), "\u0915\u093C");                // composition exclusion
  EXPECT_EQ(nfc("e\u0301\u0301"), "\u00E9\u0301");         // second acute is blocked
  EXPECT_EQ(nfc("\u00E9"), "\u00E9");
  EXPECT_EQ(nfc("e\xFF\u0301"), "e\xFF\u0301");            // invalid byte kept, splits runs
  EXPECT_EQ(nfc("中文 😀"), "中文 😀");
}

// GGUF SentencePiece vocabularies as Gemma 3 and Phi-3 store them: <unk>
// typed as a control token (Gemma: tokenizer.ggml.unknown_token_id names it),
// or a second UNKNOWN-typed piece (Phi-3's converter). libsentencepiece needs
// exactly one UNKNOWN piece; both load, and encode with byte fallback.
TEST(SentencePieceVocab, UnknownPieceFromIdOrDeduplicated) {
  auto vocab = [](std::vector<int> types) {
    gpt::tok::SpmVocab v;
    v.pieces = {"<pad>", "<eos>", "<bos>", "<unk>", "[PAD0]", "\xE2\x96\x81", "a", "b", "ab", "\xE2\x96\x81" "a"};
    v.scores = {0, 0, 0, 0, 0, -1, -2, -3, -1.5f, -1.2f};
    v.types = std::move(types);
    for (int byte = 0; byte < 256; ++byte) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "<0x%02X>", byte);
      v.pieces.push_back(hex);
      v.scores.push_back(0);
      v.types.push_back(6);
    }
    v.add_dummy_prefix = false;
    v.unk_id = 3;
    return v;
  };
  const std::vector<int> gemma = {3, 3, 3, 3, 5, 1, 1, 1, 1, 1};   // no UNKNOWN piece
  const std::vector<int> phi3 = {3, 3, 3, 2, 2, 1, 1, 1, 1, 1};    // two
  for (const auto& types : {gemma, phi3}) {
    gpt::tok::SpmTokenizer tok(gpt::tok::build_model_proto(vocab(types)), "<in-memory>");
    EXPECT_EQ(tok.type(3), gpt::tok::PieceType::Unknown);
    EXPECT_EQ(tok.encode("ab a", {.add_special_tokens = false}), (std::vector<gpt::Token>{8, 9}));
    EXPECT_EQ(tok.encode("c", {.add_special_tokens = false}), (std::vector<gpt::Token>{10 + 0x63}));  // byte fallback
  }
  auto none = vocab(gemma);
  none.unk_id = -1;
  EXPECT_THROW(gpt::tok::SpmTokenizer(gpt::tok::build_model_proto(none), "<in-memory>"), gpt::FormatError);
}

}  // namespace
