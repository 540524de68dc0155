// JSON Schema -> grammar: refusals of unsupported keywords, and sampled
// generations on the default model (temperature 1.0, 5 seeds per schema)
// that must all parse as JSON and validate against their schema with the
// validator below (written for the supported subset). Also GBNF grammars for
// arithmetic and CSV whose outputs reference parsers written here accept.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>

#include "generate/grammar.h"
#include "gpt/error.h"
#include "gpt/generate.h"
#include "default_model.h"

namespace gpt {
namespace {

using json = nlohmann::ordered_json;

std::shared_ptr<const LanguageModel> lm() { return test::default_model(); }

// UTF-8 -> code points (std::regex works on code points only as wchar_t).
std::wstring widen(const std::string& s) {
  std::wstring out;
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const int n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    std::uint32_t c = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
    for (int k = 1; k < n && i + k < s.size(); ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out += static_cast<wchar_t>(c);
    i += static_cast<std::size_t>(n);
  }
  return out;
}

std::size_t code_points(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Validation for the subset the converter supports. Returns "" when valid,
// else what failed and where.
std::string validate(const json& v, const json& s, const json& root, const std::string& at = "$") {
  if (s.is_boolean()) return s.get<bool>() ? "" : at + ": false schema";
  if (s.contains("$ref")) {
    const std::string ref = s["$ref"];
    return validate(v, root.at(json::json_pointer(ref.substr(1))), root, at);
  }
  if (s.contains("const") && v != s["const"]) return at + ": not the const";
  if (s.contains("enum")) {
    bool found = false;
    for (const auto& e : s["enum"]) found = found || e == v;
    if (!found) return at + ": not in the enum";
  }
  if (s.contains("anyOf")) {
    bool ok = false;
    for (const auto& b : s["anyOf"]) ok = ok || validate(v, b, root, at).empty();
    if (!ok) return at + ": no anyOf branch matches";
  }
  if (s.contains("oneOf")) {
    int n = 0;
    for (const auto& b : s["oneOf"]) n += validate(v, b, root, at).empty();
    if (n != 1) return at + ": " + std::to_string(n) + " oneOf branches match";
  }
  if (s.contains("type")) {
    auto is = [&](const std::string& t) {
      if (t == "object") return v.is_object();
      if (t == "array") return v.is_array();
      if (t == "string") return v.is_string();
      if (t == "number") return v.is_number();
      if (t == "integer") return v.is_number_integer() || (v.is_number_float() && v.get<double>() == double(std::int64_t(v.get<double>())));
      if (t == "boolean") return v.is_boolean();
      if (t == "null") return v.is_null();
      return false;
    };
    bool ok = false;
    if (s["type"].is_array()) {
      for (const auto& t : s["type"]) ok = ok || is(t.get<std::string>());
    } else {
      ok = is(s["type"].get<std::string>());
    }
    if (!ok) return at + ": wrong type for " + v.dump();
  }
  if (v.is_object()) {
    if (s.contains("required"))
      for (const auto& r : s["required"])
        if (!v.contains(r.get<std::string>())) return at + ": missing required " + r.get<std::string>();
    const json props = s.value("properties", json::object());
    for (const auto& [k, x] : v.items()) {
      if (props.contains(k)) {
        auto e = validate(x, props[k], root, at + "." + k);
        if (!e.empty()) return e;
      } else if (s.contains("additionalProperties") && s["additionalProperties"] == false) {
        return at + ": additional property " + k;
      }
    }
  }
  if (v.is_array()) {
    if (s.contains("minItems") && v.size() < s["minItems"].get<std::size_t>()) return at + ": too few items";
    if (s.contains("maxItems") && v.size() > s["maxItems"].get<std::size_t>()) return at + ": too many items";
    if (s.contains("items"))
      for (std::size_t i = 0; i < v.size(); ++i) {
        auto e = validate(v[i], s["items"], root, at + "[" + std::to_string(i) + "]");
        if (!e.empty()) return e;
      }
  }
  if (v.is_string()) {
    const std::string str = v.get<std::string>();
    if (s.contains("minLength") && code_points(str) < s["minLength"].get<std::size_t>()) return at + ": too short";
    if (s.contains("maxLength") && code_points(str) > s["maxLength"].get<std::size_t>()) return at + ": too long";
    if (s.contains("pattern") && !std::regex_search(widen(str), std::wregex(widen(s["pattern"].get<std::string>()), std::regex::ECMAScript)))
      return at + ": does not match the pattern";
  }
  return "";
}

TEST(JsonSchemaValidator, RejectsWhatItShould) {
  const json s = json::parse(R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"enum":["x","y"]}},
                                 "required":["a"],"additionalProperties":false})");
  EXPECT_EQ(validate(json::parse(R"({"a":1,"b":"x"})"), s, s), "");
  EXPECT_NE(validate(json::parse(R"({"b":"x"})"), s, s), "");
  EXPECT_NE(validate(json::parse(R"({"a":1.5})"), s, s), "");
  EXPECT_NE(validate(json::parse(R"({"a":1,"b":"z"})"), s, s), "");
  EXPECT_NE(validate(json::parse(R"({"a":1,"c":2})"), s, s), "");
}

