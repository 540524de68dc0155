// Sampling pipeline; see sampler.h for the order and semantics.
#include "generate/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <string>
#include <unordered_map>

#include "gpt/error.h"

namespace gpt {

namespace {

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

[[noreturn]] void bad(const char* field, const std::string& value, const char* expected) {
  throw InvalidArgument(std::string("sampling option ") + field + " = " + value + " is out of range (" + expected + ")");
}

}  // namespace

void SamplingOptions::validate() const {
  if (!std::isfinite(temperature) || temperature < 0.0f) bad("temperature", num(temperature), "must be finite and >= 0");
  if (top_k < 0) bad("top_k", std::to_string(top_k), "must be >= 0; 0 = off");
  if (!(top_p > 0.0f && top_p <= 1.0f)) bad("top_p", num(top_p), "must be in (0, 1]");
  if (!(min_p >= 0.0f && min_p < 1.0f)) bad("min_p", num(min_p), "must be in [0, 1)");
  if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty))
    bad("repetition_penalty", num(repetition_penalty), "must be finite and > 0");
  if (!std::isfinite(presence_penalty)) bad("presence_penalty", num(presence_penalty), "must be finite");
  if (!std::isfinite(frequency_penalty)) bad("frequency_penalty", num(frequency_penalty), "must be finite");
  if (penalty_last_n < -1) bad("penalty_last_n", std::to_string(penalty_last_n), "must be >= -1; -1 = all");
  for (const auto& [token, bias] : logit_bias) {
    if (token < 0) bad("logit_bias", std::string("{") + std::to_string(token) + ": " + num(bias) + "}", "token ids are >= 0");
    if (std::isnan(bias)) bad("logit_bias", std::string("{") + std::to_string(token) + ": nan}", "bias must not be NaN");
  }
}

