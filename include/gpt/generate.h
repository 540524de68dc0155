// Text generation: sampling options, stop conditions, streaming, chat.
//
//   auto lm = gpt::LanguageModel::load("models/SmolLM2-135M-Instruct.Q4_1.gguf");
//   gpt::GenerateOptions opt;
//   opt.max_tokens = 64;
//   gpt::Completion c = lm->complete("The capital of France is", opt);
//   gpt::Completion r = lm->chat({{"user", "What is the capital of France?"}}, opt);
//
// Ownership and threads: a LanguageModel (model + tokenizer) is immutable and
// may be shared by many threads; each call of complete()/chat() uses its own
// Session. A ChatSession keeps the KV cache across turns and is used by one
// thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gpt/model.h"
#include "gpt/session.h"
#include "gpt/tokenizer.h"
#include "gpt/types.h"

namespace gpt {

namespace jinja {
class Template;  // src/generate/jinja.h
}
namespace detail {
class VocabularyTrie;  // src/generate/grammar.h
}

// How the next token is chosen from the logits. Applied in this order:
// logit bias, penalties, temperature (0 = greedy: arg-max, the rest ignored),
// top-k, top-p, min-p, then a draw from the remaining distribution.
struct SamplingOptions {
  float temperature = 0.8f;         // >= 0; 0 picks the most likely token
  std::int32_t top_k = 40;          // keep the k most likely; 0 = off
  float top_p = 0.95f;              // keep the smallest set with mass >= top_p; in (0, 1], 1 = off
  float min_p = 0.05f;              // drop tokens below min_p * p(max); in [0, 1), 0 = off
  float repetition_penalty = 1.0f;  // > 0; divide positive / multiply negative logits of seen tokens; 1 = off
  float presence_penalty = 0.0f;    // subtract once from the logit of each seen token
  float frequency_penalty = 0.0f;   // subtract count(token) times
  std::int32_t penalty_last_n = 64; // tokens of history the penalties look at; -1 = all, 0 = none
  std::map<Token, float> logit_bias;// added to the logits before anything else
  std::uint64_t seed = 0;           // random seed; same seed + options -> same tokens

  // Throws InvalidArgument naming the first value out of range.
  void validate() const;
};

enum class FinishReason {
  Length,      // max_tokens reached
  Stop,        // a stop string matched (not included in the text)
  EndOfText,   // the model produced an end-of-sequence token
  Cancelled,   // the streaming callback asked to stop
  ContextFull, // the context window is full
};
const char* to_string(FinishReason r) noexcept;

// Called with each new piece of text (whole UTF-8 characters only); return
// false to stop. Also called with an empty piece during long prompt
// processing, so a caller can cancel then.
using StreamCallback = std::function<bool(const std::string& piece)>;

struct GenerateOptions {
  std::int32_t max_tokens = 256;         // new tokens at most, per completion
  std::int32_t n = 1;                    // number of completions (seeds seed, seed+1, ...)
  SamplingOptions sampling;
  std::vector<std::string> stop;         // stop strings (not included in the output)
  std::vector<Token> stop_tokens;        // extra ids that end generation (besides the model's EOS)
  bool ignore_eos = false;               // keep going after end-of-sequence tokens
  std::int32_t logprobs = -1;            // >= 0: record each token's log-probability and this many alternatives
  int threads = 0;                       // 0 = all cores
  std::int64_t context_length = 0;       // 0 = the model's (capped at 4096 for memory)
  std::int32_t prompt_batch = 64;        // prompt tokens per forward pass (cancellation granularity);
                                         // n > 1 decodes the n together (gpt/batch.h), in chunks of 64
  std::size_t max_memory_bytes = std::size_t{16} << 30;  // KV cache + scratch cap (SessionOptions); 0 = none
  StreamCallback on_text;                // optional streaming callback (first completion only when n > 1)
  // Constrained decoding: a GBNF grammar (see README, "Constrained output")
  // the generated text must follow; empty = none. Only tokens that keep the
  // text inside the grammar's language are sampled, end-of-sequence only
  // where the grammar accepts, and generation ends (finish reason Stop) once
  // the grammar accepts and nothing more can follow. json_schema_to_grammar()
  // and json_object_grammar() give grammars for JSON. A bad grammar throws
  // GrammarError (line and column).
  std::string grammar;
};

// A GBNF grammar for the JSON values a JSON Schema (text) allows. Supported:
// type (object, array, string, number, integer, boolean, null, or a list),
// properties, required, additionalProperties (false, or true / absent: no
// extra properties are generated), items, enum, const, minItems, maxItems,
// minLength, maxLength, simple regular-expression pattern, anyOf, oneOf with
// branches of disjoint types or constants, $ref to #/$defs/... (or
// #/definitions/...), and the annotations title, description, default,
// examples, $schema, $id, $comment. Anything else throws SchemaError naming
// the keyword: the grammar is never looser than the schema. Properties come
// in the schema's order; numbers have at most 16 integer and 16 fraction
// digits, strings and whitespace are otherwise free.
std::string json_schema_to_grammar(std::string_view schema_json);
// A GBNF grammar for any JSON object ({...} with any values inside).
std::string json_object_grammar();
// Parses and compiles a GBNF grammar; throws GrammarError (line, column) if
// it is not valid. Generation does the same; this checks one up front.
void check_grammar(std::string_view gbnf);

struct TokenLogprob {
  Token token = 0;
  std::string text;
  float logprob = 0.0f;
  std::vector<std::pair<Token, float>> top;  // most likely alternatives, best first
};

struct Completion {
  std::string text;
  std::vector<Token> tokens;          // generated ids (stop string tokens included, EOS excluded)
  FinishReason finish_reason = FinishReason::Length;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::vector<Token> prompt_ids;      // the ids fed before generating (BOS, chat template included)
  double prompt_ms = 0;               // time to process the prompt
  double generate_ms = 0;             // time to generate
  std::vector<TokenLogprob> logprobs; // when requested
};

struct ChatMessage {
  std::string role;     // "system", "user" or "assistant"
  std::string content;
};

// Chat templates are rendered from their Jinja text (the model's own, from
// GGUF metadata or tokenizer_config.json, or one given with --chat-template)
// by the library's Jinja renderer, as transformers' apply_chat_template does.
//
// Renders messages with a Jinja chat template; bos/eos are the texts of the
// BOS/EOS tokens (bos_token / eos_token in the template). Throws
// TemplateError: the template raised (e.g. roles that do not alternate), uses
// a Jinja feature the renderer lacks (named), or exceeds a bound.
std::string render_chat_template(std::string_view jinja_template, const std::vector<ChatMessage>& messages,
                                 bool add_generation_prompt, const std::string& bos = {}, const std::string& eos = {});
// The Jinja text of a template known by name ("chatml", "llama2", "llama3",
// "gemma", "zephyr", "mistral"); nullopt for other names.
std::optional<std::string> builtin_chat_template(std::string_view name);

// The templates known by name, as formats. render_chat(ChatFormat) and
// detect_chat_format are the hand-written renderers kept as test oracles
// beside the Jinja renderer; generation does not use them.
enum class ChatFormat { ChatML, Llama2, Llama3, Gemma, Zephyr, Mistral };
// "chatml", "llama2", "llama3", "gemma", "zephyr", "mistral".
const char* to_string(ChatFormat f) noexcept;
std::optional<ChatFormat> chat_format_from_name(std::string_view name);
// Recognises the template by its distinctive markers; nullopt if unknown.
std::optional<ChatFormat> detect_chat_format(std::string_view jinja_template);
// Renders messages as the model's template would (as transformers'
// apply_chat_template), with the assistant prompt appended when
// add_generation_prompt. bos is the BOS text for templates that spell it
// out ("<s>", "<|begin_of_text|>", "<bos>"). Throws InvalidArgument for a
// role the format cannot express.
std::string render_chat(ChatFormat f, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        const std::string& bos = {});

// A model with its tokenizer, ready to generate.
class LanguageModel {
 public:
  // Loads a checkpoint (Hugging Face directory, .safetensors, .gguf) and the
  // tokenizer found with it. Throws IoError / FormatError / UnsupportedModel.
  static std::shared_ptr<const LanguageModel> load(const std::filesystem::path& path, const LoadOptions& options = {});
  LanguageModel(std::shared_ptr<const Model> model, std::shared_ptr<const Tokenizer> tokenizer);

