// Replays fuzz inputs through the same targets the libFuzzer harnesses run
// (tests/fuzz/targets.h), in the normal test build:
//   * every reproducer of a finding, tests/data/fuzz/<target>/<name>;
//   * every seed of the committed corpora, tests/fuzz/corpus/<target>/<name>.
// Each must end in success or a typed gpt::Error (caught inside the target);
// any other exception (std::bad_alloc, nlohmann::json errors, an
// InvariantViolation of the target's checks) fails the test, a crash fails
// the binary.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <ostream>

#include "fuzz/targets.h"

namespace {

namespace fs = std::filesystem;
using Target = std::function<void(gpt::fuzz::Bytes)>;

const std::map<std::string, Target>& targets() {
  static const std::map<std::string, Target> all = {
      {"gguf", gpt::fuzz::gguf},
      {"safetensors", gpt::fuzz::safetensors},
      {"hf_config", gpt::fuzz::hf_config},
      {"tokenizer_json", gpt::fuzz::tokenizer_json},
      {"vocab_merges", gpt::fuzz::vocab_merges},
      {"sentencepiece", gpt::fuzz::sentencepiece},
      {"chat", gpt::fuzz::chat},
      {"tokenize", gpt::fuzz::tokenize},
  };
  return all;
}

struct Input {
  std::string target;
  fs::path file;
};
void PrintTo(const Input& in, std::ostream* os) { *os << in.file; }

// <root>/<target>/<file> for every known target folder.
std::vector<Input> inputs_under(const fs::path& root) {
  std::vector<Input> out;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  for (const auto& dir : fs::directory_iterator(root)) {
    if (!dir.is_directory()) continue;
    const std::string target = dir.path().filename().string();
    for (const auto& f : fs::directory_iterator(dir.path()))
      if (f.is_regular_file()) out.push_back({target, f.path()});
  }
  std::sort(out.begin(), out.end(), [](const Input& a, const Input& b) { return a.file < b.file; });
  return out;
}

std::vector<std::uint8_t> read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void replay(const Input& in) {
  auto it = targets().find(in.target);
  ASSERT_NE(it, targets().end()) << in.file << " is in a folder that names no fuzz target";
  const std::vector<std::uint8_t> bytes = read_bytes(in.file);
  try {
    it->second({bytes.data(), bytes.size()});
  } catch (const std::exception& e) {
    FAIL() << in.file << ": " << e.what();
  }
}

std::string test_name(const testing::TestParamInfo<Input>& info) {
  std::string s = info.param.target + "_" + info.param.file.filename().string();
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

class Reproducer : public testing::TestWithParam<Input> {};
TEST_P(Reproducer, EndsInSuccessOrTypedError) { replay(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Fuzz, Reproducer, testing::ValuesIn(inputs_under(fs::path(GPT_TEST_DATA_DIR) / "fuzz")),
                         test_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Reproducer);

class Seed : public testing::TestWithParam<Input> {};
TEST_P(Seed, EndsInSuccessOrTypedError) { replay(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Fuzz, Seed,
                         testing::ValuesIn(inputs_under(fs::path(GPT_TEST_DATA_DIR) / ".." / "fuzz" / "corpus")),
                         test_name);

// Seeds are useful only if they reach past the first check: every seed
// model but the truncated one loads, with its tokenizer.
TEST(FuzzSeeds, GgufSeedsLoadAsModelsWithTokenizers) {
  const auto seeds = inputs_under(fs::path(GPT_TEST_DATA_DIR) / ".." / "fuzz" / "corpus");
  int loaded = 0;
  for (const Input& in : seeds) {
    if (in.target != "gguf" || in.file.filename() == "truncated.gguf") continue;
    auto g = std::make_shared<const gpt::io::GgufFile>(in.file.string());
    EXPECT_NO_THROW(gpt::detail::load_gguf(g)) << in.file;
    EXPECT_NO_THROW(gpt::tok::tokenizer_from_gguf(*g)) << in.file;
    ++loaded;
  }
  EXPECT_GE(loaded, 5);
}

TEST(FuzzSeeds, TokenizerSeedsLoad) {
  const fs::path corpus = fs::path(GPT_TEST_DATA_DIR) / ".." / "fuzz" / "corpus";
  for (const auto& f : fs::directory_iterator(corpus / "tokenizer_json"))
    EXPECT_NO_THROW(gpt::tok::load_tokenizer_json(f.path())) << f.path();
  EXPECT_NO_THROW(gpt::tok::load_sentencepiece(corpus / "sentencepiece" / "tokenizer.model"));
}

TEST(FuzzTargets, Utf8CheckerRejectsWhatItShould) {
  using gpt::fuzz::valid_utf8;
  EXPECT_TRUE(valid_utf8("caf\xC3\xA9 \xE4\xBD\xA0 \xF0\x9F\x99\x82"));
  EXPECT_FALSE(valid_utf8("\xFF"));
  EXPECT_FALSE(valid_utf8("\xC3"));              // truncated
  EXPECT_FALSE(valid_utf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
}

}  // namespace