namespace detail {

namespace {

// Relative slack on the top-p and min-p boundaries (see sampler.h).
constexpr double kBoundarySlack = 1e-6;

// Orders token ids by logit, largest first, lower id first on ties.
struct ByLogitDesc {
  const float* l;
  bool operator()(Token a, Token b) const {
    if (l[a] != l[b]) return l[a] > l[b];
    return a < b;
  }
};

}  // namespace

void apply_bias_and_penalties(const SamplingOptions& o, Eigen::Ref<Eigen::VectorXf> logits,
                              std::span<const Token> history) {
  const Eigen::Index n = logits.size();
  for (const auto& [token, bias] : o.logit_bias) {
    if (token < 0 || token >= n)
      throw InvalidArgument("logit_bias names token " + std::to_string(token) + " outside the vocabulary of " +
                            std::to_string(n));
    logits[token] += bias;
  }

  const bool repetition = o.repetition_penalty != 1.0f;
  const bool additive = o.presence_penalty != 0.0f || o.frequency_penalty != 0.0f;
  if (o.penalty_last_n == 0 || (!repetition && !additive) || history.empty()) return;

  std::size_t window = history.size();
  if (o.penalty_last_n > 0) window = std::min<std::size_t>(window, static_cast<std::size_t>(o.penalty_last_n));
  const auto recent = history.subspan(history.size() - window);

  std::unordered_map<Token, int> count;
  count.reserve(recent.size());
  for (Token t : recent) {
    if (t < 0 || t >= n)
      throw InvalidArgument("history token " + std::to_string(t) + " is outside the vocabulary of " +
                            std::to_string(n));
    ++count[t];
  }
  for (const auto& [t, c] : count) {
    float& l = logits[t];
    if (repetition) l = l > 0.0f ? l / o.repetition_penalty : l * o.repetition_penalty;
    l -= o.presence_penalty + o.frequency_penalty * static_cast<float>(c);
  }
}

Token argmax(const Eigen::Ref<const Eigen::VectorXf>& logits) {
  if (logits.size() == 0) throw InvalidArgument("cannot sample from empty logits");
  Token best = 0;
  for (Eigen::Index i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = static_cast<Token>(i);
  return best;
}

std::vector<Candidate> filter_candidates(const SamplingOptions& o, const Eigen::Ref<const Eigen::VectorXf>& logits) {
  if (o.temperature == 0.0f) return {Candidate{argmax(logits), 1.0}};

  // Tokens that can be drawn at all (finite or +inf logits), as ids.
  const Eigen::VectorXf l = logits;  // contiguous copy for the comparator
  std::vector<Token> ids;
  ids.reserve(static_cast<std::size_t>(l.size()));
  for (Eigen::Index i = 0; i < l.size(); ++i)
    if (l[i] > -std::numeric_limits<float>::infinity()) ids.push_back(static_cast<Token>(i));
  if (ids.empty()) throw InvalidArgument("every logit is -inf or NaN: nothing to sample");

  // top-k on the logits (the same order as the probabilities).
  const ByLogitDesc order{l.data()};
  if (o.top_k > 0 && static_cast<std::size_t>(o.top_k) < ids.size()) {
    std::nth_element(ids.begin(), ids.begin() + o.top_k, ids.end(), order);
    ids.resize(static_cast<std::size_t>(o.top_k));
  }

  // softmax(l / T) over the kept tokens, in double. A +inf logit takes all
  // the mass (the first one, on ties).
  const Token best = *std::min_element(ids.begin(), ids.end(), order);
  const double t = o.temperature;
  const double top = static_cast<double>(l[best]) / t;
  std::vector<Candidate> c(ids.size());
  double sum = 0.0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const double e = std::isinf(top) ? (ids[i] == best ? 1.0 : 0.0)
                                     : std::exp(static_cast<double>(l[ids[i]]) / t - top);
    c[i] = Candidate{ids[i], e};
    sum += e;
  }
  for (auto& ci : c) ci.p /= sum;
  const double p_max = c[static_cast<std::size_t>(std::find(ids.begin(), ids.end(), best) - ids.begin())].p;

  // min-p: drop p < min_p * p_max. Done before sorting (only survivors need
  // sorting); top-p keeps a prefix of the same order, so the result is the
  // intersection either way, and top-p below still uses the mass above.
  if (o.min_p > 0.0f) {
    const double threshold = static_cast<double>(o.min_p) * p_max * (1.0 - kBoundarySlack);
    c.erase(std::remove_if(c.begin(), c.end(), [&](const Candidate& x) { return x.p < threshold; }), c.end());
  }
  std::sort(c.begin(), c.end(), [&](const Candidate& a, const Candidate& b) { return order(a.token, b.token); });

  // top-p: the smallest prefix with mass >= top_p (at least one token).
  if (o.top_p < 1.0f) {
    const double target = static_cast<double>(o.top_p) * (1.0 - kBoundarySlack);
    double cum = 0.0;
    for (std::size_t i = 0; i < c.size(); ++i) {
      cum += c[i].p;
      if (cum >= target) {
        c.resize(i + 1);
        break;
      }
    }
  }

  double total = 0.0;
  for (const auto& ci : c) total += ci.p;
  for (auto& ci : c) ci.p /= total;
  // Zero-probability tails (exp underflow) can never be drawn; drop them.
  while (c.size() > 1 && c.back().p == 0.0) c.pop_back();
  return c;
}

double uniform01(std::mt19937_64& rng) {
  // 53 random bits -> [0, 1) with the spacing of a double's mantissa.
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

Eigen::VectorXf log_softmax(const Eigen::Ref<const Eigen::VectorXf>& logits) {
  Eigen::VectorXf out(logits.size());
  if (logits.size() == 0) return out;
  const double m = static_cast<double>(logits.maxCoeff());
  double sum = 0.0;
  for (Eigen::Index i = 0; i < logits.size(); ++i) sum += std::exp(static_cast<double>(logits[i]) - m);
  const double lse = m + std::log(sum);
  for (Eigen::Index i = 0; i < logits.size(); ++i) out[i] = static_cast<float>(static_cast<double>(logits[i]) - lse);
  return out;
}

std::vector<std::pair<Token, float>> top_n(const Eigen::Ref<const Eigen::VectorXf>& values, int n) {
  const Eigen::VectorXf v = values;
  const std::size_t size = static_cast<std::size_t>(v.size());
  const std::size_t k = std::min<std::size_t>(size, static_cast<std::size_t>(std::max(n, 0)));
  std::vector<Token> ids(size);
  std::iota(ids.begin(), ids.end(), 0);
  // NaN never wins: order NaN below everything.
  auto less_nan = [&](Token a, Token b) {
    const bool na = std::isnan(v[a]), nb = std::isnan(v[b]);
    if (na != nb) return nb;
    if (!na && v[a] != v[b]) return v[a] > v[b];
    return a < b;
  };
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(), less_nan);
  std::vector<std::pair<Token, float>> out;
  out.reserve(k);
  for (std::size_t i = 0; i < k; ++i) out.emplace_back(ids[i], v[ids[i]]);
  return out;
}

Sampler::Sampler(const SamplingOptions& options) : options_(options), rng_(options.seed) { options_.validate(); }

Token Sampler::sample(Eigen::Ref<Eigen::VectorXf> logits, std::span<const Token> history) {
  apply_bias_and_penalties(options_, logits, history);
  return sample_prepared(logits);
}

Token Sampler::sample_prepared(Eigen::Ref<Eigen::VectorXf> logits) {
  if (options_.temperature == 0.0f) return argmax(logits);
  const std::vector<Candidate> c = filter_candidates(options_, logits);
  if (c.size() == 1) {
    rng_();  // keep the random sequence independent of how many candidates survive
    return c[0].token;
  }
  const double u = uniform01(rng_);
  double cum = 0.0;
  for (const auto& ci : c) {
    cum += ci.p;
    if (u < cum) return ci.token;
  }
  return c.back().token;  // u within rounding of 1
}

}  // namespace detail
}  // namespace gpt
