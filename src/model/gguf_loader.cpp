// GGUF model loading is being written (issue 4); until then a GGUF path is
// reported as unsupported rather than misread.
#include "gpt/error.h"
#include "model/loaders.h"

namespace gpt::detail {

std::unique_ptr<ModelData> load_gguf(const std::filesystem::path& path) {
  throw UnsupportedModel(path.string() + ": GGUF checkpoints are not supported by this build yet");
}

}  // namespace gpt::detail
