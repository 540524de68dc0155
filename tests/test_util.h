// Helpers shared by the tests: fixture paths and loading reference tensors.
#pragma once

#include <gtest/gtest.h>

#include <Eigen/Core>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gpt/types.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"

namespace gpt::test {

inline std::string data_path(const std::string& rel) { return std::string(GPT_TEST_DATA_DIR) + "/" + rel; }

// A fixture file of named f32 tensors (written by tools/make_reference_fixtures.py).
class Fixture {
 public:
  explicit Fixture(const std::string& rel) : file_(data_path(rel)) {}

  RowMatrix matrix(const std::string& name) const {
    const TensorView* t = file_.find(name);
    if (!t) throw std::runtime_error("fixture has no tensor " + name);
    const auto rows = t->shape.size() == 1 ? 1 : t->shape[0];
    RowMatrix m(rows, t->cols());
    kernels::dequantize_row(t->dtype, t->data, m.data(), t->numel());
    return m;
  }
  Eigen::VectorXf vector(const std::string& name) const { return matrix(name).row(0).transpose(); }

 private:
  io::SafetensorsFile file_;
};

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(in);
}

// A model fixture's reference.json: input tokens, every position's logits,
// greedy continuation.
struct Reference {
  std::vector<Token> tokens, greedy;
  RowMatrix logits;
};

inline Reference read_reference(const std::string& path) {
  const auto j = read_json(path);
  Reference r;
  r.tokens = j["tokens"].get<std::vector<Token>>();
  r.greedy = j["greedy"].get<std::vector<Token>>();
  const auto& rows = j["logits"];
  r.logits.resize(Eigen::Index(rows.size()), Eigen::Index(rows[0].size()));
  for (std::size_t i = 0; i < rows.size(); ++i)
    for (std::size_t k = 0; k < rows[i].size(); ++k) r.logits(Eigen::Index(i), Eigen::Index(k)) = rows[i][k].get<float>();
  return r;
}

inline float max_abs_diff(const Eigen::Ref<const RowMatrix>& a, const Eigen::Ref<const RowMatrix>& b) {
  EXPECT_EQ(a.rows(), b.rows());
  EXPECT_EQ(a.cols(), b.cols());
  if (a.rows() != b.rows() || a.cols() != b.cols()) return INFINITY;
  return (a - b).cwiseAbs().maxCoeff();
}

}  // namespace gpt::test
