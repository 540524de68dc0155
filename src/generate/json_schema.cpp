// JSON Schema -> GBNF; see json_schema.h and gpt/generate.h for what is supported.
#include "generate/json_schema.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <vector>

#include "gpt/error.h"
#include "gpt/generate.h"

namespace gpt {

namespace detail {

std::string gbnf_literal(std::string_view text) {
  std::string out = "\"";
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

}  // namespace detail

namespace {

using json = nlohmann::ordered_json;
using detail::gbnf_literal;

// Whitespace between JSON tokens: none, a space, or a newline and a short indent.
constexpr const char* kPrimitives =
    "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n"
    "string ::= \"\\\"\" char* \"\\\"\"\n"
    "char ::= [^\"\\\\\\x00-\\x1F\\x7F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" hex-nonsurrogate)\n"
    "hex-nonsurrogate ::= [0-9a-cA-CefEF] hex hex hex | [dD] [0-7] hex hex\n"
    "hex ::= [0-9a-fA-F]\n"
    "integer ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15})\n"
    "number ::= integer (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?\n"
    "boolean ::= \"true\" | \"false\"\n"
    "null ::= \"null\"\n"
    "value ::= object | array | string | number | boolean | null\n"
    "object ::= \"{\" ws (string ws \":\" ws value ws (\",\" ws string ws \":\" ws value ws)*)? \"}\"\n"
    "array ::= \"[\" ws (value ws (\",\" ws value ws)*)? \"]\"\n";

const std::set<std::string> kAnnotations = {"title", "description", "default", "examples", "$schema",
                                            "$id", "$comment", "deprecated", "readOnly", "writeOnly"};

std::string type_of(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    default: {
      const double d = v.get<double>();
      return d == static_cast<double>(static_cast<long long>(d)) ? "integer" : "number";
    }
  }
}

class Converter {
 public:
  explicit Converter(json root) : root_(std::move(root)) {}

