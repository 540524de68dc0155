// Perplexity of a model on a token sequence, computed as llama.cpp's
// llama-perplexity computes it, so that the two can be compared number for
// number:
//  - chunks (stride == 0): the tokens are cut into chunks of `context`
//    tokens (the rest is dropped); each chunk is evaluated from an empty
//    cache, its first token replaced by `bos` when bos >= 0, and only the
//    second half is scored: the logits at positions context/2 .. context-2
//    predict the next token. PPL = exp(mean NLL), with the standard error
//    of that estimate (llama.cpp's "+/-").
//  - strided windows (stride > 0): windows of `context` tokens start every
//    `stride` tokens; the last `stride` predictions of each are scored (no
//    BOS replacement, no standard error), as llama-perplexity --ppl-stride.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "gpt/model.h"
#include "gpt/types.h"

namespace gpt {

struct PerplexityOptions {
  std::int64_t context = 512;    // tokens per chunk or window (>= 4)
  std::int64_t stride = 0;       // 0: chunks; > 0: strided windows
  std::int64_t max_chunks = -1;  // evaluate at most this many chunks/windows; -1 = all
  int threads = 0;               // 0 = all cores
  Token bos = -1;                // chunks only: put in place of each chunk's first token (-1: keep it)
};

struct PerplexityChunk {
  std::int64_t index = 0;        // 0-based
  std::int64_t count = 0;        // chunks or windows in all
  double ppl_so_far = 0.0;       // over every token scored up to this chunk
  double seconds = 0.0;          // this chunk's evaluation time
};

struct PerplexityResult {
  double ppl = 0.0;
  double ppl_error = 0.0;        // standard error of ppl (chunks only; 0 for strided)
  double mean_nll = 0.0;         // natural log
  std::int64_t tokens_scored = 0;
  std::int64_t chunks = 0;
  std::vector<double> ppl_after_chunk;
};

// Throws InvalidArgument when there are fewer than 2 * context tokens (as
// llama-perplexity requires), context < 4, a stride outside (0, context),
// or a token outside the vocabulary. on_chunk (optional) is called after
// each chunk, for progress output.
PerplexityResult perplexity(std::shared_ptr<const Model> model, std::span<const Token> tokens,
                            const PerplexityOptions& options = {},
                            const std::function<void(const PerplexityChunk&)>& on_chunk = {});

}  // namespace gpt
