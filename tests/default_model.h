// The default model (SmolLM2-135M-Instruct Q4_1, fetched by tools/fetch-model),
// loaded once per test program and shared by its tests.
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "gpt/generate.h"

namespace gpt::test {

inline const std::string kDefaultModel = std::string(GPT_MODELS_DIR) + "/SmolLM2-135M-Instruct.Q4_1.gguf";

inline std::shared_ptr<const LanguageModel> default_model() {
  static const std::shared_ptr<const LanguageModel> m = [] {
    if (!std::filesystem::exists(kDefaultModel))
      throw std::runtime_error(kDefaultModel + " is missing: run tools/fetch-model first");
    return LanguageModel::load(kDefaultModel);
  }();
  return m;
}

}  // namespace gpt::test
