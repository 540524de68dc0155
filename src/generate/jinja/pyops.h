// Part of generate/jinja.cpp, included once inside its anonymous namespace (the
// includes, `fail` and the earlier parts come from there): the interpreter's
// variable frames and Python's semantics for ==, < and the str methods (split,
// strip, splitlines) and HTML escaping.
#pragma once

// NOLINTBEGIN(misc-definitions-in-headers)

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

// NOLINTEND(misc-definitions-in-headers)
