// Chat templates, hand-written: the formats of gpt::ChatFormat written out in
// C++. Generation no longer uses these: it renders the template text with
// the Jinja renderer (jinja.h, LanguageModel::chat_template). They remain as
// test oracles, each
// reproducing one official Jinja template byte for byte as transformers'
// apply_chat_template renders it (tests/data/chat/templates holds the
// templates, tests/data/chat/expected.json the reference renderings):
//
//   ChatML   teknium/OpenHermes-2.5-Mistral-7B (plain ChatML); with a default
//            system turn, SmolLM2-Instruct
//   Llama2   meta-llama/Llama-2-7b-chat-hf
//   Llama3   meta-llama/Meta-Llama-3-8B-Instruct
//   Gemma    google/gemma-3-*-it (system folded into the first user turn)
//   Zephyr   HuggingFaceH4/zephyr-7b-beta
//   Mistral  mistralai/Mistral-7B-Instruct-v0.2 as updated by Mistral AI:
//            their "v1" format, "<s> [INST] system\n\nuser [/INST] reply</s>"
//
// Where a template raises (roles that do not alternate) render_chat throws
// InvalidArgument. It also throws where a template would silently drop or
// garble a message: a role other than system / user / assistant, a system
// message that is not first in the formats that fold it into a user turn,
// and an empty conversation.
#include <algorithm>
#include <array>
#include <cstdint>

#include "generate/chat_template.h"
#include "generate/pytext.h"
#include "gpt/error.h"

namespace gpt {

namespace {

struct FormatName {
  ChatFormat format;
  const char* name;
};
constexpr std::array<FormatName, 6> kFormatNames{{
    {ChatFormat::ChatML, "chatml"},
    {ChatFormat::Llama2, "llama2"},
    {ChatFormat::Llama3, "llama3"},
    {ChatFormat::Gemma, "gemma"},
    {ChatFormat::Zephyr, "zephyr"},
    {ChatFormat::Mistral, "mistral"},
}};

bool contains(std::string_view s, std::string_view what) { return s.find(what) != std::string_view::npos; }

}  // namespace

const char* to_string(ChatFormat f) noexcept {
  for (const auto& n : kFormatNames)
    if (n.format == f) return n.name;
  return "unknown";
}

std::optional<ChatFormat> chat_format_from_name(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); });
  for (const auto& n : kFormatNames)
    if (lower == n.name) return n.format;
  return std::nullopt;
}

std::optional<ChatFormat> detect_chat_format(std::string_view jinja_template) {
  if (auto info = detail::detect_chat_template(jinja_template)) return info->format;
  return std::nullopt;
}

std::string render_chat(ChatFormat f, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        const std::string& bos) {
  return detail::render_chat(detail::ChatTemplateInfo{f, {}}, messages, add_generation_prompt, bos);
}

namespace detail {

namespace {

// Python's str.isspace() for one code point.
// Unescapes the backslash escapes of a Jinja string literal.
std::string jinja_unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char e = s[++i];
    switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      default: out += e; break;  // \\ \' \"
    }
  }
  return out;
}

// The default system message a ChatML template writes out as one literal,
// '<|im_start|>system\n...<|im_end|>' (newline either real or escaped).
std::string chatml_default_system(std::string_view t) {
  static constexpr std::string_view kHead = "<|im_start|>system";
  static constexpr std::string_view kEnd = "<|im_end|>";
  for (std::size_t pos = t.find(kHead); pos != std::string_view::npos; pos = t.find(kHead, pos + 1)) {
    std::size_t body = pos + kHead.size();
    if (t.substr(body, 1) == "\n") body += 1;
    else if (t.substr(body, 2) == "\\n") body += 2;
    else continue;
    const std::size_t end = t.find(kEnd, body);
    if (end == std::string_view::npos) continue;
    const std::string_view text = t.substr(body, end - body);
    // A concatenation ("... system\n' + messages[0]['content'] + ...") is not a default.
    if (text.find_first_of("'\"{}") != std::string_view::npos) continue;
    if (text.empty()) continue;
    return jinja_unescape(text);
  }
  return {};
}

[[noreturn]] void unsupported(ChatFormat f, const std::string& what) {
  throw InvalidArgument(std::string("chat format '") + to_string(f) + "': " + what);
}

// Checks roles; returns the leading system message (when the format folds
// it into a user turn) and the index of the first other message.
struct Split {
  const ChatMessage* system = nullptr;
  std::size_t first = 0;
};

Split check_messages(ChatFormat f, const std::vector<ChatMessage>& m, bool system_first_only, bool alternate) {
  if (m.empty()) unsupported(f, "no messages to render");
  for (const auto& msg : m)
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant")
      unsupported(f, "unsupported role '" + msg.role + "' (expected system, user or assistant)");
  Split s;
  if (!system_first_only) return s;
  if (m[0].role == "system") s.system = &m[0], s.first = 1;
  for (std::size_t i = s.first; i < m.size(); ++i) {
    if (m[i].role == "system") unsupported(f, "a system message is only allowed first");
    if (alternate && (m[i].role == "user") != ((i - s.first) % 2 == 0))
      unsupported(f, "after the optional system message, roles must alternate user/assistant/user/...");
  }
  return s;
}

