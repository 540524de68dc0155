// LanguageModel: loading a model with its tokenizer, and the autoregressive
// loop shared by completions and chat turns.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>
#include <sstream>

#include "generate/chat_template.h"
#include "gpt/batch.h"
#include "generate/jinja.h"
#include "io/gguf.h"
#include "model/loaders.h"
#include "tokenizer/loaders.h"
#include "generate/generation.h"
#include "generate/grammar.h"
#include "generate/sampler.h"
#include "generate/stop.h"
#include "gpt/error.h"

namespace gpt {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

}  // namespace

void check_grammar(std::string_view gbnf) { (void)detail::Grammar::parse(gbnf); }

const char* to_string(FinishReason r) noexcept {
  switch (r) {
    case FinishReason::Length: return "length";
    case FinishReason::Stop: return "stop";
    case FinishReason::EndOfText: return "eos";
    case FinishReason::Cancelled: return "cancelled";
    case FinishReason::ContextFull: return "context_full";
  }
  return "unknown";
}

namespace detail {

void validate(const GenerateOptions& o) {
  if (o.max_tokens < 0) throw InvalidArgument("max_tokens must not be negative (got " + std::to_string(o.max_tokens) + ")");
  if (o.n < 1) throw InvalidArgument("n must be at least 1 (got " + std::to_string(o.n) + ")");
  if (o.logprobs > 20) throw InvalidArgument("logprobs must be at most 20 (got " + std::to_string(o.logprobs) + ")");
  if (o.prompt_batch < 1) throw InvalidArgument("prompt_batch must be at least 1");
  if (o.context_length < 0) throw InvalidArgument("context_length must not be negative");
  for (const auto& s : o.stop)
    if (s.empty()) throw InvalidArgument("stop strings must not be empty");
  o.sampling.validate();
  if (!o.grammar.empty()) (void)Grammar::parse(o.grammar);  // GrammarError early
}

std::int64_t context_for(const Model& m, const GenerateOptions& o) {
  const std::int64_t model_ctx = m.config().max_seq_len;
  if (o.context_length > 0) {
    if (o.context_length > model_ctx)
      throw InvalidArgument("context length " + std::to_string(o.context_length) + " exceeds the model's " +
                            std::to_string(model_ctx));
    return o.context_length;
  }
  return std::min<std::int64_t>(model_ctx, 4096);
}

SessionOptions session_options(const Model& m, const GenerateOptions& o) {
  return {.context_length = context_for(m, o), .threads = o.threads, .max_memory_bytes = o.max_memory_bytes};
}

// Refuses a text that cannot fit the context before encoding it (a 50 MB
// prompt would otherwise become a 200 MB token vector first). Exact, not a
// guess: Tokenizer::min_tokens is a sound lower bound, 0 when the tokenizer
// has none (then feed_prompt() checks the encoded count as before).
void check_text_fits(const Tokenizer& tok, std::string_view text, std::size_t extra_tokens, std::int64_t context) {
  const std::size_t least = tok.min_tokens(text);
  if (least == 0) return;
  const std::size_t at_least = least + extra_tokens;
  if (at_least >= static_cast<std::size_t>(context))
    throw InvalidArgument("the prompt has at least " + std::to_string(at_least) + " tokens (" +
                          std::to_string(text.size()) + " bytes) but the context holds " + std::to_string(context) +
                          " (leave room for at least one new token)");
}

bool feed_prompt(Session& session, std::span<const Token> tokens, const GenerateOptions& o, Eigen::VectorXf& logits) {
  if (tokens.empty()) return true;
  if (session.position() + static_cast<std::int64_t>(tokens.size()) >= session.context_length())
    throw InvalidArgument("the prompt has " + std::to_string(session.position() + std::int64_t(tokens.size())) +
                          " tokens but the context holds " + std::to_string(session.context_length()) +
                          " (leave room for at least one new token)");
  for (std::size_t i = 0; i < tokens.size(); i += static_cast<std::size_t>(o.prompt_batch)) {
    const auto n = std::min<std::size_t>(static_cast<std::size_t>(o.prompt_batch), tokens.size() - i);
    logits = session.forward_last(tokens.subspan(i, n));
    if (o.on_text && i + n < tokens.size() && !o.on_text(std::string())) return false;
  }
  return true;
}

namespace {

// Constrained decoding, one step: applies the logit bias and penalties, then
// sets every logit the grammar forbids to -inf (end-of-sequence and stop
// tokens are allowed only where the grammar accepts). Sample with
// Sampler::sample_prepared afterwards.
//
// When only the k most likely allowed tokens can matter (top-k on, or
// greedy) and log-probabilities are not requested, it checks tokens in
// order of logit and stops at the k-th allowed one: the sampler then sees
// exactly what it would see with the full mask (the same k tokens, the same
// softmax over them). Otherwise, or when those are not among the 1024 most
// likely tokens, it computes the full mask with one walk of the vocabulary
// trie (GrammarMatcher::allowed).
void constrain(GrammarMatcher& g, const VocabularyTrie& trie, const Tokenizer& tok, const GenerateOptions& o,
               const SamplingOptions& so, Eigen::VectorXf& logits, std::span<const Token> history,
               std::vector<Token>& ids) {
  apply_bias_and_penalties(so, logits, history);
  const bool end_ok = g.accepting() && !o.ignore_eos;
  auto is_end = [&](Token id) {
    return tok.is_eos(id) || std::find(o.stop_tokens.begin(), o.stop_tokens.end(), id) != o.stop_tokens.end();
  };
  const float kNegInf = -std::numeric_limits<float>::infinity();
  const auto n = static_cast<std::size_t>(logits.size());
  const std::size_t need = so.temperature == 0.0f ? 1 : static_cast<std::size_t>(std::max(so.top_k, 0));
  if (o.logprobs < 0 && need > 0 && need <= 256 && n > 1024) {
    const std::size_t m = 1024;
    ids.resize(n);
    for (std::size_t i = 0; i < n; ++i) ids[i] = static_cast<Token>(i);
    const float* l = logits.data();
    auto order = [l](Token a, Token b) { return l[a] != l[b] ? l[a] > l[b] : a < b; };
    std::nth_element(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(m), ids.end(), order);
    std::sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(m), order);
    std::vector<Token> keep;
    for (std::size_t i = 0; i < m && keep.size() < need; ++i) {
      const Token id = ids[i];
      if (!(l[id] > kNegInf)) break;  // the rest cannot be drawn either
      bool ok;
      if (is_end(id)) {
        ok = end_ok;
      } else if (tok.is_special(id) || static_cast<std::size_t>(id) >= tok.vocab_size()) {
        ok = false;
      } else {
        const std::string bytes = tok.token_bytes(id);
        ok = !bytes.empty() && g.can_accept(bytes);
      }
      if (ok) keep.push_back(id);
    }
    if (keep.size() == need) {
      Eigen::VectorXf out = Eigen::VectorXf::Constant(logits.size(), kNegInf);
      for (Token id : keep) out[id] = logits[id];
      logits.swap(out);
      return;
    }
  }
  const TokenMask& allowed = g.allowed(trie);
  bool any = false;
  for (std::size_t t = 0; t < n; ++t) {
    const auto id = static_cast<Token>(t);
    if (allowed.test(id) || (end_ok && is_end(id)))
      any = any || logits[static_cast<Eigen::Index>(t)] > kNegInf;
    else
      logits[static_cast<Eigen::Index>(t)] = kNegInf;
  }
  if (!any)
    throw InvalidArgument("the grammar allows no token here that the model can draw (every allowed token has "
                          "probability 0 after the logit bias)");
}

}  // namespace

