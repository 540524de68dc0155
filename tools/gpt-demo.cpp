// gpt-demo: greedy decoding over token ids, for checkpoints without a
// tokenizer (such as the test fixtures).
//   gpt-demo -m MODEL [-n N_TOKENS] [TOKEN_ID...]
//   gpt-demo MODEL [N_TOKENS] [TOKEN_ID...]        (the older positional form)
#include <gpt/gpt.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "cli.h"

int main(int argc, char** argv) {
  CLI::App app{"gpt-demo: load a model (GGUF, Hugging Face directory or .safetensors), feed it token ids\n"
               "(default: 1 2 3) and print greedy token ids. For checkpoints without a tokenizer.\n"
               "Exit codes: 0 success, 1 error, 2 invalid command line.",
               "gpt-demo"};
  std::string model_path;
  long n = 20;
  std::vector<std::string> rest;
  app.add_option("-m,--model", model_path, "Model path");
  app.add_option("-n,--n-tokens", n, "Greedy tokens to generate")->capture_default_str();
  app.add_option("args", rest, "[MODEL] [N_TOKENS] TOKEN_ID...: without -m the first is the model and the second "
                               "the token count (the older form)");
  if (auto code = gpt::cli::parse(app, argc, argv, "gpt-demo")) return *code;

  std::vector<gpt::Token> prompt;
  try {
    auto integer = [](const std::string& s, const char* what) {
      std::size_t used = 0;
      long v = 0;
      try {
        v = std::stol(s, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != s.size()) throw gpt::InvalidArgument(std::string(what) + " must be an integer, got '" + s + "'");
      return v;
    };
    std::size_t i = 0;
    if (model_path.empty()) {
      if (rest.empty()) throw gpt::InvalidArgument("no model: give -m MODEL");
      model_path = rest[i++];
      if (i < rest.size() && app.count("-n") == 0) n = integer(rest[i++], "N_TOKENS");
    }
    for (; i < rest.size(); ++i) {
      const long id = integer(rest[i], "a token id");
      if (id < 0 || id > INT32_MAX) throw gpt::InvalidArgument("token id " + rest[i] + " is out of range");
      prompt.push_back(static_cast<gpt::Token>(id));
    }
    if (n <= 0) throw gpt::InvalidArgument("the token count must be a positive number");
  } catch (const gpt::InvalidArgument& e) {
    std::fprintf(stderr, "gpt-demo: %s (see --help)\n", e.what());
    return gpt::cli::kUsage;
  }
  if (prompt.empty()) prompt = {1, 2, 3};

  try {
    const auto t0 = std::chrono::steady_clock::now();
    auto model = gpt::Model::load(model_path);
    const auto t1 = std::chrono::steady_clock::now();
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
    return gpt::cli::kError;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpt-demo: unexpected error: %s\n", e.what());
    return gpt::cli::kError;
  }
  return gpt::cli::kOk;
}
