// gpt-bench: prompt-processing and generation speed, in the spirit of
// llama-bench. For each thread count: ppN = N prompt tokens in one forward
// pass, tgN = N tokens generated one at a time after a 1-token prompt.
// Reports the median of --reps runs, the model file size and the peak
// resident memory of the process.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "cli.h"
#include "gpt/gpt.h"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gpt-bench: prompt processing (ppN) and generation (tgN) speed of a model, median of several runs.\n"
               "Exit codes: 0 success, 1 error, 2 invalid command line.",
               "gpt-bench"};
  std::string model_path, threads_s = "1,2", pp_s = "128,512";
  int tg = 128, reps = 3;
  bool json = false;
  app.add_option("-m,--model", model_path, "Model path")->required();
  app.add_option("-t,--threads", threads_s, "Comma-separated thread counts")->capture_default_str();
  app.add_option("-p,--n-prompt", pp_s, "Comma-separated prompt lengths (0 to skip)")->capture_default_str();
  app.add_option("-n,--n-gen", tg, "Tokens to generate (0 to skip)")->capture_default_str();
  app.add_option("-r,--reps", reps, "Repetitions per test (the median is reported)")->capture_default_str();
  app.add_flag("--json", json, "Print one JSON object instead of a table");
  if (auto code = gpt::cli::parse(app, argc, argv, "gpt-bench")) return *code;
  std::vector<int> threads, pps;
  try {
    threads = gpt::cli::parse_int_list(threads_s, "--threads", 1, 1024);
    pps = gpt::cli::parse_int_list(pp_s, "--n-prompt", 0, 1 << 20);
    if (threads.empty() || reps < 1 || tg < 0) throw gpt::InvalidArgument("need thread counts, reps >= 1, n-gen >= 0");
  } catch (const gpt::InvalidArgument& e) {
    std::fprintf(stderr, "gpt-bench: %s\n", e.what());
    return gpt::cli::kUsage;
  }
  try {
    const auto t0 = std::chrono::steady_clock::now();
    auto model = gpt::Model::load(model_path);
    const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const auto& c = model->config();
    const double size_mib = std::filesystem::is_regular_file(model_path)
                                ? double(std::filesystem::file_size(model_path)) / (1024.0 * 1024.0)
                                : 0.0;
    std::mt19937 rng(1);
    std::uniform_int_distribution<gpt::Token> tok(0, static_cast<gpt::Token>(c.vocab_size - 1));
    nlohmann::json results = nlohmann::json::array();
    if (!json) {
      std::printf("model: %s (%s, %.1f MiB), loaded in %.0f ms\n", model_path.c_str(), c.architecture.c_str(), size_mib, load_ms);
      std::printf("kernels: %s (this CPU: %s; GPT_ISA forces one)\n", gpt::kernel_isa().c_str(), gpt::cpu_isa_list().c_str());
      std::printf("| threads | test   |      t/s |\n|--------:|:-------|---------:|\n");
    }
    auto report = [&](int t, const std::string& test, std::vector<double> rates) {
      const double med = median(rates);
      if (!json) {
        std::printf("| %7d | %-6s | %8.2f |\n", t, test.c_str(), med);
        std::fflush(stdout);
      }
      results.push_back({{"threads", t}, {"test", test}, {"tokens_per_s", med}, {"runs", rates}});
    };
    for (int t : threads) {
      for (int n : pps) {
        if (n <= 0) continue;
        std::vector<double> rates;
        for (int r = 0; r < reps; ++r) {
          std::vector<gpt::Token> prompt(static_cast<std::size_t>(n));
          for (auto& x : prompt) x = tok(rng);
          gpt::Session s(model, {.context_length = n + 1, .threads = t});
          const auto a = std::chrono::steady_clock::now();
          s.forward_last(prompt);
          rates.push_back(n / std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
        }
        report(t, "pp" + std::to_string(n), rates);
      }
      if (tg > 0) {
        std::vector<double> rates;
        for (int r = 0; r < reps; ++r) {
          gpt::Session s(model, {.context_length = tg + 2, .threads = t});
          gpt::Token next = tok(rng);
          s.forward_last(std::span<const gpt::Token>(&next, 1));
          const auto a = std::chrono::steady_clock::now();
          for (int i = 0; i < tg; ++i) {
            next = tok(rng);
            s.forward_last(std::span<const gpt::Token>(&next, 1));
          }
          rates.push_back(tg / std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
        }
        report(t, "tg" + std::to_string(tg), rates);
      }
    }
    if (json) {
      std::printf("%s\n", nlohmann::json{{"model", model_path},
                                          {"size_mib", size_mib},
                                          {"load_ms", load_ms},
                                          {"kernels", gpt::kernel_isa()},
                                          {"peak_rss_mib", peak_rss_mib()},
                                          {"results", results}}
                              .dump()
                              .c_str());
    } else {
      std::printf("peak resident memory: %.1f MiB\n", peak_rss_mib());
    }
  } catch (const gpt::Error& e) {
    std::fprintf(stderr, "gpt-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
