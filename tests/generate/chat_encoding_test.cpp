// Chat template output is tokenized with special-token text parsed and
// without a second BOS: templates that spell out BOS keep theirs, others get
// the tokenizer's when it adds one.
#include <gtest/gtest.h>

#include "generate/generation.h"
#include "gpt/generate.h"
#include "test_util.h"

namespace gpt {
namespace {

TEST(ChatEncoding, Llama2TemplateWithSentencePieceHasExactlyOneBos) {
  const auto tok = load_tokenizer(test::data_path("tokenizer/spm/tokenizer.model"));
  ASSERT_EQ(tok->special_tokens().prefix, std::vector<Token>{tok->bos_id()});  // adds BOS like Llama
  const std::string text = render_chat(ChatFormat::Llama2, {{"system", "Be brief."}, {"user", "hello there"}}, true,
                                       tok->token_to_piece(tok->bos_id()));
  ASSERT_EQ(text.rfind("<s>", 0), 0u) << text;  // the template spells BOS
  const auto ids = detail::encode_chat(*tok, text);
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids[0], tok->bos_id());
  EXPECT_NE(ids[1], tok->bos_id());
  EXPECT_EQ(std::count(ids.begin(), ids.end(), tok->bos_id()), 1);
}

TEST(ChatEncoding, TemplateWithoutBosGetsTheTokenizersBos) {
  const auto tok = load_tokenizer(test::data_path("tokenizer/spm/tokenizer.model"));
  const std::string text = render_chat(ChatFormat::Zephyr, {{"user", "hello there"}}, true);
  ASSERT_NE(text.rfind("<s>", 0), 0u) << text;
  const auto ids = detail::encode_chat(*tok, text);
  EXPECT_EQ(ids[0], tok->bos_id());
  EXPECT_EQ(std::count(ids.begin(), ids.end(), tok->bos_id()), 1);
}

TEST(ChatEncoding, SpecialTokenTextInTheTemplateBecomesSpecialIds) {
  const std::string model = std::string(GPT_MODELS_DIR) + "/SmolLM2-135M-Instruct.Q4_1.gguf";
  const auto tok = load_tokenizer(model);
  EXPECT_TRUE(tok->special_tokens().prefix.empty());  // SmolLM2 adds no BOS
  const auto ids = detail::encode_chat(*tok, render_chat(ChatFormat::ChatML, {{"user", "Hi"}}, true));
  const auto im_start = tok->piece_to_token("<|im_start|>");
  ASSERT_TRUE(im_start.has_value());
  EXPECT_EQ(ids[0], *im_start);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), *im_start), 2);  // user turn + assistant prompt
}

}  // namespace
}  // namespace gpt