TEST(JsonSchema, UnsupportedKeywordsAreNamed) {
  auto keyword = [](const std::string& schema) -> std::string {
    try {
      json_schema_to_grammar(schema);
    } catch (const SchemaError& e) {
      return e.keyword() + "@" + e.pointer();
    }
    return "accepted";
  };
  EXPECT_EQ(keyword(R"({"type":"integer","minimum":0})"), "minimum@");
  EXPECT_EQ(keyword(R"({"type":"string","format":"date"})"), "format@");
  EXPECT_EQ(keyword(R"({"type":"object","properties":{"a":{"type":"array","uniqueItems":true}}})"), "uniqueItems@/properties/a");
  EXPECT_EQ(keyword(R"({"allOf":[{"type":"string"}]})"), "allOf@");
  EXPECT_EQ(keyword(R"({"type":"object","additionalProperties":{"type":"string"}})"), "additionalProperties@");
  EXPECT_EQ(keyword(R"({"oneOf":[{"type":"string"},{"type":"string","maxLength":3}]})"), "oneOf@");
  EXPECT_EQ(keyword(R"({"$ref":"https://example.org/s.json"})"), "$ref@");
  EXPECT_EQ(keyword(R"j({"type":"string","pattern":"a(?=b)"})j"), "pattern@");
  EXPECT_EQ(keyword(R"({"type":"array","items":[{"type":"string"}]})"), "items@");
  EXPECT_EQ(keyword(R"({"type":"object","required":["x"]})"), "required@");
  EXPECT_EQ(keyword(R"({"type":"strin"})"), "type@");
  EXPECT_EQ(keyword("{not json"), "@");
  EXPECT_EQ(keyword(R"({"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/a"}}})"), "$ref@");
  EXPECT_EQ(keyword(std::string(100, '[') + std::string(100, ']')), "@");  // not a schema object
  std::string deep = "true";
  for (int i = 0; i < 100; ++i) deep = R"({"type":"array","items":)" + deep + "}";
  std::string at;
  for (int i = 0; i < 64; ++i) at += "/items";
  EXPECT_EQ(keyword(deep), "@" + at);  // nesting bound
  EXPECT_EQ(keyword(R"({"oneOf":[{"type":"string"},{"type":"integer"}], "title":"ok"})"), "accepted");
}

// Converted grammars accept and reject hand-written documents.
TEST(JsonSchema, GrammarsMatchDocuments) {
  auto ok = [](const std::string& schema, const std::string& doc) {
    detail::GrammarMatcher m(detail::Grammar::parse(json_schema_to_grammar(schema)));
    return m.accept(doc) && m.accepting();
  };
  const std::string person = R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},
      "email":{"type":"string"}},"required":["name"]})";
  EXPECT_TRUE(ok(person, R"({"name": "Ann", "age": 3})"));
  EXPECT_TRUE(ok(person, R"({"name":"A\"n\\n\u00e9","email":"x"})"));
  EXPECT_TRUE(ok(person, "{\n  \"name\": \"日本\"\n}"));
  EXPECT_FALSE(ok(person, R"({"age": 3})"));
  EXPECT_FALSE(ok(person, R"({"name": "Ann", "age": 3.5})"));
  EXPECT_FALSE(ok(person, R"({"name": "Ann", "x": 1})"));
  EXPECT_FALSE(ok(person, R"({"name": "\ud800"})"));  // lone surrogate escapes are never generated
  const std::string opt = R"({"type":"object","properties":{"a":{"type":"boolean"},"b":{"type":"null"},"c":{"const":1}}})";
  EXPECT_TRUE(ok(opt, "{}"));
  EXPECT_TRUE(ok(opt, R"({"b": null})"));
  EXPECT_TRUE(ok(opt, R"({"a": true, "c": 1})"));
  EXPECT_FALSE(ok(opt, R"({"a": true,})"));
  EXPECT_FALSE(ok(opt, R"({, "c": 1})"));
  EXPECT_FALSE(ok(opt, R"({"c": 1, "a": true})"));  // schema order
  const std::string arr = R"({"type":"array","items":{"enum":["x","y"]},"minItems":1,"maxItems":2})";
  EXPECT_TRUE(ok(arr, R"(["x"])"));
  EXPECT_TRUE(ok(arr, R"(["x", "y"])"));
  EXPECT_FALSE(ok(arr, "[]"));
  EXPECT_FALSE(ok(arr, R"(["x","y","x"])"));
  const std::string pat = R"({"type":"string","pattern":"^[A-Z]{2}-\\d{3}(x|yz)?$"})";
  EXPECT_TRUE(ok(pat, R"("AB-123")"));
  EXPECT_TRUE(ok(pat, R"("AB-123yz")"));
  EXPECT_FALSE(ok(pat, R"("AB-12")"));
  EXPECT_FALSE(ok(pat, R"("ab-123")"));
  const std::string rec = R"({"$ref":"#/$defs/node","$defs":{"node":{"type":"object","properties":{
      "v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"]}}})";
  EXPECT_TRUE(ok(rec, R"({"v": 1, "kids": [{"v": 2}, {"v": 3, "kids": []}]})"));
  EXPECT_FALSE(ok(rec, R"({"v": 1, "kids": [{}]})"));
  EXPECT_TRUE(ok(R"({"type":"number"})", "-12.5e3"));
  EXPECT_FALSE(ok(R"({"type":"number"})", "01"));
  detail::GrammarMatcher any(detail::Grammar::parse(json_object_grammar()));
  EXPECT_TRUE(any.accept(R"({"a": [1, {"b": null}, "c"], "d": -0.5})") && any.accepting());
}

