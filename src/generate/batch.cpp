// Batched decoding: see include/gpt/batch.h.
//
// A step builds one forward pass (model/decoder.h) from the running
// sequences: first one item per generating sequence (its pending token;
// these rows form one group computed row by row), then one prompt chunk per
// sequence still reading its prompt. Chunks start at multiples of
// kPromptChunk from position 0, whatever the step budget, so a prompt is cut
// the same way alone or in company; a chunk is computed exactly as alone
// (decoder.h). Sharing therefore keeps the bits: a sequence takes from
// another only whole chunks that it would have computed identically.
#include "gpt/batch.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <exception>
#include <list>
#include <map>
#include <optional>
#include <string>

#include "generate/generation.h"
#include "gpt/error.h"
#include "model/decoder.h"
#include "model/kv_cache.h"

namespace gpt {

static_assert(Batch::kPromptChunk == detail::kPageTokens, "a prompt chunk is one KV page");

namespace {
using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }
}  // namespace

struct Batch::State {
  struct Seq {
    Id id = 0;
    std::shared_ptr<const std::vector<Token>> prompt;  // shared by the n of a group
    GenerateOptions options;
    std::uint64_t seed = 0;
    bool stream = false;
    detail::KvSequence kv;
    std::optional<detail::Generator> gen;
    std::int64_t fed = 0;           // prompt tokens in the cache (computed or shared)
    std::optional<Token> pending;   // generating: the token to feed next
    std::vector<Seq*> followers;    // the other n - 1 of a group wait for this one's prompt
    Seq* leader = nullptr;          // set on a follower until its leader's prompt is done
    std::int64_t budget = 0;        // KV pages this sequence may still allocate
    bool cancel = false;
    bool done = false;
    Clock::time_point start = Clock::now();
    double prompt_ms = 0;
    Completion result;
    std::exception_ptr error;
  };

  std::shared_ptr<const LanguageModel> lm;
  BatchOptions o;
  detail::KvPool pool;
  Id next_id = 1;
  std::deque<std::vector<std::unique_ptr<Seq>>> queue;  // groups waiting to be admitted
  std::list<std::unique_ptr<Seq>> running;              // admission order
  std::map<Id, std::unique_ptr<Seq>> finished;
  std::int64_t reserved = 0;  // sum of running sequences' budgets
  Stats stats;

  static BatchOptions resolve(const LanguageModel& lm, BatchOptions o) {
    if (o.threads < 0) throw InvalidArgument("Batch: threads must not be negative");
    if (o.max_sequences < 1) throw InvalidArgument("Batch: max_sequences must be at least 1");
    if (o.step_tokens < 1) throw InvalidArgument("Batch: step_tokens must be at least 1");
    if (o.kv_cache_tokens < 0) throw InvalidArgument("Batch: kv_cache_tokens must not be negative");
    GenerateOptions g;
    g.context_length = o.context_length;
    if (o.context_length < 0) throw InvalidArgument("Batch: context_length must not be negative");
    o.context_length = detail::context_for(lm.model(), g);
    // (one page more per sequence: the copy of a shared, partly filled page)
    if (o.kv_cache_tokens == 0)
      o.kv_cache_tokens = static_cast<std::int64_t>(o.max_sequences) * (o.context_length + detail::kPageTokens);
    return o;
  }

  State(std::shared_ptr<const LanguageModel> l, const BatchOptions& opt)
      : lm(std::move(l)), o(resolve(*lm, opt)), pool(lm->model().config(), detail::KvSequence::pages_for(o.kv_cache_tokens)) {
    stats.kv_pages_total = pool.max_pages();
    stats.kv_page_bytes = pool.page_bytes();
  }

  // Worst-case pages a sequence of this prompt allocates: its final length
  // in pages, plus one copy of a shared, partly filled page.
  std::int64_t worst_pages(std::size_t prompt, const GenerateOptions& g) const {
    const std::int64_t len = std::min<std::int64_t>(static_cast<std::int64_t>(prompt) + g.max_tokens, o.context_length);
    return detail::KvSequence::pages_for(len) + 1;
  }