struct Generator::State {
  const LanguageModel& lm;
  const GenerateOptions& o;
  bool stream;
  Completion c;
  Clock::time_point t0 = Clock::now();
  SamplingOptions so;
  Sampler sampler;
  IncrementalDecoder decoder;
  StopMatcher stopper;
  std::vector<Token> history;
  // Constrained decoding: the matcher follows the text; its mask limits each draw.
  const VocabularyTrie* trie = nullptr;
  std::optional<GrammarMatcher> grammar;
  std::vector<Token> candidates;  // scratch for constrain()
  std::int32_t i = 0;             // tokens drawn
  bool over = false;
  bool done = false;  // finish() called

  State(const LanguageModel& l, const std::vector<Token>& prompt, const GenerateOptions& opt, std::uint64_t seed,
        bool st)
      : lm(l), o(opt), stream(st), so(with_seed(opt.sampling, seed)), sampler(so), decoder(l.tokenizer_ptr()),
        stopper(opt.stop), history(prompt) {
    c.prompt_tokens = static_cast<std::int64_t>(prompt.size());
    c.prompt_ids = prompt;
    if (!o.grammar.empty()) {
      trie = &lm.vocabulary_trie();
      grammar.emplace(Grammar::parse(o.grammar));
    }
  }

  static SamplingOptions with_seed(SamplingOptions s, std::uint64_t seed) {
    s.seed = seed;
    return s;
  }

