// Part of generate/jinja.cpp, included once inside its anonymous namespace (the
// includes, `fail` and the earlier parts come from there): the lexer: template
// text -> tokens on demand, with Jinja2's whitespace rules.
#pragma once

// NOLINTBEGIN(misc-definitions-in-headers)

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

// NOLINTEND(misc-definitions-in-headers)
