// Part of generate/jinja.cpp, included once inside its anonymous namespace (the
// includes, `fail` and the earlier parts come from there): the parser: tokens
// -> statement and expression trees (Jinja2's grammar).
#pragma once

// NOLINTBEGIN(misc-definitions-in-headers)

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

// NOLINTEND(misc-definitions-in-headers)
