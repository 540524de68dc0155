// The Jinja renderer (see jinja.h for the subset). Four parts, in order:
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

// ---------------------------------------------------------------------------
// UTF-8 and Python character classes
// ---------------------------------------------------------------------------


bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

// The code points of s, each with its byte offset (one past the end last).
struct CodePoints {
  std::vector<std::uint32_t> cps;
  std::vector<std::size_t> offsets;
};
CodePoints code_points(std::string_view s) {
  CodePoints r;
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t cp;
    r.offsets.push_back(i);
    i += detail::decode_cp(s, i, cp);
    r.cps.push_back(cp);
  }
  r.offsets.push_back(s.size());
  return r;
}

std::size_t cp_count(std::string_view s) {
  std::size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

// Python's str.isspace() for one code point.

// Case mapping of one code point, as Python's str.upper()/lower() do, for
// the scripts we know (ASCII, Latin-1, Greek, Cyrillic) and the ranges that
// have no case; anything else is refused rather than guessed.
std::string case_map(std::uint32_t c, bool upper, int line) {
  std::string out;
  auto one = [&](std::uint32_t r) {
    tok::append_utf8(out, r);
    return out;
  };
  if (c < 0x80) {
    if (upper && c >= 'a' && c <= 'z') return one(c - 32);
    if (!upper && c >= 'A' && c <= 'Z') return one(c + 32);
    return one(c);
  }
  if (c >= 0xC0 && c <= 0xFF && c != 0xD7 && c != 0xF7) {
    if (upper) {
      if (c == 0xDF) return "SS";
      if (c == 0xFF) return one(0x178);
      return one(c >= 0xE0 ? c - 0x20 : c);
    }
    return one(c <= 0xDE ? c + 0x20 : c);
  }
  if (c == 0xB5) return one(upper ? 0x39C : c);
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) {  // Greek capitals; final sigma makes Σ context-dependent
    if (!upper && c == 0x3A3) fail(Kind::Unsupported, line, "lower-casing Σ (Python's final-sigma rule)");
    return one(upper ? c : c + 0x20);
  }
  if (c >= 0x3B1 && c <= 0x3C9) return one(upper ? (c == 0x3C2 ? 0x3A3 : c - 0x20) : c);
  if (c >= 0x410 && c <= 0x42F) return one(upper ? c : c + 0x20);
  if (c >= 0x430 && c <= 0x44F) return one(upper ? c - 0x20 : c);
  if (c >= 0x400 && c <= 0x40F) return one(upper ? c : c + 0x50);
  if (c >= 0x450 && c <= 0x45F) return one(upper ? c - 0x50 : c);
  const bool caseless = (c >= 0x80 && c <= 0xBF && c != 0xAA && c != 0xBA) || c == 0xD7 || c == 0xF7 ||
                        (c >= 0x300 && c <= 0x36F && c != 0x345) || (c >= 0x590 && c <= 0x10FF) ||
                        (c >= 0x2000 && c <= 0x214D) || (c >= 0x2190 && c <= 0x24B5) ||
                        (c >= 0x24EA && c <= 0x2BFF) || (c >= 0x3000 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7AF) ||
                        (c >= 0xE000 && c <= 0xF8FF) || (c >= 0xFE00 && c <= 0xFE6F) || (c >= 0xFF00 && c <= 0xFF20) ||
                        (c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFFEF) ||
                        (c >= 0x1F000 && c <= 0x1FAFF) || (c >= 0x20000 && c <= 0x3FFFF);
  if (caseless) return one(c);
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(c));
  fail(Kind::Unsupported, line, std::string("case conversion of character ") + buf);
}

bool cp_is_cased_upper(std::uint32_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= 0x391 && c <= 0x3A9) ||
         (c >= 0x400 && c <= 0x42F);
}
bool cp_is_cased_lower(std::uint32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 0xDF && c <= 0xFF && c != 0xF7) || c == 0xB5 ||
         (c >= 0x3B1 && c <= 0x3C9) || (c >= 0x430 && c <= 0x45F);
}

std::string str_case(std::string_view s, bool upper, int line) {
  if (is_ascii(s)) {
    std::string out(s);
    for (char& ch : out) {
      if (upper && ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 32);
      if (!upper && ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch + 32);
    }
    return out;
  }
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t cp;
    i += detail::decode_cp(s, i, cp);
    out += case_map(cp, upper, line);
  }
  return out;
}

// ---------------------------------------------------------------------------
// 1. Values
// ---------------------------------------------------------------------------

struct Value;
struct Dict;
struct Callable;
using ValueList = std::vector<Value>;

enum class VT : std::uint8_t { Undefined, None, Bool, Int, Float, Str, List, Dict, Func };

// An immutable string shared by every value that holds it: copying a Value
// (into a list, a repetition, a variable) never copies its text, so the
// memory a template's values take is bounded by the strings it builds (each
// charged to the work and size limits) and the items of its containers.
class Text {
 public:
  Text() = default;
  Text(std::string s) : p_(s.empty() ? nullptr : std::make_shared<const std::string>(std::move(s))) {}
  const std::string& str() const { return p_ ? *p_ : empty_string(); }
  operator const std::string&() const { return str(); }
  operator std::string_view() const { return str(); }
  friend bool operator==(const Text& a, const Text& b) { return a.str() == b.str(); }
  friend bool operator<(const Text& a, const Text& b) { return a.str() < b.str(); }
  std::size_t size() const { return str().size(); }
  bool empty() const { return str().empty(); }
  char operator[](std::size_t i) const { return str()[i]; }
  std::size_t find(std::string_view x, std::size_t pos = 0) const { return str().find(x, pos); }
  std::size_t rfind(std::string_view x) const { return str().rfind(x); }
  std::string substr(std::size_t pos, std::size_t n = std::string::npos) const { return str().substr(pos, n); }
  int compare(std::size_t pos, std::size_t n, std::string_view x) const { return str().compare(pos, n, x); }
  std::string::const_iterator begin() const { return str().begin(); }
  std::string::const_iterator end() const { return str().end(); }

 private:
  static const std::string& empty_string() {
    static const std::string e;
    return e;
  }
  std::shared_ptr<const std::string> p_;
};
// What a List value is in Python: a list, a tuple, a one-shot iterator
// (what map/select/... return: always true, no len(), repr unknown to us), or
// a view (dict.items(), range(): len() works, repr unknown to us).
enum class Seq : std::uint8_t { List, Tuple, Gen, View };

struct Value {
  VT t = VT::Undefined;
  Seq seq = Seq::List;
  bool ns = false;      // a namespace() object (a Dict)
  bool has_ns = false;  // is or contains a namespace (they may not nest: no cycles)
  bool safe = false;    // Str: a markupsafe.Markup (made by |safe and |e; see markup_error)
  std::uint16_t depth = 0;  // nesting of containers
  bool b = false;
  std::int64_t i = 0;
  double f = 0;
  Text s;  // Str; for Undefined, what was undefined (for messages)
  std::shared_ptr<ValueList> l;
  std::shared_ptr<Dict> d;
  std::shared_ptr<Callable> fn;

  static Value undefined(std::string what = {}) {
    Value v;
    v.s = std::move(what);
    return v;
  }
  static Value none() {
    Value v;
    v.t = VT::None;
    return v;
  }
  static Value boolean(bool x) {
    Value v;
    v.t = VT::Bool, v.b = x;
    return v;
  }
  static Value integer(std::int64_t x) {
    Value v;
    v.t = VT::Int, v.i = x;
    return v;
  }
  static Value number(double x) {
    Value v;
    v.t = VT::Float, v.f = x;
    return v;
  }
  static Value str(std::string x) {
    Value v;
    v.t = VT::Str, v.s = std::move(x);
    return v;
  }
  bool is_num() const { return t == VT::Int || t == VT::Float || t == VT::Bool; }
  double as_double() const { return t == VT::Float ? f : t == VT::Bool ? (b ? 1.0 : 0.0) : static_cast<double>(i); }
  std::int64_t as_int() const { return t == VT::Bool ? (b ? 1 : 0) : i; }
};

constexpr int kMaxValueDepth = 256;
constexpr std::size_t kMaxListItems = 1u << 18;  // bounds the memory one list can take

std::string float_repr(double x);

// A Python dict: insertion-ordered; keys are strings, numbers, booleans or
// None (hashed through code()).
struct Dict {
  std::vector<std::pair<Value, Value>> items;
  std::unordered_map<std::string, std::size_t> index;

  // The hash key of k; nullopt if k is not hashable here (lists, dicts).
  static std::optional<std::string> code(const Value& k) {
    switch (k.t) {
      case VT::Str: return k.s.empty() || k.s[0] != '\0' ? k.s.str() : std::string("\0s", 2) + k.s.str();
      // Type tags start with a NUL byte (std::string, not a C string, keeps it).
      case VT::Int: return std::string("\0i", 2) + std::to_string(k.i);
      case VT::Bool: return std::string("\0i", 2) + (k.b ? "1" : "0");  // True == 1 in Python
      case VT::Float:
        if (std::floor(k.f) == k.f && std::fabs(k.f) < 9e18)
          return std::string("\0i", 2) + std::to_string(static_cast<std::int64_t>(k.f));
        return std::string("\0f", 2) + float_repr(k.f);
      case VT::None: return std::string("\0n", 2);
      default: return std::nullopt;
    }
  }
  const Value* find(const Value& k) const {
    const auto c = code(k);
    if (!c) return nullptr;
    auto it = index.find(*c);
    return it == index.end() ? nullptr : &items[it->second].second;
  }
  const Value* find(const std::string& k) const;
  void set(Value k, Value v, int line = 0);
  void set(const std::string& k, Value v);
};

const Value* Dict::find(const std::string& k) const { return find(Value::str(k)); }
void Dict::set(const std::string& k, Value v) { set(Value::str(k), std::move(v)); }
void Dict::set(Value k, Value v, int line) {
  const auto c = code(k);
  if (!c) fail(Kind::Runtime, line, "unhashable type used as a dict key");
  auto it = index.find(*c);
  if (it != index.end()) {
    items[it->second].second = std::move(v);
  } else {
    index.emplace(*c, items.size());
    items.emplace_back(std::move(k), std::move(v));
  }
}

struct Args {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
};

class Interp;
struct Callable {
  std::string name;
  std::function<Value(Interp&, Args&, int line)> call;
};

// Strings made by |safe (and |e) are markupsafe.Markup objects in Jinja2:
// `+` with a plain string escapes the plain one, and so do Markup's methods,
// `%` and most filters, each in its own way. transformers renders with
// autoescape off, so printing, `~`, comparisons, tojson and join treat a
// Markup as its text. We reproduce `+`, `*`, |safe, |e, |string, |default,
// |length, |count, |join, |list, |tojson, |trim, |upper, |lower,
// |capitalize and |title on Markup exactly (checked against jinja2 in
// jinja_cases.json); every other operation on one is refused by name.
[[noreturn]] void markup_error(int line, const std::string& what) {
  fail(Kind::Unsupported, line, what + " on a `|safe` (or |e) string: Markup's escaping rules for it are not implemented");
}
bool is_markup(const Value& v) { return v.t == VT::Str && v.safe; }

void check_depth(const Value& v, int line) {
  if (v.depth > kMaxValueDepth)
    fail(Kind::Limit, line, "values nested more than " + std::to_string(kMaxValueDepth) + " deep");
}

// Refuses a list about to grow past kMaxListItems, before it takes the memory.
void check_items(std::size_t n, int line) {
  if (n > kMaxListItems) fail(Kind::Limit, line, "a list of more than " + std::to_string(kMaxListItems) + " items");
}

// The items held by the lists of one render that are still alive: each list
// made by Interp::make_list adds its size and gives it back when freed.
using LiveItems = std::shared_ptr<std::size_t>;

// A list value. With `live`, its items count towards it until it is freed.
Value make_list(ValueList items, Seq seq = Seq::List, int line = 0, const LiveItems& live = nullptr) {
  if (items.size() > kMaxListItems)
    fail(Kind::Limit, line, "a list of more than " + std::to_string(kMaxListItems) + " items");
  Value v;
  v.t = VT::List, v.seq = seq;
  int depth = 0;
  for (const auto& x : items) depth = std::max<int>(depth, x.depth), v.has_ns |= x.has_ns;
  v.depth = static_cast<std::uint16_t>(std::min(depth + 1, 60000));
  check_depth(v, line);
  if (!live) {
    v.l = std::make_shared<ValueList>(std::move(items));
  } else {
    const std::size_t n = items.size();
    *live += n;
    v.l = std::shared_ptr<ValueList>(new ValueList(std::move(items)), [live, n](ValueList* l) {
      *live -= n;
      delete l;
    });
  }
  return v;
}

Value make_dict(std::shared_ptr<Dict> d, int line = 0) {
  Value v;
  v.t = VT::Dict;
  int depth = 0;
  for (const auto& [k, x] : d->items) depth = std::max<int>(depth, x.depth), v.has_ns |= x.has_ns;
  v.depth = static_cast<std::uint16_t>(std::min(depth + 1, 60000));
  check_depth(v, line);
  v.d = std::move(d);
  return v;
}

Value make_func(std::string name, std::function<Value(Interp&, Args&, int)> f) {
  Value v;
  v.t = VT::Func;
  v.fn = std::make_shared<Callable>(Callable{std::move(name), std::move(f)});
  return v;
}

const char* type_name(const Value& v) {
  switch (v.t) {
    case VT::Undefined: return "Undefined";
    case VT::None: return "NoneType";
    case VT::Bool: return "bool";
    case VT::Int: return "int";
    case VT::Float: return "float";
    case VT::Str: return v.safe ? "Markup" : "str";
    case VT::List:
      return v.seq == Seq::Tuple ? "tuple" : v.seq == Seq::Gen ? "generator" : v.seq == Seq::View ? "view" : "list";
    case VT::Dict: return v.ns ? "Namespace" : "dict";
    case VT::Func: return "function";
  }
  return "?";
}

[[noreturn]] void undefined_error(const Value& v, int line) {
  fail(Kind::Runtime, line, (v.s.empty() ? std::string("a value") : v.s.str()) + " is undefined");
}

bool truthy(const Value& v) {
  switch (v.t) {
    case VT::Undefined:
    case VT::None: return false;
    case VT::Bool: return v.b;
    case VT::Int: return v.i != 0;
    case VT::Float: return v.f != 0.0;
    case VT::Str: return !v.s.empty();
    case VT::List: return v.seq == Seq::Gen || !v.l->empty();
    case VT::Dict: return v.ns || !v.d->items.empty();
    case VT::Func: return true;
  }
  return false;
}

// Python's repr(float).
std::string float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x < 0 ? "-inf" : "inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  std::string sign;
  if (sci[0] == '-') sign = "-", sci.erase(0, 1);
  const std::size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp = std::stoi(sci.substr(e + 1));
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  if (exp >= -4 && exp < 16) {
    std::string out;
    if (exp >= 0) {
      std::string ip = digits.substr(0, std::min<std::size_t>(digits.size(), exp + 1));
      while (static_cast<int>(ip.size()) < exp + 1) ip += '0';
      std::string fp = digits.size() > static_cast<std::size_t>(exp + 1) ? digits.substr(exp + 1) : "0";
      out = ip + "." + fp;
    } else {
      out = "0." + std::string(-exp - 1, '0') + digits;
    }
    return sign + out;
  }
  std::string out = digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char eb[16];
  std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  return sign + out + eb;
}

