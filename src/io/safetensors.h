// safetensors checkpoints: one file, or shards listed by
// model.safetensors.index.json. Files are memory-mapped; tensors are views.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {...}}, then the data; offsets count from the data start.
// Everything is validated before use: header length within the file, every
// range inside the data section, ranges that do not overlap, sizes that match
// dtype x shape. Violations throw FormatError naming file, tensor and offset.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gpt/tensor.h"
#include "io/mapped_file.h"

namespace gpt::io {

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const noexcept { return file_->path(); }
  std::shared_ptr<const MappedFile> file() const noexcept { return file_; }
  // Tensors of a type the engine computes with (F32, F16, BF16).
  const std::vector<TensorView>& tensors() const noexcept { return tensors_; }
  const TensorView* find(std::string_view name) const noexcept;
  // Names of well-formed tensors of other types (I64, U8, ...) with their type.
  const std::map<std::string, std::string>& other_tensors() const noexcept { return other_; }
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }

 private:
  std::shared_ptr<const MappedFile> file_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> other_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a checkpoint, from one file or a sharded index.
struct SafetensorsCheckpoint {
  std::vector<std::shared_ptr<const SafetensorsFile>> files;
  // name -> (view, file it came from)
  std::map<std::string, std::pair<TensorView, std::string>, std::less<>> tensors;
};

// Opens `path`: a .safetensors file, a model.safetensors.index.json, or a
// directory containing either. Throws IoError / FormatError.
SafetensorsCheckpoint open_safetensors(const std::filesystem::path& path);

}  // namespace gpt::io
