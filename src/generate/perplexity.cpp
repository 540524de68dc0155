// Perplexity as llama-perplexity computes it (see include/gpt/perplexity.h).
#include "gpt/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "gpt/error.h"
#include "gpt/session.h"

namespace gpt {

namespace {

// -log softmax(logits)[target], accumulated in double over f32 exponentials
// of the max-shifted logits.
double negative_log_likelihood(const float* logits, std::int64_t n_vocab, Token target) {
  float max_logit = logits[0];
  for (std::int64_t i = 1; i < n_vocab; ++i) max_logit = std::max(max_logit, logits[i]);
  double sum = 0.0;
  for (std::int64_t i = 0; i < n_vocab; ++i) sum += std::exp(logits[i] - max_logit);
  return -(static_cast<double>(logits[target] - max_logit) - std::log(sum));
}

// Logits of tokens[begin, end) from an empty cache, in pieces of at most
// `batch` tokens; calls score(position, logits row) for positions >= first.
template <typename Score>
void evaluate(Session& s, std::span<const Token> window, std::int64_t first, std::int64_t batch, Score score) {
  s.reset();
  const auto n = static_cast<std::int64_t>(window.size());
  for (std::int64_t b = 0; b < n; b += batch) {
    const std::int64_t len = std::min(batch, n - b);
    const RowMatrix logits = s.forward(window.subspan(static_cast<std::size_t>(b), static_cast<std::size_t>(len)));
    for (std::int64_t r = 0; r < len; ++r)
      if (b + r >= first) score(b + r, logits.row(r).data());
  }
}

}  // namespace

PerplexityResult perplexity(std::shared_ptr<const Model> model, std::span<const Token> tokens,
                            const PerplexityOptions& o, const std::function<void(const PerplexityChunk&)>& on_chunk) {
  if (!model) throw InvalidArgument("perplexity: model is null");
  const std::int64_t n_ctx = o.context;
  const auto n_tok = static_cast<std::int64_t>(tokens.size());
  const std::int64_t n_vocab = model->config().vocab_size;
  if (n_ctx < 4) throw InvalidArgument("perplexity: the context must be at least 4 tokens");
  if (n_tok < 2 * n_ctx)
    throw InvalidArgument("perplexity: the text has " + std::to_string(n_tok) + " tokens; a context of " +
                          std::to_string(n_ctx) + " needs at least " + std::to_string(2 * n_ctx));
  if (o.stride < 0 || o.stride >= n_ctx)
    throw InvalidArgument("perplexity: the stride must be in [1, context - 1] (or 0 for chunks)");
  if (o.bos >= n_vocab) throw InvalidArgument("perplexity: BOS id " + std::to_string(o.bos) + " is outside the vocabulary");
  for (Token t : tokens)
    if (t < 0 || t >= n_vocab)
      throw InvalidArgument("perplexity: token id " + std::to_string(t) + " is outside the vocabulary");

  SessionOptions so;
  so.context_length = n_ctx;
  so.threads = o.threads;
  Session s(model, so);
  const std::int64_t batch = std::min<std::int64_t>(n_ctx, 512);

  const bool strided = o.stride > 0;
  std::int64_t n_chunk = strided ? (n_tok - n_ctx + o.stride - 1) / o.stride : n_tok / n_ctx;
  if (o.max_chunks >= 0) n_chunk = std::min(n_chunk, o.max_chunks);
  if (n_chunk <= 0) throw InvalidArgument("perplexity: no chunk to evaluate");

  PerplexityResult r;
  double nll = 0.0, nll2 = 0.0;
  std::int64_t count = 0;
  std::vector<Token> window(static_cast<std::size_t>(n_ctx));
  for (std::int64_t i = 0; i < n_chunk; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::int64_t start = strided ? i * o.stride : i * n_ctx;
    std::copy_n(tokens.begin() + start, n_ctx, window.begin());
    // Chunks: positions n_ctx/2 .. n_ctx-2 predict the next token. Windows:
    // the last `stride` predictions, positions n_ctx-stride-1 .. n_ctx-2.
    const std::int64_t first = strided ? n_ctx - o.stride - 1 : n_ctx / 2;
    if (!strided && o.bos >= 0) window[0] = o.bos;
    evaluate(s, window, first, batch, [&](std::int64_t pos, const float* logits) {
      if (pos >= n_ctx - 1) return;
      const double v = negative_log_likelihood(logits, n_vocab, tokens[static_cast<std::size_t>(start + pos + 1)]);
      nll += v;
      nll2 += v * v;
      ++count;
    });
    r.ppl_after_chunk.push_back(std::exp(nll / static_cast<double>(count)));
    if (on_chunk)
      on_chunk({i, n_chunk, r.ppl_after_chunk.back(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()});
  }
  r.chunks = n_chunk;
  r.tokens_scored = count;
  r.mean_nll = nll / static_cast<double>(count);
  r.ppl = std::exp(r.mean_nll);
  if (!strided && count > 1) {
    const double var = nll2 / static_cast<double>(count) - r.mean_nll * r.mean_nll;
    r.ppl_error = var > 0.0 ? std::sqrt(var / static_cast<double>(count - 1)) * r.ppl : 0.0;
  }
  return r;
}

}  // namespace gpt
