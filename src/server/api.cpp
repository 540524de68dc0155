// The OpenAI HTTP API without the HTTP: see api.h.
#include "server/api.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "gpt/error.h"
#include "gpt/generate.h"
#include "gpt/tokenizer.h"

namespace gpt::server {

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& message, const std::string& code = {}) {
  throw ApiError(400, message, "invalid_request_error", param, code);
}

bool has(const json& body, const char* key) { return body.contains(key) && !body.at(key).is_null(); }

// Typed getters: absent and null read as "not given".
std::optional<double> number(const json& body, const char* key, double lo, double hi) {
  if (!has(body, key)) return std::nullopt;
  const json& v = body.at(key);
  if (!v.is_number()) bad(key, std::string("'") + key + "' must be a number");
  const double d = v.get<double>();
  if (!(d >= lo && d <= hi))
    bad(key, std::string("'") + key + "' must be between " + json(lo).dump() + " and " + json(hi).dump() + " (got " +
                 v.dump() + ")");
  return d;
}

std::optional<std::int64_t> integer(const json& body, const char* key, std::int64_t lo, std::int64_t hi) {
  if (!has(body, key)) return std::nullopt;
  const json& v = body.at(key);
  if (!v.is_number_integer()) bad(key, std::string("'") + key + "' must be an integer");
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
    bad(key, std::string("'") + key + "' must be at most " + std::to_string(hi) + " (got " + v.dump() + ")");
  const std::int64_t i = v.get<std::int64_t>();
  if (i < lo || i > hi)
    bad(key, std::string("'") + key + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                 " (got " + v.dump() + ")");
  return i;
}

std::optional<bool> boolean(const json& body, const char* key) {
  if (!has(body, key)) return std::nullopt;
  if (!body.at(key).is_boolean()) bad(key, std::string("'") + key + "' must be a boolean");
  return body.at(key).get<bool>();
}

// Every key must be known for the endpoint: mapped, refused by name below,
// or without effect on the output.
void check_known(const json& body, const std::set<std::string>& known) {
  for (const auto& [key, value] : body.items())
    if (!known.count(key)) bad(key, "Unrecognized request argument supplied: " + key);
}

const std::set<std::string> kCommon = {
    "model", "max_tokens", "temperature", "top_p", "n", "stream", "stream_options", "logprobs", "stop",
    "presence_penalty", "frequency_penalty", "logit_bias", "seed",
    "user",  // no effect on the output (an end-user id for abuse monitoring)
    // our extensions (llama.cpp's names)
    "top_k", "min_p", "repeat_penalty", "repeat_last_n"};

