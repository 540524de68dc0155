// bench-grammar: the cost of constrained decoding on one model.
//
// Usage: bench-grammar [-m MODEL] [-t THREADS] [--seeds N] [--top-k K] [SCHEMA_JSON]
// (--top-k 0 makes every step compute the whole mask; with the default 40
// the generation checks tokens in logit order, see constrain() in
// src/generate/language_model.cpp.)
// For each seed: a chat completion constrained by the JSON schema
// (temperature 1), then an unconstrained completion of the same number of
// tokens (EOS ignored) from the same prompt; prints ms/token of both and the
// overhead, in wall-clock time and in process CPU time (with -t 1 the CPU
// time is the work done, little disturbed by other programs on a busy
// machine). Then replays the constrained tokens through a fresh matcher and
// prints the grammar's own time per token (mask + advance), cold (empty
// cache per output, as in generation), and the time to build the vocabulary
// trie.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <time.h>
#include <cstring>
#include <string>
#include <vector>

#include "generate/grammar.h"
#include "gpt/error.h"
#include "gpt/generate.h"

namespace {

using Clock = std::chrono::steady_clock;
double ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }
// This thread's CPU time in ms (the replay below runs on one thread).
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return 1e3 * double(ts.tv_sec) + 1e-6 * double(ts.tv_nsec);
}

const char* kDefaultSchema =
    R"({"type":"object","properties":{"name":{"type":"string","maxLength":20},"age":{"type":"integer"},)"
    R"("email":{"type":"string"},"tags":{"type":"array","items":{"enum":["admin","user","guest"]},"maxItems":3},)"
    R"("address":{"type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"}},"required":["city"]}},)"
    R"("required":["name","age","address"]})";

}  // namespace

int main(int argc, char** argv) {
  std::string model = std::string(GPT_SOURCE_MODELS_DIR) + "/SmolLM2-135M-Instruct.Q4_1.gguf";
  std::string schema = kDefaultSchema;
  int threads = 0, seeds = 5, top_k = 40;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "-m") && i + 1 < argc) model = argv[++i];
    else if (!std::strcmp(argv[i], "-t") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--seeds") && i + 1 < argc) seeds = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--top-k") && i + 1 < argc) top_k = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::puts("usage: bench-grammar [-m MODEL] [-t THREADS] [--seeds N] [--top-k K] [SCHEMA_JSON]");
      return 0;
    } else schema = argv[i];
  }
  try {
    auto lm = gpt::LanguageModel::load(model);
    const std::string grammar = gpt::json_schema_to_grammar(schema);
    const std::string prompt = gpt::render_chat_template(
        lm->chat_template(), {{"user", "Make up a user record as JSON for this schema: " + schema}}, true, "", "<|im_end|>");
    double c_ms = 0, u_ms = 0, c_cpu = 0, u_cpu = 0;
    auto cpu_ms = [] { return 1000.0 * double(std::clock()) / CLOCKS_PER_SEC; };
    long c_tok = 0, u_tok = 0;
    std::vector<std::vector<gpt::Token>> outputs;
    std::printf("seed  tokens  constrained ms/tok (cpu)  unconstrained ms/tok (cpu)\n");
    for (int s = 0; s < seeds; ++s) {
      gpt::GenerateOptions o;
      o.threads = threads;
      o.max_tokens = 256;
      o.sampling.temperature = 1.0f;
      o.sampling.top_k = top_k;
      o.sampling.seed = 100 + static_cast<std::uint64_t>(s);
      o.grammar = grammar;
      double t = cpu_ms();
      const gpt::Completion c = lm->complete(prompt, o);
      const double c_cpu1 = cpu_ms() - t;
      o.grammar.clear();
      o.ignore_eos = true;
      o.max_tokens = static_cast<std::int32_t>(c.completion_tokens);
      t = cpu_ms();
      const gpt::Completion u = lm->complete(prompt, o);
      const double u_cpu1 = cpu_ms() - t;
      // CPU time includes the prompt; subtract its share by the prompt's wall-time fraction.
      c_cpu += c_cpu1 * c.generate_ms / (c.generate_ms + c.prompt_ms);
      u_cpu += u_cpu1 * u.generate_ms / (u.generate_ms + u.prompt_ms);
      c_ms += c.generate_ms;
      c_tok += c.completion_tokens;
      u_ms += u.generate_ms;
      u_tok += u.completion_tokens;
      outputs.push_back(c.tokens);
      std::printf("%4d  %6lld  %10.2f (%6.2f)  %12.2f (%6.2f)\n", s, static_cast<long long>(c.completion_tokens),
                  c.generate_ms / double(c.completion_tokens),
                  c_cpu1 * c.generate_ms / (c.generate_ms + c.prompt_ms) / double(c.completion_tokens),
                  u.generate_ms / double(u.completion_tokens),
                  u_cpu1 * u.generate_ms / (u.generate_ms + u.prompt_ms) / double(u.completion_tokens));
    }
    const double cm = c_ms / double(c_tok), um = u_ms / double(u_tok);
    const double ccpu = c_cpu / double(c_tok), ucpu = u_cpu / double(u_tok);
    std::printf("all   %6ld  %10.2f (%6.2f)  %12.2f (%6.2f)   overhead %+.1f %% wall, %+.1f %% cpu\n", c_tok, cm, ccpu, um,
                ucpu, 100.0 * (cm / um - 1.0), 100.0 * (ccpu / ucpu - 1.0));

    // The grammar's own work, without the model.
    const auto t0 = Clock::now();
    gpt::detail::VocabularyTrie trie(lm->tokenizer());
    const auto t1 = Clock::now();
    std::printf("vocabulary trie: %zu nodes, built in %.1f ms\n", trie.nodes().size(), ms(t0, t1));
    auto g = gpt::detail::Grammar::parse(grammar);
    // As in generation: a fresh matcher (empty caches) per output.
    double total = 0, worst = 0;
    long n = 0;
    std::size_t walks = 0, resumes = 0, edges = 0;
    for (const auto& toks : outputs) {
      gpt::detail::GrammarMatcher m(g);
      for (gpt::Token t : toks) {
        const double a = thread_cpu_ms();
        (void)m.allowed(trie);
        if (!m.accept(lm->tokenizer().token_bytes(t))) throw gpt::InvalidArgument("replay left the grammar");
        const double d = thread_cpu_ms() - a;
        total += d;
        worst = std::max(worst, d);
      }
      n += static_cast<long>(toks.size());
      walks += m.stats().walks;
      resumes += m.stats().resumes;
      edges += m.stats().edges;
    }
    std::printf("whole mask every step, replayed: grammar mask + advance alone (CPU time): %.3f ms/token on average, "
                "%.2f ms at worst, over %ld tokens\n",
                total / double(n), worst, n);
    std::printf("trie walks (mask cache misses): %zu and %zu resumes after pops, %.0f trie edges tried per token\n",
                walks, resumes, double(edges) / double(n));
  } catch (const gpt::Error& e) {
    std::fprintf(stderr, "bench-grammar: %s\n", e.what());
    return 1;
  }
  return 0;
}
