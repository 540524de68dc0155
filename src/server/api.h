// The OpenAI HTTP API, without the HTTP: request bodies -> validated
// generation requests, completions -> response bodies and SSE events, and
// the error body {"error": {"message", "type", "param", "code"}}.
//
// Nothing here touches sockets or threads; everything is a pure function of
// its arguments, so tests/server/api_test.cpp checks it without a server.
//
// Rule: every field of a request is either mapped onto the engine, or
// accepted because it cannot change the output (listed in kNoEffectFields),
// or refused with a 400 naming it. Nothing is silently ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gpt/generate.h"

namespace gpt::server {

using json = nlohmann::json;

// An error the client caused (or a server state it should know about),
// carried to the HTTP layer as status + OpenAI error body.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string type = "invalid_request_error", std::string param = {},
           std::string code = {})
      : std::runtime_error(message), status_(status), type_(std::move(type)), param_(std::move(param)),
        code_(std::move(code)) {}
  int status() const noexcept { return status_; }
  const std::string& type() const noexcept { return type_; }
  const std::string& param() const noexcept { return param_; }  // empty = null
  const std::string& code() const noexcept { return code_; }    // empty = null

 private:
  int status_;
  std::string type_, param_, code_;
};

// {"error": {"message", "type", "param", "code"}}; empty param/code -> null.
json error_body(const std::string& message, const std::string& type, const std::string& param = {},
                const std::string& code = {});
json error_body(const ApiError& e);

// What the server fixes for every request (from its command line).
struct ServerLimits {
  std::int64_t context_length = 4096;  // tokens per sequence (prompt + generated)
  int threads = 0;                     // GenerateOptions::threads
  std::int32_t max_n = 16;             // most choices per request
  std::size_t max_stop = 16;           // most stop strings
  std::size_t vocab_size = 0;          // logit_bias keys must be below it; 0 = unchecked
};

// One prompt, as text or as token ids.
struct PromptInput {
  std::optional<std::string> text;  // text: tokenized with the model's special prefix (BOS)
  std::vector<Token> tokens;        // token ids as given (used when !text)
};

enum class Endpoint { Completions, ChatCompletions };

// A parsed, validated request. options carries everything but the prompt;
// options.n is the number of choices per prompt.
struct GenerationRequest {
  Endpoint endpoint = Endpoint::Completions;
  std::string model;                   // as the client named it (echoed back); empty = not given
  std::vector<PromptInput> prompts;    // completions: one or more prompts
  std::vector<ChatMessage> messages;   // chat
  GenerateOptions options;             // max_tokens, n, sampling, stop, logprobs (threads/context from limits)
  bool max_tokens_given = false;       // chat: otherwise generate until the context is full
  bool stream = false;
  bool include_usage = false;          // stream_options.include_usage
  bool echo = false;                   // completions: prompt text before the completion
  bool chat_logprobs = false;          // chat: logprobs: true
  std::int32_t top_logprobs = 0;       // chat: alternatives per token
};

// Parses a /v1/completions body. model_from_path: the engine of
// /v1/engines/{engine}/completions (then "model" need not be given).
// random: draws a seed when the request has none. Throws ApiError (400).
GenerationRequest parse_completion_request(const json& body, const ServerLimits& limits, std::mt19937_64& random,
                                           const std::string& model_from_path = {});
GenerationRequest parse_chat_request(const json& body, const ServerLimits& limits, std::mt19937_64& random,
                                     const std::string& model_from_path = {});

// Parses the text of a body as JSON; throws ApiError 400 for malformed JSON
// or a body that is not an object.
json parse_body(const std::string& text);

// Throws ApiError 400 (code context_length_exceeded) when prompt_tokens plus
// the requested max_tokens cannot fit the context.
void check_context(std::int64_t prompt_tokens, const GenerationRequest& r, std::int64_t context_length);

// OpenAI's finish_reason for ours: "stop" (stop string or end of text) or
// "length" (max_tokens or a full context).
const char* finish_reason(FinishReason r) noexcept;

// One generated choice, ready to encode.
struct Choice {
  std::int32_t index = 0;
  Completion completion;
  std::string prefix;  // echo: the prompt text
};

struct Usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
};
json usage_json(const Usage& u);

// Log-probabilities, in the legacy completions format (tokens,
// token_logprobs, top_logprobs, text_offset; offsets start at text_offset0)
// and in the chat format (content: [{token, logprob, bytes, top_logprobs}]).
json legacy_logprobs(const Completion& c, const Tokenizer& tok, std::size_t text_offset0);
json chat_logprobs(const Completion& c, const Tokenizer& tok, std::int32_t top_logprobs);

// Whole responses.
json completion_response(const std::string& id, std::int64_t created, const std::string& model,
                         const std::vector<Choice>& choices, const Usage& usage, const GenerationRequest& r,
                         const Tokenizer& tok);
json chat_response(const std::string& id, std::int64_t created, const std::string& model,
                   const std::vector<Choice>& choices, const Usage& usage, const GenerationRequest& r,
                   const Tokenizer& tok);

// Streaming events (the JSON of one "data:" line).
json completion_chunk(const std::string& id, std::int64_t created, const std::string& model, std::int32_t index,
                      const std::string& text, const char* finish, const json& logprobs = nullptr);
json chat_chunk(const std::string& id, std::int64_t created, const std::string& model, std::int32_t index,
                const json& delta, const char* finish, const json& logprobs = nullptr);
json usage_chunk(const std::string& id, std::int64_t created, const std::string& model, const char* object,
                 const Usage& usage);

// Server-sent events framing: "data: <json>\n\n"; invalid UTF-8 in strings
// is replaced (U+FFFD), never an exception.
std::string sse_event(const json& data);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";

// JSON text for a response body (invalid UTF-8 replaced).
std::string dump(const json& j);

// Constant-time comparison of an API key (time depends on the lengths only).
bool keys_equal(const std::string& given, const std::string& expected) noexcept;

}  // namespace gpt::server
