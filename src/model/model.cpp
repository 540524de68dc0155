#include "gpt/model.h"

#include "gpt/cpu.h"
#include "gpt/error.h"
#include "model/loaders.h"
#include "model/model_data.h"

namespace gpt {

std::shared_ptr<const Model> Model::load(const std::filesystem::path& path, const LoadOptions& /*options*/) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw IoError(path.string(), "no such file or directory");
  (void)kernel_isa();  // a bad GPT_ISA fails here, before any work
  try {
    std::unique_ptr<detail::ModelData> data;
    if (fs::is_regular_file(path) && path.extension() == ".gguf") data = detail::load_gguf(path);
    else data = detail::load_hf(path);
    return std::make_shared<const Model>(std::move(data));
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {  // bounds checks make this unexpected; keep the contract anyway
    throw FormatError(path.string(), "out of memory while loading");
  } catch (const std::exception& e) {
    throw FormatError(path.string(), std::string("unexpected content: ") + e.what());
  }
}

Model::Model(std::unique_ptr<detail::ModelData> data) : data_(std::move(data)) {}
Model::~Model() = default;

const ModelConfig& Model::config() const noexcept { return data_->config; }
const std::filesystem::path& Model::path() const noexcept { return data_->path; }

const TensorView* Model::find_tensor(std::string_view name) const noexcept {
  auto it = data_->tensors.find(name);
  return it == data_->tensors.end() ? nullptr : &it->second;
}

std::vector<std::string> Model::tensor_names() const {
  std::vector<std::string> names;
  for (const auto& [n, _] : data_->tensors) names.push_back(n);
  return names;
}

}  // namespace gpt