  std::string run() {
    const std::string top = visit(root_, "", "root-value");
    std::string out = "root ::= " + top + "\n";
    for (const auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
    return out + kPrimitives;
  }

 private:
  [[noreturn]] static void fail(const std::string& keyword, const std::string& ptr, const std::string& msg) {
    throw SchemaError(keyword, ptr, msg);
  }

  std::string add(const std::string& hint, const std::string& body) {
    auto it = by_body_.find(body);
    if (it != by_body_.end()) return it->second;
    std::string name = hint;
    for (int k = 2; rules_.count(name) || reserved(name); ++k) name = hint + "-" + std::to_string(k);
    rules_[name] = body;
    by_body_[body] = name;
    return name;
  }
  static bool reserved(const std::string& n) {
    static const std::set<std::string> r = {"root", "ws", "string", "char", "hex", "hex-nonsurrogate", "integer",
                                            "number", "boolean", "null", "value", "object", "array"};
    return r.count(n) != 0;
  }
  static std::string clean(const std::string& s) {
    std::string o;
    for (char c : s) o += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '-';
    return o.empty() ? "x" : o.substr(0, 40);
  }

  // The keywords of s that are neither annotations nor in `allowed` are refused.
  static void only(const json& s, const std::string& ptr, const std::set<std::string>& allowed, const std::string& why) {
    for (const auto& [k, v] : s.items())
      if (!kAnnotations.count(k) && !allowed.count(k) && !(ptr.empty() && (k == "$defs" || k == "definitions")))
        fail(k, ptr, "keyword '" + k + "' is not supported" + why);
  }

  const json& resolve(const std::string& ref, const std::string& ptr) {
    if (ref.rfind("#/$defs/", 0) != 0 && ref.rfind("#/definitions/", 0) != 0)
      fail("$ref", ptr, "only references to #/$defs/... or #/definitions/... are supported (got '" + ref + "')");
    try {
      const json::json_pointer p(ref.substr(1));
      if (!root_.contains(p)) fail("$ref", ptr, "'" + ref + "' does not exist");
      return root_.at(p);
    } catch (const json::exception&) {
      fail("$ref", ptr, "'" + ref + "' is not a valid JSON pointer");
    }
  }

  std::string visit(const json& s, const std::string& ptr, const std::string& hint) {
    struct Depth {
      int& d;
      explicit Depth(int& x, const std::string& ptr) : d(x) {
        if (++d > 64) throw SchemaError("", ptr, "schemas nested deeper than 64 are not supported");
      }
      ~Depth() { --d; }
    } guard(depth_, ptr);
    if (s.is_boolean()) {
      if (!s.get<bool>()) fail("", ptr, "the schema 'false' allows nothing");
      return "value";
    }
    if (!s.is_object()) fail("", ptr, "a schema must be an object or a boolean");
    if (s.contains("$ref")) {
      only(s, ptr, {"$ref"}, " beside $ref");
      if (!s["$ref"].is_string()) fail("$ref", ptr, "must be a string");
      const std::string ref = s["$ref"];
      auto it = refs_.find(ref);
      if (it != refs_.end()) return it->second;
      const json& target = resolve(ref, ptr);
      std::string name = clean("ref-" + ref.substr(ref.rfind('/') + 1));
      for (int k = 2; rules_.count(name) || reserved(name); ++k) name = clean("ref-" + ref.substr(ref.rfind('/') + 1)) + "-" + std::to_string(k);
      rules_[name] = "";  // placeholder: recursion refers to the name
      refs_[ref] = name;
      rules_[name] = visit(target, ref.substr(1), name);
      return name;
    }
    if (s.contains("const") || s.contains("enum")) {
      only(s, ptr, {"const", "enum", "type"}, " beside const/enum");
      std::vector<json> values;
      if (s.contains("const")) values.push_back(s["const"]);
      if (s.contains("enum")) {
        if (!s["enum"].is_array() || s["enum"].empty()) fail("enum", ptr, "must be a non-empty array");
        for (const auto& v : s["enum"]) values.push_back(v);
      }
      if (s.contains("const") && s.contains("enum")) fail("enum", ptr, "const and enum together are not supported");
      if (s.contains("type")) {
        const std::set<std::string> types = type_set(s["type"], ptr);
        for (const auto& v : values) {
          std::string t = type_of(v);
          if (!types.count(t) && !(t == "integer" && types.count("number")))
            fail("type", ptr, "the value " + v.dump() + " is not of the given type (combining them is not supported)");
        }
      }
      std::string body;
      for (const auto& v : values) body += (body.empty() ? "" : " | ") + gbnf_literal(v.dump());
      return add(hint, body);
    }
    for (const char* k : {"anyOf", "oneOf"}) {
      if (!s.contains(k)) continue;
      only(s, ptr, {k}, std::string(" beside ") + k);
      const json& branches = s[k];
      if (!branches.is_array() || branches.empty()) fail(k, ptr, "must be a non-empty array");
      if (std::string(k) == "oneOf") check_disjoint(branches, ptr);
      std::string body;
      for (std::size_t i = 0; i < branches.size(); ++i)
        body += (i ? " | " : "") + visit(branches[i], ptr + "/" + k + "/" + std::to_string(i), hint + "-" + std::to_string(i));
      return add(hint, body);
    }
    std::set<std::string> types;
    if (s.contains("type")) {
      types = type_set(s["type"], ptr);
    } else if (s.contains("properties") || s.contains("required") || s.contains("additionalProperties")) {
      types = {"object"};
    } else if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) {
      types = {"array"};
    } else if (s.contains("minLength") || s.contains("maxLength") || s.contains("pattern")) {
      types = {"string"};
    } else {
      only(s, ptr, {}, "");
      return "value";
    }
    if (types.size() > 1) {
      std::string body;
      for (const auto& t : types) {
        json one = s;
        one["type"] = t;
        body += (body.empty() ? "" : " | ") + visit_typed(one, t, ptr, hint + "-" + t, true);
      }
      return add(hint, body);
    }
    return visit_typed(s, *types.begin(), ptr, hint, false);
  }

  std::set<std::string> type_set(const json& t, const std::string& ptr) {
    static const std::set<std::string> known = {"object", "array", "string", "number", "integer", "boolean", "null"};
    std::set<std::string> out;
    auto one = [&](const json& v) {
      if (!v.is_string() || !known.count(v.get<std::string>())) fail("type", ptr, "unknown type " + v.dump());
      out.insert(v.get<std::string>());
    };
    if (t.is_array()) {
      for (const auto& v : t) one(v);
    } else {
      one(t);
    }
    if (out.empty()) fail("type", ptr, "an empty list of types allows nothing");
    return out;
  }