const char* const kSchemas[] = {
    R"({"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer"}},"required":["name","age"]})",
    R"({"type":"object","properties":{"person":{"type":"object","properties":{"first":{"type":"string","maxLength":10},
        "address":{"type":"object","properties":{"city":{"type":"string","maxLength":12},"zip":{"type":"string","pattern":"^\\d{5}$"}},
        "required":["city","zip"]}},"required":["first","address"]}},"required":["person"]})",
    R"({"type":"array","items":{"enum":["red","green","blue"]},"minItems":1,"maxItems":4})",
    R"({"type":"object","properties":{"title":{"type":"string","maxLength":10},"year":{"type":"integer"},"rating":{"type":"number"}}})",
    R"({"type":"object","properties":{"price":{"type":"number"},"quantity":{"type":"integer"}},"required":["price","quantity"],"additionalProperties":false})",
    R"({"type":"object","properties":{"quote":{"const":"say \"hi\"\\\n\ttab"},"kind":{"enum":["a\"b","c\\d","e\nf"]}},"required":["quote","kind"]})",
    R"({"type":"object","properties":{"word":{"enum":["café","naïve","日本","😀"]},"greek":{"type":"string","pattern":"^[α-ω]{1,5}$"}},"required":["word","greek"]})",
    R"({"type":"object","properties":{"ok":{"type":"boolean"},"none":{"type":"null"}},"required":["ok","none"]})",
    R"({"type":"object","properties":{"nickname":{"type":["string","null"],"maxLength":8}},"required":["nickname"]})",
    R"({"type":"object","properties":{"id":{"anyOf":[{"type":"string","maxLength":6},{"type":"integer"}]}},"required":["id"]})",
    R"({"type":"object","properties":{"v":{"oneOf":[{"type":"boolean"},{"type":"integer"},{"type":"null"}]}},"required":["v"]})",
    R"({"type":"array","items":{"$ref":"#/$defs/point"},"minItems":1,"maxItems":3,
        "$defs":{"point":{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"number"}},"required":["x","y"]}}})",
    R"({"$ref":"#/$defs/node","$defs":{"node":{"type":"object","properties":{"label":{"type":"string","maxLength":6},
        "child":{"$ref":"#/$defs/leaf"}},"required":["label"]},"leaf":{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}}})",
    R"({"type":"object","additionalProperties":false})",
    R"({"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":4})",
    R"({"type":"object","properties":{"code":{"type":"string","minLength":3,"maxLength":8}},"required":["code"]})",
    R"({"type":"object","properties":{"plate":{"type":"string","pattern":"^[A-Z]{2}-\\d{3}$"}},"required":["plate"]})",
    R"({"type":"object","properties":{"mixed":{"enum":[1,"two",null,true,2.5]}},"required":["mixed"]})",
    R"({"type":"object","properties":{"cfg":{"const":{"a":1,"b":[true,null]}}},"required":["cfg"]})",
    R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string","maxLength":5},"c":{"type":"boolean"},
        "d":{"type":"number"},"e":{"enum":["x","y"]},"f":{"type":"null"}},"required":["b","e"]})",
    R"({"type":"array","items":{"type":"object","properties":{"animal":{"enum":["cat","dog","cow"]},"legs":{"type":"integer"}},
        "required":["animal"]},"maxItems":3})",
    R"({"type":"object","properties":{"pet":{"type":"string","pattern":"^(cat|dog|bird)s?$"}},"required":["pet"]})",
    R"({"type":"number"})",
    R"({"type":"array","items":{"type":"array","items":{"type":"boolean"},"maxItems":3},"minItems":1,"maxItems":3})",
    R"({"type":"object","properties":{"size":{"oneOf":[{"const":"small"},{"const":"medium"},{"const":"large"}]},
        "tags":{"type":"array","items":{"type":"string","maxLength":6},"maxItems":3}},"required":["size"]})",
    R"({"type":"object","properties":{"msg":{"type":"string","maxLength":16}},"required":["msg"]})",
};

