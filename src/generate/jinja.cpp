// The Jinja renderer (see jinja.h for the subset). Four parts, in order,
// each in its own file under generate/jinja/:
//   1. values: a small Python-like value type, str()/repr(), json.dumps
//   2. lexer: template text -> tokens on demand, with Jinja2's whitespace rules
//   3. parser: tokens -> statement and expression trees (Jinja2's grammar)
//   4. interpreter: statements, expressions, filters, tests, methods
//
// Filters: abs, capitalize, count, d/default, dictsort, e/escape, first,
//   float, format, indent, int, items, join, last, length, list, lower, map,
//   max, min, reject, rejectattr, replace, reverse, round, safe, select,
//   selectattr, sort, string, sum, title, tojson, trim, unique, upper,
//   wordcount.
// Tests: defined, undefined, none, boolean, true, false, integer, float,
//   number, string, mapping, iterable, sequence, callable, sameas, odd, even,
//   divisibleby, eq/equalto/==, ne/!=, lt/lessthan/<, le/<=, gt/greaterthan/>,
//   ge/>=, in, lower, upper.
// Methods: str: startswith endswith strip lstrip rstrip split rsplit
//   splitlines upper lower title capitalize replace find rfind index rindex
//   count join format isdigit isspace isalpha isalnum islower isupper;
//   dict: items keys values get.
// Globals: range, namespace, dict, raise_exception, strftime_now.
#include "generate/jinja.h"

#include "generate/pytext.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <deque>
#include <functional>
#include <unordered_map>
#include <vector>

namespace gpt::jinja {

namespace {

using Kind = TemplateError::Kind;

[[noreturn]] void fail(Kind kind, int line, const std::string& msg) {
  std::string s = "chat template";
  if (line > 0) s += " line " + std::to_string(line);
  throw TemplateError(kind, s + ": " + msg);
}


// The parts, in order (each included only here):
#include "generate/jinja/values.h"  // 1. values
#include "generate/jinja/lexer.h"   // 2. lexer

}  // namespace

// ---------------------------------------------------------------------------
// 3. Syntax trees (the parser that builds them: jinja/parser.h)
// ---------------------------------------------------------------------------

namespace {

enum class EK { Lit, Name, List, Tuple, Dict, Attr, Item, Slice, Call, Filter, Test, Neg, Pos, Not, And, Or, Bin, Cmp, Cond, Concat };

struct Expr;
using ExprP = std::unique_ptr<Expr>;
struct Expr {
  EK k;
  int line = 0;
  int height = 1;
  Value lit;
  std::string name;               // Name; Attr; Filter/Test name; Bin operator
  std::vector<ExprP> a;           // operands (null for an absent slice part or a block filter's subject)
  std::vector<std::pair<std::string, ExprP>> kw;  // keyword arguments of Call/Filter/Test
  std::vector<std::string> ops;   // Cmp: the operator between a[i] and a[i+1]
  bool neg = false;               // Test: `is not`
};

enum class SK { Text, Out, If, For, Set, SetBlock, Macro, Break, Continue, FilterBlock, Body };

struct Stmt;
using StmtP = std::unique_ptr<Stmt>;
using Body = std::vector<StmtP>;
struct Stmt {
  SK k;
  int line = 0;
  std::string text;                       // Text; Macro name
  ExprP e;                                // Out, Set value, For iterable
  ExprP cond;                             // For: `if` filter
  std::vector<std::string> names;         // For/Set targets; Macro parameters
  bool tuple_target = false;
  std::string ns_attr;                    // Set: `ns.attr = ...` (names[0] is ns)
  std::vector<ExprP> defaults;            // Macro parameter defaults (null: none)
  std::vector<std::pair<ExprP, Body>> branches;  // If
  Body body, else_body;
  std::vector<ExprP> filters;             // SetBlock / FilterBlock filters (subject null)
};

}  // namespace

struct Node {
  Body body;
};

namespace {

#include "generate/jinja/parser.h"  // 3. parser
#include "generate/jinja/pyops.h"   // 4. interpreter: frames, Python's ==, < and str methods
#include "generate/jinja/interp.h"  //    the interpreter itself and the globals

}  // namespace

Template::Template(std::string_view source, const Limits& limits) : root_(std::make_unique<Node>()) {
  Parser parser(source, limits);
  root_->body = parser.parse_template();
}

Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

std::string Template::render(const nlohmann::ordered_json& context, const RenderOptions& options) const {
  if (!context.is_object()) throw TemplateError(Kind::Runtime, "chat template: the context must be a JSON object");
  auto frame = std::make_shared<Frame>();
  frame->parent = make_globals();
  for (const auto& [k, v] : context.items()) frame->vars[k] = from_json(v, 0);
  Interp interp(options);
  std::string out;
  interp.exec_isolated(root_->body, frame, out);
  return out;
}

}  // namespace gpt::jinja