// The fields both endpoints share: sampling, stop, n, stream.
void parse_common(const json& body, const ServerLimits& limits, std::mt19937_64& random, GenerationRequest& r) {
  if (has(body, "model")) {
    if (!body.at("model").is_string()) bad("model", "'model' must be a string");
    r.model = body.at("model").get<std::string>();
  }
  GenerateOptions& o = r.options;
  SamplingOptions& s = o.sampling;
  o.context_length = limits.context_length;
  o.threads = limits.threads;
  // OpenAI's defaults; the llama.cpp extensions default to off so that the
  // OpenAI fields mean what they mean there (temperature 1 = the model's distribution).
  s.temperature = 1.0f;
  s.top_p = 1.0f;
  s.top_k = 0;
  s.min_p = 0.0f;
  s.repetition_penalty = 1.0f;
  if (auto v = number(body, "temperature", 0.0, 2.0)) s.temperature = static_cast<float>(*v);
  if (auto v = number(body, "top_p", 0.0, 1.0)) {
    // top_p = 0 keeps only the most likely token: greedy.
    if (*v == 0.0) s.temperature = 0.0f;
    else s.top_p = static_cast<float>(*v);
  }
  if (auto v = integer(body, "n", 1, limits.max_n)) o.n = static_cast<std::int32_t>(*v);
  if (auto v = number(body, "presence_penalty", -2.0, 2.0)) s.presence_penalty = static_cast<float>(*v);
  if (auto v = number(body, "frequency_penalty", -2.0, 2.0)) s.frequency_penalty = static_cast<float>(*v);
  if (auto v = integer(body, "top_k", 0, std::numeric_limits<std::int32_t>::max())) s.top_k = static_cast<std::int32_t>(*v);
  if (auto v = number(body, "min_p", 0.0, 1.0)) {
    if (*v >= 1.0) bad("min_p", "'min_p' must be below 1");
    s.min_p = static_cast<float>(*v);
  }
  if (auto v = number(body, "repeat_penalty", 0.0, 1e6)) {
    if (*v <= 0.0) bad("repeat_penalty", "'repeat_penalty' must be above 0");
    s.repetition_penalty = static_cast<float>(*v);
  }
  if (auto v = integer(body, "repeat_last_n", -1, std::numeric_limits<std::int32_t>::max()))
    s.penalty_last_n = static_cast<std::int32_t>(*v);
  if (has(body, "seed")) {
    const json& v = body.at("seed");
    if (!v.is_number_integer()) bad("seed", "'seed' must be an integer");
    s.seed = v.is_number_unsigned() ? v.get<std::uint64_t>() : static_cast<std::uint64_t>(v.get<std::int64_t>());
  } else {
    s.seed = random();
  }
  if (has(body, "logit_bias")) {
    const json& lb = body.at("logit_bias");
    if (!lb.is_object()) bad("logit_bias", "'logit_bias' must be an object mapping token ids to biases");
    for (const auto& [key, value] : lb.items()) {
      std::size_t used = 0;
      long long id = -1;
      try {
        id = std::stoll(key, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != key.size() || id < 0 || (limits.vocab_size && static_cast<std::size_t>(id) >= limits.vocab_size))
        bad("logit_bias", "'logit_bias' key '" + key + "' is not a token id of this model (0 to " +
                              std::to_string(limits.vocab_size ? limits.vocab_size - 1 : 0) + ")");
      if (!value.is_number()) bad("logit_bias", "'logit_bias' values must be numbers");
      const double b = value.get<double>();
      if (!(b >= -100.0 && b <= 100.0)) bad("logit_bias", "'logit_bias' values must be between -100 and 100");
      s.logit_bias[static_cast<Token>(id)] = static_cast<float>(b);
    }
  }
  if (has(body, "stop")) {
    const json& st = body.at("stop");
    if (st.is_string()) {
      o.stop.push_back(st.get<std::string>());
    } else if (st.is_array()) {
      for (const auto& e : st) {
        if (!e.is_string()) bad("stop", "'stop' must be a string or an array of strings");
        o.stop.push_back(e.get<std::string>());
      }
    } else {
      bad("stop", "'stop' must be a string or an array of strings");
    }
    if (o.stop.size() > limits.max_stop)
      bad("stop", "'stop' holds at most " + std::to_string(limits.max_stop) + " strings");
    for (const auto& x : o.stop)
      if (x.empty()) bad("stop", "'stop' strings must not be empty");
  }
  if (auto v = boolean(body, "stream")) r.stream = *v;
  if (has(body, "stream_options")) {
    const json& so = body.at("stream_options");
    if (!so.is_object()) bad("stream_options", "'stream_options' must be an object");
    if (!r.stream) bad("stream_options", "'stream_options' is only allowed when 'stream' is true");
    for (const auto& [key, value] : so.items())
      if (key != "include_usage") bad("stream_options." + key, "Unrecognized stream option: " + key);
    if (auto v = boolean(so, "include_usage")) r.include_usage = *v;
  }
  if (has(body, "user") && !body.at("user").is_string()) bad("user", "'user' must be a string");
}

std::int32_t max_tokens_field(const json& body, const char* key, const ServerLimits& limits) {
  (void)limits;  // above the context: check_context() answers context_length_exceeded
  return static_cast<std::int32_t>(*integer(body, key, 0, std::numeric_limits<std::int32_t>::max()));
}

std::vector<Token> token_list(const json& a, const ServerLimits& limits) {
  std::vector<Token> ids;
  ids.reserve(a.size());
  for (const auto& e : a) {
    if (!e.is_number_integer()) bad("prompt", "'prompt' token arrays must hold integers");
    const std::int64_t id = e.get<std::int64_t>();
    if (id < 0 || (limits.vocab_size && static_cast<std::uint64_t>(id) >= limits.vocab_size) ||
        (e.is_number_unsigned() && e.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<Token>::max())))
      bad("prompt", "'prompt' token id " + e.dump() + " is outside the vocabulary (0 to " +
                        std::to_string(limits.vocab_size ? limits.vocab_size - 1 : 0) + ")");
    ids.push_back(static_cast<Token>(id));
  }
  if (ids.empty()) bad("prompt", "'prompt' token arrays must not be empty");
  return ids;
}

