// Loading a checkpoint into an immutable, shareable Model.
//
// Ownership: a Model owns its memory-mapped files and any converted weights;
// its tensors are views into them. It is never modified after load, so one
// Model may be used by many Sessions on many threads at once. Hold it by
// shared_ptr; every Session keeps its own reference.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gpt/config.h"
#include "gpt/tensor.h"

namespace gpt {

namespace detail {
struct ModelData;  // defined in src/model/model_data.h
}

struct LoadOptions {
  // Reserved for loader tuning; every field has a default.
  bool verbose = false;  // print what was loaded to stderr
};

class Model {
 public:
  // Loads a checkpoint, detecting its format from the path:
  //  - a directory with config.json and model.safetensors or
  //    model.safetensors.index.json (Hugging Face layout);
  //  - a .safetensors file with config.json next to it;
  //  - a .gguf file.
  // Throws IoError, FormatError (malformed file: names file, tensor, offset)
  // or UnsupportedModel.
  static std::shared_ptr<const Model> load(const std::filesystem::path& path,
                                           const LoadOptions& options = {});

  const ModelConfig& config() const noexcept;

  // Weights by canonical name (the GGUF naming: "token_embd.weight",
  // "blk.0.attn_q.weight", "output_norm.weight", ...); nullptr when absent.
  const TensorView* find_tensor(std::string_view name) const noexcept;
  std::vector<std::string> tensor_names() const;

  // Where the model came from (the path given to load()).
  const std::filesystem::path& path() const noexcept;

  // Internal: loaders build a Model from its parts; the decoder reads them.
  explicit Model(std::unique_ptr<detail::ModelData> data);
  ~Model();
  const detail::ModelData& data() const noexcept { return *data_; }

 private:
  std::unique_ptr<detail::ModelData> data_;
};

}  // namespace gpt
