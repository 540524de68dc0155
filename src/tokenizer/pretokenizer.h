// Pre-tokenizers: split text into the words BPE merges within. Regexes run on
// PCRE2 in UTF + Unicode-property mode, compiled once (JIT) at load time.
// Immutable after construction; split() is safe to call from many threads.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace gpt::tok {

// The regexes Hugging Face and llama.cpp name.
inline constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
inline constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

using Span = std::pair<std::size_t, std::size_t>;  // [begin, end) byte offsets

// A compiled PCRE2 pattern (shared, read-only).
class Regex {
 public:
  // literal: match the pattern as plain text. Throws UnsupportedModel if PCRE2 rejects it.
  explicit Regex(const std::string& pattern, bool literal = false);
  // Appends the [begin, end) of every non-overlapping match in s, offset by base.
  void find_all(std::string_view s, std::size_t base, std::vector<Span>& out) const;
  const std::string& pattern() const noexcept { return pattern_; }

 private:
  struct Code;
  std::shared_ptr<const Code> code_;
  std::string pattern_;
};

// How a split keeps the matched text (Hugging Face SplitDelimiterBehavior).
enum class SplitBehavior { Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous };

struct PreTokenizeStep {
  Regex regex;
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
};

// A sequence of splits applied one after the other, each to the pieces of the last.
class PreTokenizer {
 public:
  PreTokenizer() = default;
  void add(PreTokenizeStep step) { steps_.push_back(std::move(step)); }
  void add_regex(const std::string& pattern) { steps_.push_back({Regex(pattern), SplitBehavior::Isolated, false}); }
  bool empty() const noexcept { return steps_.empty(); }
  // The pieces of text, as byte ranges.
  std::vector<Span> split(std::string_view text) const;

  // A llama.cpp tokenizer.ggml.pre name ("gpt2", "smollm", "llama-bpe", "qwen2", "default", ...).
  // Throws UnsupportedModel for names it does not know.
  static PreTokenizer from_gguf_name(const std::string& name);

 private:
  std::vector<PreTokenizeStep> steps_;
};

// Reads a tokenizer.json "pre_tokenizer" object into steps. Sets *byte_level when a
// ByteLevel step is present and *add_prefix_space from it. Throws UnsupportedModel
// naming a pre-tokenizer type this engine lacks (Metaspace, BertPreTokenizer, ...).
void add_hf_pre_tokenizer(const nlohmann::json& j, PreTokenizer& pre, bool* byte_level, bool* add_prefix_space);

}  // namespace gpt::tok