  // Keywords of other types are ignored by JSON Schema when the value has
  // another type; with several types we accept that (mixed = true).
  std::string visit_typed(const json& s, const std::string& t, const std::string& ptr, const std::string& hint, bool mixed) {
    static const std::map<std::string, std::set<std::string>> keys = {
        {"object", {"type", "properties", "required", "additionalProperties"}},
        {"array", {"type", "items", "minItems", "maxItems"}},
        {"string", {"type", "minLength", "maxLength", "pattern"}},
        {"number", {"type"}}, {"integer", {"type"}}, {"boolean", {"type"}}, {"null", {"type"}}};
    if (mixed) {
      std::set<std::string> all;
      for (const auto& [k, v] : keys) all.insert(v.begin(), v.end());
      only(s, ptr, all, "");
    } else {
      only(s, ptr, keys.at(t), " for type " + t);
    }
    if (t == "object") return object(s, ptr, hint);
    if (t == "array") return array(s, ptr, hint);
    if (t == "string") return string(s, ptr, hint);
    return t;  // number, integer, boolean, null: the primitive rules
  }

  std::int64_t count(const json& s, const char* k, const std::string& ptr, std::int64_t dflt) {
    if (!s.contains(k)) return dflt;
    if (!s[k].is_number_integer() || s[k].get<std::int64_t>() < 0) fail(k, ptr, "must be a non-negative integer");
    const auto v = s[k].get<std::int64_t>();
    if (v > 10000) fail(k, ptr, "values above 10000 are not supported");
    return v;
  }
  static std::string bounds(std::int64_t lo, std::int64_t hi) {
    if (hi < 0) return lo == 0 ? "*" : lo == 1 ? "+" : "{" + std::to_string(lo) + ",}";
    return "{" + std::to_string(lo) + "," + std::to_string(hi) + "}";
  }

  std::string object(const json& s, const std::string& ptr, const std::string& hint) {
    const json props = s.value("properties", json::object());
    if (!props.is_object()) fail("properties", ptr, "must be an object");
    std::set<std::string> required;
    if (s.contains("required")) {
      if (!s["required"].is_array()) fail("required", ptr, "must be an array");
      for (const auto& r : s["required"]) {
        if (!r.is_string()) fail("required", ptr, "must list strings");
        if (!props.contains(r.get<std::string>()))
          fail("required", ptr, "required property '" + r.get<std::string>() + "' has no schema in properties");
        required.insert(r.get<std::string>());
      }
    }
    if (s.contains("additionalProperties") && !s["additionalProperties"].is_boolean())
      fail("additionalProperties", ptr, "only true or false is supported (not a schema)");
    const bool closed = s.contains("additionalProperties") && !s["additionalProperties"].get<bool>();
    if (props.empty()) return closed ? add(hint, "\"{\" ws \"}\"") : "object";
    // kv_i is one property; first_i the properties i.. when none was written
    // yet (an optional one may be skipped, then first_{i+1} follows); rest_i
    // the properties i.. after one was written (each one with its comma).
    std::vector<std::string> kv;
    std::vector<bool> req;
    for (const auto& [name, sub] : props.items()) {
      const std::string v = visit(sub, ptr + "/properties/" + name, clean(hint + "-" + name));
      kv.push_back(add(clean(hint + "-" + name) + "-kv", gbnf_literal(json(name).dump()) + " ws \":\" ws " + v + " ws"));
      req.push_back(required.count(name) != 0);
    }
    const std::size_t n = kv.size();
    std::vector<std::string> rest(n + 1), first(n + 1);
    for (std::size_t i = n; i-- > 0;) {
      const std::string after = rest[i + 1].empty() ? "" : " " + rest[i + 1];
      const std::string item = "\",\" ws " + kv[i];
      const std::string rbody = req[i] ? item + after : "(" + item + ")?" + after;
      rest[i] = add(hint + "-rest", rbody);
      const std::string fafter = rest[i + 1].empty() ? "" : " " + rest[i + 1];
      std::string fbody = kv[i] + fafter;
      if (!req[i]) fbody += first[i + 1].empty() ? " | \"\"" : " | " + first[i + 1];
      first[i] = add(hint + "-first", fbody);
    }
    return add(hint, "\"{\" ws " + first[0] + " \"}\"");
  }