std::string utf8_valid(const std::string& s) {
  // nlohmann's replace handler, through a round trip: invalid bytes -> U+FFFD.
  return json::parse(json(s).dump(-1, ' ', false, json::error_handler_t::replace)).get<std::string>();
}

}  // namespace

json error_body(const std::string& message, const std::string& type, const std::string& param,
                const std::string& code) {
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", param.empty() ? json(nullptr) : json(param)},
            {"code", code.empty() ? json(nullptr) : json(code)}}}};
}

json error_body(const ApiError& e) { return error_body(e.what(), e.type(), e.param(), e.code()); }

json parse_body(const std::string& text) {
  json body;
  try {
    body = json::parse(text);
  } catch (const json::exception& e) {
    throw ApiError(400, std::string("The request body is not valid JSON: ") + e.what());
  }
  if (!body.is_object()) throw ApiError(400, "The request body must be a JSON object");
  return body;
}

GenerationRequest parse_completion_request(const json& body, const ServerLimits& limits, std::mt19937_64& random,
                                           const std::string& model_from_path) {
  std::set<std::string> known = kCommon;
  known.insert({"prompt", "echo", "best_of", "suffix"});
  check_known(body, known);
  GenerationRequest r;
  r.endpoint = Endpoint::Completions;
  parse_common(body, limits, random, r);
  if (!model_from_path.empty()) r.model = model_from_path;
  r.options.max_tokens = 16;  // OpenAI's default for completions
  if (has(body, "max_tokens")) r.options.max_tokens = max_tokens_field(body, "max_tokens", limits), r.max_tokens_given = true;

  if (!has(body, "prompt")) bad("prompt", "'prompt' is required");
  const json& p = body.at("prompt");
  const char* type_msg = "'prompt' must be a string, an array of strings, an array of token ids or an array of such arrays";
  if (p.is_string()) {
    r.prompts.push_back({p.get<std::string>(), {}});
  } else if (p.is_array()) {
    if (p.empty()) bad("prompt", "'prompt' must not be an empty array");
    if (p.front().is_number()) {
      r.prompts.push_back({std::nullopt, token_list(p, limits)});
    } else {
      for (const auto& e : p) {
        if (e.is_string()) r.prompts.push_back({e.get<std::string>(), {}});
        else if (e.is_array()) r.prompts.push_back({std::nullopt, token_list(e, limits)});
        else bad("prompt", type_msg);
      }
    }
  } else {
    bad("prompt", type_msg);
  }
  if (r.prompts.size() * static_cast<std::size_t>(r.options.n) > static_cast<std::size_t>(limits.max_n))
    bad("prompt", "prompts x n may be at most " + std::to_string(limits.max_n) + " choices per request");

  if (auto v = integer(body, "logprobs", 0, 20)) r.options.logprobs = static_cast<std::int32_t>(*v);
  if (auto v = boolean(body, "echo")) r.echo = *v;
  if (r.echo && r.options.logprobs >= 0)
    bad("echo", "'echo' with 'logprobs' needs the log-probabilities of the prompt tokens, which this server does not compute yet");
  if (auto v = integer(body, "best_of", 1, limits.max_n); v && *v != r.options.n)
    bad("best_of", "'best_of' other than n is not supported (ranking candidates by log-probability is not implemented)");
  if (has(body, "suffix")) {
    if (!body.at("suffix").is_string()) bad("suffix", "'suffix' must be a string");
    if (!body.at("suffix").get<std::string>().empty())
      bad("suffix", "'suffix' (insertion) is not supported by this model server");
  }
  return r;
}

