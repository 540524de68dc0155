#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <nlohmann/json.hpp>

#include "gpt/error.h"

namespace gpt::tok {

struct Regex::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

Regex::Regex(const std::string& pattern, bool literal) : pattern_(pattern) {
  int err = 0;
  PCRE2_SIZE erroff = 0;
  std::uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
  if (literal) opts |= PCRE2_LITERAL;
  pcre2_code* c = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), opts, &err,
                                &erroff, nullptr);
  if (!c) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof buf);
    throw UnsupportedModel("pre-tokenizer regex '" + pattern + "' does not compile at offset " +
                           std::to_string(erroff) + ": " + reinterpret_cast<const char*>(buf));
  }
  pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is unavailable
  auto code = std::make_shared<Code>();
  code->code = c;
  code_ = std::move(code);
}

namespace {
// Per-thread match state: match data sized for our patterns and a JIT stack
// large enough for long whitespace or letter runs.
struct MatchState {
  pcre2_match_data* md = pcre2_match_data_create(16, nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  pcre2_match_context* ctx = pcre2_match_context_create(nullptr);
  MatchState() { pcre2_jit_stack_assign(ctx, nullptr, stack); }
  ~MatchState() {
    pcre2_match_context_free(ctx);
    pcre2_jit_stack_free(stack);
    pcre2_match_data_free(md);
  }
};
}  // namespace

void Regex::find_all(std::string_view s, std::size_t base, std::vector<Span>& out) const {
  thread_local MatchState st;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  std::size_t pos = 0;
  while (pos <= s.size()) {
    int rc = pcre2_match(code_->code, subject, s.size(), pos, 0, st.md, st.ctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(rc, buf, sizeof buf);
      throw Error("pre-tokenizer regex failed: " + std::string(reinterpret_cast<const char*>(buf)));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.md);
    std::size_t b = ov[0], e = ov[1];
    if (e == b) {  // empty match: step one character on
      pos = e + 1;
      while (pos < s.size() && (static_cast<unsigned char>(s[pos]) & 0xC0) == 0x80) ++pos;
      continue;
    }
    out.emplace_back(base + b, base + e);
    pos = e;
  }
}

std::vector<Span> PreTokenizer::split(std::string_view text) const {
  std::vector<Span> pieces{{0, text.size()}};
  if (text.empty()) return {};
  std::vector<Span> next, matches;
  std::vector<std::pair<Span, bool>> parts;
  for (const PreTokenizeStep& step : steps_) {
    next.clear();
    for (const Span& p : pieces) {
      matches.clear();
      step.regex.find_all(text.substr(p.first, p.second - p.first), p.first, matches);
      parts.clear();
      std::size_t prev = p.first;
      for (const Span& m : matches) {
        if (m.first > prev) parts.push_back({{prev, m.first}, step.invert});
        parts.push_back({m, !step.invert});
        prev = m.second;
      }
      if (prev < p.second) parts.push_back({{prev, p.second}, step.invert});
      // parts: (range, is_delimiter) covering p in order.
      switch (step.behavior) {
        case SplitBehavior::Isolated:
          for (auto& [r, d] : parts) next.push_back(r);
          break;
        case SplitBehavior::Removed:
          for (auto& [r, d] : parts)
            if (!d) next.push_back(r);
          break;
        case SplitBehavior::MergedWithPrevious: {
          bool prev_d = false;
          std::size_t first = next.size();
          for (auto& [r, d] : parts) {
            if (d && !prev_d && next.size() > first) next.back().second = r.second;
            else next.push_back(r);
            prev_d = d;
          }
          break;
        }
        case SplitBehavior::MergedWithNext: {
          bool prev_d = false;
          std::vector<Span> rev;
          for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
            if (it->second && !prev_d && !rev.empty()) rev.back().first = it->first.first;
            else rev.push_back(it->first);
            prev_d = it->second;
          }
          next.insert(next.end(), rev.rbegin(), rev.rend());
          break;
        }
        case SplitBehavior::Contiguous: {
          bool prev_d = false;
          std::size_t first = next.size();
          for (auto& [r, d] : parts) {
            if (d == prev_d && next.size() > first) next.back().second = r.second;
            else next.push_back(r);
            prev_d = d;
          }
          break;
        }
      }
    }
    pieces.swap(next);
  }
  return pieces;
}

PreTokenizer PreTokenizer::from_gguf_name(const std::string& name) {
  PreTokenizer p;
  if (name.empty() || name == "default" || name == "gpt2" || name == "gpt-2" || name == "starcoder" ||
      name == "refact" || name == "olmo" || name == "jais") {
    p.add_regex(kGpt2Pattern);
  } else if (name == "smollm" || name == "codeshell") {
    p.add_regex(R"(\p{N})");
    p.add_regex(kGpt2Pattern);
  } else if (name == "llama-bpe" || name == "llama3" || name == "dbrx" || name == "smaug-bpe") {
    p.add_regex(kLlama3Pattern);
  } else if (name == "qwen2" || name == "deepseek-r1-qwen") {
    p.add_regex(kQwen2Pattern);
  } else {
    throw UnsupportedModel("pre-tokenizer '" + name + "' (tokenizer.ggml.pre) is not supported");
  }
  return p;
}

static SplitBehavior parse_behavior(const std::string& b) {
  if (b == "Isolated") return SplitBehavior::Isolated;
  if (b == "Removed") return SplitBehavior::Removed;
  if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return SplitBehavior::Contiguous;
  throw UnsupportedModel("Split behavior '" + b + "' is not supported");
}

void add_hf_pre_tokenizer(const nlohmann::json& j, PreTokenizer& pre, bool* byte_level, bool* add_prefix_space) {
  if (j.is_null()) return;
  const std::string type = j.value("type", "");
  if (type == "Sequence") {
    for (const auto& s : j.at("pretokenizers")) add_hf_pre_tokenizer(s, pre, byte_level, add_prefix_space);
  } else if (type == "ByteLevel") {
    *byte_level = true;
    *add_prefix_space = j.value("add_prefix_space", false);
    if (j.value("use_regex", true)) pre.add_regex(kGpt2Pattern);
  } else if (type == "Split") {
    const auto& pat = j.at("pattern");
    PreTokenizeStep s{pat.contains("Regex") ? Regex(pat.at("Regex").get<std::string>())
                                            : Regex(pat.at("String").get<std::string>(), true),
                      parse_behavior(j.value("behavior", "Isolated")), j.value("invert", false)};
    pre.add(std::move(s));
  } else if (type == "Digits") {
    pre.add_regex(j.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
  } else if (type == "Whitespace") {
    pre.add({Regex(R"(\w+|[^\w\s]+)"), SplitBehavior::Removed, true});
  } else if (type == "WhitespaceSplit") {
    pre.add({Regex(R"(\s+)"), SplitBehavior::Removed, false});
  } else {
    throw UnsupportedModel("pre-tokenizer '" + type + "' is not supported");
  }
}

}  // namespace gpt::tok
