// The Jinja renderer: byte-identical to transformers' apply_chat_template on
// real chat templates (tests/data/chat/jinja_cases.json, written by
// tools/make_chat_template_fixtures.py), unit tests of the language subset,
// its errors, and its bounds.
//
// The real templates are not committed (they are not ours): the fixture
// holds each one's file name, length and FNV-1a hash, and the test reads the
// text from the llama-cpp-python sdist that tools/fetch-llamacpp-sources
// unpacks under $GPT_CACHE_DIR (default ~/.cache/gpt). Without it the parity
// test fails and says to run that script.
#include "generate/jinja.h"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <optional>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
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

// Where tools/fetch-llamacpp-sources unpacks the sdist's chat templates.
std::string llamacpp_templates_dir() {
  const char* cache = std::getenv("GPT_CACHE_DIR");
  const char* home = std::getenv("HOME");
  const std::string base = cache && *cache ? std::string(cache) : std::string(home ? home : "") + "/.cache/gpt";
  return base + "/llamacpp-0.3.36/src/vendor/llama.cpp/models/templates";
}

std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return h;
}

std::string hex16(std::uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

TEST(JinjaParity, Fnv1aMatchesTheFixtureScript) {
  // Values from tools/make_chat_template_fixtures.py's fnv1a64().
  EXPECT_EQ(hex16(fnv1a64("")), "cbf29ce484222325");
  EXPECT_EQ(hex16(fnv1a64("a")), "af63dc4c8601ec8c");
  EXPECT_EQ(hex16(fnv1a64("foobar")), "85944171f73967e8");
}

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
  const std::string dir = llamacpp_templates_dir();
  for (std::size_t t = 0; t < templates.size(); ++t) {
    const std::string file = templates[t].at("file").get<std::string>();
    std::ifstream in(dir + "/" + file, std::ios::binary);
    ASSERT_TRUE(in) << "cannot read the chat template " << dir << "/" << file
                    << ": run tools/fetch-llamacpp-sources (it downloads the llama-cpp-python 0.3.36 sdist and "
                       "unpacks its templates under $GPT_CACHE_DIR, default ~/.cache/gpt)";
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_EQ(text.size(), templates[t].at("bytes").get<std::size_t>())
        << dir << "/" << file << " is not the file the fixture was made from: run tools/fetch-llamacpp-sources --force";
    ASSERT_EQ(hex16(fnv1a64(text)), templates[t].at("fnv1a64").get<std::string>())
        << dir << "/" << file << " is not the file the fixture was made from: run tools/fetch-llamacpp-sources --force";
    try {
      parsed[t] = std::make_unique<Template>(text);
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
    const std::string name = templates[t].at("file").get<std::string>();
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
  // Markup (|safe, |e) operations whose escaping we do not reproduce are
  // refused, naming |safe; `+` and the filters in jinja_cases.json's units
  // are reproduced.
  for (const char* t : {"{{ ('%s'|safe) % 'x' }}", "{{ ('a'|safe).upper() }}", "{{ ('ab'|e)[0] }}", "{{ ('ab'|safe)[1:] }}",
                        "{{ ('ab'|safe)|replace('a', 'b') }}", "{{ ('ab'|safe)|trim('a') }}",
                        "{{ 'a\nb'|indent('>'|safe) }}", "{{ ('ab'|safe)|first }}"}) {
    EXPECT_EQ(kind_of(t), Kind::Unsupported) << t;
    EXPECT_NE(message_of(t).find("|safe"), std::string::npos) << t << ": " << message_of(t);
  }
  // Case mappings we do not know are refused, never guessed.
  EXPECT_EQ(kind_of("{{ 'ǅ'|upper }}"), Kind::Unsupported);
}

// Crafted templates: each is refused (or rendered) quickly with bounded
// memory and stack; nothing escapes but TemplateError. Each case runs in a
// fork()ed child; its peak RSS (ru_maxrss from wait4) minus that of a child
// that does nothing must stay under kRssBoundMiB beyond the template's own
// size (the source string the caller holds), and it must finish within
// kSecondsBound. Each case prints one "[ measure  ]" line.
#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer keeps up to 256 MiB of freed memory in quarantine and
// pads every allocation: the bound is for the plain build; under ASan it
// only catches runaway growth.
constexpr double kRssBoundMiB = 1024.0;
#else
constexpr double kRssBoundMiB = 256.0;  // generous; the cases measure far less (see the printed table)
#endif
constexpr double kSecondsBound = 30.0;  // generous: the point is "not minutes or hours"

struct Crafted {
  std::string name;
  std::function<std::string()> make;  // builds the template (in the child)
  json ctx;
  std::optional<Kind> expect;  // nullopt: renders
};

struct ChildResult {
  std::string outcome;  // "ok", "Syntax", "Limit", ..., or "crashed"
  std::string what;
  double ms = 0, rss_mib = 0;
  std::size_t template_bytes = 0;
};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Syntax: return "Syntax";
    case Kind::Unsupported: return "Unsupported";
    case Kind::Runtime: return "Runtime";
    case Kind::Raised: return "Raised";
    case Kind::Limit: return "Limit";
  }
  return "?";
}