  bool emit(const std::string& piece) {
    if (piece.empty()) return true;
    c.text += piece;
    return !(stream && o.on_text) || o.on_text(piece);
  }

  void end(FinishReason r) {
    c.finish_reason = r;
    over = true;
  }

  std::optional<Token> next(Eigen::VectorXf& logits, bool room) {
    if (over) return std::nullopt;
    if (i >= o.max_tokens) {
      end(FinishReason::Length);
      return std::nullopt;
    }
    const Tokenizer& tok = lm.tokenizer();
    if (grammar) constrain(*grammar, *trie, tok, o, so, logits, history, candidates);
    Eigen::VectorXf raw;
    if (o.logprobs >= 0) raw = logits;
    const Token t = grammar ? sampler.sample_prepared(logits) : sampler.sample(logits, history);
    ++i;
    const bool eos = !o.ignore_eos && tok.is_eos(t);
    const bool stop_token = std::find(o.stop_tokens.begin(), o.stop_tokens.end(), t) != o.stop_tokens.end();
    if (eos || stop_token) {
      end(eos ? FinishReason::EndOfText : FinishReason::Stop);
      return std::nullopt;
    }
    if (grammar && !grammar->accept(tok.token_bytes(t)))
      throw InvalidArgument("internal error: a masked-in token left the grammar");  // the mask rules this out
    c.tokens.push_back(t);
    history.push_back(t);
    if (o.logprobs >= 0) {
      const Eigen::VectorXf lp = log_softmax(raw);
      TokenLogprob e;
      e.token = t;
      e.text = tok.token_bytes(t);
      e.logprob = lp[t];
      e.top = top_n(lp, o.logprobs);
      c.logprobs.push_back(std::move(e));
    }
    if (!emit(stopper.push(decoder.push(t)))) {
      end(FinishReason::Cancelled);
      return std::nullopt;
    }
    if (stopper.stopped() || (grammar && grammar->accepting() && !grammar->can_continue())) {
      end(FinishReason::Stop);
      return std::nullopt;
    }
    if (i == o.max_tokens) {
      end(FinishReason::Length);
      return std::nullopt;
    }
    if (!room) {
      end(FinishReason::ContextFull);
      return std::nullopt;
    }
    return t;
  }

  Completion finish() {
    if (done) throw InvalidArgument("internal error: a completion was finished twice");
    done = true;
    if (!over) end(FinishReason::Length);
    if (!stopper.stopped() && c.finish_reason != FinishReason::Cancelled) {
      std::string tail = stopper.push(decoder.flush());
      if (!stopper.stopped()) tail += stopper.flush();
      else c.finish_reason = FinishReason::Stop;
      emit(tail);
    }
    c.completion_tokens = static_cast<std::int64_t>(c.tokens.size());
    c.generate_ms = ms_since(t0);
    return std::move(c);
  }
};

Generator::Generator(const LanguageModel& lm, const std::vector<Token>& prompt, const GenerateOptions& options,
                     std::uint64_t seed, bool stream)
    : s_(std::make_unique<State>(lm, prompt, options, seed, stream)) {}
