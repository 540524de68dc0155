// Chat templates: detection of the stored official templates and byte-exact
// parity with transformers' apply_chat_template (tests/data/chat/expected.json,
// written by tools/make_chat_fixtures.py).
#include "generate/chat_template.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gpt/error.h"
#include "gpt/generate.h"

namespace gpt {
namespace {

std::string data_path(const std::string& rel) { return std::string(GPT_TEST_DATA_DIR) + "/chat/" + rel; }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const nlohmann::json& expected() {
  static const nlohmann::json doc = nlohmann::json::parse(read_file(data_path("expected.json")));
  return doc;
}

std::vector<ChatMessage> messages_of(const nlohmann::json& conv) {
  std::vector<ChatMessage> out;
  for (const auto& m : conv) out.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
  return out;
}

TEST(ChatFormatNames, RoundTrip) {
  for (ChatFormat f : {ChatFormat::ChatML, ChatFormat::Llama2, ChatFormat::Llama3, ChatFormat::Gemma,
                       ChatFormat::Zephyr, ChatFormat::Mistral}) {
    const auto back = chat_format_from_name(to_string(f));
    ASSERT_TRUE(back.has_value()) << to_string(f);
    EXPECT_EQ(*back, f);
  }
  EXPECT_STREQ(to_string(ChatFormat::ChatML), "chatml");
  EXPECT_STREQ(to_string(ChatFormat::Llama3), "llama3");
  EXPECT_EQ(chat_format_from_name("ChatML"), ChatFormat::ChatML);
  EXPECT_FALSE(chat_format_from_name("vicuna").has_value());
  EXPECT_FALSE(chat_format_from_name("").has_value());
}

TEST(ChatTemplateDetect, RecognisesEveryStoredTemplate) {
  const auto& templates = expected().at("templates");
  ASSERT_GE(templates.size(), 7u);
  for (const auto& [name, t] : templates.items()) {
    const std::string jinja = read_file(data_path(t.at("file").get<std::string>()));
    const auto info = detail::detect_chat_template(jinja);
    ASSERT_TRUE(info.has_value()) << name;
    EXPECT_STREQ(to_string(info->format), t.at("format").get<std::string>().c_str()) << name;
    EXPECT_EQ(info->default_system, t.at("default_system").get<std::string>()) << name;
    EXPECT_EQ(detect_chat_format(jinja), info->format) << name;
  }
}

TEST(ChatTemplateDetect, SmolLM2DefaultSystemMessage) {
  const auto info = detail::detect_chat_template(read_file(data_path("templates/smollm2.jinja")));
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->format, ChatFormat::ChatML);
  EXPECT_EQ(info->default_system, "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  // Plain ChatML, and ChatML that only concatenates the caller's system message, have none.
  const auto plain = detail::detect_chat_template(read_file(data_path("templates/chatml.jinja")));
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->default_system, "");
  // Qwen2.5's form: the caller's system message, else a literal default.
  const auto qwen = detail::detect_chat_template(
      "{%- if messages[0]['role'] == 'system' %}\n"
      "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
      "    {%- else %}\n"
      "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
      "assistant.<|im_end|>\\n' }}\n"
      "    {%- endif %}\n");
  ASSERT_TRUE(qwen.has_value());
  EXPECT_EQ(qwen->default_system, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
  const auto concat = detail::detect_chat_template(
      "{{ '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}");
  ASSERT_TRUE(concat.has_value());
  EXPECT_EQ(concat->default_system, "");
}

TEST(ChatTemplateDetect, UnknownTemplatesAreNotGuessed) {
  EXPECT_FALSE(detect_chat_format("").has_value());
  EXPECT_FALSE(detect_chat_format("{% for m in messages %}### {{ m['role'] | upper }}: {{ m['content'] }}\n"
                                  "{% endfor %}{% if add_generation_prompt %}### ASSISTANT:{% endif %}")
                   .has_value());
  // Phi-3 uses <|user|> / <|assistant|> like Zephyr but ends turns with <|end|>.
  EXPECT_FALSE(detect_chat_format("{% for message in messages %}{{'<|' + message['role'] + '|>' + '\\n' + "
                                  "message['content'] + '<|end|>\\n' }}{% endfor %}<|user|><|assistant|>")
                   .has_value());
}

TEST(ChatTemplateRender, MatchesTransformersByteForByte) {
  const auto& doc = expected();
  int checked = 0, raised = 0;
  for (const auto& c : doc.at("cases")) {
    const std::string name = c.at("template");
    const auto& t = doc.at("templates").at(name);
    const auto info = detail::detect_chat_template(read_file(data_path(t.at("file").get<std::string>())));
    ASSERT_TRUE(info.has_value()) << name;
    const auto msgs = messages_of(doc.at("conversations").at(c.at("conversation").get<std::string>()));
    const bool gen = c.at("add_generation_prompt");
    const std::string bos = t.at("bos");
    const std::string label = name + " / " + c.at("conversation").get<std::string>() + (gen ? " / gen" : "");
    if (c.contains("error")) {
      if (!t.at("compare_errors").get<bool>()) continue;  // a stricter template than the format
      EXPECT_THROW(detail::render_chat(*info, msgs, gen, bos), InvalidArgument) << label;
      ++raised;
      continue;
    }
    const std::string want = c.at("output");
    EXPECT_EQ(detail::render_chat(*info, msgs, gen, bos), want) << label;
    if (info->default_system.empty()) {
      EXPECT_EQ(render_chat(info->format, msgs, gen, bos), want) << label;
    }
    ++checked;
  }
  EXPECT_GT(checked, 100);
  EXPECT_GT(raised, 5);
}

// The path generation takes: the template text rendered by the Jinja
// renderer, on the same transformers references.
TEST(ChatTemplateRender, JinjaRendererMatchesTransformersOnStoredTemplates) {
  const auto& doc = expected();
  int checked = 0, raised = 0;
  for (const auto& c : doc.at("cases")) {
    const std::string name = c.at("template");
    const auto& t = doc.at("templates").at(name);
    const std::string jinja = read_file(data_path(t.at("file").get<std::string>()));
    const auto msgs = messages_of(doc.at("conversations").at(c.at("conversation").get<std::string>()));
    const bool gen = c.at("add_generation_prompt");
    const std::string label = name + " / " + c.at("conversation").get<std::string>() + (gen ? " / gen" : "");
    if (c.contains("error")) {
      EXPECT_THROW(render_chat_template(jinja, msgs, gen, t.at("bos"), t.at("eos")), TemplateError) << label;
      ++raised;
      continue;
    }
    EXPECT_EQ(render_chat_template(jinja, msgs, gen, t.at("bos"), t.at("eos")), c.at("output").get<std::string>()) << label;
    ++checked;
  }
  EXPECT_GT(checked, 100);
  EXPECT_GT(raised, 5);
}

TEST(ChatTemplateBuiltin, TextsAreTheStoredTemplates) {
  for (const char* name : {"chatml", "llama2", "llama3", "gemma", "zephyr", "mistral"}) {
    const auto text = builtin_chat_template(name);
    ASSERT_TRUE(text.has_value()) << name;
    EXPECT_EQ(*text, read_file(data_path(std::string("templates/") + name + ".jinja"))) << name;
  }
  EXPECT_FALSE(builtin_chat_template("vicuna").has_value());
}

TEST(ChatTemplateRender, UnsupportedRolesThrow) {
  const std::vector<ChatMessage> tool{{"user", "hi"}, {"tool", "{\"x\": 1}"}};
  const std::vector<ChatMessage> odd{{"narrator", "Once upon a time"}};
  for (ChatFormat f : {ChatFormat::ChatML, ChatFormat::Llama2, ChatFormat::Llama3, ChatFormat::Gemma,
                       ChatFormat::Zephyr, ChatFormat::Mistral}) {
    EXPECT_THROW(render_chat(f, tool, true, "<s>"), InvalidArgument) << to_string(f);
    EXPECT_THROW(render_chat(f, odd, true, "<s>"), InvalidArgument) << to_string(f);
    EXPECT_THROW(render_chat(f, {}, true, "<s>"), InvalidArgument) << to_string(f);
  }
  try {
    render_chat(ChatFormat::Gemma, tool, true);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("'tool'"), std::string::npos) << e.what();
  }
}

TEST(ChatTemplateRender, SystemOnlyFirstWhereFoldedIntoAUserTurn) {
  const std::vector<ChatMessage> late{{"user", "a"}, {"assistant", "b"}, {"system", "c"}, {"user", "d"}};
  EXPECT_THROW(render_chat(ChatFormat::Llama2, late, true, "<s>"), InvalidArgument);
  EXPECT_THROW(render_chat(ChatFormat::Gemma, late, true, "<bos>"), InvalidArgument);
  EXPECT_THROW(render_chat(ChatFormat::Mistral, late, true, "<s>"), InvalidArgument);
  // Formats with a system turn of their own render it where it is.
  EXPECT_NO_THROW(render_chat(ChatFormat::ChatML, late, true));
  EXPECT_NO_THROW(render_chat(ChatFormat::Llama3, late, true));
  EXPECT_NO_THROW(render_chat(ChatFormat::Zephyr, late, true));
}

TEST(ChatTemplateRender, SmolLM2ConversationAsTheModelExpects) {
  const auto info = detail::detect_chat_template(read_file(data_path("templates/smollm2.jinja")));
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(detail::render_chat(*info, {{"user", "What is the capital of France?"}}, true),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n");
  // The public format-only call renders plain ChatML.
  EXPECT_EQ(render_chat(ChatFormat::ChatML, {{"user", "Hi"}}, true),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplateStrip, PythonWhitespace) {
  using detail::python_strip;
  EXPECT_EQ(python_strip("  a b \t\n"), "a b");
  EXPECT_EQ(python_strip("\u3000\u00a0x\u2028\u0085"), "x");
  EXPECT_EQ(python_strip("\x1c\x1fy\x0b\x0c"), "y");
  EXPECT_EQ(python_strip("\u200bz\u200b"), "\u200bz\u200b");  // zero-width space is not whitespace
  EXPECT_EQ(python_strip("   "), "");
  EXPECT_EQ(python_strip(""), "");
  EXPECT_EQ(python_strip(" \xff "), "\xff");  // invalid bytes stay
  EXPECT_EQ(python_strip("é "), "é");
}

}  // namespace
}  // namespace gpt
