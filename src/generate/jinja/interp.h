// Part of generate/jinja.cpp, included once inside its anonymous namespace (the
// includes, `fail` and the earlier parts come from there): the interpreter:
// statements, expressions, filters, tests, methods and the globals.
#pragma once

// NOLINTBEGIN(misc-definitions-in-headers)

// ---------------------------------------------------------------------------
// 4. Interpreter
// ---------------------------------------------------------------------------

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

// NOLINTEND(misc-definitions-in-headers)