  std::string array(const json& s, const std::string& ptr, const std::string& hint) {
    if (s.contains("items") && s["items"].is_array()) fail("items", ptr, "tuple items (an array) are not supported");
    const std::string item = s.contains("items") ? visit(s["items"], ptr + "/items", hint + "-item") : "value";
    const std::int64_t lo = count(s, "minItems", ptr, 0), hi = count(s, "maxItems", ptr, -1);
    if (hi >= 0 && hi < lo) fail("maxItems", ptr, "maxItems < minItems allows nothing");
    if (hi == 0) return add(hint, "\"[\" ws \"]\"");
    const std::string more = "(\",\" ws " + item + " ws)" + bounds(lo > 0 ? lo - 1 : 0, hi < 0 ? -1 : hi - 1);
    std::string list = item + " ws " + more;
    if (lo == 0) list = "(" + list + ")?";
    return add(hint, "\"[\" ws " + list + " \"]\"");
  }

  std::string string(const json& s, const std::string& ptr, const std::string& hint) {
    if (s.contains("pattern")) {
      if (s.contains("minLength") || s.contains("maxLength"))
        fail("pattern", ptr, "pattern together with minLength/maxLength is not supported");
      if (!s["pattern"].is_string()) fail("pattern", ptr, "must be a string");
      return add(hint, "\"\\\"\" " + Regex(s["pattern"].get<std::string>(), ptr).run() + " \"\\\"\"");
    }
    const std::int64_t lo = count(s, "minLength", ptr, 0), hi = count(s, "maxLength", ptr, -1);
    if (hi >= 0 && hi < lo) fail("maxLength", ptr, "maxLength < minLength allows nothing");
    if (lo == 0 && hi < 0) return "string";
    return add(hint, "\"\\\"\" char" + bounds(lo, hi) + " \"\\\"\"");
  }

  // oneOf is exact only when no value can match two branches; accepted when
  // the branches have disjoint types or disjoint constants.
  void check_disjoint(const json& branches, const std::string& ptr) {
    std::vector<std::set<std::string>> sig;  // "t:<type>" or "v:<dump>"
    for (const auto& b0 : branches) {
      const json* b = &b0;
      for (int hops = 0; b->is_object() && b->contains("$ref") && hops < 32; ++hops)
        b = &resolve((*b)["$ref"].get<std::string>(), ptr);
      std::set<std::string> s;
      if (b->is_object() && (b->contains("const") || b->contains("enum"))) {
        if (b->contains("const")) s.insert("v:" + (*b)["const"].dump());
        if (b->contains("enum") && (*b)["enum"].is_array())
          for (const auto& v : (*b)["enum"]) s.insert("v:" + v.dump());
      } else if (b->is_object() && b->contains("type")) {
        for (const auto& t : type_set((*b)["type"], ptr)) {
          s.insert("t:" + t);
          if (t == "integer") s.insert("t:number");
          if (t == "number") s.insert("t:integer");
        }
      } else {
        fail("oneOf", ptr, "oneOf branches without a type or constant may overlap; use anyOf");
      }
      sig.push_back(std::move(s));
    }
    auto overlap = [](const std::set<std::string>& a, const std::set<std::string>& b) {
      for (const auto& x : a) {
        if (b.count(x)) return true;
        if (x.rfind("v:", 0) == 0) {
          const std::string t = "t:" + type_of(json::parse(x.substr(2)));
          if (b.count(t)) return true;
        }
      }
      return false;
    };
    for (std::size_t i = 0; i < sig.size(); ++i)
      for (std::size_t j = i + 1; j < sig.size(); ++j)
        if (overlap(sig[i], sig[j]) || overlap(sig[j], sig[i]))
          fail("oneOf", ptr, "branches " + std::to_string(i) + " and " + std::to_string(j) +
                                  " may both match a value; use anyOf");
  }