GenerationRequest parse_chat_request(const json& body, const ServerLimits& limits, std::mt19937_64& random,
                                     const std::string& model_from_path) {
  std::set<std::string> known = kCommon;
  known.insert({"messages", "max_completion_tokens", "top_logprobs", "response_format", "tools", "tool_choice",
                "functions", "function_call", "parallel_tool_calls"});
  check_known(body, known);
  GenerationRequest r;
  r.endpoint = Endpoint::ChatCompletions;
  parse_common(body, limits, random, r);
  if (!model_from_path.empty()) r.model = model_from_path;
  // Without a limit a reply may fill the context (finish_reason "length").
  r.options.max_tokens = static_cast<std::int32_t>(std::min<std::int64_t>(limits.context_length, 1 << 30));
  if (has(body, "max_tokens")) r.options.max_tokens = max_tokens_field(body, "max_tokens", limits), r.max_tokens_given = true;
  if (has(body, "max_completion_tokens"))
    r.options.max_tokens = max_tokens_field(body, "max_completion_tokens", limits), r.max_tokens_given = true;

  for (const char* k : {"tools", "functions"})
    if (has(body, k) && !(body.at(k).is_array() && body.at(k).empty()))
      bad(k, std::string("'") + k + "' (tool and function calling) is not supported by this server yet");
  for (const char* k : {"tool_choice", "function_call"})
    if (has(body, k) && body.at(k) != "none")
      bad(k, std::string("'") + k + "' (tool and function calling) is not supported by this server yet");
  if (auto v = boolean(body, "parallel_tool_calls"); v && *v && has(body, "tools"))
    bad("parallel_tool_calls", "'parallel_tool_calls' needs tool calling, which is not supported yet");
  if (has(body, "response_format")) {
    const json& rf = body.at("response_format");
    if (!rf.is_object() || !rf.contains("type") || !rf.at("type").is_string())
      bad("response_format", "'response_format' must be an object with a 'type'");
    // JSON output through constrained decoding (the grammar of a JSON
    // object, or of the values a JSON Schema allows).
    const std::string type = rf.at("type").get<std::string>();
    if (type != "text" && type != "json_object" && type != "json_schema")
      bad("response_format", "'response_format' type must be 'text', 'json_object' or 'json_schema', not '" + type + "'");
    for (const auto& [key, value] : rf.items())
      if (key != "type" && !(type == "json_schema" && key == "json_schema"))
        bad("response_format." + key, "Unrecognized response_format field: " + key);
    if (type == "json_object") r.options.grammar = json_object_grammar();
    if (type == "json_schema") {
      if (!rf.contains("json_schema") || !rf.at("json_schema").is_object())
        bad("response_format.json_schema", "'response_format.json_schema' must be an object with a 'schema'");
      const json& js = rf.at("json_schema");
      for (const auto& [key, value] : js.items()) {
        if (key == "name" || key == "description") {
          if (!value.is_string()) bad("response_format.json_schema." + key, "'" + key + "' must be a string");
        } else if (key == "strict") {
          if (!value.is_boolean() && !value.is_null()) bad("response_format.json_schema.strict", "'strict' must be a boolean");
        } else if (key != "schema") {
          bad("response_format.json_schema." + key, "Unrecognized json_schema field: " + key);
        }
      }
      if (!js.contains("schema") || !js.at("schema").is_object())
        bad("response_format.json_schema.schema", "'response_format.json_schema.schema' (a JSON Schema object) is required");
      try {
        r.options.grammar = json_schema_to_grammar(js.at("schema").dump());
      } catch (const SchemaError& e) {
        bad("response_format.json_schema.schema", std::string("The schema cannot be enforced: ") + e.what());
      }
    }
  }

  if (auto v = boolean(body, "logprobs")) r.chat_logprobs = *v;
  if (auto v = integer(body, "top_logprobs", 0, 20)) {
    if (!r.chat_logprobs) bad("top_logprobs", "'top_logprobs' needs 'logprobs' set to true");
    r.top_logprobs = static_cast<std::int32_t>(*v);
  }
  if (r.chat_logprobs) r.options.logprobs = r.top_logprobs;

  if (!has(body, "messages")) bad("messages", "'messages' is required");
  const json& ms = body.at("messages");
  if (!ms.is_array() || ms.empty()) bad("messages", "'messages' must be a non-empty array");
  for (std::size_t i = 0; i < ms.size(); ++i) {
    const std::string where = "messages[" + std::to_string(i) + "]";
    const json& m = ms[i];
    if (!m.is_object()) bad(where, where + " must be an object");
    if (!has(m, "role") || !m.at("role").is_string()) bad(where + ".role", where + ".role must be a string");
    std::string role = m.at("role").get<std::string>();
    if (role == "developer") role = "system";  // OpenAI's newer name for system instructions
    if (role != "system" && role != "user" && role != "assistant")
      bad(where + ".role", where + ".role '" + role + "' is not supported (system, developer, user, assistant)");
    for (const auto& [key, value] : m.items())
      if (key != "role" && key != "content" && !value.is_null())
        bad(where + "." + key, where + "." + key + " is not supported by this server");
    std::string content;
    if (has(m, "content")) {
      const json& c = m.at("content");
      if (c.is_string()) {
        content = c.get<std::string>();
      } else if (c.is_array()) {
        for (const auto& part : c) {
          if (!part.is_object() || !part.contains("type") || part.at("type") != "text" || !part.contains("text") ||
              !part.at("text").is_string())
            bad(where + ".content", where + ".content parts must be {\"type\": \"text\", \"text\": ...} (no images or audio)");
          content += part.at("text").get<std::string>();
        }
      } else {
        bad(where + ".content", where + ".content must be a string or an array of text parts");
      }
    } else if (role != "assistant") {
      bad(where + ".content", where + ".content is required");
    }
    r.messages.push_back({role, std::move(content)});
  }
  return r;
}

