// Parity with Hugging Face: every corpus line must give the reference ids
// (tools/make_tokenizer_fixtures.py wrote them) and decode back to itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gpt/tokenizer.h"
#include "tokenizer/sentencepiece.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kData = fs::path(GPT_TEST_DATA_DIR) / "tokenizer";

json load(const fs::path& p) {
  std::ifstream f(p);
  if (!f) throw std::runtime_error("cannot open " + p.string());
  return json::parse(f);
}

std::string show(const std::vector<gpt::Token>& v) {
  std::string s;
  for (auto t : v) s += std::to_string(t) + " ";
  return s;
}

// Checks every line; prints one summary line per tokenizer for the report.
void check_parity(const std::string& name, const gpt::Tokenizer& tok, const json& ref,
                  std::shared_ptr<const gpt::Tokenizer> shared = nullptr) {
  const auto lines = load(kData / "corpus.json").get<std::vector<std::string>>();
  ASSERT_GE(lines.size(), 500u);
  ASSERT_EQ(ref.at("ids").size(), lines.size());
  std::size_t tokens = 0, bad = 0, bad_parse = 0, bad_added = 0, bad_decode = 0, bad_stream = 0, n_lossy = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& s = lines[i];
    const auto want = ref["ids"][i].get<std::vector<gpt::Token>>();
    const auto got = tok.encode(s);
    tokens += got.size();
    if (got != want) {
      if (++bad <= 5) ADD_FAILURE() << name << " line " << i << " " << json(s).dump() << "\n  want " << show(want)
                                    << "\n  got  " << show(got);
    }
    const auto want_p = ref["ids_parse"][i].get<std::vector<gpt::Token>>();
    const auto got_p = tok.encode(s, {.add_special_tokens = false, .parse_special = true});
    if (got_p != want_p) {
      if (++bad_parse <= 5)
        ADD_FAILURE() << name << " (parse_special) line " << i << " " << json(s).dump() << "\n  want "
                      << show(want_p) << "\n  got  " << show(got_p);
    }
    if (i < ref["ids_added"].size()) {
      const auto want_a = ref["ids_added"][i].get<std::vector<gpt::Token>>();
      const auto got_a = tok.encode(s, {.add_special_tokens = true});
      if (got_a != want_a && ++bad_added <= 5)
        ADD_FAILURE() << name << " (add_special_tokens) line " << i << "\n  want " << show(want_a) << "\n  got  "
                      << show(got_a);
    }
    // decode: identical to Hugging Face's decode, and to the line itself except where
    // the format cannot carry it (SentencePiece reads a literal U+2581 as a space).
    const std::string back = tok.decode(want);
    const std::string hf_back = ref["decoded"][i].get<std::string>();
    const bool lossy = std::find(ref["lossy"].begin(), ref["lossy"].end(), json(i)) != ref["lossy"].end();
    n_lossy += lossy;
    if ((back != hf_back || (!lossy && back != s)) && ++bad_decode <= 5)
      ADD_FAILURE() << name << " decode line " << i << ": " << json(back).dump() << " vs HF "
                    << json(hf_back).dump() << " line " << json(s).dump();
    if (shared) {
      gpt::IncrementalDecoder dec(shared);
      std::string streamed;
      for (gpt::Token t : want) streamed += dec.push(t);
      streamed += dec.flush();
      if (streamed != back && ++bad_stream <= 5)
        ADD_FAILURE() << name << " streaming decode line " << i << ": " << json(streamed).dump();
    }
  }
  std::printf("[parity] %-22s lines=%zu tokens=%zu mismatches=%zu parse_special_mismatches=%zu "
              "decode_mismatches=%zu stream_mismatches=%zu (lines HF cannot round-trip: %zu)\n",
              name.c_str(), lines.size(), tokens, bad, bad_parse, bad_decode, bad_stream, n_lossy);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(bad_parse, 0u);
  EXPECT_EQ(bad_added, 0u);
  EXPECT_EQ(bad_decode, 0u);
  EXPECT_EQ(bad_stream, 0u);
}

