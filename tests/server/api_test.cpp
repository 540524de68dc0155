// gpt-server's request parsing, validation and response/SSE encoding
// (src/server/api.cpp), without a server or a model.
#include <gtest/gtest.h>

#include <random>

#include "gpt/tokenizer.h"
#include "server/api.h"
#include "test_util.h"

namespace gpt::server {
namespace {

using json = nlohmann::json;

ServerLimits limits() {
  ServerLimits l;
  l.context_length = 2048;
  l.vocab_size = 1000;
  return l;
}

GenerationRequest completion(const json& body, const std::string& engine = {}) {
  std::mt19937_64 rng(7);
  return parse_completion_request(body, limits(), rng, engine);
}

GenerationRequest chat(const json& body) {
  std::mt19937_64 rng(7);
  return parse_chat_request(body, limits(), rng);
}

// The ApiError a call throws (status, param, code); fails when it throws none.
template <class F>
ApiError error_of(F&& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no ApiError thrown";
  return ApiError(0, "none");
}

TEST(ServerApi, CompletionDefaultsAreOpenAIs) {
  const auto r = completion({{"model", "m"}, {"prompt", "Hello"}});
  EXPECT_EQ(r.endpoint, Endpoint::Completions);
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(*r.prompts[0].text, "Hello");
  EXPECT_EQ(r.options.max_tokens, 16);
  EXPECT_EQ(r.options.n, 1);
  EXPECT_FLOAT_EQ(r.options.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r.options.sampling.top_p, 1.0f);
  EXPECT_EQ(r.options.sampling.top_k, 0);
  EXPECT_FLOAT_EQ(r.options.sampling.min_p, 0.0f);
  EXPECT_FLOAT_EQ(r.options.sampling.repetition_penalty, 1.0f);
  EXPECT_EQ(r.options.logprobs, -1);
  EXPECT_EQ(r.options.context_length, 2048);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.echo);
}

TEST(ServerApi, ArticleCallWithNullStop) {
  // openai 0.28's Completion.create(engine=..., prompt=..., max_tokens=1, n=1,
  // stop=None, temperature=0.5) sends stop: null to /v1/engines/{engine}/completions.
  const auto r = completion({{"prompt", "What is the capital of France?"}, {"max_tokens", 1}, {"n", 1},
                             {"stop", nullptr}, {"temperature", 0.5}},
                            "text-davinci-002");
  EXPECT_EQ(r.model, "text-davinci-002");
  EXPECT_EQ(r.options.max_tokens, 1);
  EXPECT_TRUE(r.options.stop.empty());
  EXPECT_FLOAT_EQ(r.options.sampling.temperature, 0.5f);
}

TEST(ServerApi, CompletionFieldsMapOntoOptions) {
  const auto r = completion({{"prompt", "x"}, {"max_tokens", 7}, {"temperature", 0.3}, {"top_p", 0.9}, {"n", 3},
                             {"stop", {"a", "bc"}}, {"logprobs", 2}, {"seed", 42}, {"presence_penalty", 0.5},
                             {"frequency_penalty", -0.5}, {"logit_bias", {{"5", -100}, {"17", 2.5}}},
                             {"top_k", 40}, {"min_p", 0.05}, {"repeat_penalty", 1.1}, {"repeat_last_n", -1},
                             {"stream", true}, {"stream_options", {{"include_usage", true}}}, {"user", "u1"}});
  const auto& o = r.options;
  EXPECT_EQ(o.max_tokens, 7);
  EXPECT_TRUE(r.max_tokens_given);
  EXPECT_FLOAT_EQ(o.sampling.temperature, 0.3f);
  EXPECT_FLOAT_EQ(o.sampling.top_p, 0.9f);
  EXPECT_EQ(o.n, 3);
  EXPECT_EQ(o.stop, (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(o.logprobs, 2);
  EXPECT_EQ(o.sampling.seed, 42u);
  EXPECT_FLOAT_EQ(o.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(o.sampling.frequency_penalty, -0.5f);
  EXPECT_EQ(o.sampling.logit_bias.size(), 2u);
  EXPECT_FLOAT_EQ(o.sampling.logit_bias.at(5), -100.0f);
  EXPECT_FLOAT_EQ(o.sampling.logit_bias.at(17), 2.5f);
  EXPECT_EQ(o.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(o.sampling.min_p, 0.05f);
  EXPECT_FLOAT_EQ(o.sampling.repetition_penalty, 1.1f);
  EXPECT_EQ(o.sampling.penalty_last_n, -1);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_NO_THROW(o.sampling.validate());
}

TEST(ServerApi, NoSeedDrawsOneAndTopPZeroIsGreedy) {
  std::mt19937_64 a(1), b(2);
  const json body = {{"prompt", "x"}};
  EXPECT_NE(parse_completion_request(body, limits(), a).options.sampling.seed,
            parse_completion_request(body, limits(), b).options.sampling.seed);
  const auto r = completion({{"prompt", "x"}, {"top_p", 0}, {"temperature", 0.7}});
  EXPECT_FLOAT_EQ(r.options.sampling.temperature, 0.0f);
}

TEST(ServerApi, PromptForms) {
  auto r = completion({{"prompt", {"a", "b"}}, {"n", 2}});
  ASSERT_EQ(r.prompts.size(), 2u);
  EXPECT_EQ(*r.prompts[1].text, "b");
  r = completion({{"prompt", {1, 2, 3}}});
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_FALSE(r.prompts[0].text);
  EXPECT_EQ(r.prompts[0].tokens, (std::vector<Token>{1, 2, 3}));
  r = completion({{"prompt", {{1, 2}, {3}}}});
  ASSERT_EQ(r.prompts.size(), 2u);
  EXPECT_EQ(r.prompts[1].tokens, (std::vector<Token>{3}));
}

TEST(ServerApi, BadCompletionRequestsNameTheField) {
  struct Case {
    json body;
    std::string param;
  };
  const std::vector<Case> cases = {
      {{{"max_tokens", 5}}, "prompt"},
      {{{"prompt", 5}}, "prompt"},
      {{{"prompt", json::array()}}, "prompt"},
      {{{"prompt", {1, 1000}}}, "prompt"},       // past the vocabulary
      {{{"prompt", {1, -1}}}, "prompt"},
      {{{"prompt", {"a", 3}}}, "prompt"},
      {{{"prompt", "x"}, {"temperature", 2.5}}, "temperature"},
      {{{"prompt", "x"}, {"temperature", -0.1}}, "temperature"},
      {{{"prompt", "x"}, {"temperature", "hot"}}, "temperature"},
      {{{"prompt", "x"}, {"top_p", 1.5}}, "top_p"},
      {{{"prompt", "x"}, {"n", 0}}, "n"},
      {{{"prompt", "x"}, {"n", 17}}, "n"},
      {{{"prompt", "x"}, {"n", 1.5}}, "n"},
      {{{"prompt", {"a", "b", "c", "d", "e"}}, {"n", 4}}, "prompt"},  // 20 choices > 16
      {{{"prompt", "x"}, {"max_tokens", -1}}, "max_tokens"},
      {{{"prompt", "x"}, {"max_tokens", "10"}}, "max_tokens"},
      {{{"prompt", "x"}, {"stop", 3}}, "stop"},
      {{{"prompt", "x"}, {"stop", ""}}, "stop"},
      {{{"prompt", "x"}, {"stop", {"a", 1}}}, "stop"},
      {{{"prompt", "x"}, {"logprobs", 21}}, "logprobs"},
      {{{"prompt", "x"}, {"logprobs", true}}, "logprobs"},
      {{{"prompt", "x"}, {"echo", true}, {"logprobs", 1}}, "echo"},
      {{{"prompt", "x"}, {"best_of", 3}}, "best_of"},
      {{{"prompt", "x"}, {"suffix", "tail"}}, "suffix"},
      {{{"prompt", "x"}, {"presence_penalty", 3}}, "presence_penalty"},
      {{{"prompt", "x"}, {"logit_bias", {{"abc", 1}}}}, "logit_bias"},
      {{{"prompt", "x"}, {"logit_bias", {{"1000", 1}}}}, "logit_bias"},
      {{{"prompt", "x"}, {"logit_bias", {{"5", 101}}}}, "logit_bias"},
      {{{"prompt", "x"}, {"min_p", 1}}, "min_p"},
      {{{"prompt", "x"}, {"repeat_penalty", 0}}, "repeat_penalty"},
      {{{"prompt", "x"}, {"top_k", -1}}, "top_k"},
      {{{"prompt", "x"}, {"seed", "s"}}, "seed"},
      {{{"prompt", "x"}, {"stream_options", {{"include_usage", true}}}}, "stream_options"},  // without stream
      {{{"prompt", "x"}, {"model", 3}}, "model"},
      {{{"prompt", "x"}, {"frobnicate", 1}}, "frobnicate"},
      {{{"prompt", "x"}, {"messages", json::array()}}, "messages"},  // a chat field on completions
  };
  for (const auto& c : cases) {
    const ApiError e = error_of([&] { completion(c.body); });
    EXPECT_EQ(e.status(), 400) << c.body.dump();
    EXPECT_EQ(e.param(), c.param) << c.body.dump() << ": " << e.what();
    EXPECT_EQ(e.type(), "invalid_request_error");
  }
}

TEST(ServerApi, ChatMessagesAndFields) {
  const auto r = chat({{"model", "gpt-4o"},
                       {"messages",
                        {{{"role", "developer"}, {"content", "Be brief."}},
                         {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "Hi "}}, {{"type", "text"}, {"text", "there"}}}}},
                         {{"role", "assistant"}, {"content", nullptr}, {"refusal", nullptr}}}},
                       {"max_completion_tokens", 9},
                       {"logprobs", true},
                       {"top_logprobs", 3},
                       {"response_format", {{"type", "text"}}}});
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[1].content, "Hi there");
  EXPECT_EQ(r.messages[2].role, "assistant");
  EXPECT_EQ(r.messages[2].content, "");
  EXPECT_EQ(r.options.max_tokens, 9);
  EXPECT_TRUE(r.chat_logprobs);
  EXPECT_EQ(r.top_logprobs, 3);
  EXPECT_EQ(r.options.logprobs, 3);
  // Without a limit the reply may fill the context.
  const auto d = chat({{"messages", {{{"role", "user"}, {"content", "x"}}}}});
  EXPECT_FALSE(d.max_tokens_given);
  EXPECT_EQ(d.options.max_tokens, 2048);
  EXPECT_EQ(d.options.logprobs, -1);
}