void check_context(std::int64_t prompt_tokens, const GenerationRequest& r, std::int64_t context_length) {
  const std::int64_t want = prompt_tokens + (r.max_tokens_given ? r.options.max_tokens : 1);
  if (want > context_length) {
    std::string msg = "This model's maximum context length is " + std::to_string(context_length) +
                      " tokens. However, you requested " + std::to_string(want) + " tokens (" +
                      std::to_string(prompt_tokens) + (r.endpoint == Endpoint::ChatCompletions ? " in the messages, " : " in the prompt, ");
    msg += r.max_tokens_given ? std::to_string(r.options.max_tokens) + " in the completion)."
                              : "at least 1 in the completion).";
    msg += " Please reduce the length of the " +
           std::string(r.endpoint == Endpoint::ChatCompletions ? "messages" : "prompt") + " or completion.";
    throw ApiError(400, msg, "invalid_request_error", r.endpoint == Endpoint::ChatCompletions ? "messages" : "prompt",
                   "context_length_exceeded");
  }
}

const char* finish_reason(FinishReason r) noexcept {
  switch (r) {
    case FinishReason::Length:
    case FinishReason::ContextFull: return "length";
    case FinishReason::Stop:
    case FinishReason::EndOfText:
    case FinishReason::Cancelled: return "stop";
  }
  return "stop";
}

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

