// What every command-line program in tools/ shares: one set of exit codes and
// one way to turn a command-line or option-value error into exit code 2.
//
//   0  success
//   1  error while working (missing or corrupt model, I/O, prompt too long)
//   2  invalid command line or option value (nothing was loaded)
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "gpt/error.h"

namespace gpt::cli {

enum Exit { kOk = 0, kError = 1, kUsage = 2 };

#ifdef GPT_SOURCE_MODELS_DIR
// The fetched default model: $GPT_MODELS_DIR, ./models, then models/ of the
// source tree this program was built from.
inline std::filesystem::path default_model() {
  namespace fs = std::filesystem;
  const char* file = "SmolLM2-135M-Instruct.Q4_1.gguf";
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("GPT_MODELS_DIR")) dirs.emplace_back(env);
  dirs.emplace_back("models");
  dirs.emplace_back(GPT_SOURCE_MODELS_DIR);
  for (const auto& d : dirs)
    if (fs::exists(d / file)) return d / file;
  throw IoError(std::string("models/") + file, "the default model is not there; run tools/fetch-model (or pass -m MODEL)");
}
#endif

// Parses the command line. Returns the exit code to leave with (kOk after
// --help, kUsage after an error, printed as "<program>: <message>"), or
// nullopt when the program should go on.
inline std::optional<int> parse(CLI::App& app, int argc, char** argv, const char* program) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kOk;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s (see --help)\n", program, e.what());
    return kUsage;
  }
  return std::nullopt;
}

// "1,2,4" -> {1, 2, 4}; anything but comma-separated integers in [lo, hi]
// is an InvalidArgument naming the option.
inline std::vector<int> parse_int_list(const std::string& s, const std::string& option, int lo, int hi) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    std::size_t used = 0;
    long v = 0;
    try {
      v = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || v < lo || v > hi)
      throw InvalidArgument(option + " expects comma-separated integers in [" + std::to_string(lo) + ", " +
                            std::to_string(hi) + "], got '" + item + "'");
    out.push_back(static_cast<int>(v));
  }
  return out;
}

}  // namespace gpt::cli
