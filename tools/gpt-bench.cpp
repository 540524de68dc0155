// gpt-bench: prompt-processing and generation speed, in the spirit of
// llama-bench. For each thread count: ppN = N prompt tokens in one forward
// pass, tgN = N tokens generated one at a time after a 1-token prompt.
// Reports the median of --reps runs, the model file size and the peak
// resident memory of the process.
//
// The roofline beside each figure, measured on this machine at start-up:
//  - tg: decoding reads every weight matrix once per token (the LM head
//    included, one embedding row) plus the KV cache; the limit is the
//    machine's read bandwidth (a timed sum over a 512 MiB buffer with the
//    same thread count) divided by those bytes.
//  - pp: the matrix products' arithmetic (2 x matrix parameters per token,
//    plus attention) against the rate of the library's own f32 matrix
//    product on a 1024 x 1024 weight at 256 rows with the same threads
//    (quantized integer kernels can pass 100 % of it).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "cli.h"
#include "gpt/batch.h"
#include "gpt/generate.h"
#include "gpt/gpt.h"
#include "kernels/kernels.h"
#include "kernels/parallel.h"
#include "model/model_data.h"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Read bandwidth in bytes/s with `threads` threads: the best of 5 timed
// sums over a buffer far larger than the caches.
double read_bandwidth(int threads) {
  const std::size_t n = (std::size_t{512} << 20) / sizeof(std::uint64_t);
  std::vector<std::uint64_t> buf(n);
  // The library's worker threads, in the same contiguous ranges as its kernels.
  gpt::kernels::parallel_for(threads, static_cast<std::int64_t>(n), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) buf[static_cast<std::size_t>(i)] = static_cast<std::uint64_t>(i);  // touch (and place) every page
  });
  double best = 0.0;
  volatile std::uint64_t sink = 0;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<std::uint64_t> part(static_cast<std::size_t>(threads), 0);
    const auto a = std::chrono::steady_clock::now();
    gpt::kernels::parallel_for(threads, threads, [&](std::int64_t t0, std::int64_t t1) {
      for (std::int64_t t = t0; t < t1; ++t) {
        const std::size_t b = n * static_cast<std::size_t>(t) / static_cast<std::size_t>(threads);
        const std::size_t e = n * static_cast<std::size_t>(t + 1) / static_cast<std::size_t>(threads);
        std::uint64_t s = 0;
        for (std::size_t i = b; i < e; ++i) s += buf[i];
        part[static_cast<std::size_t>(t)] = s;
      }
    });
    std::uint64_t s0 = 0;
    for (std::uint64_t s : part) s0 += s;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
    sink = sink + s0;
    best = std::max(best, double(n * sizeof(std::uint64_t)) / secs);
  }
  return best;
}

// read_bandwidth for each thread count, measured in a child process (so
// that its 512 MiB buffer stays out of this process's peak memory) started
// before this process starts any worker thread.
std::vector<double> read_bandwidths(const std::vector<int>& threads) {
  std::vector<double> out(threads.size(), 0.0);
  int fd[2];
  if (::pipe(fd) != 0) return out;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fd[0]);
    for (int t : threads) {
      const double b = read_bandwidth(t);
      if (::write(fd[1], &b, sizeof b) != static_cast<ssize_t>(sizeof b)) break;
    }
    ::_exit(0);
  }
  ::close(fd[1]);
  for (double& b : out)
    if (pid < 0 || ::read(fd[0], &b, sizeof b) != static_cast<ssize_t>(sizeof b)) break;
  ::close(fd[0]);
  if (pid > 0) ::waitpid(pid, nullptr, 0);
  return out;
}

// Flops/s of the library's f32 matrix product (x W^T, W 1024 x 1024, 256
// rows), best of 3.
double f32_matmul_rate(int threads) {
  const std::int64_t d = 1024, rows = 256;
  std::vector<float> w(static_cast<std::size_t>(d * d)), x(static_cast<std::size_t>(rows * d)), y(static_cast<std::size_t>(rows * d));
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = float(i % 7) * 0.01f;
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 5) * 0.02f;
  gpt::TensorView t;
  t.name = "bench";
  t.dtype = gpt::DType::F32;
  t.shape = {d, d};
  t.data = reinterpret_cast<const std::byte*>(w.data());
  t.nbytes = w.size() * sizeof(float);
  double best = 0.0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto a = std::chrono::steady_clock::now();
    gpt::kernels::matmul(t, x.data(), rows, y.data(), threads);
    best = std::max(best, 2.0 * double(d * d * rows) / std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  return best;
}

// Bytes one decoded token reads: every 2-D weight once (the token
// embedding only one row unless it is also the LM head) and the norms.
double weight_bytes_per_token(const gpt::Model& m) {
  const auto& d = m.data();
  double bytes = 0.0;
  for (const auto& [name, t] : d.tensors) {
    if (name == "token_embd.weight" && !m.config().tied_embeddings) {
      bytes += double(t.nbytes) / double(std::max<std::int64_t>(1, t.rows()));
      continue;
    }
    if (name == "position_embd.weight") continue;
    bytes += double(t.nbytes);
  }
  return bytes;
}

