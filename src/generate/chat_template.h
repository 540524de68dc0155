// Chat templates, internal part: what detection learns beyond the format.
//
// The public API (gpt/generate.h) names a template by ChatFormat. Some real
// templates add details a format name cannot carry; today the one that
// matters is a default system turn that ChatML templates insert when the
// conversation has none (SmolLM2: "You are a helpful AI assistant named
// SmolLM, trained by Hugging Face"; Qwen2.5 has its own). The functions here
// keep that detail so that a model's own template can be reproduced byte
// for byte; gpt::render_chat(ChatFormat, ...) is render_chat({format, ""}).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpt/generate.h"

namespace gpt::detail {

struct ChatTemplateInfo {
  ChatFormat format = ChatFormat::ChatML;
  // ChatML only: the system message the template adds before the first
  // message when that message is not a system message; empty = none.
  std::string default_system;
};

// The format plus details found in the Jinja text; nullopt if unknown.
std::optional<ChatTemplateInfo> detect_chat_template(std::string_view jinja_template);

// As gpt::render_chat, with the template's details.
std::string render_chat(const ChatTemplateInfo& info, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt, const std::string& bos = {});

// Python's str.strip() (Jinja's trim) on UTF-8 text: removes leading and
// trailing code points for which Python's str.isspace() is true.
std::string python_strip(std::string_view s);

}  // namespace gpt::detail
