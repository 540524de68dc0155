// A Session runs the decoder over a token stream and owns the KV cache.
//
// Ownership and threads: a Session holds a shared_ptr to its (immutable)
// Model and owns its cache and scratch buffers. One Session is used by one
// thread at a time; many Sessions may share one Model concurrently.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "gpt/model.h"
#include "gpt/types.h"

namespace gpt {

struct SessionOptions {
  // Tokens the KV cache holds; 0 = the model's max_seq_len.
  std::int64_t context_length = 0;
  // Threads for matrix products and attention; 0 = every core this process may use.
  int threads = 0;
  // Most bytes the session may hold for its KV cache plus the scratch of
  // one forward() call (activations, attention scores, logits; estimated
  // from the shapes). A call that would need more throws InvalidArgument
  // before allocating anything, naming both figures. 0 = no limit.
  std::size_t max_memory_bytes = std::size_t{16} << 30;  // 16 GiB
  // Keep every layer's and head's attention probabilities for the positions
  // processed (attention()). Off: no cost. On: n_layer * n_head * N^2 floats
  // for N positions, counted against max_memory_bytes.
  bool capture_attention = false;
};

class Session {
 public:
  explicit Session(std::shared_ptr<const Model> model, const SessionOptions& options = {});
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // Appends tokens after those already seen and returns their logits,
  // [tokens.size(), vocab_size]. Feeding a prompt in one call or one token at
  // a time gives the same logits. Throws InvalidArgument for an id outside
  // the vocabulary or when the context would overflow; the session is then
  // unchanged.
  RowMatrix forward(std::span<const Token> tokens);

  // Same, but returns only the last position's logits ([vocab_size]).
  Eigen::VectorXf forward_last(std::span<const Token> tokens);

  std::int64_t position() const noexcept;        // tokens in the cache
  std::int64_t context_length() const noexcept;  // capacity
  void reset() noexcept;                         // forget everything
  void truncate(std::int64_t n_tokens);          // keep the first n tokens

  const Model& model() const noexcept;

  // With SessionOptions::capture_attention: the attention probabilities of
  // layer l, query head h at index l * n_head + h, each [position(),
  // position()]: row i is what position i attended to (keys 0..i; 0 where
  // masked). Empty when capture is off.
  const std::vector<RowMatrix>& attention() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Greedy decoding: feeds prompt, then repeatedly appends the arg-max token.
// Stops after max_new_tokens or when a token in stop_tokens is produced (it
// is included in the result). Returns only the new tokens.
std::vector<Token> greedy_generate(Session& session, std::span<const Token> prompt,
                                   std::int64_t max_new_tokens,
                                   std::span<const Token> stop_tokens = {});

}  // namespace gpt
