// Basic types shared by the public headers.
#pragma once

#include <Eigen/Core>
#include <cstdint>

namespace gpt {

// A token id.
using Token = std::int32_t;

// Row-major float matrix: one row per token (activations, logits).
using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace gpt
