// Session's attention capture against transformers' output_attentions on
// tiny checkpoints (tests/data/ops/attention_maps.json, written by
// tools/make_attention_fixtures.py), fed at once and in pieces.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "gpt/gpt.h"
#include "test_util.h"

namespace gpt {
namespace {

float max_diff_to(const std::vector<RowMatrix>& got, const nlohmann::json& want, std::int64_t n_head) {
  float worst = 0.0f;
  for (std::size_t l = 0; l < want.size(); ++l)
    for (std::size_t h = 0; h < want[l].size(); ++h) {
      const RowMatrix& m = got.at(l * static_cast<std::size_t>(n_head) + h);
      const auto& w = want[l][h];
      EXPECT_EQ(m.rows(), static_cast<Eigen::Index>(w.size()));
      EXPECT_EQ(m.cols(), static_cast<Eigen::Index>(w.size()));
      for (std::size_t i = 0; i < w.size() && i < static_cast<std::size_t>(m.rows()); ++i)
        for (std::size_t j = 0; j < w[i].size() && j < static_cast<std::size_t>(m.cols()); ++j)
          worst = std::max(worst, std::fabs(m(Eigen::Index(i), Eigen::Index(j)) - w[i][j].get<float>()));
    }
  return worst;
}

TEST(AttentionCapture, MatchesTransformersOutputAttentions) {
  const auto doc = test::read_json(test::data_path("ops/attention_maps.json"));
  ASSERT_GE(doc.at("cases").size(), 3u);
  for (const auto& c : doc.at("cases")) {
    const std::string name = c.at("model").get<std::string>();
    const auto model = Model::load(test::data_path("models/" + name));
    const auto tokens = c.at("tokens").get<std::vector<Token>>();
    SessionOptions so;
    so.capture_attention = true;
    Session whole(model, so);
    whole.forward(tokens);
    const std::int64_t H = model->config().n_head;
    ASSERT_EQ(whole.attention().size(), static_cast<std::size_t>(model->config().n_layer * H));
    const float d_whole = max_diff_to(whole.attention(), c.at("attentions"), H);
    // The same positions fed as 5 tokens, then one at a time.
    Session pieces(model, so);
    const std::span<const Token> all(tokens);
    pieces.forward(all.first(5));
    for (std::size_t i = 5; i < all.size(); ++i) pieces.forward(all.subspan(i, 1));
    const float d_pieces = max_diff_to(pieces.attention(), c.at("attentions"), H);
    std::printf("[ measure  ] %s: attention probabilities max abs diff vs transformers %.3g (at once), %.3g (in pieces)\n",
                name.c_str(), double(d_whole), double(d_pieces));
    EXPECT_LE(d_whole, 1e-5f) << name;
    EXPECT_LE(d_pieces, 1e-5f) << name;
  }
}

TEST(AttentionCapture, OffByDefaultAndFollowsTruncate) {
  const auto model = Model::load(test::data_path("models/llama-bias"));
  const std::vector<Token> tokens = {3, 14, 15, 92, 65, 35, 89, 79};
  Session off(model);
  off.forward(tokens);
  EXPECT_TRUE(off.attention().empty());
  SessionOptions so;
  so.capture_attention = true;
  Session on(model, so);
  const RowMatrix a = on.forward(tokens);
  Session plain(model);
  EXPECT_EQ(test::max_abs_diff(a, plain.forward(tokens)), 0.0f)
      << "capturing must not change the logits";
  on.truncate(5);
  for (const RowMatrix& m : on.attention()) {
    EXPECT_EQ(m.rows(), 5);
    EXPECT_EQ(m.cols(), 5);
    for (Eigen::Index i = 0; i < 5; ++i) EXPECT_NEAR(m.row(i).sum(), 1.0f, 1e-5f);  // each row a distribution
  }
  on.reset();
  EXPECT_TRUE(on.attention().empty());
}

}  // namespace
}  // namespace gpt