json legacy_logprobs(const Completion& c, const Tokenizer& tok, std::size_t text_offset0) {
  json tokens = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
  std::size_t offset = text_offset0;
  for (const auto& e : c.logprobs) {
    tokens.push_back(utf8_valid(e.text));
    lps.push_back(e.logprob);
    json top = json::object();
    for (const auto& [id, lp] : e.top) top[utf8_valid(tok.token_bytes(id))] = lp;
    tops.push_back(std::move(top));
    offsets.push_back(offset);
    offset += e.text.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

namespace {
json token_entry(const std::string& bytes, float logprob) {
  json b = json::array();
  for (unsigned char ch : bytes) b.push_back(static_cast<int>(ch));
  return {{"token", utf8_valid(bytes)}, {"logprob", logprob}, {"bytes", b}};
}
}  // namespace

json chat_logprobs(const Completion& c, const Tokenizer& tok, std::int32_t top_logprobs) {
  json content = json::array();
  for (const auto& e : c.logprobs) {
    json entry = token_entry(e.text, e.logprob);
    json top = json::array();
    for (std::size_t k = 0; k < e.top.size() && k < static_cast<std::size_t>(top_logprobs); ++k)
      top.push_back(token_entry(tok.token_bytes(e.top[k].first), e.top[k].second));
    entry["top_logprobs"] = std::move(top);
    content.push_back(std::move(entry));
  }
  return {{"content", content}, {"refusal", nullptr}};
}

json completion_response(const std::string& id, std::int64_t created, const std::string& model,
                         const std::vector<Choice>& choices, const Usage& usage, const GenerationRequest& r,
                         const Tokenizer& tok) {
  json cs = json::array();
  for (const auto& ch : choices) {
    cs.push_back({{"text", ch.prefix + ch.completion.text},
                  {"index", ch.index},
                  {"logprobs", r.options.logprobs >= 0 ? legacy_logprobs(ch.completion, tok, ch.prefix.size()) : json(nullptr)},
                  {"finish_reason", finish_reason(ch.completion.finish_reason)}});
  }
  return {{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model},
          {"choices", cs}, {"usage", usage_json(usage)}};
}

json chat_response(const std::string& id, std::int64_t created, const std::string& model,
                   const std::vector<Choice>& choices, const Usage& usage, const GenerationRequest& r,
                   const Tokenizer& tok) {
  json cs = json::array();
  for (const auto& ch : choices) {
    cs.push_back({{"index", ch.index},
                  {"message", {{"role", "assistant"}, {"content", ch.completion.text}, {"refusal", nullptr}}},
                  {"logprobs", r.chat_logprobs ? chat_logprobs(ch.completion, tok, r.top_logprobs) : json(nullptr)},
                  {"finish_reason", finish_reason(ch.completion.finish_reason)}});
  }
  return {{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", model},
          {"choices", cs}, {"usage", usage_json(usage)}};
}

json completion_chunk(const std::string& id, std::int64_t created, const std::string& model, std::int32_t index,
                      const std::string& text, const char* finish, const json& logprobs) {
  return {{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model},
          {"choices", json::array({{{"text", text}, {"index", index}, {"logprobs", logprobs},
                                    {"finish_reason", finish ? json(finish) : json(nullptr)}}})}};
}

json chat_chunk(const std::string& id, std::int64_t created, const std::string& model, std::int32_t index,
                const json& delta, const char* finish, const json& logprobs) {
  return {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
          {"choices", json::array({{{"index", index}, {"delta", delta}, {"logprobs", logprobs},
                                    {"finish_reason", finish ? json(finish) : json(nullptr)}}})}};
}

json usage_chunk(const std::string& id, std::int64_t created, const std::string& model, const char* object,
                 const Usage& usage) {
  return {{"id", id}, {"object", object}, {"created", created}, {"model", model},
          {"choices", json::array()}, {"usage", usage_json(usage)}};
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string sse_event(const json& data) { return "data: " + dump(data) + "\n\n"; }

bool keys_equal(const std::string& given, const std::string& expected) noexcept {
  // Every byte of `expected` is compared whatever `given` holds.
  unsigned diff = given.size() == expected.size() ? 0u : 1u;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= g ^ static_cast<unsigned char>(expected[i]);
  }
  return diff == 0;
}

}  // namespace gpt::server