  std::vector<Id> submit(std::vector<Token> prompt, const GenerateOptions& g) {
    detail::validate(g);
    if (prompt.empty()) throw InvalidArgument("the prompt has no tokens");
    const auto vocab = lm->model().config().vocab_size;
    for (Token t : prompt)
      if (t < 0 || t >= vocab)
        throw InvalidArgument("token id " + std::to_string(t) + " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    if (static_cast<std::int64_t>(prompt.size()) >= o.context_length)
      throw InvalidArgument("the prompt has " + std::to_string(prompt.size()) + " tokens but the context holds " +
                            std::to_string(o.context_length) + " (leave room for at least one new token)");
    if (g.n > o.max_sequences)
      throw InvalidArgument("n = " + std::to_string(g.n) + " exceeds the batch's max_sequences (" +
                            std::to_string(o.max_sequences) + ")");
    const std::int64_t need = worst_pages(prompt.size(), g) * g.n;
    if (need > pool.max_pages())
      throw InvalidArgument("the KV cache holds " + std::to_string(pool.max_pages() * detail::kPageTokens) +
                            " positions; " + std::to_string(g.n) + " x (" + std::to_string(prompt.size()) +
                            " prompt tokens + max_tokens " + std::to_string(g.max_tokens) +
                            ") may need up to " + std::to_string(need * detail::kPageTokens) +
                            " (raise kv_cache_tokens or lower max_tokens)");
    auto shared_prompt = std::make_shared<const std::vector<Token>>(std::move(prompt));
    std::vector<std::unique_ptr<Seq>> group;
    std::vector<Id> ids;
    for (std::int32_t k = 0; k < g.n; ++k) {
      auto s = std::make_unique<Seq>();
      s->id = next_id++;
      s->prompt = shared_prompt;
      s->options = g;
      s->options.n = 1;
      s->seed = g.sampling.seed + static_cast<std::uint64_t>(k);
      s->stream = k == 0;
      if (k > 0) s->options.on_text = nullptr;
      ids.push_back(s->id);
      group.push_back(std::move(s));
    }
    for (std::size_t k = 1; k < group.size(); ++k) {
      group[k]->leader = group[0].get();
      group[0]->followers.push_back(group[k].get());
    }
    queue.push_back(std::move(group));
    return ids;
  }

  // The longest prefix of `prompt` another running sequence has computed in
  // whole chunks that this one would compute identically: a multiple of
  // the chunk, within the source's prompt tokens already fed, and short of
  // the whole prompt (the last token's logits must be computed here).
  std::pair<Seq*, std::int64_t> best_prefix(const std::vector<Token>& prompt) {
    Seq* best = nullptr;
    std::int64_t best_len = 0;
    const auto limit = static_cast<std::int64_t>(prompt.size()) - 1;
    for (auto& r : running) {
      if (r->leader) continue;
      const std::vector<Token>& p = *r->prompt;
      const std::int64_t cap = std::min(r->fed, limit);
      std::int64_t same = 0;
      while (same < cap && p[static_cast<std::size_t>(same)] == prompt[static_cast<std::size_t>(same)]) ++same;
      const std::int64_t len = same / detail::kPageTokens * detail::kPageTokens;
      if (len > best_len) {
        best = r.get();
        best_len = len;
      }
    }
    return {best, best_len};
  }

  void admit() {
    while (!queue.empty()) {
      auto& group = queue.front();
      // Cancelled while queued: finish them now.
      if (group[0]->cancel && std::all_of(group.begin(), group.end(), [](const auto& s) { return s->cancel; })) {
        for (auto& s : group) {
          s->result.finish_reason = FinishReason::Cancelled;
          s->result.prompt_tokens = static_cast<std::int64_t>(s->prompt->size());
          s->result.prompt_ids = *s->prompt;
          s->done = true;
          finished.emplace(s->id, std::move(s));
        }
        queue.pop_front();
        continue;
      }
      if (running.size() + group.size() > static_cast<std::size_t>(o.max_sequences)) return;
      const std::int64_t need = worst_pages(group[0]->prompt->size(), group[0]->options) * static_cast<std::int64_t>(group.size());
      if (pool.used_pages() + reserved + need > pool.max_pages()) return;
      Seq* lead = group[0].get();
      const auto [src, len] = best_prefix(*lead->prompt);
      if (src) {
        lead->kv.share(pool, src->kv, len);
        lead->fed = len;
        stats.prompt_tokens_shared += len;
      }
      for (auto& s : group) {
        s->budget = worst_pages(s->prompt->size(), s->options);
        reserved += s->budget;
        s->start = Clock::now();
        s->gen.emplace(*lm, *s->prompt, s->options, s->seed, s->stream);
        running.push_back(std::move(s));
      }
      queue.pop_front();
    }
  }

  // Grows a sequence's cache for n more positions, charging its budget.
  void reserve(Seq& s, std::int64_t n) {
    const std::int64_t before = pool.used_pages();
    s.kv.reserve(pool, s.kv.length + n);
    const std::int64_t got = pool.used_pages() - before;
    s.budget -= got;
    reserved -= got;
    if (s.budget < 0) {  // cannot happen: worst_pages is an upper bound
      reserved -= s.budget;
      s.budget = 0;
    }
    stats.kv_pages_peak = std::max(stats.kv_pages_peak, pool.used_pages());
  }

  void finish(Seq& s) {
    if (s.gen && !s.error) {
      try {
        if (s.cancel) s.gen->cancel();
        s.result = s.gen->finish();
      } catch (...) {
        s.error = std::current_exception();
      }
    }
    s.result.prompt_ms = s.prompt_ms;
    s.kv.clear(pool);
    reserved -= s.budget;
    s.budget = 0;
    s.done = true;
  }

  // A sequence whose generator or callback threw: it ends with that error.
  void fail(Seq& s) {
    s.error = std::current_exception();
    s.gen.reset();
  }

  std::size_t step() {
    admit();
    // Cancelled sequences leave before the pass.
    std::vector<Seq*> ending;
    for (auto& s : running)
      if (s->cancel) ending.push_back(s.get());
    retire(ending);
    if (running.empty()) return queue.size();

    std::vector<Seq*> decode, prefill;
    std::vector<std::span<const Token>> chunk;
    std::int64_t budget = o.step_tokens;
    for (auto& s : running) {
      if (s->pending) {
        decode.push_back(s.get());
      } else if (!s->leader && s->fed < static_cast<std::int64_t>(s->prompt->size())) {
        const auto len = static_cast<std::int64_t>(s->prompt->size());
        const std::int64_t end = std::min((s->fed / detail::kPageTokens + 1) * detail::kPageTokens, len);
        const std::int64_t n = end - s->fed;
        if (!prefill.empty() && n > budget) continue;
        prefill.push_back(s.get());
        chunk.emplace_back(s->prompt->data() + s->fed, static_cast<std::size_t>(n));
        budget -= n;
      }
    }
    std::vector<detail::ForwardItem> items;
    for (Seq* s : decode) {
      reserve(*s, 1);
      items.push_back({&s->kv, std::span<const Token>(&*s->pending, 1)});
    }
    for (std::size_t i = 0; i < prefill.size(); ++i) {
      reserve(*prefill[i], static_cast<std::int64_t>(chunk[i].size()));
      items.push_back({&prefill[i]->kv, chunk[i]});
    }
    const auto& data = lm->model().data();
    const RowMatrix h = detail::forward(data, pool, items, o.threads);
    ++stats.steps;
    stats.generated_tokens += static_cast<std::int64_t>(decode.size());

    // Logits only where a token is drawn: generating sequences, and prompts
    // whose last chunk this was.
    std::vector<Eigen::Index> rows;
    for (std::size_t i = 0; i < decode.size(); ++i) rows.push_back(static_cast<Eigen::Index>(i));
    for (std::size_t i = 0; i < prefill.size(); ++i) {
      Seq& s = *prefill[i];
      s.fed += static_cast<std::int64_t>(chunk[i].size());
      stats.prompt_tokens_computed += static_cast<std::int64_t>(chunk[i].size());
      if (s.fed == static_cast<std::int64_t>(s.prompt->size())) rows.push_back(static_cast<Eigen::Index>(decode.size() + i));
    }
    RowMatrix hs(static_cast<Eigen::Index>(rows.size()), h.cols());
    for (std::size_t r = 0; r < rows.size(); ++r) hs.row(static_cast<Eigen::Index>(r)) = h.row(rows[r]);
    const RowMatrix logits = rows.empty() ? RowMatrix() : detail::logits(data, hs, o.threads, /*rowwise=*/true);

    Eigen::Index lr = 0;
    for (Seq* s : decode) draw(*s, logits.row(lr++).transpose(), ending);
    for (Seq* s : prefill) {
      if (s->fed < static_cast<std::int64_t>(s->prompt->size())) {
        // Between chunks: an empty piece lets a streaming caller cancel.
        try {
          if (s->stream && s->options.on_text && !s->options.on_text(std::string())) s->cancel = true;
        } catch (...) {
          fail(*s);
          ending.push_back(s);
        }
        continue;
      }
      const Eigen::VectorXf l = logits.row(lr++).transpose();
      s->prompt_ms = ms_since(s->start);
      for (Seq* f : s->followers) {
        f->kv.share(pool, s->kv, s->kv.length);
        f->fed = s->fed;
        f->leader = nullptr;
        f->prompt_ms = 0;
        stats.prompt_tokens_shared += s->fed;
        f->gen->start_clock();
        draw(*f, l, ending);
      }
      s->followers.clear();
      s->gen->start_clock();
      draw(*s, l, ending);
    }
    retire(ending);
    return queue.size() + running.size();
  }

  void draw(Seq& s, const Eigen::VectorXf& logits, std::vector<Seq*>& ending) {
    try {
      s.pending = s.gen->next(logits, s.kv.length < o.context_length);
      if (!s.pending) ending.push_back(&s);
    } catch (...) {
      fail(s);
      s.pending.reset();
      ending.push_back(&s);
    }
  }

  void retire(std::vector<Seq*>& ending) {
    for (Seq* s : ending)
      if (s->leader) {  // a follower that ends before its leader's prompt is done
        auto& f = s->leader->followers;
        f.erase(std::remove(f.begin(), f.end(), s), f.end());
        s->leader = nullptr;
      }
    for (std::size_t i = 0; i < ending.size(); ++i) {
      Seq* s = ending[i];
      // A leader that ends before its prompt is done takes its followers along.
      for (Seq* f : s->followers) {
        f->leader = nullptr;
        f->cancel = true;
        if (s->error) f->error = s->error;
        if (std::find(ending.begin(), ending.end(), f) == ending.end()) ending.push_back(f);
      }
      s->followers.clear();
    }
    for (Seq* s : ending) {
      finish(*s);
      auto it = std::find_if(running.begin(), running.end(), [s](const auto& p) { return p.get() == s; });
      finished.emplace(s->id, std::move(*it));
      running.erase(it);
    }
    ending.clear();
    stats.kv_pages_used = pool.used_pages();
  }

  Seq* find_live(Id id) {
    for (auto& s : running)
      if (s->id == id) return s.get();
    for (auto& g : queue)
      for (auto& s : g)
        if (s->id == id) return s.get();
    return nullptr;
  }
};

Batch::Batch(std::shared_ptr<const LanguageModel> lm, const BatchOptions& options) {
  if (!lm) throw InvalidArgument("Batch: the language model is null");
  s_ = std::make_unique<State>(std::move(lm), options);
}
Batch::~Batch() = default;

std::vector<Batch::Id> Batch::submit(std::vector<Token> prompt, const GenerateOptions& options) {
  return s_->submit(std::move(prompt), options);
}

std::size_t Batch::step() { return s_->step(); }

void Batch::run() {
  while (step() > 0) {
  }
}

void Batch::cancel(Id id) {
  if (State::Seq* s = s_->find_live(id)) s->cancel = true;
}

bool Batch::finished(Id id) const { return s_->finished.count(id) > 0; }

Completion Batch::take(Id id) {
  auto it = s_->finished.find(id);
  if (it == s_->finished.end())
    throw InvalidArgument("Batch::take: sequence " + std::to_string(id) + " is unknown, taken, or not finished");
  std::unique_ptr<State::Seq> s = std::move(it->second);
  s_->finished.erase(it);
  if (s->error) std::rethrow_exception(s->error);
  return std::move(s->result);
}

std::size_t Batch::queued() const noexcept {
  std::size_t n = 0;
  for (const auto& g : s_->queue) n += g.size();
  return n;
}
std::size_t Batch::running() const noexcept { return s_->running.size(); }

Batch::Stats Batch::stats() const noexcept {
  Stats st = s_->stats;
  st.kv_pages_used = s_->pool.used_pages();
  return st;
}

}  // namespace gpt