Generator::~Generator() = default;
Generator::Generator(Generator&&) noexcept = default;
Generator& Generator::operator=(Generator&&) noexcept = default;
std::optional<Token> Generator::next(Eigen::VectorXf logits, bool room) { return s_->next(logits, room); }
void Generator::cancel() {
  if (!s_->over) s_->end(FinishReason::Cancelled);
}
bool Generator::over() const noexcept { return s_->over; }
void Generator::start_clock() { s_->t0 = Clock::now(); }
Completion Generator::finish() { return s_->finish(); }

Completion generate_from(const LanguageModel& lm, Session& session, const std::vector<Token>& prompt,
                         Eigen::VectorXf logits, const GenerateOptions& o, std::uint64_t seed, bool stream) {
  Generator g(lm, prompt, o, seed, stream);
  while (const std::optional<Token> t = g.next(std::move(logits), session.position() < session.context_length()))
    logits = session.forward_last(std::span<const Token>(&*t, 1));
  return g.finish();
}

std::vector<Token> encode_chat(const Tokenizer& tok, const std::string& rendered) {
  std::vector<Token> ids = tok.encode(rendered, {.add_special_tokens = false, .parse_special = true});
  // Templates that spell out BOS already carry it; add it only when missing.
  const auto& prefix = tok.special_tokens().prefix;
  if (!prefix.empty() && (ids.size() < prefix.size() || !std::equal(prefix.begin(), prefix.end(), ids.begin())))
    ids.insert(ids.begin(), prefix.begin(), prefix.end());
  return ids;
}

std::string bos_text(const Tokenizer& tok) {
  return tok.bos_id() >= 0 ? tok.token_to_piece(tok.bos_id()) : std::string();
}

std::string eos_text(const Tokenizer& tok) {
  return tok.eos_ids().empty() ? std::string() : tok.token_to_piece(tok.eos_ids().front());
}

// The context transformers' apply_chat_template gives a template.
nlohmann::ordered_json chat_context(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                    const std::string& bos, const std::string& eos) {
  nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
  for (const auto& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
  return {{"messages", std::move(msgs)}, {"tools", nullptr}, {"documents", nullptr},
          {"add_generation_prompt", add_generation_prompt}, {"bos_token", bos}, {"eos_token", eos}};
}

std::string render(const jinja::Template& t, const Tokenizer& tok, const std::vector<ChatMessage>& messages) {
  return t.render(chat_context(messages, true, bos_text(tok), eos_text(tok)));
}

}  // namespace detail

std::shared_ptr<const LanguageModel> LanguageModel::load(const std::filesystem::path& path, const LoadOptions& options) {
  if (std::filesystem::is_regular_file(path) && path.extension() == ".gguf") {
    try {
      // One parse of the file serves the weights and the tokenizer.
      auto gguf = std::make_shared<const io::GgufFile>(path.string());
      auto model = std::make_shared<const Model>(detail::load_gguf(gguf));
      return std::make_shared<const LanguageModel>(std::move(model), tok::tokenizer_from_gguf(*gguf));
    } catch (const Error&) {
      throw;
    } catch (const std::bad_alloc&) {
      throw FormatError(path.string(), "out of memory while loading");
    } catch (const std::exception& e) {
      throw FormatError(path.string(), std::string("unexpected content: ") + e.what());
    }
  }
  auto model = Model::load(path, options);
  auto tok = load_tokenizer(path);
  return std::make_shared<const LanguageModel>(std::move(model), std::move(tok));
}

struct LanguageModel::Lazy {
  std::once_flag trie_once;
  std::unique_ptr<const detail::VocabularyTrie> trie;
};

const detail::VocabularyTrie& LanguageModel::vocabulary_trie() const {
  std::call_once(lazy_->trie_once, [&] { lazy_->trie = std::make_unique<const detail::VocabularyTrie>(*tokenizer_); });
  return *lazy_->trie;
}

LanguageModel::LanguageModel(std::shared_ptr<const Model> model, std::shared_ptr<const Tokenizer> tokenizer)
    : model_(std::move(model)), tokenizer_(std::move(tokenizer)), lazy_(std::make_shared<Lazy>()) {
  if (!model_ || !tokenizer_) throw InvalidArgument("LanguageModel needs a model and a tokenizer");
  if (static_cast<std::int64_t>(tokenizer_->vocab_size()) > model_->config().vocab_size)
    throw UnsupportedModel("the tokenizer has " + std::to_string(tokenizer_->vocab_size()) +
                           " tokens but the model only " + std::to_string(model_->config().vocab_size));
}

