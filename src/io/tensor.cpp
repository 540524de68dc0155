#include "gpt/tensor.h"

#include <limits>

#include "gpt/error.h"

namespace gpt {

const DTypeInfo& dtype_info(DType t) noexcept {
  static const DTypeInfo table[] = {
      {"F32", 1, 4},     {"F16", 1, 2},     {"BF16", 1, 2},    {"Q8_0", 32, 34},
      {"Q4_0", 32, 18},  {"Q4_1", 32, 20},  {"Q5_0", 32, 22},  {"Q5_1", 32, 24},
      {"Q4_K", 256, 144}, {"Q5_K", 256, 176}, {"Q6_K", 256, 210},
  };
  return table[static_cast<int>(t)];
}

std::size_t dtype_bytes(DType t, std::int64_t n) {
  const auto& info = dtype_info(t);
  if (n < 0 || n % info.block_elems != 0)
    throw InvalidArgument(std::string(info.name) + ": " + std::to_string(n) +
                          " elements is not a whole number of blocks of " +
                          std::to_string(info.block_elems));
  const auto blocks = static_cast<std::uint64_t>(n / info.block_elems);
  if (blocks > std::numeric_limits<std::size_t>::max() / info.block_bytes)
    throw InvalidArgument("tensor size overflows");
  return blocks * info.block_bytes;
}

std::string TensorView::shape_string() const {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace gpt