TEST(tokenizer_parity, smollm2_gguf) {
  const fs::path model = fs::path(GPT_MODELS_DIR) / "SmolLM2-135M-Instruct.Q4_1.gguf";
  ASSERT_TRUE(fs::exists(model)) << model << " is missing: run tools/fetch-model to download it";
  auto tok = gpt::load_tokenizer(model);
  EXPECT_EQ(tok->kind(), "bpe");
  EXPECT_EQ(tok->vocab_size(), 49152u);
  check_parity("smollm2 (gguf)", *tok, load(kData / "ref_smollm2.json"), tok);
}

TEST(tokenizer_parity, bpe_tokenizer_json) {
  auto tok = gpt::load_tokenizer(kData / "bpe" / "tokenizer.json");
  check_parity("bpe (tokenizer.json)", *tok, load(kData / "ref_bpe.json"), tok);
}

TEST(tokenizer_parity, bpe_vocab_merges) {
  auto tok = gpt::load_tokenizer(kData / "bpe" / "vocab.json");
  check_parity("bpe (vocab+merges)", *tok, load(kData / "ref_bpe.json"), tok);
}

TEST(tokenizer_parity, bpe_directory) {
  auto tok = gpt::load_tokenizer(kData / "bpe");
  check_parity("bpe (directory)", *tok, load(kData / "ref_bpe.json"), tok);
}

// Llama 3's pre-tokenizer (Split regex, ByteLevel without regex, ignore_merges, BOS by
// TemplateProcessing) and merges in the "a b" string form.
TEST(tokenizer_parity, bpe_llama3_pretokenizer) {
  auto tok = gpt::load_tokenizer(kData / "bpe_llama3" / "tokenizer.json");
  check_parity("bpe (llama3 regex)", *tok, load(kData / "ref_bpe_llama3.json"), tok);
}

// Qwen2's: NFC normalizer (the corpus has NFD lines), Qwen2 Split regex.
TEST(tokenizer_parity, bpe_qwen2_nfc) {
  auto tok = gpt::load_tokenizer(kData / "bpe_qwen2" / "tokenizer.json");
  check_parity("bpe (qwen2 regex, NFC)", *tok, load(kData / "ref_bpe_qwen2.json"), tok);
}

TEST(tokenizer_parity, spm_tokenizer_model) {
  auto tok = gpt::load_tokenizer(kData / "spm" / "tokenizer.model");
  EXPECT_EQ(tok->kind(), "sentencepiece");
  check_parity("spm (tokenizer.model)", *tok, load(kData / "ref_spm.json"), tok);
}

// The GGUF "llama" path: pieces, scores and types -> ModelProto built in memory.
TEST(tokenizer_parity, spm_from_pieces) {
  auto file = gpt::load_tokenizer(kData / "spm" / "tokenizer.model");
  const auto& spm = dynamic_cast<const gpt::tok::SpmTokenizer&>(*file);
  gpt::tok::SpmVocab v;
  for (gpt::Token i = 0; i < static_cast<gpt::Token>(spm.vocab_size()); ++i) {
    v.pieces.push_back(spm.token_to_piece(i));
    v.scores.push_back(spm.score(i));
    v.types.push_back(static_cast<int>(spm.type(i)));
  }
  auto built = std::make_shared<gpt::tok::SpmTokenizer>(gpt::tok::build_model_proto(v), "<in-memory>");
  check_parity("spm (from pieces)", *built, load(kData / "ref_spm.json"), built);
}

// The same vocabulary stored in GGUF metadata (tokenizer.ggml.model = "llama"), the way
// llama.cpp's converter writes it: pieces, scores, token types, special ids, flags.
TEST(tokenizer_parity, spm_gguf_llama_vocab) {
  auto tok = gpt::load_tokenizer(kData / "spm" / "vocab.gguf");
  EXPECT_EQ(tok->kind(), "sentencepiece");
  EXPECT_FALSE(tok->chat_template().empty());
  check_parity("spm (gguf llama vocab)", *tok, load(kData / "ref_spm.json"), tok);
}

}  // namespace
