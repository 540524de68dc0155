// Internal pieces of the generation loop shared by LanguageModel and
// ChatSession.
#pragma once

#include <nlohmann/json.hpp>

#include <Eigen/Core>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "gpt/generate.h"

namespace gpt::detail {

// Throws InvalidArgument for options out of range.
void validate(const GenerateOptions& options);
// The KV-cache size a generation uses.
std::int64_t context_for(const Model& model, const GenerateOptions& options);
// The Session options a generation uses (context, threads, memory cap).
SessionOptions session_options(const Model& model, const GenerateOptions& options);
// Throws InvalidArgument when text (plus extra_tokens) cannot fit `context`
// tokens, judged by Tokenizer::min_tokens without encoding it; a no-op when
// the tokenizer gives no bound.
void check_text_fits(const Tokenizer& tok, std::string_view text, std::size_t extra_tokens, std::int64_t context);
// Feeds prompt tokens in batches of options.prompt_batch; logits receives the
// last position's logits. Returns false when the callback cancelled.
bool feed_prompt(Session& session, std::span<const Token> tokens, const GenerateOptions& options,
                 Eigen::VectorXf& logits);
// One completion's sampling state: sampler, penalties' history, grammar,
// stop strings, incremental text and streaming. The caller runs the model:
//   Generator g(lm, prompt, options, seed, stream);
//   while (auto t = g.next(logits, room)) logits = <forward *t>;
//   Completion c = g.finish();
class Generator {
 public:
  Generator(const LanguageModel& lm, const std::vector<Token>& prompt, const GenerateOptions& options,
            std::uint64_t seed, bool stream);
  ~Generator();
  Generator(Generator&&) noexcept;
  Generator& operator=(Generator&&) noexcept;

  // Takes the logits after the last token fed; returns the token to feed
  // next, or nullopt when the completion is over. room: whether the KV
  // cache can take one more token (else the completion ends ContextFull).
  std::optional<Token> next(Eigen::VectorXf logits, bool room);
  // Ends the completion now with FinishReason::Cancelled (not yet over).
  void cancel();
  // Generation time (Completion::generate_ms) counts from now (a batched
  // sequence's generator exists while its prompt is still being read).
  void start_clock();
  bool over() const noexcept;
  // The completion (flushes held-back text through the stream); call once.
  Completion finish();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Samples up to options.max_tokens tokens after `prompt`, whose last logits
// are given; streams through options.on_text when `stream`.
Completion generate_from(const LanguageModel& lm, Session& session, const std::vector<Token>& prompt,
                         Eigen::VectorXf logits, const GenerateOptions& options, std::uint64_t seed, bool stream);
// Chat template output -> ids, parsing special-token text, adding BOS only
// when the template did not already spell it.
std::vector<Token> encode_chat(const Tokenizer& tok, const std::string& rendered);
std::string bos_text(const Tokenizer& tok);
std::string eos_text(const Tokenizer& tok);
// The variables transformers' apply_chat_template gives a template.
nlohmann::ordered_json chat_context(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                    const std::string& bos, const std::string& eos);

}  // namespace gpt::detail
