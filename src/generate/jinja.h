// A Jinja renderer of our own for the subset of the language that chat
// templates use, reproducing transformers' apply_chat_template: Jinja2 with
// trim_blocks and lstrip_blocks, the loopcontrols extension, the
// {% generation %} tag, and the globals raise_exception, strftime_now,
// namespace and dict; tojson as json.dumps(ensure_ascii=False).
//
// The subset (anything else is refused with TemplateError naming it):
//   text, {{ expr }}, {# comments #}, whitespace control {%- -%} {{- -}} {%+,
//   {% raw %}; statements if/elif/else, for (loop.index, index0, revindex,
//   revindex0, first, last, length, previtem, nextitem, cycle; `for x in y if
//   cond`; else; tuple targets), break/continue, set (to names, tuples,
//   namespace attributes; block set with filters), macro (defaults, called
//   with positional and keyword arguments), filter blocks, generation blocks.
//   Expressions: literals, lists, tuples, dicts, attribute / subscript access,
//   slices, + - * / // % **, ~, comparisons, and/or/not, in / not in,
//   `is [not] test`, `a if b else c`, filters, calls. The filters, tests and
//   methods are listed in jinja.cpp.
//
// Values follow Python: truthiness, str() of lists and dicts (repr), int vs
// float arithmetic, code-point string indexing. Data passed in comes from
// JSON (nlohmann::ordered_json); dicts built by a template may also have
// number, boolean and None keys.
//
// `|safe` and `|e` make markupsafe.Markup strings as in Jinja2: `+` with a
// plain string escapes the plain one; operations on a Markup whose escaping
// rules are not reproduced are refused (TemplateError Unsupported naming
// `|safe`).
//
// Bounds: parsing and rendering take time linear in the template, the data
// and the output. The lexer makes tokens as the parser asks for them, and the
// parsed tree has at most Limits::max_nodes nodes (real chat templates have
// about a thousand), so parsing any template takes a few tens of MiB at most
// beyond its text. Strings are shared between the values that hold them.
// The output, every string built, the work done (a step per node evaluated,
// per list item and per 16 bytes of string built), the items of one list
// (2^18) and of all lists alive at once (2^19), and the nesting depth of the template, of values and of macro calls
// are capped (Limits); sizes are checked before the memory is taken where
// they can be known. Exceeding one throws TemplateError(Limit).
// tests/generate/jinja_test.cpp measures the peak RSS of crafted cases.
//
// Thread safety: a Template is immutable after construction; render() may
// be called from many threads at once.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "gpt/error.h"

namespace gpt::jinja {

struct Limits {
  std::size_t max_output_bytes = 16u << 20;   // the rendered text, and any one string built
  std::uint64_t max_work = 20'000'000;        // nodes evaluated + list items + bytes/16 of strings built
  int max_depth = 200;                        // nesting of blocks/expressions, and of macro calls
  std::size_t max_nodes = 1u << 17;           // syntax nodes of one template (bounds the parsed tree's memory)
};

struct RenderOptions {
  Limits limits;
  // The time strftime_now() formats; the current local time when unset.
  std::optional<std::tm> now;
};

struct Node;  // the parsed template (jinja.cpp)

class Template {
 public:
  // Parses the template. Throws TemplateError (Syntax, Unsupported, Limit).
  explicit Template(std::string_view source, const Limits& limits = {});
  ~Template();
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // Renders with the variables of `context` (a JSON object: messages,
  // add_generation_prompt, bos_token, ...); ordered_json keeps the key order
  // that tojson and dict iteration show. Throws TemplateError.
  std::string render(const nlohmann::ordered_json& context, const RenderOptions& options = {}) const;

 private:
  std::unique_ptr<Node> root_;
};

}  // namespace gpt::jinja