// Multiply-adds in the matrix products of one token: matrix parameters (the
// LM head included, embedding tables excluded), plus attention over `ctx`
// cached positions (Q K^T and P V per layer).
double flops_per_token(const gpt::Model& m, double ctx) {
  const auto& c = m.config();
  double params = 0.0;
  for (const auto& [name, t] : m.data().tensors)
    if (t.shape.size() == 2 && name != "token_embd.weight" && name != "position_embd.weight") params += double(t.numel());
  if (c.tied_embeddings) params += double(c.vocab_size * c.d_model);
  return 2.0 * params + 4.0 * double(c.n_layer) * double(c.n_head * c.head_dim) * ctx;
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
  std::string model_path, threads_s = "1,2", pp_s = "128,512", batch_s;
  int tg = 128, reps = 3, batch_prompt = 128;
  bool json = false;
  app.add_option("-m,--model", model_path, "Model path")->required();
  app.add_option("-t,--threads", threads_s, "Comma-separated thread counts")->capture_default_str();
  app.add_option("-p,--n-prompt", pp_s, "Comma-separated prompt lengths (0 to skip)")->capture_default_str();
  app.add_option("-n,--n-gen", tg, "Tokens to generate (0 to skip)")->capture_default_str();
  app.add_option("-r,--reps", reps, "Repetitions per test (the median is reported)")->capture_default_str();
  app.add_option("-b,--batch", batch_s,
                 "Comma-separated numbers of sequences decoded together (gpt::Batch), e.g. 1,2,4,8,16: each gets its "
                 "own random --batch-prompt tokens, then --n-gen tokens; aggregate prompt and generation t/s, as "
                 "llama-batched-bench reports them (S_PP, S_TG); replaces the pp and tg tests");
  app.add_option("--batch-prompt", batch_prompt, "Prompt tokens per sequence in --batch runs")->capture_default_str();
  app.add_flag("--json", json, "Print one JSON object instead of a table");
  if (auto code = gpt::cli::parse(app, argc, argv, "gpt-bench")) return *code;
  std::vector<int> threads, pps, batches;
  try {
    threads = gpt::cli::parse_int_list(threads_s, "--threads", 1, 1024);
    pps = gpt::cli::parse_int_list(pp_s, "--n-prompt", 0, 1 << 20);
    if (!batch_s.empty()) batches = gpt::cli::parse_int_list(batch_s, "--batch", 1, 1024);
    if (!batches.empty() && (batch_prompt < 1 || tg < 1))
      throw gpt::InvalidArgument("--batch needs --batch-prompt >= 1 and --n-gen >= 1");
    if (threads.empty() || reps < 1 || tg < 0) throw gpt::InvalidArgument("need thread counts, reps >= 1, n-gen >= 0");
  } catch (const gpt::InvalidArgument& e) {
    std::fprintf(stderr, "gpt-bench: %s\n", e.what());
    return gpt::cli::kUsage;
  }
  try {
    const std::vector<double> bandwidths = batches.empty() ? read_bandwidths(threads) : std::vector<double>(threads.size());
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
    const double weights = weight_bytes_per_token(*model);
    const double kv_row = 2.0 * double(c.n_layer) * double(c.n_kv_head * c.head_dim) * sizeof(float);
    if (!json) {
      std::printf("model: %s (%s, %.1f MiB), loaded in %.0f ms\n", model_path.c_str(), c.architecture.c_str(), size_mib, load_ms);
      std::printf("kernels: %s (this CPU: %s; GPT_ISA forces one)\n", gpt::kernel_isa().c_str(), gpt::cpu_isa_list().c_str());
if (batches.empty()) {
      std::printf("roofline: a decoded token reads %.1f MiB of weights (+ the KV cache); tg limit = read bandwidth / bytes, "
                  "pp %% = matrix-product flops / this library's f32 matmul rate\n", weights / (1024.0 * 1024.0));
      std::printf("| threads | test   |      t/s | machine                  | roofline               |\n"
                  "|--------:|:-------|---------:|:-------------------------|:-----------------------|\n");
      }
    }
    double bandwidth = 0.0, f32_rate = 0.0;  // of the thread count being measured
    auto report = [&](int t, const std::string& test, std::vector<double> rates, double limit, double pct) {
      const double med = median(rates);
      const bool tg_test = test.rfind("tg", 0) == 0;
      if (!json) {
        char machine[64], roof[64];
        if (tg_test) {
          std::snprintf(machine, sizeof machine, "%.1f GB/s read", bandwidth / 1e9);
          std::snprintf(roof, sizeof roof, "limit %.1f t/s: %.0f %%", limit, pct);
        } else {
          std::snprintf(machine, sizeof machine, "f32 matmul %.1f GFLOP/s", f32_rate / 1e9);
          std::snprintf(roof, sizeof roof, "%.1f GFLOP/s: %.0f %%", med * limit / 1e9, pct);
        }
        std::printf("| %7d | %-6s | %8.2f | %-24s | %-22s |\n", t, test.c_str(), med, machine, roof);
        std::fflush(stdout);
      }
      nlohmann::json r{{"threads", t}, {"test", test}, {"tokens_per_s", med}, {"runs", rates}};
      if (tg_test) r.update({{"read_bandwidth_gbs", bandwidth / 1e9}, {"limit_tokens_per_s", limit}, {"percent_of_limit", pct}});
      else r.update({{"f32_matmul_gflops", f32_rate / 1e9}, {"flops_per_token", limit}, {"percent_of_f32_matmul", pct}});
      results.push_back(r);
    };
    for (std::size_t ti = 0; ti < threads.size() && batches.empty(); ++ti) {
      const int t = threads[ti];
      bandwidth = bandwidths[ti];
      f32_rate = f32_matmul_rate(t);
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
        const double flops = flops_per_token(*model, n / 2.0);
        report(t, "pp" + std::to_string(n), rates, flops, 100.0 * median(rates) * flops / f32_rate);
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
        const double bytes = weights + kv_row * (1.0 + tg / 2.0);  // the cache at the mean position
        const double limit = bandwidth > 0.0 ? bandwidth / bytes : 0.0;  // 0: not measured
        report(t, "tg" + std::to_string(tg), rates, limit, limit > 0.0 ? 100.0 * median(rates) / limit : 0.0);
      }
    }
    // Batched decoding: B sequences, each its own prompt (no sharing), all
    // admitted at once. Prompt phase: the steps until every prompt has been
    // read (the last one also samples each sequence's first token);
    // generation phase: the remaining steps, one token per sequence each.
    nlohmann::json batch_results = nlohmann::json::array();
    if (!batches.empty()) {
      if (!json)
        std::printf("\nbatched decoding (gpt::Batch): B sequences of %d prompt tokens + %d generated, aggregate t/s\n"
                    "| threads |   B |  prompt t/s |  generation t/s | generation vs B=1 |\n"
                    "|--------:|----:|------------:|----------------:|------------------:|\n",
                    batch_prompt, tg);
      const auto lm = gpt::LanguageModel::load(model_path);
      for (int t : threads) {
        double tg_b1 = 0.0;
        for (int b : batches) {
          std::vector<double> pp_rates, tg_rates;
          for (int r = 0; r < reps; ++r) {
            gpt::Batch batch(lm, {.threads = t, .max_sequences = b, .context_length = batch_prompt + tg + 1,
                                  .step_tokens = std::int64_t{b} * batch_prompt});
            gpt::GenerateOptions o;
            o.max_tokens = tg;
            o.ignore_eos = true;
            o.sampling.temperature = 0.0f;
            for (int k = 0; k < b; ++k) {
              std::vector<gpt::Token> prompt(static_cast<std::size_t>(batch_prompt));
              for (auto& x : prompt) x = tok(rng);
              batch.submit(prompt, o);
            }
            const std::int64_t prompt_total = std::int64_t{b} * batch_prompt;
            const auto a = std::chrono::steady_clock::now();
            while (batch.stats().prompt_tokens_computed < prompt_total) batch.step();
            const auto m = std::chrono::steady_clock::now();
            const std::int64_t fed = batch.stats().generated_tokens;
            batch.run();
            const auto e = std::chrono::steady_clock::now();
            pp_rates.push_back(double(prompt_total) / std::chrono::duration<double>(m - a).count());
            tg_rates.push_back(double(batch.stats().generated_tokens - fed) / std::chrono::duration<double>(e - m).count());
          }
          const double pp_med = median(pp_rates), tg_med = median(tg_rates);
          if (b == 1) tg_b1 = tg_med;
          if (!json) {
            char vs[32] = "";
            if (tg_b1 > 0.0) std::snprintf(vs, sizeof vs, "%.2fx", tg_med / tg_b1);
            std::printf("| %7d | %3d | %11.2f | %15.2f | %17s |\n", t, b, pp_med, tg_med, vs);
            std::fflush(stdout);
          }
          batch_results.push_back({{"threads", t}, {"batch", b}, {"prompt_tokens", batch_prompt}, {"gen_tokens", tg},
                                   {"prompt_tokens_per_s", pp_med}, {"gen_tokens_per_s", tg_med},
                                   {"prompt_runs", pp_rates}, {"gen_runs", tg_rates}});
        }
      }
    }
    if (json) {
      std::printf("%s\n", nlohmann::json{{"model", model_path},
                                          {"size_mib", size_mib},
                                          {"load_ms", load_ms},
                                          {"kernels", gpt::kernel_isa()},
                                          {"peak_rss_mib", peak_rss_mib()},
                                          {"results", results},
                                          {"batch_results", batch_results}}
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