// The second opinion: Python's jsonschema (tools/validate_json_schema.py)
// on the same outputs. Runs when $GPT_PYTHON (default python3) has the
// package; CI sets GPT_REQUIRE_JSONSCHEMA=1 so that a missing package fails.
void python_validates(const json& schema, const std::vector<Completion>& out, const std::string& name) {
  json cases = json::array();
  json outputs = json::array();
  for (const auto& c : out) outputs.push_back(c.text);
  cases.push_back({{"schema", schema}, {"outputs", outputs}});
  const auto path = std::filesystem::temp_directory_path() /
                    ("gpt_json_schema_" + name + "_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + ".json");
  {
    std::ofstream f(path);
    f << cases.dump();
  }
  const char* py = std::getenv("GPT_PYTHON");
  const std::string cmd = std::string(py ? py : "python3") + " " + GPT_TEST_DATA_DIR + "/../../tools/validate_json_schema.py " +
                          path.string();
  const int rc = std::system(cmd.c_str());
  std::filesystem::remove(path);
  const int status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  if (status == 3 && !std::getenv("GPT_REQUIRE_JSONSCHEMA")) {
    std::cout << "note: Python jsonschema is missing; only the C++ validator checked these outputs\n";
    return;
  }
  EXPECT_EQ(status, 0) << "Python jsonschema rejected an output (printed above) or could not run: " << cmd;
}

class SampledJson : public ::testing::TestWithParam<int> {};

TEST_P(SampledJson, FiveGenerationsParseAndValidate) {
  const std::string schema_text = kSchemas[GetParam()];
  const json schema = json::parse(schema_text);
  const std::string prompt = render_chat_template(
      lm()->chat_template(),
      {{"user", "Reply with a short JSON value for this JSON schema: " + schema.dump() +
                    " Use unusual characters in strings: quotes, backslashes, accents."}},
      true, "", "<|im_end|>");
  GenerateOptions o;
  o.max_tokens = 160;
  o.n = 5;
  o.threads = 2;
  o.sampling.temperature = 1.0f;
  o.sampling.top_k = 0;
  o.sampling.top_p = 1.0f;
  o.sampling.min_p = 0.0f;
  o.sampling.seed = 1000 + static_cast<std::uint64_t>(GetParam()) * 10;
  o.grammar = json_schema_to_grammar(schema_text);
  const auto out = lm()->complete_n(prompt, o);
  ASSERT_EQ(out.size(), 5u);
  for (const auto& c : out) {
    SCOPED_TRACE(c.text);
    ASSERT_NE(c.finish_reason, FinishReason::Length) << "did not finish within " << o.max_tokens << " tokens";
    json v;
    ASSERT_NO_THROW(v = json::parse(c.text));
    EXPECT_EQ(validate(v, schema, schema), "");
  }
  python_validates(schema, out, "schema" + std::to_string(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(Schemas, SampledJson, ::testing::Range(0, int(std::size(kSchemas))));

// With top-k (or greedy) and no log-probabilities, generation checks tokens
// in logit order instead of computing the whole mask; the tokens drawn must
// be the same as with the whole mask (which logprobs >= 0 forces).
TEST(ConstrainedSampling, TopKShortcutEqualsFullMask) {
  const std::string prompt = render_chat_template(
      lm()->chat_template(), {{"user", "Describe a person as JSON with name, age and hobbies."}}, true, "", "<|im_end|>");
  for (const auto& [top_k, temp] : {std::pair{40, 1.0f}, std::pair{5, 0.7f}, std::pair{40, 0.0f}}) {
    GenerateOptions o;
    o.max_tokens = 32;
    o.threads = 2;
    o.n = 2;
    o.sampling.temperature = temp;
    o.sampling.top_k = top_k;
    o.sampling.repetition_penalty = 1.3f;
    o.sampling.seed = 5;
    o.grammar = json_schema_to_grammar(
        R"({"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer"},
            "hobbies":{"type":"array","items":{"type":"string"},"maxItems":3}},"required":["name","age"]})");
    const auto fast = lm()->complete_n(prompt, o);
    o.logprobs = 0;
    const auto full = lm()->complete_n(prompt, o);
    for (std::size_t k = 0; k < fast.size(); ++k) {
      EXPECT_EQ(fast[k].tokens, full[k].tokens) << "top_k " << top_k << " temperature " << temp << ": " << fast[k].text
                                                << " vs " << full[k].text;
      EXPECT_EQ(fast[k].text, full[k].text);
    }
  }
}

// --- GBNF grammars with reference parsers -----------------------------------------

// expr := term (op term)*; term := num | '(' expr ')'; exactly the whole line.
struct Arith {
  const std::string& s;
  std::size_t i = 0;
  bool num() {
    const std::size_t b = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    return i > b;
  }
  bool term() {
    if (i < s.size() && s[i] == '(') {
      ++i;
      if (!expr()) return false;
      if (i >= s.size() || s[i] != ')') return false;
      ++i;
      return true;
    }
    return num();
  }
  bool expr() {
    if (!term()) return false;
    while (i < s.size() && std::string("+-*/").find(s[i]) != std::string::npos) {
      ++i;
      if (!term()) return false;
    }
    return true;
  }
};

bool arithmetic_lines(const std::string& text) {
  // Each line: expr "=" num
  std::size_t start = 0;
  int lines = 0;
  while (start < text.size()) {
    const std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) return false;
    const std::string line = text.substr(start, nl - start);
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos) return false;
    const std::string lhs = line.substr(0, eq), rhs = line.substr(eq + 1);
    Arith a{lhs};
    if (!a.expr() || a.i != lhs.size()) return false;
    Arith b{rhs};
    if (!b.num() || b.i != rhs.size()) return false;
    ++lines;
    start = nl + 1;
  }
  return lines >= 1;
}

