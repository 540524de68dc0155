// Batched decoding: many sequences advanced by one forward pass per step.
//
//   auto lm = gpt::LanguageModel::load("models/SmolLM2-135M-Instruct.Q4_1.gguf");
//   gpt::Batch batch(lm, {.max_sequences = 16});
//   std::vector<gpt::Batch::Id> ids;
//   for (const auto& prompt : prompts) {
//     auto more = batch.submit(lm->tokenizer().encode(prompt, {.add_special_tokens = true}), options);  // n ids
//     ids.insert(ids.end(), more.begin(), more.end());
//   }
//   batch.run();                                  // or step() in your own loop
//   for (auto id : ids) gpt::Completion c = batch.take(id);
//
// Each step() runs one forward pass over every running sequence: one new
// token for each sequence that is generating, plus the next prompt chunk
// (kPromptChunk tokens) of sequences still reading their prompt, as many
// as step_tokens allows (at least one chunk, and one chunk per sequence, so
// a long prompt never stalls the others for more than a chunk). Sequences
// join (from the queue) and leave (finished, cancelled) between steps.
//
// Batch invariance: a sequence's logits, and so its tokens for a given seed,
// are bit for bit the same whether it runs alone or beside any other
// sequences, at any thread count; they also equal those of
// LanguageModel::complete_tokens with the default prompt_batch (64).
//
// KV cache: one pool of pages (64 positions each, all layers) for all
// sequences, with a fixed budget (kv_cache_tokens). A sequence is admitted
// only when the pool can hold its worst case (prompt + max_tokens,
// capped by the context); until then it waits in the queue. A sequence
// whose worst case exceeds the whole pool is refused by submit().
// Sequences whose prompts start with the same tokens share the cached
// pages of that prefix instead of computing it again: the n completions of
// one submit() share the whole prompt; other sequences share the whole
// 64-token chunks of a common prefix with a sequence still running.
//
// Threads: a Batch is used by one thread at a time (streaming callbacks run
// on it, inside step()).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "gpt/generate.h"

namespace gpt {

struct BatchOptions {
  int threads = 0;                   // worker threads; 0 = all cores
  std::int32_t max_sequences = 16;   // sequences running together; more wait in the queue
  std::int64_t context_length = 0;   // positions per sequence; 0 = the model's, capped at 4096
  std::int64_t kv_cache_tokens = 0;  // positions the KV pool holds for all sequences; 0 = max_sequences * (context_length + 64)
  std::int64_t step_tokens = 256;    // prompt tokens per step at most (at least one chunk)
};

class Batch {
 public:
  using Id = std::uint64_t;
  static constexpr std::int64_t kPromptChunk = 64;  // prompt tokens per chunk (one KV page)

  // Throws InvalidArgument for options out of range.
  Batch(std::shared_ptr<const LanguageModel> lm, const BatchOptions& options = {});
  ~Batch();
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  // Queues options.n completions of `prompt` (already tokenized: BOS and chat
  // template included) with seeds seed, seed + 1, ...; they share the
  // prompt's cache. Per sequence: sampling, stop strings and tokens,
  // ignore_eos, logprobs, grammar, max_tokens, and options.on_text, which
  // streams the first of the n (and, with an empty piece after each prompt
  // chunk, lets the caller cancel; returning false cancels). threads,
  // context_length, prompt_batch and max_memory_bytes are the Batch's, not
  // the sequence's. Throws InvalidArgument for bad options, an empty prompt,
  // an id outside the vocabulary, a prompt that leaves no room in the
  // context, n > max_sequences, or a worst case larger than the KV pool.
  std::vector<Id> submit(std::vector<Token> prompt, const GenerateOptions& options);

  // One forward pass (admitting queued sequences first). Returns how many
  // sequences are still queued or running.
  std::size_t step();
  // step() until every sequence has finished.
  void run();

  // Ends a sequence at the next step (FinishReason::Cancelled), queued or
  // running; a no-op for one already finished or taken.
  void cancel(Id id);
  bool finished(Id id) const;
  // The finished sequence's completion (it is then forgotten). Rethrows the
  // error that ended it, if one did. Throws InvalidArgument for an id that
  // is unknown, taken, or not finished yet.
  Completion take(Id id);

  std::size_t queued() const noexcept;
  std::size_t running() const noexcept;

  struct Stats {
    std::int64_t steps = 0;
    std::int64_t prompt_tokens_computed = 0;  // prompt tokens run through the model
    std::int64_t prompt_tokens_shared = 0;    // prompt tokens taken from another sequence's cache
    std::int64_t generated_tokens = 0;        // tokens fed back while generating
    std::int64_t kv_pages_used = 0;           // now
    std::int64_t kv_pages_peak = 0;
    std::int64_t kv_pages_total = 0;          // the pool's budget
    std::size_t kv_page_bytes = 0;
  };
  Stats stats() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace gpt
