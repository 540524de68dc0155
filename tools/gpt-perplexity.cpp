// gpt-perplexity: the perplexity of a model on a text file, computed as
// llama.cpp's llama-perplexity computes it (see include/gpt/perplexity.h),
// with a progress line per chunk and the final estimate with its standard
// error.
//
//   gpt-perplexity -m models/SmolLM2-135M-Instruct.Q4_1.gguf -f /usr/share/common-licenses/GPL-3 -c 512
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli.h"
#include "gpt/error.h"
#include "gpt/generate.h"
#include "gpt/perplexity.h"

int main(int argc, char** argv) {
  CLI::App app{"gpt-perplexity: perplexity of a model on a text file, as llama.cpp's llama-perplexity computes it.\n"
               "Chunks of -c tokens (the rest of the text is dropped), each evaluated from an empty cache with\n"
               "its first token replaced by BOS when the tokenizer adds one; the second half of each chunk is\n"
               "scored. With --stride S: windows of -c tokens every S tokens, the last S predictions of each\n"
               "scored (llama-perplexity --ppl-stride). The text needs at least 2 x -c tokens.\n"
               "Progress goes to stderr, the final estimate to stdout.\n"
               "Exit codes: 0 success, 1 error (model, file, text too short), 2 invalid command line.",
               "gpt-perplexity"};
  std::string model, file;
  gpt::PerplexityOptions o;
  app.add_option("-m,--model", model, "Model: GGUF file, Hugging Face directory or .safetensors")->required();
  app.add_option("-f,--file", file, "The text file")->required();
  app.add_option("-c,--ctx-size", o.context, "Tokens per chunk or window")->capture_default_str()->check(CLI::Range(4, 1 << 20));
  app.add_option("--stride", o.stride, "Strided windows every S tokens instead of chunks (0 < S < ctx)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--chunks", o.max_chunks, "Evaluate at most this many chunks (default: all)")->check(CLI::Range(1, 1 << 30));
  app.add_option("-t,--threads", o.threads, "Threads (default: all cores)")->check(CLI::Range(1, 1024));
  if (auto code = gpt::cli::parse(app, argc, argv, "gpt-perplexity")) return *code;
  if (o.stride >= o.context) {
    std::fprintf(stderr, "gpt-perplexity: --stride must be smaller than -c (see --help)\n");
    return gpt::cli::kUsage;
  }
  try {
    const auto t0 = std::chrono::steady_clock::now();
    auto lm = gpt::LanguageModel::load(model);
    std::ifstream in(file, std::ios::binary);
    if (!in) throw gpt::IoError(file, "cannot open file");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw gpt::IoError(file, "read failed");
    const gpt::Tokenizer& tok = lm->tokenizer();
    const auto tokens = tok.encode(text.str(), {.add_special_tokens = true});
    const auto& prefix = tok.special_tokens().prefix;
    if (static_cast<std::int64_t>(tokens.size()) < 2 * o.context)
      throw gpt::InvalidArgument(file + ": " + std::to_string(tokens.size()) + " tokens; a context of " +
                                 std::to_string(o.context) + " needs at least " + std::to_string(2 * o.context));
    // The chunks start with BOS when the tokenizer adds one, as llama.cpp.
    if (o.stride == 0 && !prefix.empty() && prefix.front() == tok.bos_id()) o.bos = tok.bos_id();
    std::fprintf(stderr, "gpt-perplexity: %s: %zu tokens (%s), ctx %lld, %s\n", file.c_str(), tokens.size(),
                 o.bos >= 0 ? "BOS first in each chunk" : "no BOS", static_cast<long long>(o.context),
                 o.stride > 0 ? ("stride " + std::to_string(o.stride)).c_str() : "chunks");
    const auto r = gpt::perplexity(lm->model_ptr(), tokens, o, [](const gpt::PerplexityChunk& c) {
      std::fprintf(stderr, "[%lld/%lld] ppl %.4f  %.2f s\n", static_cast<long long>(c.index + 1),
                   static_cast<long long>(c.count), c.ppl_so_far, c.seconds);
    });
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (o.stride == 0)
      std::printf("Final estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_error);
    else
      std::printf("Final estimate: PPL = %.4f\n", r.ppl);
    std::fprintf(stderr, "gpt-perplexity: %lld tokens scored in %lld %s, %.1f s in all\n",
                 static_cast<long long>(r.tokens_scored), static_cast<long long>(r.chunks),
                 o.stride > 0 ? "windows" : "chunks", secs);
  } catch (const gpt::Error& e) {
    std::cerr << "gpt-perplexity: " << e.what() << "\n";
    return gpt::cli::kError;
  } catch (const std::exception& e) {
    std::cerr << "gpt-perplexity: unexpected error: " << e.what() << "\n";
    return gpt::cli::kError;
  }
  return gpt::cli::kOk;
}
