// Part of generate/jinja.cpp, included once inside its anonymous namespace (the
// includes, `fail` and the earlier parts come from there): UTF-8 and Python
// character classes; the Python-like value type, str()/repr(), json.dumps and
// values from JSON.
#pragma once

// NOLINTBEGIN(misc-definitions-in-headers)

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

// NOLINTEND(misc-definitions-in-headers)