  // A simple regular expression (ECMA-262 subset) -> GBNF over the JSON
  // string's content: literals, escapes, ., classes, groups, |, * + ? {m,n},
  // ^ and $ at the ends. Generated text matches the whole pattern (stricter
  // than the schema's search semantics); '"', '\' and control characters are
  // left out of classes (stricter) and written as JSON escapes when literal.
  class Regex {
   public:
    Regex(std::string p, std::string ptr) : p_(std::move(p)), ptr_(std::move(ptr)) {}
    std::string run() {
      if (!p_.empty() && p_[0] == '^') ++i_;
      std::string e = alts();
      if (i_ < p_.size() && p_[i_] == '$' && i_ + 1 == p_.size()) ++i_;
      if (i_ != p_.size()) bad("unsupported or unbalanced construct at offset " + std::to_string(i_));
      return "(" + e + ")";
    }

   private:
    [[noreturn]] void bad(const std::string& m) const { throw SchemaError("pattern", ptr_, "pattern '" + p_ + "': " + m); }
    bool more() const { return i_ < p_.size(); }
    std::string alts() {
      std::string e = seq();
      while (more() && p_[i_] == '|') {
        ++i_;
        e += " | " + seq();
      }
      return e;
    }
    std::string seq() {
      std::string e;
      while (more() && p_[i_] != '|' && p_[i_] != ')') {
        if (p_[i_] == '$' && i_ + 1 == p_.size()) break;
        std::string a = atom();
        if (more() && (p_[i_] == '*' || p_[i_] == '+' || p_[i_] == '?' || p_[i_] == '{')) {
          const char q = p_[i_];
          if (q == '{') {
            const std::size_t close = p_.find('}', i_);
            if (close == std::string::npos) bad("unterminated {m,n}");
            const std::string body = p_.substr(i_ + 1, close - i_ - 1);
            if (body.empty() || body.find_first_not_of("0123456789,") != std::string::npos) bad("bad {m,n}");
            a = "(" + a + "){" + body + "}";
            i_ = close + 1;
          } else {
            a = "(" + a + ")" + q;
            ++i_;
          }
          if (more() && p_[i_] == '?') ++i_;  // lazy: the same language
          if (more() && (p_[i_] == '*' || p_[i_] == '+' || p_[i_] == '{')) bad("nested quantifier");
        }
        e += (e.empty() ? "" : " ") + a;
      }
      return e.empty() ? "\"\"" : e;
    }
    // One code point of the pattern, raw (UTF-8 bytes kept together).
    std::string cp() {
      const auto b = static_cast<unsigned char>(p_[i_]);
      const std::size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
      std::string s = p_.substr(i_, n);
      i_ += n;
      return s;
    }
    static std::string lit(const std::string& c) {
      if (c == "\"") return "\"\\\\\\\"\"";  // JSON \"
      if (c == "\\") return "\"\\\\\\\\\"";  // JSON \\ (a GBNF literal of two backslashes)
      if (c.size() == 1 && static_cast<unsigned char>(c[0]) < 0x20) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "\"\\\\u%04x\"", static_cast<unsigned char>(c[0]));
        return buf;
      }
      return gbnf_literal(c);
    }
    // Class text for GBNF inside [...] from the pattern's class item.
    static std::string class_char(const std::string& c) {
      if (c == "]" || c == "[" || c == "-" || c == "^") return "\\" + c;
      return c;
    }
    std::string shorthand(char c, bool in_class) {
      switch (c) {
        case 'd': return in_class ? "0-9" : "[0-9]";
        case 'w': return in_class ? "a-zA-Z0-9_" : "[a-zA-Z0-9_]";
        case 's': return in_class ? " " : "[ ]";
        case 'D': if (!in_class) return "[^0-9\"\\\\\\x00-\\x1F]"; break;
        case 'W': if (!in_class) return "[^a-zA-Z0-9_\"\\\\\\x00-\\x1F]"; break;
        case 'S': if (!in_class) return "[^ \"\\\\\\x00-\\x1F]"; break;
        default: break;
      }
      bad(std::string("escape \\") + c + " is not supported here");
    }
    std::string atom() {
      const char c = p_[i_];
      if (c == '(') {
        if (++depth_ > 32) bad("groups nested deeper than 32");
        ++i_;
        if (p_.compare(i_, 2, "?:") == 0) i_ += 2;
        else if (more() && p_[i_] == '?') bad("lookarounds and named groups are not supported");
        std::string e = alts();
        if (!more() || p_[i_] != ')') bad("unbalanced parenthesis");
        ++i_;
        --depth_;
        return "(" + e + ")";
      }
      if (c == '.') {
        ++i_;
        return "[^\"\\\\\\x00-\\x1F]";
      }
      if (c == '[') return klass();
      if (c == '\\') {
        ++i_;
        if (!more()) bad("trailing backslash");
        const char e = p_[i_++];
        if (std::string("dwsDWS").find(e) != std::string::npos) return shorthand(e, false);
        if (std::string(".*+?()[]{}|^$\\/-").find(e) != std::string::npos) return lit(std::string(1, e));
        if (e == 'n' || e == 't') bad("escaped control characters are not supported");
        bad(std::string("escape \\") + e + " is not supported");
      }
      if (c == '^' || c == '$') bad("anchors inside the pattern are not supported");
      if (c == '*' || c == '+' || c == '?' || c == '{') bad("quantifier without a preceding atom");
      return lit(cp());
    }
    std::string klass() {
      ++i_;
      bool neg = false;
      if (more() && p_[i_] == '^') {
        neg = true;
        ++i_;
      }
      std::string items;
      bool first = true;
      while (more() && (p_[i_] != ']' || first)) {
        first = false;
        std::string a;
        if (p_[i_] == '\\') {
          ++i_;
          if (!more()) bad("trailing backslash");
          const char e = p_[i_++];
          if (std::string("dws").find(e) != std::string::npos) {
            items += shorthand(e, true);
            continue;
          }
          if (std::string("\\]-[^.*+?(){}|$/").find(e) == std::string::npos) bad(std::string("escape \\") + e + " in a class is not supported");
          a = std::string(1, e);
        } else {
          a = cp();
        }
        if (a == "\"" || a == "\\" || (a.size() == 1 && static_cast<unsigned char>(a[0]) < 0x20)) {
          if (more() && p_[i_] == '-' && i_ + 1 < p_.size() && p_[i_ + 1] != ']') bad("a range starting at a quote, backslash or control character is not supported");
          continue;  // left out (stricter), or excluded below when negated
        }
        items += class_char(a);
        if (more() && p_[i_] == '-' && i_ + 1 < p_.size() && p_[i_ + 1] != ']') {
          ++i_;
          std::string b;
          if (p_[i_] == '\\') {
            ++i_;
            if (!more()) bad("trailing backslash");
            b = std::string(1, p_[i_++]);
          } else {
            b = cp();
          }
          if (a.size() == 1 && b.size() == 1 && a[0] < '"' && b[0] > '"') bad("a range across '\"' is not supported");
          if (a.size() == 1 && b.size() == 1 && a[0] < '\\' && b[0] > '\\') bad("a range across '\\' is not supported");
          items += "-" + class_char(b);
        }
      }
      if (!more()) bad("unterminated character class");
      ++i_;
      if (neg) return "[^" + items + "\"\\\\\\x00-\\x1F]";
      if (items.empty()) bad("a character class that allows nothing inside a JSON string");
      return "[" + items + "]";
    }

    std::string p_, ptr_;
    std::size_t i_ = 0;
    int depth_ = 0;
  };

  json root_;
  int depth_ = 0;
  std::map<std::string, std::string> rules_;
  std::map<std::string, std::string> by_body_;
  std::map<std::string, std::string> refs_;
};

}  // namespace

std::string json_schema_to_grammar(std::string_view schema_json) {
  json schema;
  try {
    schema = json::parse(schema_json);
  } catch (const json::exception& e) {
    throw SchemaError("", "", std::string("not valid JSON: ") + e.what());
  }
  std::string grammar = Converter(std::move(schema)).run();
  try {
    check_grammar(grammar);  // e.g. a $def that is only a $ref to itself
  } catch (const GrammarError& e) {
    throw SchemaError("$ref", "", std::string("the schema gives no usable grammar (") + e.what() + ")");
  }
  return grammar;
}

std::string json_object_grammar() { return std::string("root ::= object\n") + kPrimitives; }

}  // namespace gpt