std::string render_chatml(const ChatTemplateInfo& info, const std::vector<ChatMessage>& m, bool gen) {
  check_messages(info.format, m, false, false);
  std::string out;
  if (!info.default_system.empty() && m[0].role != "system")
    out += "<|im_start|>system\n" + info.default_system + "<|im_end|>\n";
  for (const auto& msg : m) out += "<|im_start|>" + msg.role + "\n" + msg.content + "<|im_end|>\n";
  if (gen) out += "<|im_start|>assistant\n";
  return out;
}

// Llama-2-chat: "<s>[INST] <<SYS>>\nsys\n<</SYS>>\n\nuser [/INST] reply </s>".
// Contents are stripped; add_generation_prompt changes nothing.
std::string render_llama2(const std::vector<ChatMessage>& m, const std::string& bos) {
  const Split s = check_messages(ChatFormat::Llama2, m, true, true);
  std::string out;
  for (std::size_t i = s.first; i < m.size(); ++i) {
    std::string content = m[i].content;
    if (i == s.first && s.system) content = "<<SYS>>\n" + s.system->content + "\n<</SYS>>\n\n" + content;
    if (m[i].role == "user") {
      out += bos;
      out += "[INST] ";
      out += python_strip(content);
      out += " [/INST]";
    } else {
      out += ' ';
      out += python_strip(content);
      out += " </s>";
    }
  }
  return out;
}

std::string render_llama3(const std::vector<ChatMessage>& m, bool gen, const std::string& bos) {
  check_messages(ChatFormat::Llama3, m, false, false);
  std::string out = bos;
  for (const auto& msg : m)
    out += "<|start_header_id|>" + msg.role + "<|end_header_id|>\n\n" + python_strip(msg.content) + "<|eot_id|>";
  if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

// Gemma 3: the system message and a blank line open the first user turn.
std::string render_gemma(const std::vector<ChatMessage>& m, bool gen, const std::string& bos) {
  const Split s = check_messages(ChatFormat::Gemma, m, true, true);
  std::string out = bos;
  for (std::size_t i = s.first; i < m.size(); ++i) {
    out += "<start_of_turn>";
    out += m[i].role == "assistant" ? "model" : m[i].role;
    out += "\n";
    if (i == s.first && s.system) out += s.system->content + "\n\n";
    out += python_strip(m[i].content) + "<end_of_turn>\n";
  }
  if (gen) out += "<start_of_turn>model\n";
  return out;
}

std::string render_zephyr(const std::vector<ChatMessage>& m, bool gen) {
  check_messages(ChatFormat::Zephyr, m, false, false);
  std::string out;
  for (const auto& msg : m) out += "<|" + msg.role + "|>\n" + msg.content + "</s>\n";
  if (gen) out += "<|assistant|>\n";
  return out;
}

// Mistral v1 with a system message: "<s> [INST] sys\n\nuser [/INST] reply</s>".
// add_generation_prompt changes nothing.
std::string render_mistral(const std::vector<ChatMessage>& m, const std::string& bos) {
  const Split s = check_messages(ChatFormat::Mistral, m, true, true);
  std::string out = bos;
  for (std::size_t i = s.first; i < m.size(); ++i) {
    if (m[i].role == "user") {
      out += " [INST] ";
      if (i == s.first && s.system) out += s.system->content + "\n\n";
      out += m[i].content + " [/INST]";
    } else {
      out += " " + m[i].content + "</s>";
    }
  }
  return out;
}

}  // namespace

std::string python_strip(std::string_view s) {
  return std::string(strip_code_points(s, is_python_space, true, true));
}

std::optional<ChatTemplateInfo> detect_chat_template(std::string_view t) {
  if (contains(t, "<|start_header_id|>") && contains(t, "<|eot_id|>")) return ChatTemplateInfo{ChatFormat::Llama3, {}};
  if (contains(t, "<|im_start|>")) return ChatTemplateInfo{ChatFormat::ChatML, chatml_default_system(t)};
  if (contains(t, "<start_of_turn>")) return ChatTemplateInfo{ChatFormat::Gemma, {}};
  if (contains(t, "[INST]") && contains(t, "<<SYS>>")) return ChatTemplateInfo{ChatFormat::Llama2, {}};
  if (contains(t, "[INST]")) return ChatTemplateInfo{ChatFormat::Mistral, {}};
  if (contains(t, "<|user|>") && contains(t, "<|assistant|>") && !contains(t, "<|end|>"))
    return ChatTemplateInfo{ChatFormat::Zephyr, {}};
  return std::nullopt;
}

std::string render_chat(const ChatTemplateInfo& info, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt, const std::string& bos) {
  switch (info.format) {
    case ChatFormat::ChatML: return render_chatml(info, messages, add_generation_prompt);
    case ChatFormat::Llama2: return render_llama2(messages, bos);
    case ChatFormat::Llama3: return render_llama3(messages, add_generation_prompt, bos);
    case ChatFormat::Gemma: return render_gemma(messages, add_generation_prompt, bos);
    case ChatFormat::Zephyr: return render_zephyr(messages, add_generation_prompt);
    case ChatFormat::Mistral: return render_mistral(messages, bos);
  }
  throw InvalidArgument("unknown chat format");
}

}  // namespace detail
}  // namespace gpt
