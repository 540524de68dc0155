// bench-tokenize: encode throughput (MB/s, tokens/s) of one or more tokenizers on a
// text file, one encode() call per line, single thread. tools/bench_tokenize.py runs
// this next to Hugging Face tokenizers on the same text and prints both.
//
//   bench-tokenize --text mixed.txt models/SmolLM2-135M-Instruct.Q4_1.gguf tests/data/tokenizer/spm/tokenizer.model
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli.h"
#include "gpt/error.h"
#include "gpt/tokenizer.h"

int main(int argc, char** argv) {
  CLI::App app{"bench-tokenize: measure tokenizer encode throughput on a text file (one encode per line).\n"
               "Exit codes: 0 success, 1 error, 2 invalid command line.",
               "bench-tokenize"};
  std::string text_file;
  std::vector<std::string> models;
  int repeat = 3;
  bool json = false;
  app.add_option("-t,--text", text_file, "UTF-8 text to encode (e.g. 1 MB of mixed-language text)")->required();
  std::vector<std::string> flagged;
  app.add_option("-m,--model", flagged, "A tokenizer or model path (repeatable; same as the positional paths)");
  app.add_option("tokenizers", models, "Tokenizer paths (anything load_tokenizer accepts)");
  app.add_option("-r,--repeat", repeat, "Timed passes over the text; the best is reported")->check(CLI::Range(1, 100));
  app.add_flag("--json", json, "One JSON object per tokenizer instead of a table");
  if (auto code = gpt::cli::parse(app, argc, argv, "bench-tokenize")) return *code;
  models.insert(models.begin(), flagged.begin(), flagged.end());
  if (models.empty()) {
    std::fprintf(stderr, "bench-tokenize: give at least one tokenizer (-m PATH or a positional path; see --help)\n");
    return gpt::cli::kUsage;
  }
  try {
    std::ifstream f(text_file, std::ios::binary);
    if (!f) throw gpt::IoError(text_file, "cannot open file");
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string text = ss.str();
    std::vector<std::string_view> lines;
    for (std::size_t b = 0; b < text.size();) {
      std::size_t e = text.find('\n', b);
      if (e == std::string::npos) e = text.size();
      if (e > b) lines.emplace_back(text.data() + b, e - b);
      b = e + 1;
    }
    if (!json)
      std::printf("%-60s %10s %12s %10s\n", "tokenizer", "MB/s", "tokens/s", "tokens");
    for (const std::string& m : models) {
      auto t0 = std::chrono::steady_clock::now();
      auto tok = gpt::load_tokenizer(m);
      double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::size_t bytes = 0, tokens = 0;
      auto c0 = std::chrono::steady_clock::now();
      for (auto l : lines) tokens += tok->encode(l).size();  // warm-up (fills the BPE word cache)
      const double cold = std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
      double best = 1e30;
      for (int r = 0; r < repeat; ++r) {
        tokens = bytes = 0;
        auto s = std::chrono::steady_clock::now();
        for (auto l : lines) {
          tokens += tok->encode(l).size();
          bytes += l.size();
        }
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count());
      }
      const double mbs = static_cast<double>(bytes) / 1e6 / best, tps = static_cast<double>(tokens) / best;
      if (json)
        std::printf("{\"tokenizer\": \"%s\", \"kind\": \"%s\", \"bytes\": %zu, \"tokens\": %zu, \"seconds\": %.6f, "
                    "\"mb_per_s\": %.3f, \"tokens_per_s\": %.1f, \"cold_mb_per_s\": %.3f, \"load_s\": %.4f}\n",
                    m.c_str(), std::string(tok->kind()).c_str(), bytes, tokens, best, mbs, tps,
                    static_cast<double>(bytes) / 1e6 / cold, load_s);
      else
        std::printf("%-60s %10.2f %12.0f %10zu  (first pass, cold cache: %.2f MB/s)\n", m.c_str(), mbs, tps, tokens,
                    static_cast<double>(bytes) / 1e6 / cold);
    }
  } catch (const std::exception& e) {
    std::cerr << "bench-tokenize: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