ChildResult run_crafted(const Crafted& c) {
  auto child = [](const std::function<std::string(std::size_t&)>& body, ChildResult& r) -> long {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      close(fds[0]);
      std::size_t bytes = 0;
      std::string msg;
      try {
        msg = body(bytes);
      } catch (const std::exception& e) {
        msg = std::string("untyped\n0\n0\n") + e.what();
      }
      std::size_t off = 0;
      while (off < msg.size()) {
        const ssize_t n = write(fds[1], msg.data() + off, msg.size() - off);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
      }
      _exit(0);
    }
    close(fds[1]);
    std::string msg;
    char buf[4096];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) msg.append(buf, static_cast<std::size_t>(n));
    close(fds[0]);
    int status = 0;
    struct rusage ru {};
    wait4(pid, &status, 0, &ru);
    std::istringstream in(msg);
    std::string ms, bytes;
    if (!std::getline(in, r.outcome) || !std::getline(in, ms) || !std::getline(in, bytes)) {
      r.outcome = "crashed (status " + std::to_string(status) + ")";
    } else {
      r.ms = std::stod(ms);
      r.template_bytes = std::stoull(bytes);
      std::getline(in, r.what, '\0');
    }
    return ru.ru_maxrss;
  };
  ChildResult base, r;
  const long base_kb = child([](std::size_t&) { return std::string("ok\n0\n0\n"); }, base);
  const long kb = child(
      [&](std::size_t& bytes) {
        const std::string tmpl = c.make();
        bytes = tmpl.size();
        const auto t0 = std::chrono::steady_clock::now();
        std::string outcome = "ok", what;
        try {
          const std::string out = Template(tmpl).render(c.ctx);
          what = "rendered " + std::to_string(out.size()) + " bytes";
        } catch (const TemplateError& e) {
          outcome = kind_name(e.kind()), what = e.what();
        }
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        return outcome + "\n" + std::to_string(ms) + "\n" + std::to_string(bytes) + "\n" + what;
      },
      r);
  r.rss_mib = static_cast<double>(kb - base_kb) / 1024.0;
  return r;
}