// RFC 4180 records: fields plain or quoted ("" for a quote), CRLF-free; every
// record has the same number of fields as the header.
bool csv_ok(const std::string& text, std::size_t& records) {
  std::size_t i = 0, width = 0;
  records = 0;
  while (i < text.size()) {
    std::size_t fields = 0;
    for (;;) {
      if (i < text.size() && text[i] == '"') {
        ++i;
        for (;;) {
          if (i >= text.size()) return false;
          if (text[i] == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          ++i;
        }
      } else {
        while (i < text.size() && text[i] != ',' && text[i] != '\n') {
          if (text[i] == '"') return false;
          ++i;
        }
      }
      ++fields;
      if (i < text.size() && text[i] == ',') {
        ++i;
        continue;
      }
      if (i < text.size() && text[i] == '\n') {
        ++i;
        break;
      }
      return false;  // a record must end with a newline
    }
    if (records == 0) width = fields;
    if (fields != width) return false;
    ++records;
  }
  return records >= 2;
}

std::vector<Completion> sample_grammar(const std::string& grammar, const std::string& request, std::uint64_t seed) {
  const std::string prompt = render_chat_template(lm()->chat_template(), {{"user", request}}, true, "", "<|im_end|>");
  GenerateOptions o;
  o.max_tokens = 120;
  o.n = 5;
  o.threads = 2;
  o.sampling.temperature = 1.0f;
  o.sampling.seed = seed;
  o.grammar = grammar;
  return lm()->complete_n(prompt, o);
}

TEST(GbnfSampling, ArithmeticExpressions) {
  const std::string g =
      "root ::= line{1,3}\n"
      "line ::= expr \"=\" num \"\\n\"\n"
      "expr ::= term ([-+*/] term){0,4}\n"
      "term ::= num | \"(\" inner \")\"\n"
      "inner ::= num ([-+*/] num){0,3}\n"
      "num ::= [0-9]{1,4}\n";
  for (const auto& c : sample_grammar(g, "Write three arithmetic facts like 2*(3+4)=14, one per line.", 7)) {
    SCOPED_TRACE(c.text);
    ASSERT_NE(c.finish_reason, FinishReason::Length);
    EXPECT_TRUE(arithmetic_lines(c.text));
  }
}

TEST(GbnfSampling, Csv) {
  const std::string g =
      "root ::= record record{1,3}\n"
      "record ::= field \",\" field \",\" field \"\\n\"\n"
      "field ::= [a-zA-Z0-9 .]{1,12} | \"\\\"\" ([^\"\\n] | \"\\\"\\\"\"){0,12} \"\\\"\"\n";
  for (const auto& c : sample_grammar(g, "Write a CSV table of three fruits with name, color, price.", 11)) {
    SCOPED_TRACE(c.text);
    ASSERT_NE(c.finish_reason, FinishReason::Length);
    std::size_t records = 0;
    EXPECT_TRUE(csv_ok(c.text, records));
  }
}

}  // namespace
}  // namespace gpt
