// gpt-generate end to end: its greedy output equals the library's, --json
// parses, and bad input gives one line on stderr and the documented exit code.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "gpt/generate.h"

namespace {

namespace fs = std::filesystem;
const std::string kTool = std::string(GPT_TOOLS_DIR) + "/gpt-generate";
const std::string kModel = std::string(GPT_MODELS_DIR) + "/SmolLM2-135M-Instruct.Q4_1.gguf";

struct ToolRun {
  int rc = -1;
  std::string out, err;
};

// Runs a program of tools/ with `args` (shell words), stdin from /dev/null
// unless given.
ToolRun run_tool(const std::string& tool, const std::string& args, const std::string& stdin_file = "/dev/null") {
  const fs::path err = fs::temp_directory_path() / ("gpt_cli_err_" + std::to_string(::getpid()));
  const std::string cmd = tool + " " + args + " < " + stdin_file + " 2> " + err.string();
  ToolRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(err);
  r.err.assign(std::istreambuf_iterator<char>(e), {});
  fs::remove(err);
  return r;
}

ToolRun run(const std::string& args, const std::string& stdin_file = "/dev/null") {
  return run_tool(kTool, args, stdin_file);
}

int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n + (!s.empty() && s.back() != '\n');
}

TEST(GptGenerate, GreedyOutputEqualsTheLibrary) {
  ASSERT_TRUE(fs::exists(kModel)) << "run tools/fetch-model first";
  const ToolRun r = run("-m " + kModel + " -p 'The capital of France is' --temp 0 -n 16 --ignore-eos -q");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto lm = gpt::LanguageModel::load(kModel);
  gpt::GenerateOptions o;
  o.max_tokens = 16;
  o.sampling.temperature = 0;
  o.ignore_eos = true;
  EXPECT_EQ(r.out, lm->complete("The capital of France is", o).text + "\n");
  EXPECT_TRUE(r.err.empty()) << r.err;  // --quiet
}

