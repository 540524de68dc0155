// Tokenizer parity on the vocabulary-only GGUF files llama.cpp ships for its
// own tokenizer tests (vendor/llama.cpp/models/ggml-vocab-*.gguf in the
// llama-cpp-python 0.3.36 sdist). Each comes with test texts (.inp) and the
// ids Hugging Face's tokenizer gives them (.out, written by llama.cpp's
// convert_hf_to_gguf_update.py with transformers' AutoTokenizer, without
// special tokens). The files are not ours and are not committed:
// tools/fetch-llamacpp-sources unpacks them under $GPT_CACHE_DIR (default
// ~/.cache/gpt); without them the test fails and says so.
//
// Every vocabulary either matches Hugging Face on every text, or is refused
// at load with an error naming what is not implemented (never a tokenizer
// that gives other ids).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gpt/error.h"
#include "gpt/tokenizer.h"

namespace gpt {
namespace {

namespace fs = std::filesystem;

fs::path vocab_dir() {
  const char* cache = std::getenv("GPT_CACHE_DIR");
  const char* home = std::getenv("HOME");
  const std::string base = cache && *cache ? std::string(cache) : std::string(home ? home : "") + "/.cache/gpt";
  return fs::path(base) / "llamacpp-0.3.36/src/vendor/llama.cpp/models";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// .inp: texts separated by "\n__ggml_vocab_test__\n" (most files have one
// after the last text too).
std::vector<std::string> read_inputs(const fs::path& p) {
  const std::string text = slurp(p);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t at; (at = text.find(sep, start)) != std::string::npos; start = at + sep.size())
    out.push_back(text.substr(start, at - start));
  if (start < text.size()) out.push_back(text.substr(start));  // a last text without the separator after it
  return out;
}

// .out: one line of space-separated ids per text.
std::vector<std::vector<Token>> read_outputs(const fs::path& p) {
  std::istringstream in(slurp(p));
  std::vector<std::vector<Token>> out;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ids(line);
    std::vector<Token> v;
    for (long long id; ids >> id;) v.push_back(static_cast<Token>(id));
    out.push_back(std::move(v));
  }
  return out;
}

struct Vocab {
  const char* name;
  const char* refused;  // nullptr: must match; else a word the load error must contain
};

class GgufVocabParity : public ::testing::TestWithParam<Vocab> {};

TEST_P(GgufVocabParity, MatchesHuggingFaceOrIsRefusedByName) {
  const fs::path base = vocab_dir() / (std::string("ggml-vocab-") + GetParam().name + ".gguf");
  ASSERT_TRUE(fs::exists(base)) << base << " is missing: run tools/fetch-llamacpp-sources (it downloads the "
                                           "llama-cpp-python 0.3.36 sdist and unpacks the vocabularies under "
                                           "$GPT_CACHE_DIR, default ~/.cache/gpt)";
  const auto inputs = read_inputs(base.string() + ".inp");
  const auto outputs = read_outputs(base.string() + ".out");
  ASSERT_GE(inputs.size(), 30u);
  ASSERT_EQ(inputs.size(), outputs.size());

  std::shared_ptr<const Tokenizer> tok;
  std::string error;
  try {
    tok = load_tokenizer(base.string());
  } catch (const Error& e) {
    error = e.what();
  }
  if (GetParam().refused) {
    EXPECT_FALSE(tok) << GetParam().name << " loads, but this test expects it refused";
    EXPECT_NE(error.find(GetParam().refused), std::string::npos) << "error: " << error;
    std::printf("[ measure  ] %s: refused: %s\n", GetParam().name, error.c_str());
    return;
  }
  ASSERT_TRUE(tok) << error;
  std::size_t same = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::vector<Token> ids = tok->encode(inputs[i]);
    if (ids == outputs[i]) {
      ++same;
      continue;
    }
    std::string want, got;
    for (Token t : outputs[i]) want += " " + std::to_string(t);
    for (Token t : ids) got += " " + std::to_string(t);
    ADD_FAILURE() << GetParam().name << " text " << i << " '" << inputs[i] << "':\n  Hugging Face:" << want
                  << "\n  ours:        " << got;
  }
  std::printf("[ measure  ] %s: %zu/%zu texts give Hugging Face's ids\n", GetParam().name, same, inputs.size());
}

INSTANTIATE_TEST_SUITE_P(
    LlamaCppVocabs, GgufVocabParity,
    ::testing::Values(Vocab{"llama-spm", nullptr}, Vocab{"llama-bpe", nullptr}, Vocab{"phi-3", nullptr},
                      Vocab{"deepseek-llm", nullptr}, Vocab{"deepseek-coder", nullptr}, Vocab{"falcon", nullptr},
                      Vocab{"bert-bge", "bert"}, Vocab{"mpt", nullptr}, Vocab{"starcoder", nullptr},
                      Vocab{"gpt-2", nullptr}, Vocab{"refact", nullptr}, Vocab{"command-r", nullptr},
                      Vocab{"qwen2", nullptr}, Vocab{"qwen35", nullptr}, Vocab{"gemma-4", "gemma4"}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (auto& c : n) if (c == '-') c = '_';
      return n;
    });

}  // namespace
}  // namespace gpt
