// Format-specific loaders; Model::load picks one from the path.
#pragma once

#include <filesystem>
#include <memory>

#include "model/model_data.h"

namespace gpt::io {
class GgufFile;
}

namespace gpt::detail {

// Hugging Face directory / .safetensors file / index with config.json beside it.
std::unique_ptr<ModelData> load_hf(const std::filesystem::path& path);

// GGUF file (written in src/model/gguf_loader.cpp); the second form reuses
// an already parsed file (LanguageModel reads the tokenizer from it too).
std::unique_ptr<ModelData> load_gguf(const std::filesystem::path& path);
std::unique_ptr<ModelData> load_gguf(std::shared_ptr<const io::GgufFile> gguf);

}  // namespace gpt::detail