TEST(GptGenerate, JsonParsesAndCarriesTheResult) {
  const ToolRun r = run("-m " + kModel + " --chat --system 'You are a helpful assistant.' -p 'What is the capital of France?' --temp 0 -n 24 --json "
                          "--logprobs 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_FALSE(j["text"].get<std::string>().empty());
  EXPECT_EQ(j["completion_tokens"].get<int>(), static_cast<int>(j["tokens"].size()));
  EXPECT_GT(j["prompt_tokens"].get<int>(), 0);
  EXPECT_TRUE(j["finish_reason"] == "eos" || j["finish_reason"] == "length") << j["finish_reason"];
  EXPECT_EQ(j["choices"][0]["logprobs"].size(), j["tokens"].size());
  EXPECT_EQ(j["choices"][0]["logprobs"][0]["top"].size(), 2u);
}

TEST(GptGenerate, JsonSchemaFromAFileGivesValidJson) {
  const auto f = std::filesystem::temp_directory_path() / "gpt_cli_schema.json";
  {
    std::ofstream out(f);
    out << R"({"type":"object","properties":{"city":{"enum":["Paris","Rome"]},"people":{"type":"integer"}},"required":["city","people"]})";
  }
  const ToolRun r = run("-m " + kModel + " --chat -p 'A city as JSON' --temp 1 --seed 3 -n 64 -q --json-schema @" + f.string());
  std::filesystem::remove(f);
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto v = nlohmann::json::parse(r.out);
  EXPECT_TRUE(v["city"] == "Paris" || v["city"] == "Rome") << r.out;
  EXPECT_TRUE(v["people"].is_number_integer()) << r.out;
  EXPECT_EQ(v.size(), 2u) << r.out;
}

TEST(GptGenerate, ReadsThePromptFromStdinAndFiles) {
  const fs::path f = fs::temp_directory_path() / ("gpt_cli_prompt_" + std::to_string(::getpid()));
  std::ofstream(f) << "The capital of France is";
  const ToolRun a = run("-m " + kModel + " --temp 0 -n 8 -q", f.string());
  const ToolRun b = run("-m " + kModel + " --temp 0 -n 8 -q -f " + f.string());
  fs::remove(f);
  EXPECT_EQ(a.rc, 0);
  EXPECT_EQ(a.out, b.out);
  EXPECT_FALSE(a.out.empty());
}

struct BadInput {
  const char* args;
  int rc;
  const char* words;
};

void PrintTo(const BadInput& b, std::ostream* os) { *os << "gpt-generate " << b.args; }

class GptGenerateBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(GptGenerateBadInput, OneLineAndExitCode) {
  std::string args = GetParam().args;
  const auto pos = args.find("MODEL");
  if (pos != std::string::npos) args.replace(pos, 5, kModel);
  const ToolRun r = run(args);
  EXPECT_EQ(r.rc, GetParam().rc) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(GetParam().words), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("terminate called"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GptGenerateBadInput,
    ::testing::Values(BadInput{"-m /nonexistent.gguf -p hi", 1, "no such file"},
                      BadInput{"-m MODEL -p hi --temp -1", 2, "temperature"},
                      BadInput{"-m MODEL -p hi --top-p 1.5", 2, "top_p"},
                      BadInput{"-m MODEL -p hi --top-p 0", 2, "top_p"},
                      BadInput{"-m MODEL -p hi --chat --chat-template nope", 2, "chat-template"},
                      BadInput{"-m MODEL -p hi --temp abc", 2, "temp"},
                      BadInput{"-m MODEL -p hi --no-such-flag", 2, "no-such-flag"},
                      BadInput{"-m MODEL -p hi --stop ''", 2, "--stop"},
                      BadInput{"-q -m MODEL -c 8 -p 'a b c d e f g h i j k l m n o p'", 1, "context"},
                      BadInput{"-m " GPT_TEST_DATA_DIR "/gguf/truncated.gguf -p hi", 1, "truncated.gguf"},
                      BadInput{"-m " GPT_TEST_DATA_DIR "/models -p hi", 1, "config.json"},
                      BadInput{"-m MODEL -p hi --grammar 'root ::= \"a\" bad'", 2, "grammar:1:14: rule 'bad' is not defined"},
                      BadInput{"-m MODEL -p hi --grammar-file /nonexistent.gbnf", 2, "--grammar-file"},
                      BadInput{"-m MODEL -p hi --json-schema '{\"type\":\"integer\",\"minimum\":1}'", 2, "keyword 'minimum'"},
                      BadInput{"-m MODEL -p hi --json-schema @/nonexistent.json", 2, "--json-schema"},
                      BadInput{"-m MODEL -p hi --json-object --grammar 'root ::= \"a\"'", 2, "at most one"}),
    [](const ::testing::TestParamInfo<BadInput>& i) { return "case_" + std::to_string(i.index); });

// --attention-map: the JSON holds every layer's and head's probabilities
// over the prompt and generated tokens, each row a distribution; the page
// is self-contained (no network) and carries the data.
TEST(GptGenerate, AttentionMapJsonAndPage) {
  const fs::path dir = fs::temp_directory_path() / ("gpt_attn_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const ToolRun j = run("-m " + kModel + " -p 'The capital of France is' --temp 0 -n 4 --ignore-eos -q --attention-map " +
                        (dir / "a.json").string());
  ASSERT_EQ(j.rc, 0) << j.err;
  const auto doc = nlohmann::json::parse(std::ifstream(dir / "a.json"));
  auto lm = gpt::LanguageModel::load(kModel);
  const auto& cfg = lm->model().config();
  const auto prompt = lm->tokenizer().encode("The capital of France is", {.add_special_tokens = true});
  EXPECT_EQ(doc.at("n_prompt").get<std::size_t>(), prompt.size());
  ASSERT_EQ(doc.at("tokens").size(), prompt.size() + 4);
  ASSERT_EQ(doc.at("attention").size(), static_cast<std::size_t>(cfg.n_layer));
  for (const auto& layer : doc.at("attention")) {
    ASSERT_EQ(layer.size(), static_cast<std::size_t>(cfg.n_head));
    for (const auto& head : layer) {
      ASSERT_EQ(head.size(), prompt.size() + 4);
      for (std::size_t i = 0; i < head.size(); ++i) {
        ASSERT_EQ(head[i].size(), i + 1);
        double sum = 0;
        for (const auto& p : head[i]) sum += p.get<double>();
        EXPECT_NEAR(sum, 1.0, 1e-3);
      }
    }
  }
  const ToolRun h = run("-m " + kModel + " -p 'The capital of France is' --temp 0 -n 4 -q --attention-map " +
                        (dir / "a.html").string());
  ASSERT_EQ(h.rc, 0) << h.err;
  std::ifstream page(dir / "a.html");
  const std::string html((std::istreambuf_iterator<char>(page)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("<canvas"), std::string::npos);
  EXPECT_NE(html.find("\"n_layer\":" + std::to_string(cfg.n_layer)), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  fs::remove_all(dir);
}

TEST(GptGenerate, HelpListsEveryFlagAndExitCodes) {
  const ToolRun r = run("--help");
  EXPECT_EQ(r.rc, 0);
  for (const char* flag : {"--model", "--prompt", "--file", "--max-tokens", "--temp", "--top-k", "--top-p", "--min-p",
                           "--repeat-penalty", "--seed", "--threads", "--stop", "--chat", "--system", "--json",
                           "--logprobs", "--quiet", "--chat-template", "--attention-map", "--grammar",
                           "--grammar-file", "--json-schema", "--json-object", "Exit codes"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
}

// Every program in tools/ keeps the same exit codes (0 ok, 1 error, 2 invalid
// command line), prints one line for an error, and takes -m/--model.
struct ToolCase {
  const char* tool;
  const char* args;
  int rc;
  const char* words;  // in stdout for rc 0, in the one stderr line otherwise
};

void PrintTo(const ToolCase& t, std::ostream* os) { *os << t.tool << ' ' << t.args; }

class EveryTool : public ::testing::TestWithParam<ToolCase> {};

TEST_P(EveryTool, ExitCodeAndMessage) {
  std::string args = GetParam().args;
  const auto pos = args.find("MODEL");
  if (pos != std::string::npos) args.replace(pos, 5, kModel);
  const ToolRun r = run_tool(std::string(GPT_TOOLS_DIR) + "/" + GetParam().tool, args);
  EXPECT_EQ(r.rc, GetParam().rc) << r.err;
  if (GetParam().rc == 0) {
    EXPECT_NE(r.out.find(GetParam().words), std::string::npos) << r.out;
  } else {
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(GetParam().words), std::string::npos) << r.err;
  }
}

#define TINY GPT_TEST_DATA_DIR "/gguf/llama.F32.gguf"
INSTANTIATE_TEST_SUITE_P(
    Cases, EveryTool,
    ::testing::Values(ToolCase{"gpt-tokenize", "--help", 0, "Exit codes"},
                      ToolCase{"gpt-tokenize", "", 2, "no model"},
                      ToolCase{"gpt-tokenize", "--bogus", 2, "bogus"},
                      ToolCase{"gpt-tokenize", "-m MODEL a b", 2, "too many arguments"},
                      ToolCase{"gpt-tokenize", "-m MODEL --decode '1 x'", 2, "--decode"},
                      ToolCase{"gpt-tokenize", "-m /nonexistent.gguf hi", 1, "nonexistent"},
                      ToolCase{"gpt-bench", "--help", 0, "Exit codes"},
                      ToolCase{"gpt-bench", "-m " TINY " -t abc", 2, "--threads"},
                      ToolCase{"gpt-bench", "-m " TINY " -p 1,-5", 2, "--n-prompt"},
                      ToolCase{"gpt-bench", "-m " TINY " --bogus", 2, "bogus"},
                      ToolCase{"gpt-bench", "-m /nonexistent.gguf -p 8 -n 0 -r 1", 1, "nonexistent"},
                      ToolCase{"gpt-demo", "--help", 0, "Exit codes"},
                      ToolCase{"gpt-demo", "", 2, "no model"},
                      ToolCase{"gpt-demo", "-m " TINY " -n x", 2, "n-tokens"},
                      ToolCase{"gpt-demo", "-m " TINY " 1 two", 2, "token id"},
                      ToolCase{"gpt-demo", "-m /nonexistent.gguf", 1, "nonexistent"},
                      ToolCase{"bench-tokenize", "--help", 0, "Exit codes"},
                      ToolCase{"bench-tokenize", "-t /dev/null", 2, "at least one tokenizer"},
                      ToolCase{"bench-tokenize", "-t /dev/null --bogus", 2, "bogus"},
                      ToolCase{"bench-kernels", "--help", 0, "Exit codes"},
                      ToolCase{"bench-kernels", "Q9_9", 2, "unknown type"},
                      ToolCase{"gpt-perplexity", "--help", 0, "Exit codes"},
                      ToolCase{"gpt-perplexity", "-f /dev/null", 2, "--model"},
                      ToolCase{"gpt-perplexity", "-m MODEL -f /dev/null -c 8 --stride 8", 2, "--stride"},
                      ToolCase{"gpt-perplexity", "-m MODEL -f /dev/null -c 2", 2, "ctx-size"},
                      ToolCase{"gpt-perplexity", "-m MODEL -f /nonexistent.txt", 1, "nonexistent"},
                      ToolCase{"gpt-perplexity", "-m MODEL -f " GPT_TEST_DATA_DIR "/../../README.md -c 100000", 1,
                               "tokens"},
                      ToolCase{"gpt-generate", "-m MODEL -p hi --attention-map out.png", 2, "attention-map"},
                      ToolCase{"gpt-generate", "-m MODEL -p hi --attention-map a.json --completions 2", 2,
                               "one completion"}),
    [](const ::testing::TestParamInfo<ToolCase>& i) {
      std::string n = std::string(i.param.tool) + "_" + std::to_string(i.index);
      for (char& ch : n) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
      return n;
    });

// The -m form and the older positional form run the same model.
TEST(GptDemo, ModelFlagAndPositionalFormAgree) {
  const std::string tool = std::string(GPT_TOOLS_DIR) + "/gpt-demo";
  const ToolRun a = run_tool(tool, "-m " TINY " -n 5 1 2 3");
  const ToolRun b = run_tool(tool, TINY " 5 1 2 3");
  ASSERT_EQ(a.rc, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(std::count(a.out.begin(), a.out.end(), ' '), 5) << a.out;
}

// gpt-tokenize prints the library's ids in either form, and decodes them back.
TEST(GptTokenize, ModelFlagAndPositionalFormAgreeWithTheLibrary) {
  const std::string tool = std::string(GPT_TOOLS_DIR) + "/gpt-tokenize";
  const auto tok = gpt::load_tokenizer(kModel);
  std::string ids;
  for (auto id : tok->encode("Hello world, again", {.add_special_tokens = false}))
    ids += (ids.empty() ? "" : " ") + std::to_string(id);
  const ToolRun a = run_tool(tool, "-m " + kModel + " 'Hello world, again'");
  const ToolRun b = run_tool(tool, kModel + " 'Hello world, again'");
  const ToolRun c = run_tool(tool, "--model " + kModel + " --decode '" + ids + "'");
  ASSERT_EQ(a.rc, 0) << a.err;
  EXPECT_EQ(a.out, ids + "\n");
  EXPECT_EQ(b.out, a.out);
  EXPECT_EQ(c.out, "Hello world, again\n");
}

}  // namespace