std::vector<Crafted> crafted_cases() {
  constexpr std::size_t four_mb = 4u << 20;
  auto repeat = [](std::string prefix, const std::string& unit, std::string suffix, std::size_t size) {
    return [=]() {
      std::string s = prefix;
      s.reserve(size + prefix.size() + suffix.size() + unit.size());
      while (s.size() < size) s += unit;
      return s + suffix;
    };
  };
  auto fixed = [](std::string s) { return [s]() { return s; }; };
  json deep = json::array();
  for (int k = 0; k < 1000; ++k) deep = json::array({deep});
  std::vector<Crafted> c = {
      // Big templates render in linear time while their syntax tree stays
      // within Limits::max_nodes (real chat templates have about 1,000
      // nodes); denser ones are refused as soon as the parser passes it.
      {"4 MB of plain text", repeat("", "Hello, world! ", "", four_mb), json::object(), std::nullopt},
      {"4 MB of text, a tag every 1 KB", repeat("", std::string(1000, 'x') + "{{ x }}{% if y %}y{% endif %}", "", four_mb),
       {{"x", "b"}, {"y", true}}, std::nullopt},
      {"512 KB of text and tags", repeat("", "text {{ 'a' ~ x }} {% if y %}y{% endif %}{# c #}\n", "", 512u << 10),
       {{"x", "b"}, {"y", true}}, std::nullopt},
      {"4 MB of {# comments #}", repeat("", "{# a comment #}", "", four_mb), json::object(), std::nullopt},
      {"4 MB string literal", repeat("{{ '", "abcdefgh", "' }}", four_mb), json::object(), std::nullopt},
      {"4 MB of text and tags", repeat("", "text {{ 'a' ~ x }} {% if y %}y{% endif %}{# c #}\n", "", four_mb),
       {{"x", "b"}, {"y", true}}, Kind::Limit},
      {"4 MB of {{ x }}", repeat("", "{{ x }}", "", four_mb), {{"x", "b"}}, Kind::Limit},
      {"4 MB of {%- if %}", repeat("", "{%- if x %}{%- endif %}", "", four_mb), {{"x", true}}, Kind::Limit},
      {"4 MB list literal", repeat("{{ [", "1, ", "1]|length }}", four_mb), json::object(), Kind::Limit},
      {"4 MB dict literal", repeat("{{ {", "'k': 1, ", "'k': 2}|length }}", four_mb), json::object(), Kind::Limit},
      {"4 MB of one-character names", repeat("{{ ", "a ~ ", "a }}", four_mb), json::object(), Kind::Limit},
      {"4 MB of macro definitions", repeat("", "{% macro m(a, b=1) %}{{ a }}{% endmacro %}", "{{ m(1) }}", four_mb),
       json::object(), Kind::Limit},
      // 4 MB of nesting: parentheses, `not`, unary minus, filters, sums, if blocks, lists.
      {"4 MB of nested parentheses", [] { return "{{ " + std::string(four_mb / 2, '(') + "1" + std::string(four_mb / 2, ')') + " }}"; },
       json::object(), Kind::Limit},
      {"4 MB of `not`", repeat("{{ ", "not ", "x }}", four_mb), json::object(), Kind::Limit},
      {"4 MB of unary minus", [] { return "{{ " + std::string(four_mb, '-') + "1 }}"; }, json::object(), Kind::Limit},
      {"4 MB of |trim", repeat("{{ x", "|trim", " }}", four_mb), json::object(), Kind::Limit},
      {"4 MB of +1", repeat("{{ 1", "+1", " }}", four_mb), json::object(), Kind::Limit},
      {"4 MB of {% if %} unclosed", repeat("", "{% if true %}", "", four_mb), json::object(), Kind::Limit},
      {"4 MB of nested lists", [] { return "{{ " + std::string(four_mb / 2, '[') + std::string(four_mb / 2, ']') + " }}"; },
       json::object(), Kind::Limit},
      {"4 MB of '[' unbalanced", [] { return "{{ " + std::string(four_mb, '['); }, json::object(), Kind::Limit},
      {"4 MB unterminated string", repeat("{{ '", "abcdefgh", "", four_mb), json::object(), Kind::Syntax},
      {"4 MB unterminated comment", repeat("{# ", "abcdefgh", "", four_mb), json::object(), Kind::Syntax},
      {"4 MB unterminated raw", repeat("{% raw %}", "{% abc %}", "", four_mb), json::object(), Kind::Syntax},
      {"4 MB unterminated tag", repeat("{{ x", " ~ x", "", four_mb), json::object(), Kind::Limit},
      {"256 KB unterminated tag", repeat("{{ x", " ~ x", "", 256u << 10), json::object(), Kind::Syntax},
      // Work, output and string size, recursion.
      {"10^10 loop iterations", fixed("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"),
       json::object(), Kind::Limit},
      {"range(10^9)", fixed("{% for a in range(1000000000) %}{% endfor %}"), json::object(), Kind::Limit},
      {"[1] * 10^8", fixed("{{ [1] * 100000000 }}"), json::object(), Kind::Limit},
      {"a list grown to 400k items",
       fixed("{% set ns = namespace(v=[]) %}{% for i in range(200000) %}{% set ns.v = ns.v + [i, i] %}{% endfor %}"),
       json::object(), Kind::Limit},
      {"a string doubled 64 times",
       fixed("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"),
       json::object(), Kind::Limit},
      {"'x' * 10^12", fixed("{{ 'x' * 1000000000000 }}"), json::object(), Kind::Limit},
      {"2.4 GB of output",
       fixed("{% for i in range(100000) %}{% for j in range(1000) %}xxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}{% endfor %}"),
       json::object(), Kind::Limit},
      {"a 16 MB string, repeated 10^5 times in a list",
       fixed("{% set s = 'x' * 16000000 %}{{ ([s] * 100000)|length }}"), json::object(), std::nullopt},
      {"a 1 MB string appended to a list 5000 times",
       fixed("{% set s = 'x' * 1000000 %}{% set ns = namespace(v=[]) %}{% for i in range(5000) %}"
             "{% set ns.v = ns.v + [s] %}{% endfor %}{{ ns.v|length }}"),
       json::object(), std::nullopt},
      {"copies of a 262144-item list kept alive",
       fixed("{% set big = range(262144)|list %}{% set ns = namespace(v=[]) %}{% for i in range(100) %}"
             "{% set ns.v = ns.v + [big|list] %}{% endfor %}{{ ns.v|length }}"),
       json::object(), Kind::Limit},
      {"[1] * 8000000", fixed("{{ ([1] * 8000000)|length }}"), json::object(), Kind::Limit},
      {"a 16 MB string iterated", fixed("{% set s = 'x' * 16000000 %}{% for c in s %}{% endfor %}"), json::object(),
       Kind::Limit},
      {"a 12 MB string split into 4M pieces", fixed("{{ ('abc,' * 3000000).split(',')|length }}"), json::object(),
       Kind::Limit},
      {"a 1 MB string, each character replaced by 40", fixed("{{ ('x' * 1000000).replace('x', 'y' * 40)|length }}"),
       json::object(), Kind::Limit},
      {"a 4 MB message", fixed("{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"),
       {{"messages", json::array({{{"role", "user"}, {"content", std::string(four_mb, 'x')}}})}}, std::nullopt},
      {"unbounded macro recursion", fixed("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"), json::object(),
       Kind::Limit},
      {"a list nested 100k deep",
       fixed("{% set ns = namespace(v=[]) %}{% for i in range(100000) %}{% set ns.v = [ns.v] %}{% endfor %}"),
       json::object(), Kind::Limit},
      {"2 ** 100", fixed("{{ 2 ** 100 }}"), json::object(), Kind::Limit},
      // Deeply nested data from the caller.
      {"data nested 1000 deep", fixed("{{ x }}"), {{"x", deep}}, Kind::Limit},
  };
  return c;
}

TEST(JinjaBounds, CraftedTemplatesAreBoundedInMemoryAndTime) {
  const std::vector<Crafted> cases = crafted_cases();
  for (const Crafted& c : cases) {
    SCOPED_TRACE(c.name);
    const ChildResult r = run_crafted(c);
    const double template_mib = static_cast<double>(r.template_bytes) / (1024.0 * 1024.0);
    std::printf("[ measure  ] %-46s %-11s peak RSS +%7.2f MiB (template %5.2f MiB) %8.1f ms  %s\n", c.name.c_str(),
                r.outcome.c_str(), r.rss_mib, template_mib, r.ms, r.what.substr(0, 90).c_str());
    EXPECT_EQ(r.outcome, c.expect ? kind_name(*c.expect) : "ok") << r.what;
    EXPECT_LT(r.rss_mib, kRssBoundMiB + template_mib);
    EXPECT_LT(r.ms, kSecondsBound * 1000.0);
  }
}

TEST(JinjaRender, ContextMustBeAnObject) {
  EXPECT_THROW(Template("x").render(json::array()), TemplateError);
  EXPECT_EQ(render("{{ a }}", {{"a", 1}}), "1");
}

}  // namespace
}  // namespace gpt::jinja
