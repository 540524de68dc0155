// Inputs sized to expose quadratic passes: 100k added control tokens, a
// 10 MB prompt matched against them, stop strings whose naive matching is
// O(text x stop), and a 50 MB prompt that cannot fit the context. Each runs
// in a fork()ed child under a generous limit (a quadratic pass takes hours,
// a linear one seconds); these are bounds, not timings. Each prints one
// "[ measure  ]" line with the time taken and the child's peak RSS growth.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "generate/stop.h"
#include "gpt/error.h"
#include "gpt/generate.h"
#include "gpt/tokenizer.h"
#include "test_util.h"

namespace gpt {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kLimitSeconds = 60;  // generous: the quadratic versions take far longer

struct BoundedRun {
  bool finished = false;  // the child reported back (no crash, no timeout)
  std::string result;     // what the body returned ("" or an error's text)
  double ms = 0;
  double rss_mib = 0;  // peak RSS growth over a child that does nothing
};

// Runs body in a child process killed after kLimitSeconds.
BoundedRun run_bounded(const std::string& name, const std::function<std::string()>& body) {
  auto child = [](const std::function<std::string()>& f, BoundedRun& out) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      alarm(kLimitSeconds);
      const auto t0 = std::chrono::steady_clock::now();
      std::string r;
      try {
        r = f();
      } catch (const std::exception& e) {
        r = std::string("exception: ") + e.what();
      }
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      const std::string msg = std::to_string(ms) + "\n" + r;
      if (write(fds[1], msg.data(), msg.size()) < 0) _exit(1);
      _exit(0);
    }
    close(fds[1]);
    std::string msg;
    char buf[4096];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) msg.append(buf, static_cast<std::size_t>(n));
    close(fds[0]);
    int status = 0;
    struct rusage ru {};
    wait4(pid, &status, 0, &ru);
    const auto nl = msg.find('\n');
    out.finished = WIFEXITED(status) && WEXITSTATUS(status) == 0 && nl != std::string::npos;
    if (out.finished) {
      out.ms = std::stod(msg.substr(0, nl));
      out.result = msg.substr(nl + 1);
    }
    return ru.ru_maxrss;
  };
  BoundedRun base, r;
  const long base_kb = child([] { return std::string(); }, base);
  const long kb = child(body, r);
  r.rss_mib = static_cast<double>(kb - base_kb) / 1024.0;
  std::printf("[ measure  ] %-58s %9.1f ms  peak RSS +%7.1f MiB  %s\n", name.c_str(), r.ms, r.rss_mib,
              r.finished ? r.result.substr(0, 100).c_str() : "(killed or crashed)");
  return r;
}

// The BPE fixture's tokenizer.json with n control tokens added after its
// vocabulary: "<|reserved_special_token_K|>", as Llama 3 has 256 of.
fs::path tokenizer_with_specials(int n) {
  json j = json::parse(std::ifstream(test::data_path("tokenizer/bpe/tokenizer.json")));
  const int base = static_cast<int>(j["model"]["vocab"].size());
  json& added = j["added_tokens"];
  for (int k = 0; k < n; ++k)
    added.push_back({{"id", base + k},
                     {"content", "<|reserved_special_token_" + std::to_string(k) + "|>"},
                     {"special", true}});
  const fs::path dir = fs::temp_directory_path() / ("gpt_linear_" + std::to_string(getpid()) + "_" + std::to_string(n));
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << j.dump();
  return dir;
}

TEST(LinearTime, LoadingAndMatching100kControlTokens) {
  const fs::path dir = tokenizer_with_specials(100000);
  const BoundedRun load = run_bounded("load tokenizer.json with 100k added control tokens", [&] {
    auto tok = load_tokenizer(dir);
    return tok->added_tokens().size() == 100001 ? std::string() : "wrong count";
  });
  EXPECT_TRUE(load.finished);
  EXPECT_EQ(load.result, "");

  auto tok = load_tokenizer(dir);
  // 10 MB of text with a control token every ~100 bytes, and 10 MB made of
  // the tokens' common prefix (every position starts a long partial match).
  std::string mixed;
  for (int k = 0; mixed.size() < (10u << 20); ++k)
    mixed += "some text, more text and numbers 12345 " + std::string("<|reserved_special_token_") +
             std::to_string((k * 7919) % 100000) + "|> and the rest of the line\n";
  std::string prefixes;
  while (prefixes.size() < (10u << 20)) prefixes += "<|reserved_special_token_";
  const std::size_t n_specials = mixed.size() / 100;  // rough: checked exactly below
  const BoundedRun mixed_run = run_bounded("encode 10 MB, a control token per ~110 bytes, 100k specials", [&] {
    const auto ids = tok->encode(mixed, {.parse_special = true});
    std::size_t specials = 0;
    for (Token t : ids) specials += tok->is_special(t);
    return specials > n_specials / 2 ? std::string() : "too few specials matched: " + std::to_string(specials);
  });
  EXPECT_TRUE(mixed_run.finished);
  EXPECT_EQ(mixed_run.result, "");
  const BoundedRun prefix_run = run_bounded("encode 10 MB of partial control-token prefixes", [&] {
    const auto ids = tok->encode(prefixes, {.parse_special = true});
    for (Token t : ids)
      if (tok->is_special(t)) return std::string("a special matched where none is complete");
    return std::string();
  });
  EXPECT_TRUE(prefix_run.finished);
  EXPECT_EQ(prefix_run.result, "");
  fs::remove_all(dir);
}