// response_format: JSON output through constrained decoding.
TEST(ServerApi, ResponseFormatBecomesAGrammar) {
  const json user = {{{"role", "user"}, {"content", "x"}}};
  EXPECT_EQ(chat({{"messages", user}, {"response_format", {{"type", "text"}}}}).options.grammar, "");
  EXPECT_EQ(chat({{"messages", user}, {"response_format", {{"type", "json_object"}}}}).options.grammar,
            json_object_grammar());
  const json schema = {{"type", "object"},
                       {"properties", {{"name", {{"type", "string"}}}, {"age", {{"type", "integer"}}}}},
                       {"required", {"name", "age"}}};
  const auto r = chat({{"messages", user},
                       {"response_format",
                        {{"type", "json_schema"},
                         {"json_schema", {{"name", "person"}, {"strict", true}, {"description", "d"}, {"schema", schema}}}}}});
  EXPECT_EQ(r.options.grammar, json_schema_to_grammar(schema.dump()));
  EXPECT_FALSE(r.options.grammar.empty());
}

TEST(ServerApi, BadChatRequestsNameTheField) {
  const json user = {{{"role", "user"}, {"content", "x"}}};
  auto with = [](const json& messages, const char* response_format) {
    return json{{"messages", messages}, {"response_format", json::parse(response_format)}};
  };
  struct Case {
    json body;
    std::string param;
    std::string in_message;
  };
  const std::vector<Case> cases = {
      {{{"model", "m"}}, "messages", ""},
      {{{"messages", json::array()}}, "messages", ""},
      {{{"messages", "hi"}}, "messages", ""},
      {{{"messages", {{{"role", "tool"}, {"content", "x"}}}}}, "messages[0].role", "tool"},
      {{{"messages", {{{"role", "user"}}}}}, "messages[0].content", ""},
      {{{"messages", {{{"role", "user"}, {"content", "x"}, {"name", "bob"}}}}}, "messages[0].name", ""},
      {{{"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}, {"image_url", "u"}}}}}}}},
       "messages[0].content", "images"},
      {with(user, R"({"type": "xml"})"), "response_format", "xml"},
      {with(user, R"({"type": "json_object", "schema": {}})"), "response_format.schema", ""},
      {with(user, R"({"type": "json_schema"})"), "response_format.json_schema", ""},
      {with(user, R"({"type": "json_schema", "json_schema": {"name": "x"}})"), "response_format.json_schema.schema",
       "required"},
      {with(user, R"({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "patternProperties": {}}}})"),
       "response_format.json_schema.schema", "patternProperties"},
      {with(user, R"({"type": "json_schema", "json_schema": {"schema": {}, "x": 1}})"), "response_format.json_schema.x", ""},
      {{{"messages", user}, {"tools", {{{"type", "function"}}}}}, "tools", "tool"},
      {{{"messages", user}, {"tool_choice", "auto"}}, "tool_choice", ""},
      {{{"messages", user}, {"top_logprobs", 2}}, "top_logprobs", "logprobs"},
      {{{"messages", user}, {"logprobs", true}, {"top_logprobs", 21}}, "top_logprobs", ""},
      {{{"messages", user}, {"echo", true}}, "echo", ""},  // a completions field on chat
      {{{"messages", user}, {"max_completion_tokens", -2}}, "max_completion_tokens", ""},
  };
  for (const auto& c : cases) {
    const ApiError e = error_of([&] { chat(c.body); });
    EXPECT_EQ(e.status(), 400) << c.body.dump();
    EXPECT_EQ(e.param(), c.param) << c.body.dump() << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(c.in_message), std::string::npos) << e.what();
  }
}

TEST(ServerApi, MalformedBodies) {
  EXPECT_EQ(error_of([] { parse_body("{\"prompt\": "); }).status(), 400);
  EXPECT_EQ(error_of([] { parse_body("[1, 2]"); }).status(), 400);
  EXPECT_EQ(error_of([] { parse_body(""); }).status(), 400);
  EXPECT_EQ(parse_body("{\"a\": 1}")["a"], 1);
}

TEST(ServerApi, ContextLengthExceeded) {
  auto r = completion({{"prompt", "x"}, {"max_tokens", 100}});
  EXPECT_NO_THROW(check_context(1948, r, 2048));
  const ApiError e = error_of([&] { check_context(1949, r, 2048); });
  EXPECT_EQ(e.status(), 400);
  EXPECT_EQ(e.code(), "context_length_exceeded");
  EXPECT_EQ(e.param(), "prompt");
  EXPECT_NE(std::string(e.what()).find("maximum context length is 2048"), std::string::npos);
  // max_tokens past the context is a context error, not a range error.
  r = completion({{"prompt", "x"}, {"max_tokens", 5000}});
  EXPECT_EQ(error_of([&] { check_context(3, r, 2048); }).code(), "context_length_exceeded");
  // Chat without max_tokens: the prompt must leave room for one token.
  const auto c = chat({{"messages", {{{"role", "user"}, {"content", "x"}}}}});
  EXPECT_NO_THROW(check_context(2047, c, 2048));
  EXPECT_EQ(error_of([&] { check_context(2048, c, 2048); }).param(), "messages");
}

TEST(ServerApi, ErrorBodyShape) {
  const json b = error_body(ApiError(401, "Incorrect API key provided", "invalid_request_error", {}, "invalid_api_key"));
  EXPECT_EQ(b, json::parse(R"({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                         "param": null, "code": "invalid_api_key"}})"));
  EXPECT_EQ(error_body("m", "t", "p")["error"]["param"], "p");
  EXPECT_TRUE(error_body("m", "t", "p")["error"]["code"].is_null());
}

TEST(ServerApi, SseFraming) {
  const json chunk = chat_chunk("chatcmpl-1", 5, "m", 0, {{"content", "line\nnext"}}, nullptr);
  const std::string e = sse_event(chunk);
  ASSERT_GE(e.size(), 8u);
  EXPECT_EQ(e.substr(0, 6), "data: ");
  EXPECT_EQ(e.substr(e.size() - 2), "\n\n");
  // One event is one line: newlines in the text stay escaped.
  EXPECT_EQ(e.find('\n'), e.size() - 2);
  EXPECT_EQ(json::parse(e.substr(6)), chunk);
  EXPECT_EQ(std::string(kSseDone), "data: [DONE]\n\n");
  // Invalid UTF-8 (half of a character) is replaced, not thrown.
  const std::string half = "\xc3";
  EXPECT_NO_THROW(sse_event(completion_chunk("c", 1, "m", 0, half, nullptr)));
  EXPECT_NE(sse_event(completion_chunk("c", 1, "m", 0, half, nullptr)).find("\xef\xbf\xbd"), std::string::npos);
}

TEST(ServerApi, ChunkShapes) {
  const json c = chat_chunk("id", 5, "m", 2, {{"role", "assistant"}, {"content", ""}}, nullptr);
  EXPECT_EQ(c["object"], "chat.completion.chunk");
  EXPECT_EQ(c["choices"][0]["index"], 2);
  EXPECT_TRUE(c["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(c["choices"][0]["delta"]["role"], "assistant");
  const json t = completion_chunk("id", 5, "m", 0, "", "length");
  EXPECT_EQ(t["object"], "text_completion");
  EXPECT_EQ(t["choices"][0]["finish_reason"], "length");
  const json u = usage_chunk("id", 5, "m", "chat.completion.chunk", {10, 3});
  EXPECT_TRUE(u["choices"].empty());
  EXPECT_EQ(u["usage"], json::parse(R"({"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13})"));
}

TEST(ServerApi, FinishReasons) {
  EXPECT_STREQ(finish_reason(FinishReason::Length), "length");
  EXPECT_STREQ(finish_reason(FinishReason::ContextFull), "length");
  EXPECT_STREQ(finish_reason(FinishReason::Stop), "stop");
  EXPECT_STREQ(finish_reason(FinishReason::EndOfText), "stop");
}

TEST(ServerApi, LogprobFormats) {
  const auto tok = load_tokenizer(test::data_path("tokenizer/spm/tokenizer.model"));
  Completion c;
  for (Token t : {Token(10), Token(11), Token(12)}) {
    TokenLogprob e;
    e.token = t;
    e.text = tok->token_bytes(t);
    e.logprob = -0.5f * float(t - 9);
    e.top = {{t, e.logprob}, {Token(20), -3.0f}};
    c.logprobs.push_back(e);
  }
  const json legacy = legacy_logprobs(c, *tok, 4);
  ASSERT_EQ(legacy["tokens"].size(), 3u);
  EXPECT_EQ(legacy["token_logprobs"][1], -1.0f);
  EXPECT_EQ(legacy["text_offset"][0], 4);
  EXPECT_EQ(legacy["text_offset"][1], 4 + tok->token_bytes(10).size());
  EXPECT_EQ(legacy["text_offset"][2], 4 + tok->token_bytes(10).size() + tok->token_bytes(11).size());
  ASSERT_TRUE(legacy["top_logprobs"][0].is_object());
  EXPECT_EQ(legacy["top_logprobs"][0].size(), 2u);

  const json chat = chat_logprobs(c, *tok, 1);
  ASSERT_EQ(chat["content"].size(), 3u);
  const json& first = chat["content"][0];
  EXPECT_EQ(first["logprob"], -0.5f);
  ASSERT_EQ(first["top_logprobs"].size(), 1u);  // top_logprobs limits the alternatives
  const std::string bytes = tok->token_bytes(10);
  ASSERT_EQ(first["bytes"].size(), bytes.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) EXPECT_EQ(first["bytes"][i], static_cast<unsigned char>(bytes[i]));
}

TEST(ServerApi, KeysEqual) {
  EXPECT_TRUE(keys_equal("sekrit", "sekrit"));
  EXPECT_FALSE(keys_equal("sekri", "sekrit"));
  EXPECT_FALSE(keys_equal("sekrit!", "sekrit"));
  EXPECT_FALSE(keys_equal("Sekrit", "sekrit"));
  EXPECT_FALSE(keys_equal("", "sekrit"));
  EXPECT_TRUE(keys_equal("", ""));
}

}  // namespace
}  // namespace gpt::server
