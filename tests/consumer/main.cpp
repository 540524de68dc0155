// Loads a checkpoint and prints 5 greedy tokens after the prompt tokens
// given on the command line.
#include <gpt/gpt.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: consumer MODEL_DIR TOKEN...\n");
    return 2;
  }
  try {
    auto model = gpt::Model::load(argv[1]);
    gpt::Session session(model);
    std::vector<gpt::Token> prompt;
    for (int i = 2; i < argc; ++i) prompt.push_back(static_cast<gpt::Token>(std::atoi(argv[i])));
    for (gpt::Token t : gpt::greedy_generate(session, prompt, 5)) std::printf("%d ", t);
    std::printf("\n");
  } catch (const gpt::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
