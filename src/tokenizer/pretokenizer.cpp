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

// CJK ideographs, U+0800..U+4E00 and Hangul, as DeepSeek's tokenizer.json
// groups them.
static constexpr const char* kDeepseekCjk = R"([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";

PreTokenizer PreTokenizer::from_gguf_name(const std::string& name) {
  PreTokenizer p;
  // The same splits as the pre-tokenizers of these models' tokenizer.json
  // (llama.cpp lists them by name the same way); each regex splits the
  // pieces the previous one left, keeping matches and the text between.
  if (name.empty() || name == "default" || name == "gpt2" || name == "gpt-2" || name == "olmo" || name == "jais" ||
      name == "mpt") {
    p.add_regex(kGpt2Pattern);
  } else if (name == "smollm" || name == "codeshell" || name == "starcoder" || name == "refact" ||
             name == "command-r") {
    // Digits(individual_digits) first: every numeric character (\p{N}, so
    // also "½") on its own, then GPT-2's regex.
    p.add_regex(R"(\p{N})");
    p.add_regex(kGpt2Pattern);
  } else if (name == "llama-bpe" || name == "llama3" || name == "dbrx" || name == "smaug-bpe") {
    p.add_regex(kLlama3Pattern);
  } else if (name == "qwen2" || name == "deepseek-r1-qwen") {
    p.add_regex(kQwen2Pattern);
  } else if (name == "qwen35") {  // Qwen2's, with combining marks (\p{M}) kept in words
    p.add_regex(R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)");
  } else if (name == "falcon") {
    p.add_regex(R"([\p{P}\$\+<=>\^~\|`]+)");  // Punctuation (ASCII symbols count)
    p.add_regex(kGpt2Pattern);
    p.add_regex(R"([0-9][0-9][0-9])");
  } else if (name == "deepseek-coder") {
    p.add_regex(R"([\r\n])");
    p.add_regex(R"(\s?\p{L}+)");
    p.add_regex(R"(\s?\p{P}+)");
    p.add_regex(kDeepseekCjk);
    p.add_regex(R"(\p{N})");
  } else if (name == "deepseek-llm") {
    p.add_regex(R"([\r\n])");
    // Letters with case (Lu, Ll, Lt) as DeepSeek's tokenizer.json lists them.
    p.add_regex(
        R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF})"
        R"(\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1})"
        R"(\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5})"
        R"(\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A})"
        R"(\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B})"
        R"(\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC})"
        R"(\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107})"
        R"(\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134})"
        R"(\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})"
        R"(\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787})"
        R"(\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A})"
        R"(\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2})"
        R"(\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)");
    // ASCII punctuation and symbols, their full-width forms, quotes, ideographic space and stops.
    p.add_regex(R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)");
    p.add_regex(R"(\s+$)");
    p.add_regex(kDeepseekCjk);
    p.add_regex(R"(\p{N}+)");
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
