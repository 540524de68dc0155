// gpt-demo: greedy decoding over token ids, for checkpoints without a
// tokenizer (such as the tiny test fixtures).
//   gpt-demo MODEL [N_TOKENS] [TOKEN_ID...]
#include <gpt/gpt.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::fprintf(stderr,
                 "usage: gpt-demo MODEL [N_TOKENS] [TOKEN_ID...]\n"
                 "Loads MODEL (a Hugging Face directory or .safetensors file), feeds the token ids\n"
                 "(default: 1 2 3) and prints N_TOKENS (default 20) greedy token ids.\n"
                 "Exit codes: 0 success, 1 error, 2 usage.\n");
    return argc < 2 ? 2 : 0;
  }
  try {
    const auto t0 = std::chrono::steady_clock::now();
    auto model = gpt::Model::load(argv[1]);
    const auto t1 = std::chrono::steady_clock::now();
    const long n = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 20;
    if (n <= 0) throw gpt::InvalidArgument("N_TOKENS must be a positive number");
    std::vector<gpt::Token> prompt;
    for (int i = 3; i < argc; ++i) prompt.push_back(static_cast<gpt::Token>(std::strtol(argv[i], nullptr, 10)));
    if (prompt.empty()) prompt = {1, 2, 3};
    gpt::Session session(model);
    const auto out = gpt::greedy_generate(session, prompt, n);
    const auto t2 = std::chrono::steady_clock::now();
    for (gpt::Token t : out) std::printf("%d ", t);
    std::printf("\n");
    const auto& c = model->config();
    std::fprintf(stderr, "%s: %lld layers, d_model %lld; load %.1f ms, %zu tokens in %.1f ms\n", c.architecture.c_str(),
                 static_cast<long long>(c.n_layer), static_cast<long long>(c.d_model),
                 std::chrono::duration<double, std::milli>(t1 - t0).count(), out.size(),
                 std::chrono::duration<double, std::milli>(t2 - t1).count());
  } catch (const gpt::Error& e) {
    std::fprintf(stderr, "gpt-demo: %s\n", e.what());
    return 1;
  }
  return 0;
}