  const Model& model() const noexcept { return *model_; }
  std::shared_ptr<const Model> model_ptr() const noexcept { return model_; }
  const Tokenizer& tokenizer() const noexcept { return *tokenizer_; }
  std::shared_ptr<const Tokenizer> tokenizer_ptr() const noexcept { return tokenizer_; }

  // The Jinja text of the chat template: for an override, the builtin
  // template of that name or else the contents of that file; without one,
  // the tokenizer's template. Throws UnsupportedModel naming --chat-template
  // when the model has none, InvalidArgument / IoError for a bad override.
  std::string chat_template(const std::string& override_name_or_file = {}) const;
  // The chat format: the override when given, else detected from the
  // tokenizer's template. Throws UnsupportedModel naming --chat-template when
  // the template is missing or not recognised. (Generation renders the
  // template text itself; see chat_template().)
  ChatFormat chat_format(const std::string& override_name = {}) const;

  // Completes raw text (BOS added when the tokenizer says so). Returns n
  // completions. Throws InvalidArgument for bad options or a prompt longer
  // than the context.
  std::vector<Completion> complete_n(const std::string& prompt, const GenerateOptions& options) const;
  Completion complete(const std::string& prompt, const GenerateOptions& options) const;
  // Same on already-tokenized input.
  Completion complete_tokens(const std::vector<Token>& prompt, const GenerateOptions& options) const;
  // One chat turn: renders messages with the chat template (chat_template())
  // and completes. Throws TemplateError when the template cannot render them.
  Completion chat(const std::vector<ChatMessage>& messages, const GenerateOptions& options,
                  const std::string& template_override = {}) const;

 // The vocabulary as a byte trie for constrained decoding, built on first
  // use (thread-safe) and kept.
  const detail::VocabularyTrie& vocabulary_trie() const;

 private:
  std::shared_ptr<const Model> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  struct Lazy;                    // lazily built, shared data (the trie)
  std::shared_ptr<Lazy> lazy_;
};

// Multi-turn chat that keeps the KV cache between turns: each turn feeds
// only the tokens not yet in the cache.
class ChatSession {
 public:
  explicit ChatSession(std::shared_ptr<const LanguageModel> lm, const GenerateOptions& options = {},
                       const std::string& template_override = {}, const std::string& system_prompt = {});
  // Adds a user message, generates the reply (streamed through
  // options.on_text) and adds it to the history.
  Completion send(const std::string& user_message);
  const std::vector<ChatMessage>& history() const noexcept { return history_; }
  std::int64_t cached_tokens() const noexcept;  // tokens kept in the KV cache

 private:
  std::shared_ptr<const LanguageModel> lm_;
  GenerateOptions options_;
  std::shared_ptr<const jinja::Template> template_;  // parsed once
  std::vector<ChatMessage> history_;
  Session session_;
  std::vector<Token> cached_;  // tokens in the session's cache
  std::uint64_t turn_ = 0;
};

}  // namespace gpt
