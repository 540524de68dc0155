// Tensor element types and non-owning tensor views.
//
// A TensorView points into memory owned by someone else (usually a
// memory-mapped checkpoint held by a Model). Shapes are row-major, outermost
// dimension first, exactly as PyTorch prints them: a linear layer's weight is
// [out_features, in_features]. Readers of formats that list dimensions the
// other way round (GGUF's ne[0] is the innermost) reverse them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gpt {

enum class DType : std::uint8_t {
  F32,
  F16,
  BF16,
  Q8_0,  // blocks of 32: f16 scale + 32 x int8
  Q4_0,  // blocks of 32: f16 scale + 16 bytes of 4-bit values
  Q4_1,  // blocks of 32: f16 scale, f16 min + 16 bytes of 4-bit values
  Q5_0,
  Q5_1,
  Q4_K,  // super-blocks of 256
  Q5_K,
  Q6_K,
};

// Layout facts about a type: a row of n elements (n a multiple of
// block_elems) takes n / block_elems * block_bytes bytes.
struct DTypeInfo {
  std::string_view name;     // "F32", "Q4_K", ...
  std::int64_t block_elems;  // 1 for plain floats
  std::size_t block_bytes;   // bytes per block
};

const DTypeInfo& dtype_info(DType t) noexcept;
inline std::string_view dtype_name(DType t) noexcept { return dtype_info(t).name; }

// Bytes taken by n consecutive elements; throws InvalidArgument when n is not
// a multiple of the type's block size or the size would overflow.
std::size_t dtype_bytes(DType t, std::int64_t n);

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;  // row-major, outermost first
  const std::byte* data = nullptr;  // not owned
  std::size_t nbytes = 0;

  std::int64_t numel() const noexcept {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  std::int64_t rows() const noexcept { return shape.empty() ? 1 : numel() / shape.back(); }
  std::int64_t cols() const noexcept { return shape.empty() ? 1 : shape.back(); }
  std::string shape_string() const;  // "[768, 2304]"
};

}  // namespace gpt
