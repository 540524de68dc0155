// The decoder forward pass over one or several sequences at once (internal to
// src/; Session and Batch are its public faces).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "gpt/types.h"
#include "model/kv_cache.h"
#include "model/model_data.h"

namespace gpt::detail {

// New tokens for one sequence; they take positions seq->length ...
struct ForwardItem {
  KvSequence* seq = nullptr;
  std::span<const Token> tokens;
  bool all_rows = false;                    // return every row's hidden state, not only the last
  std::vector<RowMatrix>* attention = nullptr;  // receives [layer * n_head + head] probabilities [T, length + T]
};

// Runs every item's tokens through the decoder in one pass: the weight
// matrices are read once for all rows. Each item's K and V rows are written
// into its pages (which the caller reserved: seq->reserve(length + T)), and
// its length grows by T. Returns the final hidden states after the output
// norm: each item's rows (all, or its last), stacked in item order.
//
// Batch invariance: a row's result does not depend on the other items, on
// its place in the batch or on the thread count. Consecutive one-token items
// form one group of rows computed row by row (kernels::matmul rowwise);
// every longer item is its own group, computed exactly as if it ran alone;
// attention is per item and head, over that item's own pages.
RowMatrix forward(const ModelData& m, KvPool& pool, std::span<ForwardItem> items, int threads);

// Logits of final hidden states, [h.rows(), vocab]; rowwise as
// kernels::matmul (each row as if alone).
RowMatrix logits(const ModelData& m, const RowMatrix& h, int threads, bool rowwise);

}  // namespace gpt::detail
