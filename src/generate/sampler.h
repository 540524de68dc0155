// Next-token sampling: logit bias, repetition / presence / frequency
// penalties, temperature, top-k, top-p, min-p and a seeded draw.
//
// The pipeline, in order (see SamplingOptions in gpt/generate.h):
//   1. logit_bias[t] is added to logits[t];
//   2. repetition penalty over the distinct tokens of the last penalty_last_n
//      history tokens: logit > 0 ? logit / p : logit * p (HF / llama.cpp);
//   3. presence and frequency penalties over the same window (OpenAI):
//      logit -= presence * (count > 0) + frequency * count;
//   4. temperature 0: arg-max (the first maximum on ties), nothing else;
//   5. otherwise softmax(logits / temperature), then top-k, top-p, min-p,
//      renormalise and draw with the sampler's std::mt19937_64.
//
// Determinism: the draw turns one raw 64-bit output of std::mt19937_64 (whose
// sequence the C++ standard fixes) into a double in [0, 1) itself, so the
// same seed, options and logits give the same token with every standard
// library. Probabilities are computed in double. Ties between equal logits
// are broken by the lower token id everywhere (top-k, top-p, arg-max).
//
// Threads: a Sampler holds its random state; use one per sequence.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "gpt/generate.h"
#include "gpt/types.h"

namespace gpt::detail {

// A token that survived filtering, with its renormalised probability.
struct Candidate {
  Token token = 0;
  double p = 0.0;
};

// Steps 1-3: adds the logit bias and applies the penalties in place.
// history is every token seen so far (prompt and generated), oldest first;
// the penalties look at its last penalty_last_n entries (-1 = all).
// Throws InvalidArgument for a bias or history token outside the logits.
void apply_bias_and_penalties(const SamplingOptions& options, Eigen::Ref<Eigen::VectorXf> logits,
                              std::span<const Token> history);

// Steps 4-5 without the draw: the candidates that survive temperature,
// top-k, top-p and min-p, most likely first (ties: lower id first), with
// probabilities renormalised to sum to 1. With temperature 0 it is the
// single arg-max with p = 1. Boundaries are inclusive: a prefix whose mass
// equals top_p is enough, and a token with p == min_p * p_max is kept
// (within a relative 1e-6, so that values written as decimal floats behave
// as written). Throws InvalidArgument when every logit is -inf or NaN.
std::vector<Candidate> filter_candidates(const SamplingOptions& options,
                                         const Eigen::Ref<const Eigen::VectorXf>& logits);

// The index of the largest logit; the first one on ties.
Token argmax(const Eigen::Ref<const Eigen::VectorXf>& logits);

// A double uniform in [0, 1) from the top 53 bits of one raw draw.
double uniform01(std::mt19937_64& rng);

// log(softmax(logits)), computed in double and returned as float.
Eigen::VectorXf log_softmax(const Eigen::Ref<const Eigen::VectorXf>& logits);

// The n largest entries of values (e.g. log-probabilities) as (token, value),
// largest first, ties by lower id. n is clamped to [0, size].
std::vector<std::pair<Token, float>> top_n(const Eigen::Ref<const Eigen::VectorXf>& values, int n);

// Chooses next tokens. Validates the options on construction (throws
// InvalidArgument); the random generator is seeded with options.seed.
class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options);

  // Applies the whole pipeline and returns the chosen token. logits is
  // modified in place (bias and penalties). history as for
  // apply_bias_and_penalties. Greedy sampling does not advance the
  // random generator.
  Token sample(Eigen::Ref<Eigen::VectorXf> logits, std::span<const Token> history);
  // The same on logits that already had apply_bias_and_penalties (steps 4-5).
  Token sample_prepared(Eigen::Ref<Eigen::VectorXf> logits);

  const SamplingOptions& options() const noexcept { return options_; }

 private:
  SamplingOptions options_;
  std::mt19937_64 rng_;
};

}  // namespace gpt::detail
