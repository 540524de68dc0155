// A read-only memory-mapped file. Owns the mapping; views into it stay valid
// while the MappedFile lives (models keep theirs in a shared_ptr).
#pragma once

#include <cstddef>
#include <string>

namespace gpt::io {

class MappedFile {
 public:
  // Maps the whole file; throws IoError when it cannot be opened or mapped.
  explicit MappedFile(std::string path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace gpt::io