// Python's repr(str).
std::string str_repr(std::string_view s) {
  const bool has_sq = s.find('\'') != std::string_view::npos;
  const bool has_dq = s.find('"') != std::string_view::npos;
  const char q = has_sq && !has_dq ? '"' : '\'';
  std::string out(1, q);
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t c;
    const std::size_t len = detail::decode_cp(s, i, c);
    char buf[16];
    if (c == static_cast<std::uint32_t>(q) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      out += buf;
    } else if ((c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x206F) ||
               c == 0x3000 || c == 0xFEFF || c == 0x1680 || (c >= 0xD800 && c <= 0xDFFF)) {
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  out += q;
  return out;
}

std::string to_str(const Value& v, int line);
bool py_lt(const Value& a, const Value& b, int line);

std::string repr(const Value& v, int line) {
  switch (v.t) {
    case VT::Str: return v.safe ? "Markup(" + str_repr(v.s) + ")" : str_repr(v.s);
    case VT::Undefined: return "Undefined";
    case VT::List: {
      if (v.seq == Seq::Gen || v.seq == Seq::View)
        fail(Kind::Unsupported, line, "printing a Python iterator or view (apply |list first)");
      std::string out = v.seq == Seq::Tuple ? "(" : "[";
      for (std::size_t k = 0; k < v.l->size(); ++k) {
        if (k) out += ", ";
        out += repr((*v.l)[k], line);
      }
      if (v.seq == Seq::Tuple && v.l->size() == 1) out += ",";
      return out + (v.seq == Seq::Tuple ? ")" : "]");
    }
    case VT::Dict: {
      if (v.ns) fail(Kind::Unsupported, line, "printing a namespace");
      std::string out = "{";
      bool first = true;
      for (const auto& [k, x] : v.d->items) {
        if (!first) out += ", ";
        first = false;
        out += repr(k, line) + ": " + repr(x, line);
      }
      return out + "}";
    }
    default: return to_str(v, line);
  }
}

// Python's str(); an undefined value is the empty string (Jinja's Undefined).
std::string to_str(const Value& v, int line) {
  switch (v.t) {
    case VT::Undefined: return "";
    case VT::None: return "None";
    case VT::Bool: return v.b ? "True" : "False";
    case VT::Int: return std::to_string(v.i);
    case VT::Float: return float_repr(v.f);
    case VT::Str: return v.s;
    case VT::List:
    case VT::Dict: return repr(v, line);
    case VT::Func: fail(Kind::Unsupported, line, "printing a function ('" + v.fn->name + "')");
  }
  return "";
}

// json.dumps(value, ensure_ascii, indent, separators, sort_keys).
struct JsonOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;
  std::string item_sep = ", ", key_sep = ": ";
  bool sort_keys = false;
};

void json_string(std::string_view s, bool ensure_ascii, std::string& out) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t c;
    const std::size_t len = detail::decode_cp(s, i, c);
    char buf[16];
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || (ensure_ascii && c >= 0x7F && c < 0x10000 && c != 0x7F)) {
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else if (ensure_ascii && c >= 0x10000) {
          const std::uint32_t v = c - 0x10000;
          std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                        static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
          out += buf;
        } else {
          out.append(s.substr(i, len));
        }
    }
    i += len;
  }
  out += '"';
}