TEST(LinearTime, StopStringsAreMatchedInOnePass) {
  // One long stop string that the text keeps almost matching: naive
  // matching costs O(text x stop) (10^11 byte compares here).
  const std::string stop = std::string(100000, 'a') + "b";
  const BoundedRun one = run_bounded("stop string of 100001 bytes over 10 MB of 'a' in 7-byte pushes", [&] {
    detail::StopMatcher m({stop});
    const std::string piece(7, 'a');
    std::size_t out = 0;
    for (std::size_t n = 0; n < (10u << 20); n += piece.size()) out += m.push(piece).size();
    if (m.held() != 100000) return "held " + std::to_string(m.held());
    out += m.push("b").size();
    return m.stopped() ? std::string() : "did not stop after " + std::to_string(out) + " bytes";
  });
  EXPECT_TRUE(one.finished);
  EXPECT_EQ(one.result, "");
  // Many stop strings over long text.
  const BoundedRun many = run_bounded("1000 stop strings over 4 MB in 3-byte pushes", [&] {
    std::vector<std::string> stops;
    for (int k = 0; k < 1000; ++k) stops.push_back("<stop " + std::to_string(k) + ">");
    detail::StopMatcher m(stops);
    std::size_t out = 0;
    const std::string text = "<stop 12 almost <stop 99";
    for (std::size_t n = 0; n < (4u << 20); n += 3) out += m.push(text.substr(n % text.size(), 3)).size();
    out += m.push("<stop 999>").size();
    return m.stopped() && out > (4u << 20) - 100 ? std::string() : "stopped=" + std::to_string(m.stopped());
  });
  EXPECT_TRUE(many.finished);
  EXPECT_EQ(many.result, "");
}

// min_tokens() is what lets a prompt be refused unencoded: it must never
// exceed the real count, for any text (invalid UTF-8, bytes without a token).
TEST(LinearTime, MinTokensIsALowerBound) {
  std::vector<std::string> texts = json::parse(std::ifstream(test::data_path("tokenizer/corpus.json")));
  std::mt19937 rng(7);
  for (int k = 0; k < 200; ++k) {
    std::string t(rng() % 300, '\0');
    for (char& c : t) c = static_cast<char>(rng() % 4 == 0 ? ' ' : rng() % 256);
    texts.push_back(t);
  }
  std::vector<std::string> paths = {test::data_path("tokenizer/bpe/tokenizer.json"),
                                    test::data_path("tokenizer/bpe_llama3/tokenizer.json"),
                                    test::data_path("tokenizer/bpe_qwen2/tokenizer.json"),
                                    test::data_path("tokenizer/spm/tokenizer.model")};
  const std::string model = std::string(GPT_MODELS_DIR) + "/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (fs::exists(model)) paths.push_back(model);
  for (const auto& p : paths) {
    auto tok = load_tokenizer(p);
    std::size_t bounded = 0;
    for (const auto& t : texts) {
      const std::size_t least = tok->min_tokens(t);
      bounded += least > 0;
      ASSERT_LE(least, tok->encode(t).size()) << p << ": " << t;
      ASSERT_LE(least, tok->encode(t, {.parse_special = true}).size()) << p << ": " << t;
    }
    std::printf("[ measure  ] %s: min_tokens > 0 for %zu of %zu texts\n", p.c_str(), bounded, texts.size());
  }
}

TEST(LinearTime, A50MBPromptIsRefusedBeforeEncoding) {
  const std::string path = std::string(GPT_MODELS_DIR) + "/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!fs::exists(path)) GTEST_SKIP() << "default model not present: " << path;
  auto lm = LanguageModel::load(path);
  ASSERT_GT(lm->tokenizer().min_tokens("Hello, world"), 0u);
  const std::string prompt(50u << 20, 'x');  // built before the fork: not counted
  GenerateOptions o;
  o.max_tokens = 1;
  const BoundedRun r = run_bounded("complete() with a 50 MB prompt, context 4096", [&] {
    try {
      lm->complete(prompt, o);
    } catch (const InvalidArgument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  });
  ASSERT_TRUE(r.finished);
  EXPECT_NE(r.result.find("the prompt has at least"), std::string::npos) << r.result;
  EXPECT_NE(r.result.find("context holds 4096"), std::string::npos) << r.result;
  EXPECT_LT(r.rss_mib, 64.0);
  // A prompt that fits is still encoded and run as before.
  o.max_tokens = 2;
  EXPECT_NO_THROW(lm->complete("The capital of France is", o));
}

}  // namespace
}  // namespace gpt