ChatFormat LanguageModel::chat_format(const std::string& override_name) const {
  const std::string known = "chatml, llama2, llama3, gemma, zephyr, mistral";
  if (!override_name.empty()) {
    if (auto f = chat_format_from_name(override_name)) return *f;
    throw InvalidArgument("unknown chat template '" + override_name + "' (--chat-template takes one of: " + known + ")");
  }
  const std::string& tmpl = tokenizer_->chat_template();
  if (tmpl.empty())
    throw UnsupportedModel("the model has no chat template; choose one with --chat-template (" + known + ")");
  if (auto f = detect_chat_format(tmpl)) return *f;
  throw UnsupportedModel("the model's chat template is not recognised; choose one with --chat-template (" + known + ")");
}

std::string LanguageModel::chat_template(const std::string& override_name_or_file) const {
  const std::string known = "chatml, llama2, llama3, gemma, zephyr, mistral";
  if (!override_name_or_file.empty()) {
    if (auto text = builtin_chat_template(override_name_or_file)) return *text;
    if (!std::filesystem::is_regular_file(override_name_or_file))
      throw InvalidArgument("--chat-template '" + override_name_or_file + "' is neither a known template (" + known +
                            ") nor a file");
    std::ifstream in(override_name_or_file, std::ios::binary);
    if (!in) throw IoError(override_name_or_file, "cannot open the chat template");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  const std::string& tmpl = tokenizer_->chat_template();
  if (tmpl.empty())
    throw UnsupportedModel("the model has no chat template; choose one with --chat-template (" + known + " or a Jinja file)");
  return tmpl;
}

std::string render_chat_template(std::string_view jinja_template, const std::vector<ChatMessage>& messages,
                                 bool add_generation_prompt, const std::string& bos, const std::string& eos) {
  return jinja::Template(jinja_template).render(detail::chat_context(messages, add_generation_prompt, bos, eos));
}

std::vector<Completion> LanguageModel::complete_n(const std::string& prompt, const GenerateOptions& options) const {
  detail::validate(options);
  const auto& special = tokenizer_->special_tokens();
  detail::check_text_fits(*tokenizer_, prompt, special.prefix.size() + special.suffix.size(),
                          detail::context_for(*model_, options));
  const std::vector<Token> ids = tokenizer_->encode(prompt, {.add_special_tokens = true, .parse_special = false});
  if (ids.empty()) throw InvalidArgument("the prompt is empty and the model adds no BOS token");
  if (options.n == 1) return {complete_tokens(ids, options)};
  // n completions decoded together (gpt/batch.h): the prompt is computed
  // once, in chunks of Batch::kPromptChunk tokens, and its cache shared.
  const std::int64_t context = detail::context_for(*model_, options);
  const std::int64_t worst = std::min<std::int64_t>(static_cast<std::int64_t>(ids.size()) + options.max_tokens, context);
  const std::int64_t kv_tokens = (worst / Batch::kPromptChunk + 2) * Batch::kPromptChunk * options.n;
  const auto& c = model_->config();
  const double kv_bytes = 2.0 * sizeof(float) * static_cast<double>(c.n_layer * c.n_kv_head * c.head_dim) *
                          static_cast<double>(kv_tokens);
  if (options.max_memory_bytes != 0 && kv_bytes > static_cast<double>(options.max_memory_bytes))
    throw InvalidArgument("memory cap: " + std::to_string(options.n) + " completions of up to " + std::to_string(worst) +
                          " positions need about " + std::to_string(static_cast<std::uint64_t>(kv_bytes / 1048576.0)) +
                          " MiB of KV cache, more than max_memory_bytes = " +
                          std::to_string(options.max_memory_bytes / 1048576) + " MiB");
  // (a non-owning pointer: the Batch lives only inside this call)
  Batch batch(std::shared_ptr<const LanguageModel>(std::shared_ptr<const LanguageModel>(), this),
              {.threads = options.threads, .max_sequences = options.n, .context_length = context,
               .kv_cache_tokens = kv_tokens});
  const std::vector<Batch::Id> seqs = batch.submit(ids, options);
  batch.run();
  std::vector<Completion> out;
  for (Batch::Id id : seqs) out.push_back(batch.take(id));
  return out;
}

Completion LanguageModel::complete(const std::string& prompt, const GenerateOptions& options) const {
  GenerateOptions one = options;
  one.n = 1;
  return complete_n(prompt, one).front();
}

Completion LanguageModel::complete_tokens(const std::vector<Token>& prompt, const GenerateOptions& options) const {
  detail::validate(options);
  if (prompt.empty()) throw InvalidArgument("the prompt has no tokens");
  Session session(model_, detail::session_options(*model_, options));
  const auto t0 = Clock::now();
  Eigen::VectorXf logits;
  if (!detail::feed_prompt(session, prompt, options, logits)) {
    Completion c;
    c.finish_reason = FinishReason::Cancelled;
    c.prompt_tokens = static_cast<std::int64_t>(prompt.size());
    return c;
  }
  const double prompt_ms = ms_since(t0);
  Completion c = detail::generate_from(*this, session, prompt, logits, options, options.sampling.seed, true);
  c.prompt_ms = prompt_ms;
  return c;
}

Completion LanguageModel::chat(const std::vector<ChatMessage>& messages, const GenerateOptions& options,
                               const std::string& template_override) const {
  const jinja::Template tmpl(chat_template(template_override));
  const std::string text = detail::render(tmpl, *tokenizer_, messages);
  // (encode_chat adds BOS only when the template did not spell it: no extra)
  detail::check_text_fits(*tokenizer_, text, 0, detail::context_for(*model_, options));
  return complete_tokens(detail::encode_chat(*tokenizer_, text), options);
}

// --- ChatSession ---------------------------------------------------------------

ChatSession::ChatSession(std::shared_ptr<const LanguageModel> lm, const GenerateOptions& options,
                         const std::string& template_override, const std::string& system_prompt)
    : lm_(std::move(lm)),
      options_(options),
      template_(std::make_shared<const jinja::Template>(lm_->chat_template(template_override))),
      session_(lm_->model_ptr(), detail::session_options(lm_->model(), options)) {
  detail::validate(options_);
  if (!system_prompt.empty()) history_.push_back({"system", system_prompt});
}

std::int64_t ChatSession::cached_tokens() const noexcept { return session_.position(); }

Completion ChatSession::send(const std::string& user_message) {
  const Tokenizer& tok = lm_->tokenizer();
  std::vector<ChatMessage> messages = history_;
  messages.push_back({"user", user_message});
  const std::string rendered = detail::render(*template_, tok, messages);
  detail::check_text_fits(tok, rendered, 0, session_.context_length());
  const std::vector<Token> ids = detail::encode_chat(tok, rendered);
  // Keep the cached tokens that the new rendering starts with; feed the rest.
  std::size_t keep = 0;
  while (keep < cached_.size() && keep < ids.size() && cached_[keep] == ids[keep]) ++keep;
  if (keep == ids.size()) --keep;  // at least one token must be fed to get logits
  session_.truncate(static_cast<std::int64_t>(keep));
  cached_.resize(keep);
  const auto t0 = Clock::now();
  Eigen::VectorXf logits;
  const std::span<const Token> rest(ids.data() + keep, ids.size() - keep);
  if (!detail::feed_prompt(session_, rest, options_, logits)) {
    Completion c;
    c.finish_reason = FinishReason::Cancelled;
    return c;
  }
  cached_ = ids;
  const double prompt_ms = ms_since(t0);
  Completion c = detail::generate_from(*lm_, session_, ids, logits, options_, options_.sampling.seed + turn_++, true);
  c.prompt_ms = prompt_ms;
  c.prompt_tokens = static_cast<std::int64_t>(rest.size());
  // The cache now holds every generated token but the last (never fed).
  cached_.insert(cached_.end(), c.tokens.begin(), c.tokens.end());
  cached_.resize(static_cast<std::size_t>(session_.position()));
  messages.push_back({"assistant", c.text});
  history_ = std::move(messages);
  return c;
}

}  // namespace gpt
