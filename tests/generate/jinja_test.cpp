// The Jinja renderer: byte-identical to transformers' apply_chat_template on
// real chat templates (tests/data/chat/jinja_cases.json, written by
// tools/make_chat_template_fixtures.py), unit tests of the language subset,
// its errors, and its bounds.
#include "generate/jinja.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "gpt/error.h"

namespace gpt::jinja {
namespace {

using json = nlohmann::ordered_json;
using Kind = TemplateError::Kind;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::tm fixed_now() {
  std::tm tm{};
  tm.tm_year = 2025 - 1900, tm.tm_mon = 2, tm.tm_mday = 4, tm.tm_hour = 10, tm.tm_min = 20, tm.tm_sec = 30;
  tm.tm_wday = 2, tm.tm_yday = 62;  // a Tuesday
  return tm;
}

const json& fixture();

std::string render(std::string_view tmpl, const json& ctx = json::object()) { return Template(tmpl).render(ctx); }

TEST(JinjaParity, RealTemplatesMatchTransformers) {
  const json& doc = fixture();
  const auto& templates = doc.at("templates");
  const auto& conversations = doc.at("conversations");
  const auto& cases = doc.at("cases");
  ASSERT_GE(cases.size(), 300u);

  RenderOptions options;
  options.now = fixed_now();
  std::vector<std::unique_ptr<Template>> parsed(templates.size());
  std::vector<std::string> parse_error(templates.size());
  for (std::size_t t = 0; t < templates.size(); ++t) {
    try {
      parsed[t] = std::make_unique<Template>(templates[t].at("text").get<std::string>());
    } catch (const TemplateError& e) {
      parse_error[t] = e.what();
    }
  }

  struct Tally {
    int cases = 0, passed = 0, raising = 0;
    std::set<std::string> templates;
  };
  std::map<std::string, Tally> by_family;
  std::vector<std::string> outputs(cases.size());
  int total_passed = 0, shown = 0;
  for (std::size_t k = 0; k < cases.size(); ++k) {
    const json& c = cases[k];
    const std::size_t t = c.at("t").get<std::size_t>();
    const std::string family = templates[t].at("family").get<std::string>();
    const std::string name = templates[t].at("name").get<std::string>();
    Tally& tally = by_family[family];
    tally.cases++;
    tally.templates.insert(name);
    const bool expect_error = c.contains("error");
    if (expect_error) tally.raising++;
    if (!expect_error) {
      std::string expected = c.at("out").get<std::string>();
      if (c.contains("from"))
        expected = outputs.at(c.at("from").get<std::size_t>()).substr(0, c.at("bytes").get<std::size_t>()) + expected;
      outputs[k] = expected;
    }
    json ctx = doc.at("context");
    ctx["messages"] = conversations.at(c.at("c").get<std::size_t>());
    ctx["add_generation_prompt"] = c.at("g").get<int>() != 0;
    ctx["tools"] = nullptr;
    ctx["documents"] = nullptr;
    std::string got, error;
    bool typed_error = false;
    if (!parsed[t]) {
      error = parse_error[t];
      typed_error = true;
    } else {
      try {
        got = parsed[t]->render(ctx, options);
      } catch (const TemplateError& e) {
        error = e.what();
        typed_error = true;
      } catch (const std::exception& e) {
        error = std::string("untyped: ") + e.what();
      }
    }
    const bool ok = expect_error ? typed_error : (error.empty() && got == outputs[k]);
    if (ok) {
      tally.passed++, total_passed++;
    } else if (shown++ < 40) {
      ADD_FAILURE() << name << " conversation " << c.at("c") << " add_generation_prompt=" << c.at("g") << ": "
                    << (expect_error ? "transformers raised (" + c.at("error").get<std::string>() + ") but we rendered"
                                     : error.empty() ? "output differs:\n--- expected\n" + outputs[k] + "\n--- got\n" + got
                                                     : "we failed: " + error);
    }
  }
  std::printf("%-22s %9s %6s %7s %7s\n", "family", "templates", "cases", "raising", "passed");
  for (const auto& [family, tally] : by_family)
    std::printf("%-22s %9zu %6d %7d %6.1f%%\n", family.c_str(), tally.templates.size(), tally.cases, tally.raising,
                100.0 * tally.passed / tally.cases);
  std::printf("total: %zu templates, %zu families, %zu cases, %d passed (%.1f%%)\n", templates.size(), by_family.size(),
              cases.size(), total_passed, 100.0 * total_passed / static_cast<double>(cases.size()));
  EXPECT_GE(by_family.size(), 25u);
  EXPECT_EQ(total_passed, static_cast<int>(cases.size()));
}

const json& fixture() {
  static const json doc = json::parse(read_file(std::string(GPT_TEST_DATA_DIR) + "/chat/jinja_cases.json"));
  return doc;
}

// Small templates, one or two features each, rendered by transformers.
TEST(JinjaUnits, LanguageSubsetMatchesTransformers) {
  const json& doc = fixture();
  json ctx = doc.at("unit_data");
  ctx["messages"] = json::array({{{"role", "user"}, {"content", "hi"}}});
  ctx["add_generation_prompt"] = true;
  ctx["bos_token"] = "<s>";
  RenderOptions options;
  options.now = fixed_now();
  ASSERT_GE(doc.at("units").size(), 40u);
  for (const auto& u : doc.at("units")) {
    const std::string tmpl = u.at("template").get<std::string>();
    if (u.contains("error")) {
      EXPECT_THROW(Template(tmpl).render(ctx, options), TemplateError) << tmpl << "\n(transformers: " << u.at("error") << ")";
      continue;
    }
    try {
      EXPECT_EQ(Template(tmpl).render(ctx, options), u.at("out").get<std::string>()) << tmpl;
    } catch (const TemplateError& e) {
      ADD_FAILURE() << tmpl << "\nthrew: " << e.what();
    }
  }
}

Kind kind_of(std::string_view tmpl, const json& ctx = json::object(), const RenderOptions& options = {}) {
  try {
    Template(tmpl).render(ctx, options);
  } catch (const TemplateError& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error for " << tmpl.substr(0, 80);
  return Kind::Runtime;
}

std::string message_of(std::string_view tmpl, const json& ctx = json::object()) {
  try {
    Template(tmpl).render(ctx);
  } catch (const TemplateError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(JinjaErrors, AreTypedAndNameTheProblem) {
  EXPECT_EQ(kind_of("{{ raise_exception('roles must alternate') }}"), Kind::Raised);
  EXPECT_NE(message_of("{{ raise_exception('roles must alternate') }}").find("roles must alternate"), std::string::npos);
  EXPECT_EQ(kind_of("{{ x|nosuchfilter }}"), Kind::Syntax);
  EXPECT_NE(message_of("{{ x|nosuchfilter }}").find("nosuchfilter"), std::string::npos);
  EXPECT_NE(message_of("{{ x is nosuchtest }}").find("nosuchtest"), std::string::npos);
  // Jinja features this renderer lacks are refused by name.
  EXPECT_EQ(kind_of("{% include 'other.jinja' %}"), Kind::Unsupported);
  EXPECT_NE(message_of("{% include 'other.jinja' %}").find("include"), std::string::npos);
  EXPECT_EQ(kind_of("{{ 'abc'|truncate(2) }}"), Kind::Unsupported);
  EXPECT_NE(message_of("{{ 'abc'|truncate(2) }}").find("truncate"), std::string::npos);
  EXPECT_EQ(kind_of("{% for x in [1] recursive %}{% endfor %}"), Kind::Unsupported);
  EXPECT_EQ(kind_of("{{ '{:>5}'.format(1) }}"), Kind::Unsupported);
  EXPECT_NE(message_of("{{ 'x'.zfill(3) }}").find("zfill"), std::string::npos);
  // Errors Python would raise.
  EXPECT_EQ(kind_of("{{ nothing.attr }}"), Kind::Runtime);
  EXPECT_NE(message_of("{{ nothing.attr }}").find("nothing"), std::string::npos);
  EXPECT_EQ(kind_of("{{ 'a' + 1 }}"), Kind::Runtime);
  EXPECT_EQ(kind_of("{{ 1 // 0 }}"), Kind::Runtime);
  EXPECT_EQ(kind_of("{% set x = [] %}{{ x.append(1) }}"), Kind::Runtime);  // the sandbox forbids it
  EXPECT_EQ(kind_of("{% set ns = namespace() %}{% set ns._x = 1 %}"), Kind::Runtime);
  // Syntax errors.
  EXPECT_EQ(kind_of("{% if true %}no end"), Kind::Syntax);
  EXPECT_EQ(kind_of("{{ (1 }}"), Kind::Syntax);
  EXPECT_EQ(kind_of("{% frobnicate %}"), Kind::Syntax);
  EXPECT_EQ(kind_of("{{ 'unterminated }}"), Kind::Syntax);
  // Case mappings we do not know are refused, never guessed.
  EXPECT_EQ(kind_of("{{ 'ǅ'|upper }}"), Kind::Unsupported);
}

// Crafted templates: each is refused (or rendered) quickly with bounded
// memory and stack; nothing escapes but TemplateError.
TEST(JinjaBounds, CraftedTemplatesAreBounded) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t four_mb = 4u << 20;
  // A 4 MB template of plain text and expressions renders, in linear time.
  {
    std::string big;
    while (big.size() < four_mb) big += "text {{ 'a' ~ x }} {% if y %}y{% endif %}{# c #}\n";
    const std::string out = Template(big).render({{"x", "b"}, {"y", true}});
    EXPECT_GT(out.size(), four_mb / 8);
  }
  // 4 MB of nesting: parentheses, `not`, unary minus, filters, if blocks.
  std::string parens(four_mb / 2, '(');
  EXPECT_EQ(kind_of("{{ " + parens + "1" + std::string(four_mb / 2, ')') + " }}"), Kind::Limit);
  std::string nots;
  while (nots.size() < four_mb) nots += "not ";
  EXPECT_EQ(kind_of("{{ " + nots + "x }}"), Kind::Limit);
  EXPECT_EQ(kind_of("{{ " + std::string(four_mb, '-') + "1 }}"), Kind::Limit);
  std::string filters = "{{ x";
  while (filters.size() < four_mb) filters += "|trim";
  EXPECT_EQ(kind_of(filters + " }}"), Kind::Limit);
  std::string sums = "{{ 1";
  while (sums.size() < four_mb) sums += "+1";
  EXPECT_EQ(kind_of(sums + " }}"), Kind::Limit);
  std::string ifs;
  while (ifs.size() < four_mb) ifs += "{% if true %}";
  EXPECT_EQ(kind_of(ifs), Kind::Limit);
  EXPECT_EQ(kind_of("{{ " + std::string(four_mb / 2, '[') + std::string(four_mb / 2, ']') + " }}"), Kind::Limit);
  EXPECT_EQ(kind_of("{{ " + std::string(four_mb, '[') + " }}"), Kind::Syntax);  // unbalanced
  // Work, output and string size, recursion.
  EXPECT_EQ(kind_of("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"), Kind::Limit);
  EXPECT_EQ(kind_of("{% for a in range(1000000000) %}{% endfor %}"), Kind::Limit);
  EXPECT_EQ(kind_of("{{ [1] * 100000000 }}"), Kind::Limit);
  EXPECT_EQ(kind_of("{% set ns = namespace(v=[]) %}{% for i in range(200000) %}{% set ns.v = ns.v + [i, i] %}{% endfor %}"),
            Kind::Limit);
  EXPECT_EQ(kind_of("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"),
            Kind::Limit);
  EXPECT_EQ(kind_of("{{ 'x' * 1000000000000 }}"), Kind::Limit);
  EXPECT_EQ(kind_of("{% for i in range(100000000) %}xxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}"), Kind::Limit);
  EXPECT_EQ(kind_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"), Kind::Limit);
  EXPECT_EQ(kind_of("{% set ns = namespace(v=[]) %}{% for i in range(100000) %}{% set ns.v = [ns.v] %}{% endfor %}"),
            Kind::Limit);
  EXPECT_EQ(kind_of("{{ 2 ** 100 }}"), Kind::Limit);
  // Deeply nested data from the caller.
  json deep = json::array();
  for (int k = 0; k < 1000; ++k) deep = json::array({deep});
  EXPECT_EQ(kind_of("{{ x }}", {{"x", deep}}), Kind::Limit);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(seconds, 120.0);  // generous: the point is "not minutes or hours"
  std::printf("crafted templates: %.2f s in all\n", seconds);
}

TEST(JinjaRender, ContextMustBeAnObject) {
  EXPECT_THROW(Template("x").render(json::array()), TemplateError);
  EXPECT_EQ(render("{{ a }}", {{"a", 1}}), "1");
}

}  // namespace
}  // namespace gpt::jinja