void json_dump(const Value& v, const JsonOptions& o, int level, std::string& out, int line) {
  auto newline = [&](int lvl) {
    if (!o.indent) return;
    out += '\n';
    for (int k = 0; k < lvl; ++k) out += *o.indent;
  };
  switch (v.t) {
    case VT::None: out += "null"; return;
    case VT::Bool: out += v.b ? "true" : "false"; return;
    case VT::Int: out += std::to_string(v.i); return;
    case VT::Float:
      if (std::isnan(v.f)) out += "NaN";
      else if (std::isinf(v.f)) out += v.f < 0 ? "-Infinity" : "Infinity";
      else out += float_repr(v.f);
      return;
    case VT::Str: json_string(v.s, o.ensure_ascii, out); return;
    case VT::List: {
      if (v.seq == Seq::Gen || v.seq == Seq::View)
        fail(Kind::Runtime, line, "tojson: Object of type " + std::string(type_name(v)) + " is not JSON serializable");
      if (v.l->empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (std::size_t k = 0; k < v.l->size(); ++k) {
        if (k) out += o.item_sep;
        newline(level + 1);
        json_dump((*v.l)[k], o, level + 1, out, line);
      }
      newline(level);
      out += ']';
      return;
    }
    case VT::Dict: {
      if (v.ns) fail(Kind::Runtime, line, "tojson: Object of type Namespace is not JSON serializable");
      if (v.d->items.empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::pair<Value, Value>*> items;
      for (const auto& kv : v.d->items) items.push_back(&kv);
      if (o.sort_keys)
        std::stable_sort(items.begin(), items.end(), [line](auto* a, auto* b) { return py_lt(a->first, b->first, line); });
      out += '{';
      bool first = true;
      for (const auto* kv : items) {
        if (!first) out += o.item_sep;
        first = false;
        newline(level + 1);
        // json.dumps turns keys into strings: 1 -> "1", True -> "true", None -> "null"
        const Value& key = kv->first;
        if (key.t == VT::Str) json_string(key.s, o.ensure_ascii, out);
        else if (key.t == VT::Bool) out += key.b ? "\"true\"" : "\"false\"";
        else if (key.t == VT::None) out += "\"null\"";
        else out += "\"" + to_str(key, line) + "\"";
        out += o.key_sep;
        json_dump(kv->second, o, level + 1, out, line);
      }
      newline(level);
      out += '}';
      return;
    }
    case VT::Undefined:
      fail(Kind::Runtime, line, "tojson: Object of type Undefined is not JSON serializable (" +
                                    (v.s.empty() ? std::string("a value") : v.s.str()) + " is undefined)");
    case VT::Func: fail(Kind::Runtime, line, "tojson: a function is not JSON serializable");
  }
}

Value from_json(const nlohmann::ordered_json& j, int depth) {
  if (depth > kMaxValueDepth) fail(Kind::Limit, 0, "template data nested more than " + std::to_string(kMaxValueDepth) + " deep");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::integer(j.get<std::int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const auto u = j.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(INT64_MAX)) fail(Kind::Unsupported, 0, "integers beyond 64 bits in template data");
      return Value::integer(static_cast<std::int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value::number(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value::str(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      ValueList items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(from_json(x, depth + 1));
      return make_list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      auto d = std::make_shared<Dict>();
      for (const auto& [k, x] : j.items()) d->set(k, from_json(x, depth + 1));
      return make_dict(std::move(d));
    }
    default: fail(Kind::Unsupported, 0, "binary data in template data");
  }
}

// ---------------------------------------------------------------------------
// 2. Lexer
// ---------------------------------------------------------------------------

enum class Tok { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, Str, Int, Float, Op, Eof };

struct Token {
  Tok t = Tok::Eof;
  std::string v;  // a name, operator, number's digits, string literal's value or text
  int line = 0;
};

// Python's \s on the code point at s[i] (0 if none).
std::size_t space_at(std::string_view s, std::size_t i) {
  std::uint32_t cp;
  const std::size_t len = detail::decode_cp(s, i, cp);
  return detail::is_python_space(cp) ? len : 0;
}

// str.rstrip() and str.lstrip() with Python's whitespace.
std::string_view py_rstrip(std::string_view s) { return detail::strip_code_points(s, detail::is_python_space, false, true); }

std::size_t skip_spaces(std::string_view s, std::size_t p) {
  while (p < s.size()) {
    const std::size_t n = space_at(s, p);
    if (!n) break;
    p += n;
  }
  return p;
}

int count_lines(std::string_view s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

std::string unescape_string(std::string_view body, int line) {
  std::string out;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c != '\\' || i + 1 == body.size()) {
      out += c;
      continue;
    }
    const char e = body[++i];
    auto hex = [&](int n) -> std::uint32_t {
      std::uint32_t v = 0;
      for (int k = 1; k <= n; ++k) {
        if (i + k >= body.size()) fail(Kind::Syntax, line, "truncated \\x/\\u escape");
        const char h = body[i + k];
        int d = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
        if (d < 0) fail(Kind::Syntax, line, "malformed \\x/\\u escape");
        v = v * 16 + static_cast<std::uint32_t>(d);
      }
      i += n;
      return v;
    };
    switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case '\n': break;
      case 'x': tok::append_utf8(out, hex(2)); break;
      case 'u': tok::append_utf8(out, hex(4)); break;
      case 'U': tok::append_utf8(out, hex(8)); break;
      case 'N': fail(Kind::Unsupported, line, "\\N{...} escapes in string literals");
      default:
        if (e >= '0' && e <= '7') {
          std::uint32_t v = static_cast<std::uint32_t>(e - '0');
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7'; ++k)
            v = v * 8 + static_cast<std::uint32_t>(body[++i] - '0');
          tok::append_utf8(out, v);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Jinja2's lexer with trim_blocks and lstrip_blocks, keep_trailing_newline
// off: newlines normalised to \n and one trailing newline dropped. Tokens are
// made on demand as the parser asks for them (next()), so the lexer holds a
// few tokens at a time, never the whole template's: memory is bounded by the
// parser's tree, not by the number of tokens.
class Lexer {
 public:
  explicit Lexer(std::string_view in) {
    if (in.find('\r') == std::string_view::npos) {
      s_ = in;  // nothing to normalise: read the caller's text in place
    } else {
      src_.reserve(in.size());
      for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '\r') {
          src_ += '\n';
          if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
        } else {
          src_ += in[i];
        }
      }
      s_ = src_;
    }
    if (!s_.empty() && s_.back() == '\n') s_.remove_suffix(1);
    n_ = s_.size();
  }

  // The next token; Eof at the end (and after it).
  Token next() {
    while (queue_.empty()) fill();
    Token t = std::move(queue_.front());
    queue_.pop_front();
    return t;
  }

 private:
  std::string src_;  // the normalised text, when it differs from the input
  std::string_view s_;
  std::size_t n_ = 0;
  std::size_t pos_ = 0;  // outside a tag: where text resumes; inside: the next character of the tag
  int line_ = 1;
  bool line_starting_ = true;
  bool in_tag_ = false, block_ = false, done_ = false;
  std::vector<char> balance_;  // brackets open inside the current tag
  std::deque<Token> queue_;

  void push(Tok t, std::string v, int line) { queue_.push_back({t, std::move(v), line}); }

  // The text before a tag, with the tag's whitespace control applied.
  void emit_text(std::string_view text, char sign, bool lstrip_applies) {
    const int text_line = line_;
    line_ += count_lines(text);
    if (sign == '-') {
      text = py_rstrip(text);
    } else if (sign != '+' && lstrip_applies) {
      const std::size_t nl = text.rfind('\n');
      const std::size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
      if (l_pos > 0 || line_starting_) {
        const std::string_view tail = text.substr(l_pos);
        if (!tail.empty() && skip_spaces(tail, 0) == tail.size()) text = text.substr(0, l_pos);
      }
    }
    if (!text.empty()) push(Tok::Text, std::string(text), text_line);
  }

  // After a block or comment end: '+' keeps the newline, '-' strips all
  // whitespace, otherwise trim_blocks drops one newline.
  std::size_t block_end(std::size_t p, char sign) {
    if (sign == '-') {
      const std::size_t q = skip_spaces(s_, p);
      line_ += count_lines(s_.substr(p, q - p));
      p = q;
    } else if (sign != '+' && p < n_ && s_[p] == '\n') {
      ++p, ++line_;
    }
    line_starting_ = p > 0 && s_[p - 1] == '\n';
    return p;
  }

  // Makes at least one token, or moves past a comment or raw block.
  void fill() {
    if (done_) {
      push(Tok::Eof, "", line_);
    } else if (in_tag_) {
      tag_token();
    } else {
      outside();
    }
  }

  // Text up to the next tag, and the tag's opening.
  void outside() {
    const std::string_view s = s_;
    const std::size_t n = n_;
    if (pos_ >= n) {
      done_ = true;
      return;
    }
    std::size_t tag = pos_;
    while ((tag = s.find('{', tag)) != std::string_view::npos) {
      if (tag + 1 < n && (s[tag + 1] == '{' || s[tag + 1] == '%' || s[tag + 1] == '#')) break;
      ++tag;
    }
    if (tag == std::string_view::npos) {
      push(Tok::Text, std::string(s.substr(pos_)), line_);
      pos_ = n;
      done_ = true;
      return;
    }
    const char kind = s[tag + 1];
    std::size_t p = tag + 2;
    char sign = 0;
    if (p < n && (s[p] == '-' || s[p] == '+')) sign = s[p++];

    // {% raw %} ... {% endraw %}
    if (kind == '%') {
      std::size_t q = skip_spaces(s, p);
      if (s.compare(q, 3, "raw") == 0) {
        q = skip_spaces(s, q + 3);
        std::size_t body = std::string_view::npos;
        if (s.compare(q, 3, "-%}") == 0) body = skip_spaces(s, q + 3);
        else if (s.compare(q, 2, "%}") == 0) body = q + 2;
        if (body != std::string_view::npos) {
          emit_text(s.substr(pos_, tag - pos_), sign, true);
          line_ += count_lines(s.substr(tag, body - tag));
          for (std::size_t e = s.find("{%", body);; e = s.find("{%", e + 1)) {
            if (e == std::string_view::npos) fail(Kind::Syntax, line_, "missing end of raw directive");
            std::size_t r = e + 2;
            char esign = 0;
            if (r < n && (s[r] == '-' || s[r] == '+')) esign = s[r++];
            r = skip_spaces(s, r);
            if (s.compare(r, 6, "endraw") != 0) continue;
            r = skip_spaces(s, r + 6);
            char end_sign = 0;
            if (s.compare(r, 3, "+%}") == 0 || s.compare(r, 3, "-%}") == 0) end_sign = s[r], r += 3;
            else if (s.compare(r, 2, "%}") == 0) r += 2;
            else continue;
            line_starting_ = false;
            emit_text(s.substr(body, e - body), esign, true);
            line_ += count_lines(s.substr(e, r - e));
            pos_ = block_end(r, end_sign);
            break;
          }
          return;
        }
      }
    }

    emit_text(s.substr(pos_, tag - pos_), sign, kind != '{');
    if (kind == '#') {
      std::size_t e = s.find("#}", p);
      if (e == std::string_view::npos) fail(Kind::Syntax, line_, "missing end of comment tag");
      char esign = 0;
      if (e > p && (s[e - 1] == '-' || s[e - 1] == '+')) esign = s[e - 1];
      line_ += count_lines(s.substr(p, e - p));
      pos_ = block_end(e + 2, esign);
      return;
    }
    block_ = kind == '%';
    push(block_ ? Tok::BlockBegin : Tok::VarBegin, "", line_);
    in_tag_ = true;
    balance_.clear();
    pos_ = p;
  }

  // One token inside {{ }} or {% %}, or the tag's end.
  void tag_token() {
    const std::string_view s = s_;
    const std::size_t n = n_;
    std::size_t p = pos_;
    // Whitespace between tokens.
    while (p < n) {
      const std::size_t sp = space_at(s, p);
      if (!sp) break;
      if (s[p] == '\n') ++line_;
      p += sp;
    }
    pos_ = p;
    if (p >= n) fail(Kind::Syntax, line_, std::string("unexpected end of template, expected '") + (block_ ? "%}" : "}}") + "'");
    if (balance_.empty()) {
      if (block_) {
        if ((s[p] == '+' || s[p] == '-') && s.compare(p + 1, 2, "%}") == 0) {
          push(Tok::BlockEnd, "", line_);
          pos_ = block_end(p + 3, s[p]);
          in_tag_ = false;
          return;
        }
        if (s.compare(p, 2, "%}") == 0) {
          push(Tok::BlockEnd, "", line_);
          pos_ = block_end(p + 2, 0);
          in_tag_ = false;
          return;
        }
      } else {
        if (s.compare(p, 3, "-}}") == 0) {
          push(Tok::VarEnd, "", line_);
          const std::size_t q = skip_spaces(s, p + 3);
          line_ += count_lines(s.substr(p, q - p));
          pos_ = q;
          line_starting_ = pos_ > 0 && s[pos_ - 1] == '\n';
          in_tag_ = false;
          return;
        }
        if (s.compare(p, 2, "}}") == 0) {
          push(Tok::VarEnd, "", line_);
          pos_ = p + 2;
          line_starting_ = false;
          in_tag_ = false;
          return;
        }
      }
    }
    const char c = s[p];
    if (is_digit(c)) {
      std::size_t q = p;
      auto digits = [&] {
        while (q < n && (is_digit(s[q]) || (s[q] == '_' && q + 1 < n && is_digit(s[q + 1])))) ++q;
      };
      if (c == '0' && q + 1 < n && (s[q + 1] == 'x' || s[q + 1] == 'o' || s[q + 1] == 'b' || s[q + 1] == 'X' ||
                                    s[q + 1] == 'O' || s[q + 1] == 'B'))
        fail(Kind::Unsupported, line_, "hexadecimal, octal and binary integer literals");
      digits();
      bool is_float = false;
      const bool after_dot = p > 0 && s[p - 1] == '.';
      if (!after_dot && q + 1 < n && s[q] == '.' && is_digit(s[q + 1])) {
        ++q, digits(), is_float = true;
      }
      if (!after_dot && q < n && (s[q] == 'e' || s[q] == 'E')) {
        std::size_t r = q + 1;
        if (r < n && (s[r] == '+' || s[r] == '-')) ++r;
        if (r < n && is_digit(s[r])) q = r, digits(), is_float = true;
      }
      std::string text(s.substr(p, q - p));
      text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
      push(is_float ? Tok::Float : Tok::Int, std::move(text), line_);
      pos_ = q;
    } else if (is_name_start(c)) {
      std::size_t q = p;
      while (q < n && is_name_char(s[q])) ++q;
      push(Tok::Name, std::string(s.substr(p, q - p)), line_);
      pos_ = q;
    } else if (c == '\'' || c == '"') {
      std::size_t q = p + 1;
      while (q < n && s[q] != c) q += s[q] == '\\' ? 2 : 1;
      if (q >= n) fail(Kind::Syntax, line_, "unterminated string");
      push(Tok::Str, unescape_string(s.substr(p + 1, q - p - 1), line_), line_);
      line_ += count_lines(s.substr(p, q - p));
      pos_ = q + 1;
    } else {
      static const char* const kOps[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[",
                                         "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"};
      std::string op;
      for (const char* o : kOps)
        if (s.compare(p, std::strlen(o), o) == 0) {
          op = o;
          break;
        }
      if (op.empty()) fail(Kind::Syntax, line_, std::string("unexpected character '") + c + "'");
      if (op == "(" || op == "[" || op == "{") balance_.push_back(op == "(" ? ')' : op == "[" ? ']' : '}');
      if (op == ")" || op == "]" || op == "}") {
        if (balance_.empty()) fail(Kind::Syntax, line_, "unexpected '" + op + "'");
        if (balance_.back() != op[0]) fail(Kind::Syntax, line_, "unexpected '" + op + "', expected '" + balance_.back() + "'");
        balance_.pop_back();
      }
      pos_ = p + op.size();
      push(Tok::Op, std::move(op), line_);
    }
  }
};

}  // namespace

// ---------------------------------------------------------------------------
// 3. Syntax trees and parser
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

class Parser {
 public:
  Parser(std::string_view source, const Limits& limits) : lex_(source), limits_(limits) { cur_ = lex_.next(); }

  Body parse_template() {
    std::string end;
    Body b = parse_body({}, end);
    return b;
  }

 private:
  Lexer lex_;
  Token cur_, prev_;            // the current token and the one next() last returned
  std::optional<Token> ahead_;  // the token after cur_, once look() has asked for it
  Limits limits_;
  int depth_ = 0;
  std::size_t nodes_ = 0;  // syntax nodes made so far (bounded by limits_.max_nodes)

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > p.limits_.max_depth)
        fail(Kind::Limit, p.cur().line, "template nested more than " + std::to_string(p.limits_.max_depth) + " deep");
    }
    ~DepthGuard() { --p.depth_; }
  };

  // Counts one syntax node against limits_.max_nodes, which bounds the
  // memory the tree takes.
  void count_node(int line) {
    if (++nodes_ > limits_.max_nodes)
      fail(Kind::Limit, line, "template of more than " + std::to_string(limits_.max_nodes) + " syntax nodes");
  }

  const Token& cur() const { return cur_; }
  const Token& look() {
    if (!ahead_) ahead_ = lex_.next();
    return *ahead_;
  }
  // Moves to the next token; returns the one moved past (valid until the
  // next call).
  const Token& next() {
    prev_ = std::move(cur_);
    if (ahead_) {
      cur_ = std::move(*ahead_);
      ahead_.reset();
    } else if (prev_.t != Tok::Eof) {
      cur_ = lex_.next();
    } else {
      cur_ = prev_;
    }
    return prev_;
  }
  bool is_op(const char* op) const { return cur().t == Tok::Op && cur().v == op; }
  bool is_name(const char* name) const { return cur().t == Tok::Name && cur().v == name; }
  [[noreturn]] void unexpected(const std::string& expected) const {
    std::string got;
    switch (cur().t) {
      case Tok::Eof: got = "end of template"; break;
      case Tok::BlockEnd: got = "end of statement block"; break;
      case Tok::VarEnd: got = "end of print statement"; break;
      case Tok::Text: got = "template text"; break;
      default: got = "'" + cur().v + "'";
    }
    fail(Kind::Syntax, cur().line, "expected " + expected + ", got " + got);
  }
  void expect_op(const char* op) {
    if (!is_op(op)) unexpected(std::string("'") + op + "'");
    next();
  }
  std::string expect_name() {
    if (cur().t != Tok::Name) unexpected("a name");
    return next().v;
  }
  void expect_block_end() {
    if (cur().t != Tok::BlockEnd) unexpected("end of statement block");
    next();
  }

  ExprP node(EK k, int line) {
    count_node(line);
    auto e = std::make_unique<Expr>();
    e->k = k, e->line = line;
    return e;
  }
  StmtP new_stmt(int line) {
    count_node(line);
    return std::make_unique<Stmt>();
  }
  // Sets the tree height from the children; bounded so that evaluating and
  // destroying the tree cannot exhaust the stack.
  ExprP done(ExprP e) {
    int h = 0;
    for (const auto& c : e->a)
      if (c) h = std::max(h, c->height);
    for (const auto& [k, c] : e->kw) h = std::max(h, c->height);
    e->height = h + 1;
    if (e->height > limits_.max_depth)
      fail(Kind::Limit, e->line, "expression nested more than " + std::to_string(limits_.max_depth) + " deep");
    return e;
  }

  // --- statements ---

  Body parse_body(std::initializer_list<const char*> ends, std::string& which) {
    DepthGuard guard(*this);
    Body body;
    while (true) {
      const Token tk = cur();
      if (tk.t == Tok::Eof) {
        if (ends.size() == 0) return body;
        std::string list;
        for (const char* e : ends) list += (list.empty() ? "'" : " or '") + std::string(e) + "'";
        fail(Kind::Syntax, tk.line, "unexpected end of template, expected " + list);
      }
      if (tk.t == Tok::Text) {
        auto st = new_stmt(cur().line);
        st->k = SK::Text, st->line = tk.line, st->text = tk.v;
        body.push_back(std::move(st));
        next();
      } else if (tk.t == Tok::VarBegin) {
        next();
        auto st = new_stmt(cur().line);
        st->k = SK::Out, st->line = tk.line;
        st->e = parse_tuple(true, false);
        if (cur().t != Tok::VarEnd) unexpected("end of print statement");
        next();
        body.push_back(std::move(st));
      } else if (tk.t == Tok::BlockBegin) {
        next();
        if (cur().t != Tok::Name) unexpected("a statement name");
        for (const char* e : ends)
          if (cur().v == e) {
            which = next().v;
            return body;
          }
        body.push_back(parse_statement());
      } else {
        unexpected("template text or a tag");
      }
    }
  }

  StmtP parse_statement() {
    const Token tk = next();
    const std::string& w = tk.v;
    auto st = new_stmt(cur().line);
    st->line = tk.line;
    std::string end;
    if (w == "if") {
      st->k = SK::If;
      ExprP cond = parse_tuple(true, false);
      while (true) {
        expect_block_end();
        Body b = parse_body({"elif", "else", "endif"}, end);
        st->branches.emplace_back(std::move(cond), std::move(b));
        if (end == "elif") {
          cond = parse_tuple(true, false);
          continue;
        }
        if (end == "else") {
          expect_block_end();
          st->else_body = parse_body({"endif"}, end);
        }
        break;
      }
    } else if (w == "for") {
      st->k = SK::For;
      parse_target(*st, false);
      if (!is_name("in")) unexpected("'in'");
      next();
      st->e = parse_tuple(false, false, "recursive");
      if (is_name("if")) {
        next();
        st->cond = parse_expression(true);
      }
      if (is_name("recursive")) fail(Kind::Unsupported, cur().line, "recursive for loops");
      expect_block_end();
      st->body = parse_body({"endfor", "else"}, end);
      if (end == "else") {
        expect_block_end();
        st->else_body = parse_body({"endfor"}, end);
      }
    } else if (w == "set") {
      parse_target(*st, true);
      if (is_op("=")) {
        next();
        st->k = SK::Set;
        st->e = parse_tuple(true, false);
      } else {
        if (!st->ns_attr.empty() || st->tuple_target) unexpected("'='");
        st->k = SK::SetBlock;
        parse_filter_list(st->filters);
        expect_block_end();
        st->body = parse_body({"endset"}, end);
      }
    } else if (w == "macro") {
      st->k = SK::Macro;
      st->text = expect_name();
      expect_op("(");
      while (!is_op(")")) {
        if (!st->names.empty()) expect_op(",");
        if (is_op(")")) break;
        st->names.push_back(expect_name());
        if (is_op("=")) {
          next();
          st->defaults.push_back(parse_expression(true));
        } else {
          st->defaults.push_back(nullptr);
        }
      }
      next();
      expect_block_end();
      st->body = parse_body({"endmacro"}, end);
    } else if (w == "break" || w == "continue") {
      st->k = w == "break" ? SK::Break : SK::Continue;
    } else if (w == "filter") {
      st->k = SK::FilterBlock;
      parse_filter_list(st->filters, true);
      expect_block_end();
      st->body = parse_body({"endfilter"}, end);
    } else if (w == "generation") {
      st->k = SK::Body;
      expect_block_end();
      st->body = parse_body({"endgeneration"}, end);
    } else if (w == "call" || w == "include" || w == "import" || w == "from" || w == "extends" || w == "block" ||
               w == "with" || w == "autoescape") {
      fail(Kind::Unsupported, tk.line, "the {% " + w + " %} statement");
    } else {
      fail(Kind::Syntax, tk.line, "unknown tag '" + w + "'");
    }
    // The statement's last tag (its own, or the end tag parse_body stopped
    // at) still has its `%}` to consume.
    expect_block_end();
    return st;
  }

  // for/set targets: a name, names separated by commas (optionally in
  // parentheses), or for set, ns.attr.
  void parse_target(Stmt& st, bool allow_ns) {
    if (allow_ns && cur().t == Tok::Name && look().t == Tok::Op && look().v == ".") {
      st.names.push_back(next().v);
      next();
      st.ns_attr = expect_name();
      return;
    }
    const bool paren = is_op("(");
    if (paren) next();
    st.names.push_back(expect_name());
    while (is_op(",")) {
      next();
      st.tuple_target = true;
      if (cur().t != Tok::Name) break;
      st.names.push_back(expect_name());
    }
    if (paren) {
      st.tuple_target = true;
      expect_op(")");
    }
  }

  void parse_filter_list(std::vector<ExprP>& filters, bool first_without_bar = false) {
    bool first = first_without_bar;
    while (first || is_op("|")) {
      if (!first) next();
      first = false;
      filters.push_back(parse_filter(nullptr));
    }
  }

  // --- expressions (Jinja2's grammar and precedence) ---

  ExprP parse_tuple(bool with_condexpr, bool explicit_parens, const char* extra_end = nullptr) {
    DepthGuard guard(*this);
    const int line = cur().line;
    std::vector<ExprP> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      const Tok ct = cur().t;
      if (ct == Tok::VarEnd || ct == Tok::BlockEnd || is_op(")") || (extra_end && is_name(extra_end)) ||
          (!with_condexpr && is_name("if") && !items.empty()))
        break;
      items.push_back(parse_expression(with_condexpr));
      if (is_op(",")) is_tuple = true;
      else break;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) unexpected("an expression");
    }
    auto e = node(EK::Tuple, line);
    e->a = std::move(items);
    return done(std::move(e));
  }

  ExprP parse_expression(bool with_condexpr) {
    DepthGuard guard(*this);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprP parse_condexpr() {
    ExprP e = parse_or();
    while (is_name("if")) {
      const int line = next().line;
      auto c = node(EK::Cond, line);
      ExprP cond = parse_or();
      ExprP other;
      if (is_name("else")) {
        next();
        other = parse_condexpr();
      }
      c->a.push_back(std::move(e));
      c->a.push_back(std::move(cond));
      c->a.push_back(std::move(other));
      e = done(std::move(c));
    }
    return e;
  }

  ExprP binary(EK k, ExprP l, ExprP r, int line, std::string op = {}) {
    auto e = node(k, line);
    e->name = std::move(op);
    e->a.push_back(std::move(l));
    e->a.push_back(std::move(r));
    return done(std::move(e));
  }

  ExprP parse_or() {
    ExprP e = parse_and();
    while (is_name("or")) {
      const int line = next().line;
      e = binary(EK::Or, std::move(e), parse_and(), line);
    }
    return e;
  }
  ExprP parse_and() {
    ExprP e = parse_not();
    while (is_name("and")) {
      const int line = next().line;
      e = binary(EK::And, std::move(e), parse_not(), line);
    }
    return e;
  }
  ExprP parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      auto e = node(EK::Not, next().line);
      e->a.push_back(parse_not());
      return done(std::move(e));
    }
    return parse_compare();
  }
  ExprP parse_compare() {
    const int line = cur().line;
    ExprP first = parse_math1();
    std::vector<ExprP> operands;
    std::vector<std::string> ops;
    while (true) {
      std::string op;
      if (cur().t == Tok::Op && (cur().v == "==" || cur().v == "!=" || cur().v == "<" || cur().v == ">" ||
                                 cur().v == "<=" || cur().v == ">=")) {
        op = next().v;
      } else if (is_name("in")) {
        next(), op = "in";
      } else if (is_name("not") && look().t == Tok::Name && look().v == "in") {
        next(), next(), op = "not in";
      } else {
        break;
      }
      ops.push_back(op);
      operands.push_back(parse_math1());
    }
    if (ops.empty()) return first;
    auto e = node(EK::Cmp, line);
    e->a.push_back(std::move(first));
    for (auto& o : operands) e->a.push_back(std::move(o));
    e->ops = std::move(ops);
    return done(std::move(e));
  }
  ExprP parse_math1() {
    ExprP e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token op = next();
      e = binary(EK::Bin, std::move(e), parse_concat(), op.line, op.v);
    }
    return e;
  }
  ExprP parse_concat() {
    const int line = cur().line;
    ExprP first = parse_math2();
    if (!is_op("~")) return first;
    auto e = node(EK::Concat, line);
    e->a.push_back(std::move(first));
    while (is_op("~")) {
      next();
      e->a.push_back(parse_math2());
    }
    return done(std::move(e));
  }
  ExprP parse_math2() {
    ExprP e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token op = next();
      e = binary(EK::Bin, std::move(e), parse_pow(), op.line, op.v);
    }
    return e;
  }
  ExprP parse_pow() {
    ExprP e = parse_unary(true);
    while (is_op("**")) {
      const Token op = next();
      e = binary(EK::Bin, std::move(e), parse_unary(true), op.line, op.v);
    }
    return e;
  }
  ExprP parse_unary(bool with_filter) {
    ExprP e;
    if (is_op("-") || is_op("+")) {
      DepthGuard guard(*this);
      auto u = node(is_op("-") ? EK::Neg : EK::Pos, cur().line);
      next();
      u->a.push_back(parse_unary(false));
      e = done(std::move(u));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprP parse_primary() {
    const Token tk = cur();
    switch (tk.t) {
      case Tok::Name: {
        auto e = node(EK::Lit, tk.line);
        const std::string& v = tk.v;
        if (v == "true" || v == "True") e->lit = Value::boolean(true);
        else if (v == "false" || v == "False") e->lit = Value::boolean(false);
        else if (v == "none" || v == "None") e->lit = Value::none();
        else e->k = EK::Name, e->name = v;
        next();
        return e;
      }
      case Tok::Str: {
        auto e = node(EK::Lit, tk.line);
        std::string s;
        while (cur().t == Tok::Str) s += next().v;
        e->lit = Value::str(std::move(s));
        return e;
      }
      case Tok::Int: {
        auto e = node(EK::Lit, tk.line);
        std::int64_t v = 0;
        auto r = std::from_chars(tk.v.data(), tk.v.data() + tk.v.size(), v);
        if (r.ec != std::errc()) fail(Kind::Unsupported, tk.line, "integer literal beyond 64 bits");
        e->lit = Value::integer(v);
        next();
        return e;
      }
      case Tok::Float: {
        auto e = node(EK::Lit, tk.line);
        e->lit = Value::number(std::strtod(tk.v.c_str(), nullptr));
        next();
        return e;
      }
      case Tok::Op:
        if (tk.v == "(") {
          next();
          ExprP e = parse_tuple(true, true);
          expect_op(")");
          return e;
        }
        if (tk.v == "[") {
          auto e = node(EK::List, tk.line);
          next();
          while (!is_op("]")) {
            if (!e->a.empty()) expect_op(",");
            if (is_op("]")) break;
            e->a.push_back(parse_expression(true));
          }
          next();
          return done(std::move(e));
        }
        if (tk.v == "{") {
          auto e = node(EK::Dict, tk.line);
          next();
          while (!is_op("}")) {
            if (!e->a.empty()) expect_op(",");
            if (is_op("}")) break;
            e->a.push_back(parse_expression(true));
            expect_op(":");
            e->a.push_back(parse_expression(true));
          }
          next();
          return done(std::move(e));
        }
        break;
      default: break;
    }
    unexpected("an expression");
  }

  ExprP parse_postfix(ExprP e) {
    while (true) {
      if (is_op(".") || is_op("[")) e = parse_subscript(std::move(e));
      else if (is_op("(")) e = parse_call(std::move(e));
      else return e;
    }
  }

  ExprP parse_filter_expr(ExprP e) {
    while (true) {
      if (is_op("|")) {
        next();
        e = parse_filter(std::move(e));
      } else if (is_name("is")) {
        e = parse_test(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprP parse_subscript(ExprP target) {
    const Token tk = next();
    if (tk.v == ".") {
      if (cur().t == Tok::Name) {
        auto e = node(EK::Attr, tk.line);
        e->name = next().v;
        e->a.push_back(std::move(target));
        return done(std::move(e));
      }
      if (cur().t == Tok::Int) {
        auto e = node(EK::Item, tk.line);
        e->a.push_back(std::move(target));
        e->a.push_back(parse_primary());
        return done(std::move(e));
      }
      unexpected("an attribute name");
    }
    std::vector<ExprP> idx;
    while (!is_op("]")) {
      if (!idx.empty()) {
        expect_op(",");
        if (is_op("]")) break;
      }
      idx.push_back(parse_subscribed());
    }
    next();
    if (idx.size() != 1) fail(Kind::Unsupported, tk.line, "subscripts with several indices");
    ExprP e;
    if (idx[0]->k == EK::Slice && !idx[0]->a[0]) {
      // parse_subscribed returned a slice with a placeholder target
      e = std::move(idx[0]);
      e->a[0] = std::move(target);
    } else {
      e = node(EK::Item, tk.line);
      e->a.push_back(std::move(target));
      e->a.push_back(std::move(idx[0]));
    }
    return done(std::move(e));
  }

  // One subscript: an expression or a slice [start]:[stop][:[step]]. A slice
  // comes back with a null a[0] for the target.
  ExprP parse_subscribed() {
    const int line = cur().line;
    std::vector<ExprP> parts;
    if (is_op(":")) {
      next();
      parts.push_back(nullptr);
    } else {
      ExprP e = parse_expression(true);
      if (!is_op(":")) return e;
      next();
      parts.push_back(std::move(e));
    }
    if (is_op(":")) parts.push_back(nullptr);
    else if (!is_op("]") && !is_op(",")) parts.push_back(parse_expression(true));
    else parts.push_back(nullptr);
    if (is_op(":")) {
      next();
      if (!is_op("]") && !is_op(",")) parts.push_back(parse_expression(true));
      else parts.push_back(nullptr);
    } else {
      parts.push_back(nullptr);
    }
    auto e = node(EK::Slice, line);
    e->a.push_back(nullptr);
    for (auto& p : parts) e->a.push_back(std::move(p));
    return e;
  }

  void parse_args(Expr& e) {
    expect_op("(");
    bool any = false;
    while (!is_op(")")) {
      if (any) expect_op(",");
      if (is_op(")")) break;
      any = true;
      if (is_op("*") || is_op("**")) fail(Kind::Unsupported, cur().line, "*args / **kwargs in calls");
      if (cur().t == Tok::Name && look().t == Tok::Op && look().v == "=") {
        std::string key = next().v;
        next();
        e.kw.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!e.kw.empty()) fail(Kind::Syntax, cur().line, "positional argument after keyword argument");
        e.a.push_back(parse_expression(true));
      }
    }
    next();
  }

  ExprP parse_call(ExprP callee) {
    auto e = node(EK::Call, cur().line);
    e->a.push_back(std::move(callee));
    parse_args(*e);
    return done(std::move(e));
  }

  std::string dotted_name() {
    std::string name = expect_name();
    while (is_op(".")) {
      next();
      name += "." + expect_name();
    }
    return name;
  }

  ExprP parse_filter(ExprP subject) {
    auto e = node(EK::Filter, cur().line);
    e->name = dotted_name();
    e->a.push_back(std::move(subject));
    if (is_op("(")) parse_args(*e);
    return done(std::move(e));
  }

  ExprP parse_test(ExprP subject) {
    auto e = node(EK::Test, next().line);  // 'is'
    if (is_name("not")) next(), e->neg = true;
    e->name = dotted_name();
    e->a.push_back(std::move(subject));
    const Tok ct = cur().t;
    if (is_op("(")) {
      parse_args(*e);
    } else if ((ct == Tok::Name || ct == Tok::Str || ct == Tok::Int || ct == Tok::Float || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail(Kind::Syntax, cur().line, "you cannot chain multiple tests with is");
      e->a.push_back(parse_postfix(parse_primary()));
    }
    return done(std::move(e));
  }
};

// ---------------------------------------------------------------------------
// 4. Interpreter
// ---------------------------------------------------------------------------

struct Frame {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Frame> parent;
  const Value* find(const std::string& k) const {
    for (const Frame* f = this; f; f = f->parent.get()) {
      auto it = f->vars.find(k);
      if (it != f->vars.end()) return &it->second;
    }
    return nullptr;
  }
};
using FrameP = std::shared_ptr<Frame>;

enum class Flow { Normal, Break, Continue };

// Python's == for template values.
bool py_eq(const Value& a, const Value& b) {
  if (a.is_num() && b.is_num()) {
    if (a.t == VT::Float || b.t == VT::Float) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.t != b.t) return false;
  switch (a.t) {
    case VT::Undefined:
    case VT::None: return true;
    case VT::Str: return a.s == b.s;
    case VT::List: {
      if ((a.seq == Seq::Tuple) != (b.seq == Seq::Tuple) || a.seq == Seq::Gen || b.seq == Seq::Gen) return a.l == b.l;
      if (a.l->size() != b.l->size()) return false;
      for (std::size_t k = 0; k < a.l->size(); ++k)
        if (!py_eq((*a.l)[k], (*b.l)[k])) return false;
      return true;
    }
    case VT::Dict: {
      if (a.ns || b.ns) return a.d == b.d;
      if (a.d->items.size() != b.d->items.size()) return false;
      for (const auto& [k, x] : a.d->items) {
        const Value* y = b.d->find(k);
        if (!y || !py_eq(x, *y)) return false;
      }
      return true;
    }
    case VT::Func: return a.fn == b.fn;
    default: return false;
  }
}

// Python's < ; TypeError for unordered types.
bool py_lt(const Value& a, const Value& b, int line) {
  if (a.is_num() && b.is_num()) {
    if (a.t == VT::Float || b.t == VT::Float) return a.as_double() < b.as_double();
    return a.as_int() < b.as_int();
  }
  if (a.t == VT::Str && b.t == VT::Str) return a.s < b.s;  // UTF-8 order is code point order
  if (a.t == VT::List && b.t == VT::List && a.seq != Seq::Gen && b.seq != Seq::Gen) {
    const std::size_t n = std::min(a.l->size(), b.l->size());
    for (std::size_t k = 0; k < n; ++k) {
      if (!py_eq((*a.l)[k], (*b.l)[k])) return py_lt((*a.l)[k], (*b.l)[k], line);
    }
    return a.l->size() < b.l->size();
  }
  fail(Kind::Runtime, line,
       std::string("'<' not supported between instances of '") + type_name(a) + "' and '" + type_name(b) + "'");
}

std::string escape_html(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Python's str.split(sep, maxsplit) and rsplit.
std::vector<std::string> py_split(std::string_view s, const Value& sep, std::int64_t maxsplit, bool from_right, int line) {
  std::vector<std::string> out;
  if (sep.t == VT::None || sep.t == VT::Undefined) {
    // Runs of whitespace; no empty strings.
    std::vector<std::pair<std::size_t, std::size_t>> words;
    std::size_t i = 0;
    while (i < s.size()) {
      std::size_t sp;
      while (i < s.size() && (sp = space_at(s, i))) i += sp;
      if (i >= s.size()) break;
      std::size_t j = i;
      while (j < s.size() && !space_at(s, j)) {
        std::uint32_t cp;
        j += detail::decode_cp(s, j, cp);
      }
      words.emplace_back(i, j);
      check_items(words.size(), line);
      i = j;
    }
    if (maxsplit < 0 || static_cast<std::size_t>(maxsplit) + 1 >= words.size()) {
      for (auto [b, e] : words) out.emplace_back(s.substr(b, e - b));
      return out;
    }
    const std::size_t m = static_cast<std::size_t>(maxsplit);
    if (!from_right) {
      for (std::size_t k = 0; k < m; ++k) out.emplace_back(s.substr(words[k].first, words[k].second - words[k].first));
      std::string_view rest = py_rstrip(s.substr(words[m].first));
      out.emplace_back(rest);
    } else {
      const std::size_t first = words.size() - m;
      std::string_view head = s.substr(0, words[first - 1].second);
      std::size_t b = 0;
      while (b < head.size() && space_at(head, b)) b += space_at(head, b);
      out.emplace_back(head.substr(b));
      for (std::size_t k = first; k < words.size(); ++k)
        out.emplace_back(s.substr(words[k].first, words[k].second - words[k].first));
    }
    return out;
  }
  if (sep.t != VT::Str) fail(Kind::Runtime, line, "split: the separator must be a string or None");
  const std::string& d = sep.s;
  if (d.empty()) fail(Kind::Runtime, line, "split: empty separator");
  if (!from_right) {
    std::size_t start = 0;
    std::int64_t count = 0;
    while (maxsplit < 0 || count < maxsplit) {
      const std::size_t k = s.find(d, start);
      if (k == std::string_view::npos) break;
      out.emplace_back(s.substr(start, k - start));
      check_items(out.size(), line);
      start = k + d.size();
      ++count;
    }
    out.emplace_back(s.substr(start));
  } else {
    std::size_t end = s.size();
    std::int64_t count = 0;
    std::vector<std::string> rev;
    while (maxsplit < 0 || count < maxsplit) {
      if (end < d.size()) break;
      const std::size_t k = s.rfind(d, end - d.size());
      if (k == std::string_view::npos) break;
      rev.emplace_back(s.substr(k + d.size(), end - k - d.size()));
      check_items(rev.size(), line);
      end = k;
      ++count;
    }
    rev.emplace_back(s.substr(0, end));
    out.assign(rev.rbegin(), rev.rend());
  }
  return out;
}

// str.strip / lstrip / rstrip with optional characters.
std::string py_strip(std::string_view s, const Value& chars, bool left, bool right) {
  std::vector<std::uint32_t> set;
  const bool ws = chars.t == VT::None || chars.t == VT::Undefined;
  if (!ws)
    for (std::size_t i = 0; i < chars.s.size();) {
      std::uint32_t cp;
      i += detail::decode_cp(chars.s, i, cp);
      set.push_back(cp);
    }
  auto strip_cp = [&](std::uint32_t cp) {
    return ws ? detail::is_python_space(cp) : std::find(set.begin(), set.end(), cp) != set.end();
  };
  return std::string(detail::strip_code_points(s, strip_cp, left, right));
}

// Stops early once the result passes max_bytes (the caller's size check then
// refuses it), so a replacement cannot build more than that.
std::string py_replace(std::string_view s, std::string_view old, std::string_view nw, std::int64_t count,
                       std::size_t max_bytes) {
  std::string out;
  if (old.empty()) {
    // Inserts `nw` before every code point and at the end.
    std::int64_t done = 0;
    std::size_t i = 0;
    while (i <= s.size()) {
      if (count < 0 || done < count) out += nw, ++done;
      if (i == s.size() || out.size() > max_bytes) break;
      std::uint32_t cp;
      const std::size_t len = detail::decode_cp(s, i, cp);
      out.append(s.substr(i, len));
      i += len;
    }
    return out;
  }
  std::size_t start = 0;
  std::int64_t done = 0;
  while (count < 0 || done < count) {
    const std::size_t k = s.find(old, start);
    if (k == std::string_view::npos) break;
    out.append(s.substr(start, k - start));
    out += nw;
    start = k + old.size();
    ++done;
    if (out.size() > max_bytes) return out;
  }
  out.append(s.substr(start));
  return out;
}

// Python's str.splitlines() boundaries.
std::vector<std::string> py_splitlines(std::string_view s, bool keepends) {
  std::vector<std::string> out;
  std::size_t start = 0, i = 0;
  while (i < s.size()) {
    std::uint32_t cp;
    const std::size_t len = detail::decode_cp(s, i, cp);
    const bool brk = cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C || cp == 0x1D || cp == 0x1E ||
                     cp == 0x85 || cp == 0x2028 || cp == 0x2029;
    if (!brk) {
      i += len;
      continue;
    }
    std::size_t end = i + len;
    if (cp == '\r' && end < s.size() && s[end] == '\n') ++end;
    out.emplace_back(s.substr(start, (keepends ? end : i) - start));
    check_items(out.size(), 0);
    start = i = end;
  }
  if (start < s.size()) out.emplace_back(s.substr(start));
  return out;
}

class Interp {
 public:
  Interp(const RenderOptions& options) : lim_(options.limits), now_(options.now) {}

  void step(std::uint64_t n, int line) {
    work_ += n;
    if (work_ > lim_.max_work)
      fail(Kind::Limit, line, "rendering took more than " + std::to_string(lim_.max_work) + " steps");
  }
  void check_size(std::size_t bytes, int line) {
    step(bytes / 16 + 1, line);
    if (bytes > lim_.max_output_bytes)
      fail(Kind::Limit, line, "a string longer than " + std::to_string(lim_.max_output_bytes) + " bytes");
  }
  // The size bound alone, for strings still growing (new_str charges the work once).
  void check_len(std::size_t bytes, int line) const {
    if (bytes > lim_.max_output_bytes)
      fail(Kind::Limit, line, "a string longer than " + std::to_string(lim_.max_output_bytes) + " bytes");
  }
  std::size_t max_string_bytes() const { return lim_.max_output_bytes; }
  // Every list a template builds counts its items while it is alive, and
  // no more than kMaxLiveItems may be alive at once: that bounds the memory
  // lists take (an item is a Value of under 100 bytes) whatever the work.
  static constexpr std::size_t kMaxLiveItems = 2 * kMaxListItems;
  Value make_list(ValueList items, Seq seq = Seq::List, int line = 0) {
    if (items.size() > kMaxLiveItems - std::min(*live_items_, kMaxLiveItems))
      fail(Kind::Limit, line, "lists holding more than " + std::to_string(kMaxLiveItems) + " items at once");
    return gpt::jinja::make_list(std::move(items), seq, line, live_items_);
  }
  Value new_str(std::string s, int line) {
    check_size(s.size(), line);
    return Value::str(std::move(s));
  }

  struct Depth {
    Interp& in;
    Depth(Interp& interp, int line) : in(interp) {
      if (++in.depth_ > in.lim_.max_depth * 8)
        fail(Kind::Limit, line, "rendering nested more than " + std::to_string(in.lim_.max_depth * 8) +
                                    " deep (recursive macros?)");
    }
    ~Depth() { --in.depth_; }
  };

  // --- statements ---

  Flow exec(const Body& body, const FrameP& frame, std::string& out) {
    for (const auto& st : body) {
      const Flow f = exec(*st, frame, out);
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

  void emit(std::string& out, std::string_view s, int line) {
    out.append(s);
    step(s.size() / 16, line);
    if (out.size() > lim_.max_output_bytes)
      fail(Kind::Limit, line, "output longer than " + std::to_string(lim_.max_output_bytes) + " bytes");
  }

  Flow exec(const Stmt& st, const FrameP& frame, std::string& out) {
    Depth depth(*this, st.line);
    step(1, st.line);
    switch (st.k) {
      case SK::Text: emit(out, st.text, st.line); return Flow::Normal;
      case SK::Out: {
        const Value v = eval(*st.e, frame);
        if (v.t == VT::Str) emit(out, v.s, st.line);
        else emit(out, to_str(v, st.line), st.line);
        return Flow::Normal;
      }
      case SK::If:
        for (const auto& [cond, b] : st.branches)
          if (truthy(eval(*cond, frame))) return exec(b, frame, out);
        return exec(st.else_body, frame, out);
      case SK::For: return exec_for(st, frame, out);
      case SK::Set: assign(st, eval(*st.e, frame), frame); return Flow::Normal;
      case SK::SetBlock: {
        std::string text;
        exec_isolated(st.body, frame, text);
        Value v = Value::str(std::move(text));
        for (const auto& f : st.filters) v = apply_filter(*f, std::move(v), frame);
        assign(st, std::move(v), frame);
        return Flow::Normal;
      }
      case SK::FilterBlock: {
        std::string text;
        exec_isolated(st.body, frame, text);
        Value v = Value::str(std::move(text));
        for (const auto& f : st.filters) v = apply_filter(*f, std::move(v), frame);
        emit(out, v.t == VT::Str ? v.s.str() : to_str(v, st.line), st.line);
        return Flow::Normal;
      }
      case SK::Macro: frame->vars[st.text] = make_macro(st, frame); return Flow::Normal;
      case SK::Break: return Flow::Break;
      case SK::Continue: return Flow::Continue;
      case SK::Body: return exec(st.body, frame, out);
    }
    return Flow::Normal;
  }

  void exec_isolated(const Body& body, const FrameP& frame, std::string& out) {
    if (exec(body, frame, out) != Flow::Normal)
      fail(Kind::Unsupported, body.empty() ? 0 : body[0]->line, "break/continue inside a block set or filter block");
  }

  void assign(const Stmt& st, Value v, const FrameP& frame) {
    if (!st.ns_attr.empty()) {
      const Value* ns = frame->find(st.names[0]);
      if (!ns || ns->t != VT::Dict || !ns->ns)
        fail(Kind::Runtime, st.line, "cannot assign attribute on non-namespace object '" + st.names[0] + "'");
      if (st.ns_attr[0] == '_')
        fail(Kind::Runtime, st.line, "chat templates cannot store underscore-prefixed attributes on a namespace");
      if (v.has_ns) fail(Kind::Unsupported, st.line, "storing a namespace inside a namespace");
      ns->d->set(st.ns_attr, std::move(v));
      return;
    }
    if (!st.tuple_target) {
      frame->vars[st.names[0]] = std::move(v);
      return;
    }
    const ValueList items = iterate(v, st.line);
    if (items.size() != st.names.size())
      fail(Kind::Runtime, st.line,
           std::string(items.size() > st.names.size() ? "too many" : "not enough") + " values to unpack (expected " +
               std::to_string(st.names.size()) + ", got " + std::to_string(items.size()) + ")");
    for (std::size_t k = 0; k < items.size(); ++k) frame->vars[st.names[k]] = items[k];
  }

  void bind_target(const Stmt& st, const Value& item, Frame& f) {
    if (!st.tuple_target) {
      f.vars[st.names[0]] = item;
      return;
    }
    const ValueList parts = iterate(item, st.line);
    if (parts.size() != st.names.size())
      fail(Kind::Runtime, st.line,
           std::string(parts.size() > st.names.size() ? "too many" : "not enough") + " values to unpack (expected " +
               std::to_string(st.names.size()) + ", got " + std::to_string(parts.size()) + ")");
    for (std::size_t k = 0; k < parts.size(); ++k) f.vars[st.names[k]] = parts[k];
  }

  Flow exec_for(const Stmt& st, const FrameP& frame, std::string& out) {
    ValueList items = iterate(eval(*st.e, frame), st.line);
    auto loop_frame = std::make_shared<Frame>();
    loop_frame->parent = frame;
    if (st.cond) {
      ValueList kept;
      for (auto& it : items) {
        step(1, st.line);
        bind_target(st, it, *loop_frame);
        if (truthy(eval(*st.cond, loop_frame))) kept.push_back(std::move(it));
      }
      items = std::move(kept);
    }
    const std::int64_t n = static_cast<std::int64_t>(items.size());
    // One `loop` object for the whole loop, updated in place each iteration
    // (as Jinja's LoopContext is).
    enum Slot { kIndex, kIndex0, kRevindex, kRevindex0, kFirst, kLast, kLength, kPrev, kNext, kCycle };
    auto loop = std::make_shared<Dict>();
    for (const char* key : {"index", "index0", "revindex", "revindex0", "first", "last", "length", "previtem",
                            "nextitem", "cycle", "depth", "depth0"})
      loop->set(key, Value());
    loop->items[10].second = Value::integer(1);
    loop->items[11].second = Value::integer(0);
    auto counter = std::make_shared<std::int64_t>(0);
    loop->items[kCycle].second = make_func("loop.cycle", [counter](Interp&, Args& args, int line) {
      if (args.pos.empty()) fail(Kind::Runtime, line, "no items for cycling given");
      return args.pos[static_cast<std::size_t>(*counter) % args.pos.size()];
    });
    Value lv;
    lv.t = VT::Dict;
    lv.d = loop;
    lv.depth = 2;
    loop_frame->vars["loop"] = lv;
    for (std::int64_t k = 0; k < n; ++k) {
      step(1, st.line);
      bind_target(st, items[k], *loop_frame);
      *counter = k;
      auto& it = loop->items;
      it[kIndex].second = Value::integer(k + 1);
      it[kIndex0].second = Value::integer(k);
      it[kRevindex].second = Value::integer(n - k);
      it[kRevindex0].second = Value::integer(n - k - 1);
      it[kFirst].second = Value::boolean(k == 0);
      it[kLast].second = Value::boolean(k == n - 1);
      it[kLength].second = Value::integer(n);
      it[kPrev].second = k > 0 ? items[k - 1] : Value::undefined("loop.previtem");
      it[kNext].second = k + 1 < n ? items[k + 1] : Value::undefined("loop.nextitem");
      const Flow f = exec(st.body, loop_frame, out);
      if (f == Flow::Break) break;
    }
    if (n == 0) return exec(st.else_body, frame, out);
    return Flow::Normal;
  }

  Value make_macro(const Stmt& st, const FrameP& defined_in) {
    const Stmt* m = &st;
    std::weak_ptr<Frame> weak = defined_in;  // the frame owns the macro: no cycle
    return make_func(st.text, [m, weak](Interp& in, Args& args, int line) {
      Depth depth(in, line);
      auto f = std::make_shared<Frame>();
      f->parent = weak.lock();
      if (args.pos.size() > m->names.size())
        fail(Kind::Runtime, line, "macro '" + m->text + "' takes not more than " + std::to_string(m->names.size()) +
                                      " argument(s)");
      for (std::size_t k = 0; k < m->names.size(); ++k) {
        if (k < args.pos.size()) {
          f->vars[m->names[k]] = args.pos[k];
          continue;
        }
        bool found = false;
        for (auto& [key, v] : args.kw)
          if (key == m->names[k]) f->vars[m->names[k]] = v, found = true;
        if (!found)
          f->vars[m->names[k]] = m->defaults[k] ? in.eval(*m->defaults[k], f) : Value::undefined("parameter '" + m->names[k] + "'");
      }
      for (auto& [key, v] : args.kw)
        if (std::find(m->names.begin(), m->names.end(), key) == m->names.end())
          fail(Kind::Runtime, line, "macro '" + m->text + "' takes no keyword argument '" + key + "'");
      std::string out;
      in.exec_isolated(m->body, f, out);
      return Value::str(std::move(out));
    });
  }

  // --- iteration, attributes, items ---

  ValueList iterate(const Value& v, int line) {
    switch (v.t) {
      case VT::Undefined: return {};
      case VT::List: return *v.l;
      case VT::Dict: {
        if (v.ns) fail(Kind::Runtime, line, "'Namespace' object is not iterable");
        ValueList keys;
        for (const auto& [k, x] : v.d->items) keys.push_back(k);
        return keys;
      }
      case VT::Str: {
        check_items(cp_count(v.s), line);
        ValueList chars;
        for (std::size_t i = 0; i < v.s.size();) {
          std::uint32_t cp;
          const std::size_t len = detail::decode_cp(v.s, i, cp);
          chars.push_back(Value::str(v.s.substr(i, len)));
          i += len;
        }
        return chars;
      }
      default: fail(Kind::Runtime, line, std::string("'") + type_name(v) + "' object is not iterable");
    }
  }

  static Value bound(const char* name, Value self, Value (*fn)(Interp&, const Value&, Args&, int)) {
    return make_func(name, [self = std::move(self), fn](Interp& in, Args& args, int line) { return fn(in, self, args, line); });
  }

  // Jinja's getattr: an attribute (a method) first, then an item.
  Value get_attr(const Value& obj, const std::string& name, int line) {
    if (obj.t == VT::Undefined) undefined_error(obj, line);
    if (obj.t == VT::Str) {
      if (auto m = str_method(obj, name)) {
        if (obj.safe) markup_error(line, "the method '" + name + "'");
        return *m;
      }
    } else if (obj.t == VT::Dict && !obj.ns) {
      if (auto m = dict_method(obj, name, line)) return *m;
    } else if (obj.t == VT::List) {
      static const char* const kUnsafe[] = {"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"};
      for (const char* u : kUnsafe)
        if (name == u) fail(Kind::Runtime, line, "access to attribute '" + name + "' of 'list' object is unsafe");
    }
    if (obj.t == VT::Dict) {
      if (const Value* v = obj.d->find(name)) return *v;
    }
    return Value::undefined("'" + std::string(type_name(obj)) + " object' has no attribute '" + name + "'");
  }

  // Jinja's getitem: an item first, then an attribute for string keys.
  Value get_item(const Value& obj, const Value& key, int line) {
    if (obj.t == VT::Undefined) undefined_error(obj, line);
    if (is_markup(obj) && (key.t == VT::Int || key.t == VT::Bool)) markup_error(line, "indexing");
    if ((obj.t == VT::List || obj.t == VT::Str) && (key.t == VT::Int || key.t == VT::Bool)) {
      if (obj.t == VT::List && obj.seq == Seq::Gen) fail(Kind::Runtime, line, "'generator' object is not subscriptable");
      std::int64_t k = key.as_int();
      if (obj.t == VT::List) {
        const auto n = static_cast<std::int64_t>(obj.l->size());
        if (k < 0) k += n;
        if (k < 0 || k >= n) return Value::undefined("list index out of range");
        return (*obj.l)[static_cast<std::size_t>(k)];
      }
      if (is_ascii(obj.s)) {
        const auto n = static_cast<std::int64_t>(obj.s.size());
        if (k < 0) k += n;
        if (k < 0 || k >= n) return Value::undefined("string index out of range");
        return Value::str(obj.s.substr(static_cast<std::size_t>(k), 1));
      }
      const CodePoints cps = code_points(obj.s);
      const auto n = static_cast<std::int64_t>(cps.cps.size());
      if (k < 0) k += n;
      if (k < 0 || k >= n) return Value::undefined("string index out of range");
      const auto b = cps.offsets[static_cast<std::size_t>(k)], e = cps.offsets[static_cast<std::size_t>(k) + 1];
      return Value::str(obj.s.substr(b, e - b));
    }
    if (obj.t == VT::Dict) {
      if (const Value* v = obj.d->find(key)) return *v;
    }
    if (key.t == VT::Str) return get_attr(obj, key.s, line);
    return Value::undefined("'" + std::string(type_name(obj)) + " object' has no item " + repr(key, line));
  }

  Value slice(const Value& obj, const Value& start, const Value& stop, const Value& stepv, int line) {
    if (obj.t == VT::Undefined) undefined_error(obj, line);
    if (is_markup(obj)) markup_error(line, "slicing");
    auto opt = [&](const Value& v) -> std::optional<std::int64_t> {
      if (v.t == VT::None || v.t == VT::Undefined) return std::nullopt;
      if (v.t != VT::Int && v.t != VT::Bool) fail(Kind::Runtime, line, "slice indices must be integers or None");
      return v.as_int();
    };
    const std::int64_t stp = opt(stepv).value_or(1);
    if (stp == 0) fail(Kind::Runtime, line, "slice step cannot be zero");
    std::vector<std::string> chars;
    std::int64_t n;
    if (obj.t == VT::Str) {
      n = static_cast<std::int64_t>(cp_count(obj.s));
    } else if (obj.t == VT::List && obj.seq != Seq::Gen) {
      n = static_cast<std::int64_t>(obj.l->size());
    } else {
      fail(Kind::Runtime, line, std::string("'") + type_name(obj) + "' object is not subscriptable");
    }
    // Python's PySlice_AdjustIndices.
    auto adjust = [&](std::optional<std::int64_t> v, std::int64_t dflt) {
      if (!v) return dflt;
      std::int64_t x = *v;
      if (x < 0) {
        x += n;
        if (x < 0) x = stp < 0 ? -1 : 0;
      } else if (x >= n) {
        x = stp < 0 ? n - 1 : n;
      }
      return x;
    };
    const std::int64_t b = adjust(opt(start), stp < 0 ? n - 1 : 0);
    const std::int64_t e = adjust(opt(stop), stp < 0 ? -1 : n);
    std::vector<std::int64_t> idx;
    for (std::int64_t k = b; stp > 0 ? k < e : k > e; k += stp) idx.push_back(k);
    step(idx.size(), line);
    if (obj.t == VT::List) {
      ValueList out;
      for (auto k : idx) out.push_back((*obj.l)[static_cast<std::size_t>(k)]);
      return make_list(std::move(out), obj.seq == Seq::Tuple ? Seq::Tuple : Seq::List, line);
    }
    std::string out;
    if (is_ascii(obj.s)) {
      for (auto k : idx) out += obj.s[static_cast<std::size_t>(k)];
    } else {
      const CodePoints cps = code_points(obj.s);
      for (auto k : idx) {
        const auto bo = cps.offsets[static_cast<std::size_t>(k)], eo = cps.offsets[static_cast<std::size_t>(k) + 1];
        out.append(obj.s, bo, eo - bo);
      }
    }
    return Value::str(std::move(out));
  }

  // --- expressions ---

  Value eval(const Expr& e, const FrameP& frame) {
    Depth depth(*this, e.line);
    step(1, e.line);
    switch (e.k) {
      case EK::Lit: return e.lit;
      case EK::Name: {
        if (const Value* v = frame->find(e.name)) return *v;
        return Value::undefined("'" + e.name + "'");
      }
      case EK::List:
      case EK::Tuple: {
        ValueList items;
        for (const auto& c : e.a) items.push_back(eval(*c, frame));
        return make_list(std::move(items), e.k == EK::Tuple ? Seq::Tuple : Seq::List, e.line);
      }
      case EK::Dict: {
        auto d = std::make_shared<Dict>();
        for (std::size_t k = 0; k < e.a.size(); k += 2) {
          Value key = eval(*e.a[k], frame);
          d->set(std::move(key), eval(*e.a[k + 1], frame), e.line);
        }
        return make_dict(std::move(d), e.line);
      }
      case EK::Attr: return get_attr(eval(*e.a[0], frame), e.name, e.line);
      case EK::Item: return get_item(eval(*e.a[0], frame), eval(*e.a[1], frame), e.line);
      case EK::Slice: {
        const Value obj = eval(*e.a[0], frame);
        auto part = [&](int k) { return e.a[k] ? eval(*e.a[k], frame) : Value::none(); };
        return slice(obj, part(1), part(2), part(3), e.line);
      }
      case EK::Call: {
        const Value callee = eval(*e.a[0], frame);
        Args args = eval_args(e, 1, frame);
        if (callee.t == VT::Func) return callee.fn->call(*this, args, e.line);
        if (callee.t == VT::Undefined) {
          if (e.a[0]->k == EK::Name && e.a[0]->name == "cycler") fail(Kind::Unsupported, e.line, "the global 'cycler'");
          if (e.a[0]->k == EK::Name && e.a[0]->name == "joiner") fail(Kind::Unsupported, e.line, "the global 'joiner'");
          if (e.a[0]->k == EK::Name && e.a[0]->name == "lipsum") fail(Kind::Unsupported, e.line, "the global 'lipsum'");
          if (e.a[0]->k == EK::Attr)
            fail(Kind::Unsupported, e.line, callee.s.str() + " (a method this renderer does not have, or an undefined value called)");
          undefined_error(callee, e.line);
        }
        fail(Kind::Runtime, e.line, std::string("'") + type_name(callee) + "' object is not callable");
      }
      case EK::Filter: return apply_filter(e, eval(*e.a[0], frame), frame);
      case EK::Test: {
        const Value subject = eval(*e.a[0], frame);
        Args args = eval_args(e, 1, frame);
        const bool r = apply_test(e.name, subject, args, e.line);
        return Value::boolean(r != e.neg);
      }
      case EK::Neg:
      case EK::Pos: {
        const Value v = eval(*e.a[0], frame);
        if (v.t == VT::Undefined) undefined_error(v, e.line);
        if (!v.is_num()) fail(Kind::Runtime, e.line, std::string("bad operand type for unary -: '") + type_name(v) + "'");
        if (e.k == EK::Pos) return v.t == VT::Bool ? Value::integer(v.as_int()) : v;
        if (v.t == VT::Float) return Value::number(-v.f);
        if (v.as_int() == INT64_MIN) fail(Kind::Limit, e.line, "integer overflow");
        return Value::integer(-v.as_int());
      }
      case EK::Not: return Value::boolean(!truthy(eval(*e.a[0], frame)));
      case EK::And: {
        Value l = eval(*e.a[0], frame);
        return truthy(l) ? eval(*e.a[1], frame) : l;
      }
      case EK::Or: {
        Value l = eval(*e.a[0], frame);
        return truthy(l) ? l : eval(*e.a[1], frame);
      }
      case EK::Cond: {
        if (truthy(eval(*e.a[1], frame))) return eval(*e.a[0], frame);
        return e.a[2] ? eval(*e.a[2], frame) : Value::undefined("the else branch of an if-expression");
      }
      case EK::Concat: {
        std::string s;
        for (const auto& c : e.a) {
          const Value v = eval(*c, frame);
          if (v.t == VT::Str) {
            check_len(s.size() + v.s.size(), e.line);
            s += v.s;
          } else {
            s += to_str(v, e.line);
            check_len(s.size(), e.line);
          }
        }
        return new_str(std::move(s), e.line);
      }
      case EK::Bin: return binop(e.name, eval(*e.a[0], frame), eval(*e.a[1], frame), e.line);
      case EK::Cmp: {
        Value left = eval(*e.a[0], frame);
        for (std::size_t k = 0; k < e.ops.size(); ++k) {
          Value right = eval(*e.a[k + 1], frame);
          if (!compare(e.ops[k], left, right, e.line)) return Value::boolean(false);
          left = std::move(right);
        }
        return Value::boolean(true);
      }
    }
    return Value::undefined();
  }

  Args eval_args(const Expr& e, std::size_t first, const FrameP& frame) {
    Args args;
    for (std::size_t k = first; k < e.a.size(); ++k) args.pos.push_back(eval(*e.a[k], frame));
    for (const auto& [key, x] : e.kw) args.kw.emplace_back(key, eval(*x, frame));
    return args;
  }

  bool contains(const Value& container, const Value& item, int line) {
    switch (container.t) {
      case VT::Str:
        if (item.t != VT::Str)
          fail(Kind::Runtime, line, std::string("'in <string>' requires string as left operand, not ") + type_name(item));
        step(container.s.size() / 16, line);
        return container.s.find(item.s) != std::string::npos;
      case VT::List:
        for (const auto& x : *container.l)
          if (py_eq(x, item)) return true;
        return false;
      case VT::Dict:
        if (container.ns) fail(Kind::Runtime, line, "argument of type 'Namespace' is not iterable");
        if (!Dict::code(item)) fail(Kind::Runtime, line, std::string("unhashable type: '") + type_name(item) + "'");
        return container.d->find(item) != nullptr;
      case VT::Undefined: return false;
      default:
        fail(Kind::Runtime, line, std::string("argument of type '") + type_name(container) + "' is not iterable");
    }
  }

  bool compare(const std::string& op, const Value& a, const Value& b, int line) {
    if (op == "==") return py_eq(a, b);
    if (op == "!=") return !py_eq(a, b);
    if (op == "in") return contains(b, a, line);
    if (op == "not in") return !contains(b, a, line);
    if (a.t == VT::Undefined) undefined_error(a, line);
    if (b.t == VT::Undefined) undefined_error(b, line);
    if (op == "<") return py_lt(a, b, line);
    if (op == ">") return py_lt(b, a, line);
    if (op == "<=") return !py_lt(b, a, line);
    return !py_lt(a, b, line);  // >=
  }

  static void overflow_check(bool overflow, int line) {
    if (overflow) fail(Kind::Limit, line, "integer overflow (beyond 64 bits)");
  }

  Value binop(const std::string& op, const Value& a, const Value& b, int line) {
    if (a.t == VT::Undefined) undefined_error(a, line);
    if (b.t == VT::Undefined) undefined_error(b, line);
    auto type_error = [&]() -> Value {
      fail(Kind::Runtime, line, "unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" +
                                    type_name(b) + "'");
    };
    const bool ints = (a.t == VT::Int || a.t == VT::Bool) && (b.t == VT::Int || b.t == VT::Bool);
    const bool nums = a.is_num() && b.is_num();
    std::int64_t r = 0;
    if (op == "+") {
      if (ints) {
        overflow_check(__builtin_add_overflow(a.as_int(), b.as_int(), &r), line);
        return Value::integer(r);
      }
      if (nums) return Value::number(a.as_double() + b.as_double());
      if (a.t == VT::Str && b.t == VT::Str) {
        if (!a.safe && !b.safe) {
          check_len(a.s.size() + b.s.size(), line);
          return new_str(a.s.str() + b.s.str(), line);
        }
        // Markup.__add__ / __radd__: the plain operand is escaped.
        Value r = new_str((a.safe ? a.s.str() : escape_html(a.s)) + (b.safe ? b.s.str() : escape_html(b.s)), line);
        r.safe = true;
        return r;
      }
      if (a.t == VT::List && b.t == VT::List && a.seq == b.seq && (a.seq == Seq::List || a.seq == Seq::Tuple)) {
        ValueList items = *a.l;
        items.insert(items.end(), b.l->begin(), b.l->end());
        step(items.size(), line);
        return make_list(std::move(items), a.seq, line);
      }
      return type_error();
    }
    if (op == "-") {
      if (ints) {
        overflow_check(__builtin_sub_overflow(a.as_int(), b.as_int(), &r), line);
        return Value::integer(r);
      }
      if (nums) return Value::number(a.as_double() - b.as_double());
      return type_error();
    }
    if (op == "*") {
      if (ints) {
        overflow_check(__builtin_mul_overflow(a.as_int(), b.as_int(), &r), line);
        return Value::integer(r);
      }
      if (nums) return Value::number(a.as_double() * b.as_double());
      const Value* seq = a.t == VT::Str || a.t == VT::List ? &a : &b;
      const Value* cnt = seq == &a ? &b : &a;
      if ((cnt->t == VT::Int || cnt->t == VT::Bool) && (seq->t == VT::Str || (seq->t == VT::List && (seq->seq == Seq::List || seq->seq == Seq::Tuple)))) {
        const std::int64_t times = std::max<std::int64_t>(0, cnt->as_int());
        const std::size_t unit = seq->t == VT::Str ? seq->s.size() : seq->l->size() * 8;
        if (times > 0 && unit > 0 && static_cast<std::uint64_t>(times) > lim_.max_output_bytes / unit)
          fail(Kind::Limit, line, "a repetition longer than " + std::to_string(lim_.max_output_bytes) + " bytes");
        if (seq->t == VT::List && times > 0) check_items(seq->l->size() * static_cast<std::uint64_t>(times), line);
        if (seq->t == VT::Str) {
          std::string out;
          for (std::int64_t k = 0; k < times; ++k) out += seq->s;
          Value r = new_str(std::move(out), line);
          r.safe = seq->safe;  // Markup * n is a Markup
          return r;
        }
        ValueList items;
        for (std::int64_t k = 0; k < times; ++k) items.insert(items.end(), seq->l->begin(), seq->l->end());
        step(items.size(), line);
        return make_list(std::move(items), seq->seq, line);
      }
      return type_error();
    }
    if (op == "/") {
      if (!nums) return type_error();
      if (b.as_double() == 0.0) fail(Kind::Runtime, line, "division by zero");
      return Value::number(a.as_double() / b.as_double());
    }
    if (op == "//" || op == "%") {
      if (op == "%" && is_markup(a)) markup_error(line, "'%' formatting");
      if (op == "%" && a.t == VT::Str) return new_str(percent_format(a.s, b, line), line);
      if (!nums) return type_error();
      if (b.as_double() == 0.0) fail(Kind::Runtime, line, "integer division or modulo by zero");
      if (ints) {
        const std::int64_t x = a.as_int(), y = b.as_int();
        if (x == INT64_MIN && y == -1) fail(Kind::Limit, line, "integer overflow");
        std::int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) --q, m += y;
        return Value::integer(op == "//" ? q : m);
      }
      const double x = a.as_double(), y = b.as_double();
      if (op == "//") return Value::number(std::floor(x / y));
      double m = std::fmod(x, y);
      if (m != 0 && ((m < 0) != (y < 0))) m += y;
      return Value::number(m);
    }
    if (op == "**") {
      if (ints && b.as_int() >= 0) {
        std::int64_t base = a.as_int(), result = 1;
        for (std::int64_t k = 0; k < b.as_int(); ++k) {
          overflow_check(__builtin_mul_overflow(result, base, &r), line);
          result = r;
          if (result == 0 || result == 1) break;
          step(1, line);
        }
        return Value::integer(result);
      }
      if (nums) return Value::number(std::pow(a.as_double(), b.as_double()));
      return type_error();
    }
    return type_error();
  }

  // 'fmt' % args for %s, %d, %r, %%.
  std::string percent_format(const std::string& fmt, const Value& args, int line) {
    ValueList list = args.t == VT::List && args.seq == Seq::Tuple ? *args.l : ValueList{args};
    std::string out;
    std::size_t next = 0;
    for (std::size_t i = 0; i < fmt.size(); ++i) {
      if (fmt[i] != '%') {
        out += fmt[i];
        continue;
      }
      if (++i >= fmt.size()) fail(Kind::Runtime, line, "incomplete format");
      const char c = fmt[i];
      if (c == '%') {
        out += '%';
        continue;
      }
      if (next >= list.size()) fail(Kind::Runtime, line, "not enough arguments for format string");
      const Value& v = list[next++];
      if (c == 's') out += to_str(v, line);
      else if (c == 'r') out += repr(v, line);
      else if (c == 'd' || c == 'i') {
        if (!v.is_num()) fail(Kind::Runtime, line, "%d format: a real number is required");
        out += std::to_string(v.t == VT::Float ? static_cast<std::int64_t>(v.f) : v.as_int());
      } else {
        fail(Kind::Unsupported, line, std::string("the %") + c + " format");
      }
    }
    if (next < list.size()) fail(Kind::Runtime, line, "not all arguments converted during string formatting");
    return out;
  }

  // --- methods ---

  static const Value* kwarg(Args& args, const char* name) {
    for (auto& [k, v] : args.kw)
      if (k == name) return &v;
    return nullptr;
  }
  // Positional k or keyword `name`, else a default.
  static Value arg(Args& args, std::size_t k, const char* name, Value dflt) {
    if (k < args.pos.size()) return args.pos[k];
    if (const Value* v = kwarg(args, name)) return *v;
    return dflt;
  }
  static std::string str_arg(const Value& v, const char* what, int line) {
    if (v.t != VT::Str) fail(Kind::Runtime, line, std::string(what) + " must be a string, not " + type_name(v));
    return v.s;
  }

  std::optional<Value> str_method(const Value& obj, const std::string& name) {
    using F = Value (*)(Interp&, const Value&, Args&, int);
    static const std::unordered_map<std::string, F> kMethods = {
        {"startswith", [](Interp&, const Value& s, Args& a, int line) { return Value::boolean(affix(s, a, true, line)); }},
        {"endswith", [](Interp&, const Value& s, Args& a, int line) { return Value::boolean(affix(s, a, false, line)); }},
        {"strip", [](Interp&, const Value& s, Args& a, int) { return Value::str(py_strip(s.s, arg(a, 0, "chars", Value::none()), true, true)); }},
        {"lstrip", [](Interp&, const Value& s, Args& a, int) { return Value::str(py_strip(s.s, arg(a, 0, "chars", Value::none()), true, false)); }},
        {"rstrip", [](Interp&, const Value& s, Args& a, int) { return Value::str(py_strip(s.s, arg(a, 0, "chars", Value::none()), false, true)); }},
        {"split", [](Interp& in, const Value& s, Args& a, int line) { return in.split_value(s, a, false, line); }},
        {"rsplit", [](Interp& in, const Value& s, Args& a, int line) { return in.split_value(s, a, true, line); }},
        {"splitlines", [](Interp& in, const Value& s, Args& a, int line) {
           ValueList out;
           for (auto& x : py_splitlines(s.s, truthy(arg(a, 0, "keepends", Value::boolean(false))))) out.push_back(Value::str(x));
           return in.make_list(std::move(out), Seq::List, line);
         }},
        {"upper", [](Interp&, const Value& s, Args&, int line) { return Value::str(str_case(s.s, true, line)); }},
        {"lower", [](Interp&, const Value& s, Args&, int line) { return Value::str(str_case(s.s, false, line)); }},
        {"title", [](Interp&, const Value& s, Args&, int line) { return Value::str(py_title(s.s, line)); }},
        {"capitalize", [](Interp&, const Value& s, Args&, int line) { return Value::str(py_capitalize(s.s, line)); }},
        {"replace", [](Interp& in, const Value& s, Args& a, int line) {
           const std::string& old = str_arg(arg(a, 0, "old", Value()), "replace() argument 1", line);
           const std::string& nw = str_arg(arg(a, 1, "new", Value()), "replace() argument 2", line);
           const Value cnt = arg(a, 2, "count", Value::integer(-1));
           return in.new_str(py_replace(s.s, old, nw, cnt.as_int(), in.max_string_bytes()), line);
         }},
        {"find", [](Interp&, const Value& s, Args& a, int line) { return find_value(s, a, false, false, line); }},
        {"rfind", [](Interp&, const Value& s, Args& a, int line) { return find_value(s, a, true, false, line); }},
        {"index", [](Interp&, const Value& s, Args& a, int line) { return find_value(s, a, false, true, line); }},
        {"rindex", [](Interp&, const Value& s, Args& a, int line) { return find_value(s, a, true, true, line); }},
        {"count", [](Interp&, const Value& s, Args& a, int line) {
           const std::string& sub = str_arg(arg(a, 0, "sub", Value()), "count() argument", line);
           if (sub.empty()) return Value::integer(static_cast<std::int64_t>(cp_count(s.s)) + 1);
           std::int64_t n = 0;
           for (std::size_t k = s.s.find(sub); k != std::string::npos; k = s.s.find(sub, k + sub.size())) ++n;
           return Value::integer(n);
         }},
        {"join", [](Interp& in, const Value& s, Args& a, int line) {
           std::string out;
           bool first = true;
           for (const auto& x : in.iterate(arg(a, 0, "iterable", Value()), line)) {
             if (!first) out += s.s;
             first = false;
             out += str_arg(x, "join() item", line);
             in.check_len(out.size(), line);
           }
           return in.new_str(std::move(out), line);
         }},
        {"format", [](Interp& in, const Value& s, Args& a, int line) { return in.new_str(in.str_format(s.s, a, line), line); }},
        {"isdigit", [](Interp&, const Value& s, Args&, int line) { return ascii_class(s, line, [](char c) { return is_digit(c); }); }},
        {"isalpha", [](Interp&, const Value& s, Args&, int line) { return ascii_class(s, line, [](char c) { return (c | 32) >= 'a' && (c | 32) <= 'z'; }); }},
        {"isalnum", [](Interp&, const Value& s, Args&, int line) { return ascii_class(s, line, [](char c) { return is_digit(c) || ((c | 32) >= 'a' && (c | 32) <= 'z'); }); }},
        {"isspace", [](Interp&, const Value& s, Args&, int) {
           return Value::boolean(!s.s.empty() && skip_spaces(s.s, 0) == s.s.size());
         }},
        {"islower", [](Interp&, const Value& s, Args&, int line) { return case_test(s, false, line); }},
        {"isupper", [](Interp&, const Value& s, Args&, int line) { return case_test(s, true, line); }},
    };
    auto it = kMethods.find(name);
    if (it == kMethods.end()) return std::nullopt;
    return bound(it->first.c_str(), obj, it->second);
  }

  static Value ascii_class(const Value& s, int line, bool (*pred)(char)) {
    if (!is_ascii(s.s)) fail(Kind::Unsupported, line, "str.isdigit/isalpha/isalnum on non-ASCII text");
    if (s.s.empty()) return Value::boolean(false);
    for (char c : s.s)
      if (!pred(c)) return Value::boolean(false);
    return Value::boolean(true);
  }

  static Value case_test(const Value& s, bool upper, int line) {
    bool cased = false;
    for (std::size_t i = 0; i < s.s.size();) {
      std::uint32_t cp;
      i += detail::decode_cp(s.s, i, cp);
      const bool u = cp_is_cased_upper(cp), l = cp_is_cased_lower(cp);
      if (!u && !l) {
        (void)case_map(cp, true, line);  // refuses characters we cannot classify
        continue;
      }
      if (upper ? l : u) return Value::boolean(false);
      cased = true;
    }
    return Value::boolean(cased);
  }

  static bool affix(const Value& s, Args& a, bool prefix, int line) {
    if (a.pos.size() != 1) fail(Kind::Unsupported, line, "startswith/endswith with start/end arguments");
    const Value& p = a.pos[0];
    auto test = [&](const std::string& x) {
      if (x.size() > s.s.size()) return false;
      return prefix ? s.s.compare(0, x.size(), x) == 0 : s.s.compare(s.s.size() - x.size(), x.size(), x) == 0;
    };
    if (p.t == VT::Str) return test(p.s);
    if (p.t == VT::List && p.seq == Seq::Tuple) {
      for (const auto& x : *p.l)
        if (test(str_arg(x, "startswith/endswith tuple item", line))) return true;
      return false;
    }
    fail(Kind::Runtime, line, std::string("startswith/endswith first arg must be str or a tuple of str, not ") + type_name(p));
  }

  static Value find_value(const Value& s, Args& a, bool right, bool raise, int line) {
    if (a.pos.size() != 1) fail(Kind::Unsupported, line, "find/index with start/end arguments");
    const std::string& sub = str_arg(a.pos[0], "find() argument", line);
    const std::size_t k = right ? s.s.rfind(sub) : s.s.find(sub);
    if (k == std::string::npos) {
      if (raise) fail(Kind::Runtime, line, "substring not found");
      return Value::integer(-1);
    }
    return Value::integer(static_cast<std::int64_t>(cp_count(std::string_view(s.s).substr(0, k))));
  }

  Value split_value(const Value& s, Args& a, bool right, int line) {
    const Value sep = arg(a, 0, "sep", Value::none());
    const Value max = arg(a, 1, "maxsplit", Value::integer(-1));
    ValueList out;
    for (auto& x : py_split(s.s, sep, max.as_int(), right, line)) out.push_back(Value::str(std::move(x)));
    step(out.size(), line);
    return make_list(std::move(out), Seq::List, line);
  }

  static std::string py_title(std::string_view s, int line) {
    std::string out;
    bool prev_cased = false;
    for (std::size_t i = 0; i < s.size();) {
      std::uint32_t cp;
      i += detail::decode_cp(s, i, cp);
      const bool cased = cp_is_cased_upper(cp) || cp_is_cased_lower(cp);
      out += case_map(cp, !prev_cased, line);
      prev_cased = cased;
    }
    return out;
  }

  static std::string py_capitalize(std::string_view s, int line) {
    std::string out;
    bool first = true;
    for (std::size_t i = 0; i < s.size();) {
      std::uint32_t cp;
      i += detail::decode_cp(s, i, cp);
      out += case_map(cp, first, line);
      first = false;
    }
    return out;
  }

  // str.format with {} / {0} / {name} fields and {{ }}; no format specs.
  std::string str_format(const std::string& fmt, Args& a, int line) {
    std::string out;
    std::size_t auto_index = 0;
    for (std::size_t i = 0; i < fmt.size(); ++i) {
      const char c = fmt[i];
      if (c == '}' ) {
        if (i + 1 < fmt.size() && fmt[i + 1] == '}') ++i;
        else fail(Kind::Runtime, line, "single '}' encountered in format string");
        out += '}';
        continue;
      }
      if (c != '{') {
        out += c;
        continue;
      }
      if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
        out += '{', ++i;
        continue;
      }
      const std::size_t close = fmt.find('}', i);
      if (close == std::string::npos) fail(Kind::Runtime, line, "single '{' encountered in format string");
      const std::string field = fmt.substr(i + 1, close - i - 1);
      if (field.find_first_of(":!.[") != std::string::npos)
        fail(Kind::Unsupported, line, "str.format field '{" + field + "}' (format specs, conversions, attributes)");
      const Value* v = nullptr;
      if (field.empty()) {
        if (auto_index >= a.pos.size()) fail(Kind::Runtime, line, "str.format: not enough positional arguments");
        v = &a.pos[auto_index++];
      } else if (std::all_of(field.begin(), field.end(), is_digit)) {
        const std::size_t k = std::stoul(field);
        if (k >= a.pos.size()) fail(Kind::Runtime, line, "str.format: positional argument " + field + " missing");
        v = &a.pos[k];
      } else {
        v = kwarg(a, field.c_str());
        if (!v) fail(Kind::Runtime, line, "str.format: keyword argument '" + field + "' missing");
      }
      out += to_str(*v, line);
      i = close;
    }
    return out;
  }

  std::optional<Value> dict_method(const Value& obj, const std::string& name, int line) {
    if (name == "items" || name == "keys" || name == "values") {
      const int which = name == "items" ? 0 : name == "keys" ? 1 : 2;
      return make_func(name, [obj, which](Interp& in, Args&, int l) {
        ValueList out;
        for (const auto& [k, v] : obj.d->items) {
          if (which == 0) out.push_back(in.make_list({k, v}, Seq::Tuple, l));
          else if (which == 1) out.push_back(k);
          else out.push_back(v);
        }
        return in.make_list(std::move(out), Seq::View, l);
      });
    }
    if (name == "get")
      return make_func(name, [obj](Interp&, Args& a, int l) {
        const Value key = arg(a, 0, "key", Value());
        const Value dflt = arg(a, 1, "default", Value::none());
        (void)l;
        const Value* v = obj.d->find(key);
        return v ? *v : dflt;
      });
    static const char* const kUnsafe[] = {"pop", "popitem", "update", "setdefault", "clear"};
    for (const char* u : kUnsafe)
      if (name == u) fail(Kind::Runtime, line, "access to attribute '" + name + "' of 'dict' object is unsafe");
    if (name == "copy" || name == "fromkeys") fail(Kind::Unsupported, line, "the dict method '" + name + "'");
    return std::nullopt;
  }

  // --- filters ---

  Value apply_filter(const Expr& f, Value subject, const FrameP& frame) {
    Args args = eval_args(f, 1, frame);
    return filter(f.name, std::move(subject), args, f.line);
  }

  // A value's attribute for selectattr/map/sort/...: dotted names, integer parts.
  Value attr_path(const Value& v, const std::string& path, int line) {
    Value cur = v;
    std::size_t start = 0;
    while (true) {
      const std::size_t dot = path.find('.', start);
      const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (!part.empty() && std::all_of(part.begin(), part.end(), is_digit)) cur = get_item(cur, Value::integer(std::stoll(part)), line);
      else cur = get_item(cur, Value::str(part), line);
      if (dot == std::string::npos) return cur;
      start = dot + 1;
    }
  }

  // Sort key: lower-cased strings unless case-sensitive.
  Value sort_key(const Value& v, bool case_sensitive, int line) {
    if (!case_sensitive && v.t == VT::Str) return Value::str(str_case(v.s, false, line));
    return v;
  }

  static std::int64_t len_of(const Value& v, int line) {
    switch (v.t) {
      case VT::Undefined: return 0;
      case VT::Str: return static_cast<std::int64_t>(cp_count(v.s));
      case VT::List:
        if (v.seq == Seq::Gen) fail(Kind::Runtime, line, "object of type 'generator' has no len()");
        return static_cast<std::int64_t>(v.l->size());
      case VT::Dict:
        if (v.ns) fail(Kind::Runtime, line, "object of type 'Namespace' has no len()");
        return static_cast<std::int64_t>(v.d->items.size());
      default: fail(Kind::Runtime, line, std::string("object of type '") + type_name(v) + "' has no len()");
    }
  }

  Value filter(const std::string& name, Value v, Args& a, int line) {
    step(1, line);
    bool markup_arg = false;
    for (const auto& x : a.pos) markup_arg = markup_arg || is_markup(x);
    for (const auto& [k, x] : a.kw) markup_arg = markup_arg || is_markup(x);
    if (is_markup(v) || markup_arg) {
      // Filters whose result jinja2 gives as for a plain string (or returns
      // the subject or an argument as it is), with autoescape off.
      static const char* const kAsText[] = {"safe", "e", "escape", "string", "d", "default", "length", "count",
                                            "join", "list", "tojson", "title"};
      bool as_text = false;
      for (const char* f : kAsText) as_text = as_text || name == f;
      const bool keeps_markup =
          !markup_arg && a.pos.empty() && a.kw.empty() &&
          (name == "trim" || name == "upper" || name == "lower" || name == "capitalize");
      if (keeps_markup) {
        v.safe = false;
        Value r = filter(name, std::move(v), a, line);
        r.safe = true;  // soft_str(value).strip() etc. return a Markup
        return r;
      }
      if (!as_text) markup_error(line, "the filter '" + name + "'" + (markup_arg ? " with a Markup argument" : ""));
    }
    if (name == "trim") return Value::str(py_strip(to_str(v, line), arg(a, 0, "chars", Value::none()), true, true));
    if (name == "length" || name == "count") return Value::integer(len_of(v, line));
    if (name == "upper") return Value::str(str_case(to_str(v, line), true, line));
    if (name == "lower") return Value::str(str_case(to_str(v, line), false, line));
    if (name == "string") return v.t == VT::Str ? v : new_str(to_str(v, line), line);
    if (name == "safe" || name == "e" || name == "escape") {
      if (is_markup(v)) return v;
      Value r = name == "safe" ? (v.t == VT::Str ? v : new_str(to_str(v, line), line))
                               : new_str(escape_html(to_str(v, line)), line);
      r.safe = true;
      return r;
    }
    if (name == "capitalize") return Value::str(py_capitalize(to_str(v, line), line));
    if (name == "title") {
      // Jinja's own: words start after runs of [-\s({[<].
      const std::string s = to_str(v, line);
      std::string out;
      bool start = true;
      for (std::size_t i = 0; i < s.size();) {
        std::uint32_t cp;
        const std::size_t len = detail::decode_cp(s, i, cp);
        const bool sep = detail::is_python_space(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
        out += sep ? s.substr(i, len) : case_map(cp, start, line);
        start = sep;
        i += len;
      }
      return Value::str(std::move(out));
    }
    if (name == "replace") {
      const std::string s = to_str(v, line);
      const std::string old = to_str(arg(a, 0, "old", Value()), line);
      const std::string nw = to_str(arg(a, 1, "new", Value()), line);
      const Value cnt = arg(a, 2, "count", Value::none());
      return new_str(py_replace(s, old, nw, cnt.t == VT::None ? -1 : cnt.as_int(), max_string_bytes()), line);
    }
    if (name == "default" || name == "d") {
      const Value dflt = arg(a, 0, "default_value", Value::str(""));
      const bool boolean = truthy(arg(a, 1, "boolean", Value::boolean(false)));
      if (v.t == VT::Undefined || (boolean && !truthy(v))) return dflt;
      return v;
    }
    if (name == "first") {
      if (v.t == VT::Undefined) undefined_error(v, line);
      const ValueList items = iterate(v, line);
      return items.empty() ? Value::undefined("the first item of an empty sequence") : items.front();
    }
    if (name == "last") {
      if (v.t == VT::List && v.seq == Seq::Gen) fail(Kind::Runtime, line, "'generator' object is not reversible");
      if (v.t == VT::Dict) fail(Kind::Runtime, line, "'dict' object is not reversible");
      const ValueList items = iterate(v, line);
      return items.empty() ? Value::undefined("the last item of an empty sequence") : items.back();
    }
    if (name == "join") {
      const std::string sep = to_str(arg(a, 0, "d", Value::str("")), line);
      const Value attr = arg(a, 1, "attribute", Value::none());
      std::string out;
      bool first = true;
      for (const auto& x : iterate(v, line)) {
        if (!first) out += sep;
        first = false;
        out += to_str(attr.t == VT::None ? x : attr_path(x, to_str(attr, line), line), line);
        check_len(out.size(), line);
      }
      return new_str(std::move(out), line);
    }
    if (name == "list") return make_list(iterate(v, line), Seq::List, line);
    if (name == "int") {
      const Value dflt = arg(a, 0, "default", Value::integer(0));
      if (a.pos.size() > 1 || kwarg(a, "base")) fail(Kind::Unsupported, line, "the int filter's base argument");
      if (v.t == VT::Int) return v;
      if (v.t == VT::Bool) return Value::integer(v.as_int());
      if (v.t == VT::Float) return std::isfinite(v.f) ? Value::integer(static_cast<std::int64_t>(v.f)) : dflt;
      if (v.t == VT::Str) {
        const std::string s = py_strip(v.s, Value::none(), true, true);
        std::int64_t x = 0;
        std::string digits = s;
        digits.erase(std::remove(digits.begin(), digits.end(), '_'), digits.end());
        const char* b = digits.data() + (!digits.empty() && digits[0] == '+' ? 1 : 0);
        auto r = std::from_chars(b, digits.data() + digits.size(), x);
        if (r.ec == std::errc() && r.ptr == digits.data() + digits.size() && !digits.empty()) return Value::integer(x);
        char* end = nullptr;
        const double d = std::strtod(s.c_str(), &end);
        if (!s.empty() && end == s.c_str() + s.size() && std::isfinite(d)) return Value::integer(static_cast<std::int64_t>(d));
      }
      return dflt;
    }
    if (name == "float") {
      const Value dflt = arg(a, 0, "default", Value::number(0.0));
      if (v.is_num()) return Value::number(v.as_double());
      if (v.t == VT::Str) {
        const std::string s = py_strip(v.s, Value::none(), true, true);
        char* end = nullptr;
        const double d = std::strtod(s.c_str(), &end);
        if (!s.empty() && end == s.c_str() + s.size()) return Value::number(d);
      }
      return dflt;
    }
    if (name == "abs") {
      if (v.t == VT::Float) return Value::number(std::fabs(v.f));
      if (v.t == VT::Int || v.t == VT::Bool) return Value::integer(std::llabs(v.as_int()));
      fail(Kind::Runtime, line, std::string("bad operand type for abs(): '") + type_name(v) + "'");
    }
    if (name == "round") {
      const std::int64_t precision = arg(a, 0, "precision", Value::integer(0)).as_int();
      const std::string method = to_str(arg(a, 1, "method", Value::str("common")), line);
      if (!v.is_num()) fail(Kind::Runtime, line, "round: a number is required");
      const double scale = std::pow(10.0, static_cast<double>(precision));
      const double x = v.as_double() * scale;
      double r;
      if (method == "common") r = std::round(x);
      else if (method == "floor") r = std::floor(x);
      else if (method == "ceil") r = std::ceil(x);
      else fail(Kind::Runtime, line, "round: method must be common, ceil or floor");
      if (method == "common" && precision != 0) fail(Kind::Unsupported, line, "round with a precision (Python's decimal rounding)");
      return Value::number(r / scale);
    }
    if (name == "tojson") return tojson(v, a, line);
    if (name == "items") {
      if (v.t == VT::Undefined) return make_list({}, Seq::Gen, line);
      if (v.t != VT::Dict || v.ns) fail(Kind::Runtime, line, "items: can only get item pairs from a mapping");
      ValueList out;
      for (const auto& [k, x] : v.d->items) out.push_back(make_list({k, x}, Seq::Tuple, line));
      return make_list(std::move(out), Seq::Gen, line);
    }
    if (name == "dictsort") {
      if (v.t != VT::Dict || v.ns) fail(Kind::Runtime, line, "dictsort: a mapping is required");
      const bool cs = truthy(arg(a, 0, "case_sensitive", Value::boolean(false)));
      const std::string by = to_str(arg(a, 1, "by", Value::str("key")), line);
      const bool rev = truthy(arg(a, 2, "reverse", Value::boolean(false)));
      const int pos = by == "key" ? 0 : by == "value" ? 1 : -1;
      if (pos < 0) fail(Kind::Runtime, line, "dictsort: you can only sort by either \"key\" or \"value\"");
      ValueList out;
      for (const auto& [k, x] : v.d->items) out.push_back(make_list({k, x}, Seq::Tuple, line));
      sort_values(out, [&](const Value& p) { return sort_key((*p.l)[static_cast<std::size_t>(pos)], cs, line); }, rev, line);
      return make_list(std::move(out), Seq::List, line);
    }
    if (name == "sort") {
      const bool rev = truthy(arg(a, 0, "reverse", Value::boolean(false)));
      const bool cs = truthy(arg(a, 1, "case_sensitive", Value::boolean(false)));
      const Value attr = arg(a, 2, "attribute", Value::none());
      ValueList out = iterate(v, line);
      sort_values(out, [&](const Value& x) {
        return sort_key(attr.t == VT::None ? x : attr_path(x, to_str(attr, line), line), cs, line);
      }, rev, line);
      return make_list(std::move(out), Seq::List, line);
    }
    if (name == "reverse") {
      if (v.t == VT::Str) {
        return slice(v, Value::none(), Value::none(), Value::integer(-1), line);
      }
      if (v.t == VT::List && v.seq == Seq::Gen) fail(Kind::Runtime, line, "reverse of a generator");
      ValueList out = iterate(v, line);
      std::reverse(out.begin(), out.end());
      return make_list(std::move(out), Seq::Gen, line);
    }
    if (name == "unique") {
      const bool cs = truthy(arg(a, 0, "case_sensitive", Value::boolean(false)));
      const Value attr = arg(a, 1, "attribute", Value::none());
      ValueList out, seen;
      for (const auto& x : iterate(v, line)) {
        const Value key = sort_key(attr.t == VT::None ? x : attr_path(x, to_str(attr, line), line), cs, line);
        bool dup = false;
        for (const auto& s : seen) {
          step(1, line);
          if (py_eq(s, key)) dup = true;
        }
        if (dup) continue;
        seen.push_back(key);
        out.push_back(x);
      }
      return make_list(std::move(out), Seq::Gen, line);
    }
    if (name == "min" || name == "max") {
      const bool cs = truthy(arg(a, 0, "case_sensitive", Value::boolean(false)));
      const Value attr = arg(a, 1, "attribute", Value::none());
      const ValueList items = iterate(v, line);
      if (items.empty()) return Value::undefined("min/max of an empty sequence");
      std::size_t best = 0;
      auto key = [&](const Value& x) { return sort_key(attr.t == VT::None ? x : attr_path(x, to_str(attr, line), line), cs, line); };
      Value best_key = key(items[0]);
      for (std::size_t k = 1; k < items.size(); ++k) {
        Value kk = key(items[k]);
        if (name == "min" ? py_lt(kk, best_key, line) : py_lt(best_key, kk, line)) best = k, best_key = std::move(kk);
      }
      return items[best];
    }
    if (name == "sum") {
      const Value attr = arg(a, 0, "attribute", Value::none());
      Value total = arg(a, 1, "start", Value::integer(0));
      for (const auto& x : iterate(v, line))
        total = binop("+", total, attr.t == VT::None ? x : attr_path(x, to_str(attr, line), line), line);
      return total;
    }
    if (name == "wordcount") {
      fail(Kind::Unsupported, line, "the wordcount filter");
    }
    if (name == "indent") return indent(v, a, line);
    if (name == "format") {
      if (!a.kw.empty()) fail(Kind::Unsupported, line, "the format filter with keyword arguments");
      ValueList tuple = a.pos;
      return new_str(percent_format(to_str(v, line), make_list(std::move(tuple), Seq::Tuple, line), line), line);
    }
    // map/select/reject/selectattr/rejectattr yield nothing for a false value
    // (Jinja checks `if value:` before iterating, so none|map(...) is empty).
    if ((name == "map" || name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") &&
        !truthy(v))
      return make_list({}, Seq::Gen, line);
    if (name == "map") {
      ValueList out;
      if (const Value* attr = kwarg(a, "attribute")) {
        const Value* dflt = kwarg(a, "default");
        for (const auto& x : iterate(v, line)) {
          Value r = attr_path(x, to_str(*attr, line), line);
          if (r.t == VT::Undefined && dflt) r = *dflt;
          out.push_back(std::move(r));
        }
      } else {
        if (a.pos.empty()) fail(Kind::Runtime, line, "map requires a filter argument");
        const std::string fname = to_str(a.pos[0], line);
        Args rest;
        rest.pos.assign(a.pos.begin() + 1, a.pos.end());
        rest.kw = a.kw;
        for (const auto& x : iterate(v, line)) {
          Args copy = rest;
          out.push_back(filter(fname, x, copy, line));
        }
      }
      return make_list(std::move(out), Seq::Gen, line);
    }
    if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
      const bool attr_mode = name == "selectattr" || name == "rejectattr";
      const bool want = name == "select" || name == "selectattr";
      std::size_t k = 0;
      std::string attr;
      if (attr_mode) {
        if (a.pos.empty()) fail(Kind::Runtime, line, name + " requires an attribute name");
        attr = to_str(a.pos[k++], line);
      }
      std::optional<std::string> test;
      if (k < a.pos.size()) test = to_str(a.pos[k++], line);
      Args targs;
      targs.pos.assign(a.pos.begin() + static_cast<std::ptrdiff_t>(std::min(k, a.pos.size())), a.pos.end());
      targs.kw = a.kw;
      ValueList out;
      for (const auto& x : iterate(v, line)) {
        const Value subject = attr_mode ? attr_path_soft(x, attr, line) : x;
        const bool r = test ? apply_test(*test, subject, targs, line) : truthy(subject);
        if (r == want) out.push_back(x);
      }
      return make_list(std::move(out), Seq::Gen, line);
    }
    static const char* const kJinjaOnly[] = {"attr", "batch", "center", "filesizeformat", "forceescape", "pprint",
                                             "random", "slice", "striptags", "truncate", "urlencode", "urlize",
                                             "wordwrap", "xmlattr", "groupby"};
    for (const char* j : kJinjaOnly)
      if (name == j) fail(Kind::Unsupported, line, "the filter '" + name + "'");
    fail(Kind::Syntax, line, "no filter named '" + name + "'");
  }

  // Like attr_path, but an undefined object or missing attribute yields undefined
  // (selectattr on items lacking the attribute).
  Value attr_path_soft(const Value& x, const std::string& attr, int line) {
    if (x.t == VT::Undefined) return x;
    return attr_path(x, attr, line);
  }

  template <class KeyFn>
  void sort_values(ValueList& items, KeyFn key, bool reverse, int line) {
    std::vector<std::pair<Value, std::size_t>> keyed;
    keyed.reserve(items.size());
    for (std::size_t k = 0; k < items.size(); ++k) keyed.emplace_back(key(items[k]), k);
    step(items.size() * 8, line);
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
      return reverse ? py_lt(y.first, x.first, line) : py_lt(x.first, y.first, line);
    });
    ValueList out;
    for (const auto& [k, idx] : keyed) out.push_back(std::move(items[idx]));
    items = std::move(out);
  }

  Value tojson(const Value& v, Args& a, int line) {
    JsonOptions o;
    o.ensure_ascii = truthy(arg(a, 0, "ensure_ascii", Value::boolean(false)));
    const Value indent = arg(a, 1, "indent", Value::none());
    const Value seps = arg(a, 2, "separators", Value::none());
    o.sort_keys = truthy(arg(a, 3, "sort_keys", Value::boolean(false)));
    if (indent.t == VT::Int) o.indent = std::string(static_cast<std::size_t>(std::clamp<std::int64_t>(indent.i, 0, 64)), ' ');
    else if (indent.t == VT::Str) o.indent = indent.s;
    else if (indent.t != VT::None) fail(Kind::Runtime, line, "tojson: indent must be an integer or a string");
    if (o.indent) o.item_sep = ",";
    if (seps.t == VT::List && seps.l->size() == 2 && (*seps.l)[0].t == VT::Str && (*seps.l)[1].t == VT::Str) {
      o.item_sep = (*seps.l)[0].s;
      o.key_sep = (*seps.l)[1].s;
    } else if (seps.t != VT::None) {
      fail(Kind::Runtime, line, "tojson: separators must be a pair of strings");
    }
    std::string out;
    json_dump(v, o, 0, out, line);
    return new_str(std::move(out), line);
  }

  Value indent(const Value& v, Args& a, int line) {
    const Value width = arg(a, 0, "width", Value::integer(4));
    const bool first = truthy(arg(a, 1, "first", Value::boolean(false)));
    const bool blank = truthy(arg(a, 2, "blank", Value::boolean(false)));
    std::string ind;
    if (width.t == VT::Str) ind = width.s;
    else ind = std::string(static_cast<std::size_t>(std::clamp<std::int64_t>(width.as_int(), 0, 1 << 16)), ' ');
    const std::string s = to_str(v, line) + "\n";
    const std::vector<std::string> lines = py_splitlines(s, false);
    std::string rv;
    if (blank) {
      for (std::size_t k = 0; k < lines.size(); ++k) {
        if (k) rv += "\n" + ind;
        rv += lines[k];
      }
    } else {
      rv = lines.empty() ? std::string() : lines[0];
      for (std::size_t k = 1; k < lines.size(); ++k) {
        rv += "\n";
        if (!lines[k].empty()) rv += ind;
        rv += lines[k];
        check_len(rv.size(), line);
      }
    }
    if (first) rv = ind + rv;
    return new_str(std::move(rv), line);
  }

  // --- tests ---

  bool apply_test(const std::string& name, const Value& v, Args& a, int line) {
    auto other = [&]() -> Value {
      if (a.pos.empty()) fail(Kind::Runtime, line, "the test '" + name + "' needs an argument");
      return a.pos[0];
    };
    if (name == "defined") return v.t != VT::Undefined;
    if (name == "undefined") return v.t == VT::Undefined;
    if (name == "none") return v.t == VT::None;
    if (name == "boolean") return v.t == VT::Bool;
    if (name == "true") return v.t == VT::Bool && v.b;
    if (name == "false") return v.t == VT::Bool && !v.b;
    if (name == "integer") return v.t == VT::Int;
    if (name == "float") return v.t == VT::Float;
    if (name == "number") return v.is_num();
    if (name == "string") return v.t == VT::Str;
    if (name == "mapping") return v.t == VT::Dict && !v.ns;
    if (name == "iterable") return v.t == VT::Str || v.t == VT::List || (v.t == VT::Dict && !v.ns) || v.t == VT::Undefined;
    if (name == "sequence")
      return v.t == VT::Str || (v.t == VT::List && v.seq != Seq::Gen) || (v.t == VT::Dict && !v.ns) || v.t == VT::Undefined;
    if (name == "callable") return v.t == VT::Func;
    if (name == "sameas") {
      const Value o = other();
      if (v.t != o.t) return false;
      switch (v.t) {
        case VT::None:
        case VT::Undefined: return v.t == VT::None;
        case VT::Bool: return v.b == o.b;
        case VT::List: return v.l == o.l;
        case VT::Dict: return v.d == o.d;
        default: return py_eq(v, o) && (v.t == VT::Int ? (v.i >= -5 && v.i <= 256) : false);
      }
    }
    if (name == "odd" || name == "even" || name == "divisibleby") {
      if (v.t == VT::Undefined) undefined_error(v, line);
      const Value div = name == "divisibleby" ? other() : Value::integer(2);
      const Value m = binop("%", v, div, line);
      if (name == "odd") return py_eq(m, Value::integer(1));
      return py_eq(m, Value::integer(0));
    }
    if (name == "eq" || name == "equalto" || name == "==") return py_eq(v, other());
    if (name == "ne" || name == "!=") return !py_eq(v, other());
    if (name == "lt" || name == "lessthan" || name == "<") return compare("<", v, other(), line);
    if (name == "le" || name == "<=") return compare("<=", v, other(), line);
    if (name == "gt" || name == "greaterthan" || name == ">") return compare(">", v, other(), line);
    if (name == "ge" || name == ">=") return compare(">=", v, other(), line);
    if (name == "in") return contains(other(), v, line);
    if (name == "lower" || name == "upper") {
      if (v.t != VT::Str) return false;
      return truthy(case_test(v, name == "upper", line));
    }
    if (name == "escaped") return false;
    if (name == "filter" || name == "test") fail(Kind::Unsupported, line, "the test '" + name + "'");
    fail(Kind::Syntax, line, "no test named '" + name + "'");
  }

  std::optional<std::tm> now() const { return now_; }

 private:
  Limits lim_;
  LiveItems live_items_ = std::make_shared<std::size_t>(0);
  std::optional<std::tm> now_;
  std::uint64_t work_ = 0;
  int depth_ = 0;
};

FrameP make_globals() {
  auto g = std::make_shared<Frame>();
  g->vars["raise_exception"] = make_func("raise_exception", [](Interp&, Args& a, int line) -> Value {
    fail(Kind::Raised, line, a.pos.empty() ? std::string("raise_exception()") : to_str(a.pos[0], line));
  });
  g->vars["range"] = make_func("range", [](Interp& in, Args& a, int line) {
    if (a.pos.empty() || a.pos.size() > 3 || !a.kw.empty()) fail(Kind::Runtime, line, "range expects 1 to 3 integer arguments");
    for (const auto& x : a.pos)
      if (x.t != VT::Int && x.t != VT::Bool) fail(Kind::Runtime, line, "range: integer arguments required");
    std::int64_t start = 0, stop, stp = 1;
    if (a.pos.size() == 1) stop = a.pos[0].as_int();
    else start = a.pos[0].as_int(), stop = a.pos[1].as_int();
    if (a.pos.size() == 3) stp = a.pos[2].as_int();
    if (stp == 0) fail(Kind::Runtime, line, "range() arg 3 must not be zero");
    // The length first: a huge range is refused before anything is allocated.
    const long double span = stp > 0 ? static_cast<long double>(stop) - start : static_cast<long double>(start) - stop;
    const long double count = span <= 0 ? 0 : std::ceil(span / std::fabs(static_cast<long double>(stp)));
    if (count > static_cast<long double>(kMaxListItems))
      fail(Kind::Limit, line, "range() of more than " + std::to_string(kMaxListItems) + " items");
    in.step(static_cast<std::uint64_t>(count), line);
    ValueList out;
    for (std::int64_t k = start; stp > 0 ? k < stop : k > stop; k += stp) out.push_back(Value::integer(k));
    return make_list(std::move(out), Seq::View, line);
  });
  auto dict_fn = [](bool ns) {
    return [ns](Interp&, Args& a, int line) {
      auto d = std::make_shared<Dict>();
      for (const auto& p : a.pos) {
        if (p.t != VT::Dict || p.ns) fail(Kind::Unsupported, line, "namespace()/dict() with a positional argument that is not a dict");
        for (const auto& [k, x] : p.d->items) d->set(k, x);
      }
      for (const auto& [k, x] : a.kw) {
        if (ns && !k.empty() && k[0] == '_')
          fail(Kind::Runtime, line, "chat templates cannot store underscore-prefixed attributes on a namespace");
        d->set(k, x);
      }
      Value v = make_dict(std::move(d), line);
      if (ns) {
        if (v.has_ns) fail(Kind::Unsupported, line, "storing a namespace inside a namespace");
        v.ns = true, v.has_ns = true;
      }
      return v;
    };
  };
  g->vars["namespace"] = make_func("namespace", dict_fn(true));
  g->vars["dict"] = make_func("dict", dict_fn(false));
  g->vars["strftime_now"] = make_func("strftime_now", [](Interp& in, Args& a, int line) {
    const std::string fmt = to_str(a.pos.empty() ? Value() : a.pos[0], line);
    std::tm tm{};
    if (auto fixed = in.now()) {
      tm = *fixed;
    } else {
      const std::time_t t = std::time(nullptr);
      localtime_r(&t, &tm);
    }
    char buf[512];
    const std::size_t n = std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
    if (n == 0 && !fmt.empty()) fail(Kind::Unsupported, line, "strftime_now: format too long or empty result");
    return Value::str(std::string(buf, n));
  });
  return g;
}

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
