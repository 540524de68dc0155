// The KV cache: fixed-size pages carved out of one pool, and the sequences
// that own (or share) them. Internal to src/.
//
// A page holds kPageTokens consecutive positions of one sequence, for every
// layer: K and V rows of n_kv_head * head_dim floats. A sequence is a list of
// pages plus its length; position p lives in row p % kPageTokens of page
// pages[p / kPageTokens]. Pages are reference-counted: sequences that start
// with the same tokens can share the pages of that prefix (fork()); a page
// that is about to be written while shared is copied first (copy on write).
//
// The pool allocates pages on first use, up to max_pages, and keeps freed
// pages for reuse (the memory stays with the pool until it is destroyed).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "gpt/config.h"

namespace gpt::detail {

inline constexpr std::int64_t kPageTokens = 64;

class KvPool {
 public:
  KvPool(const ModelConfig& config, std::int64_t max_pages);

  std::int64_t width() const noexcept { return width_; }  // floats per K (or V) row
  std::int64_t max_pages() const noexcept { return max_pages_; }
  void set_max_pages(std::int64_t n) noexcept { max_pages_ = n; }
  std::int64_t used_pages() const noexcept { return used_; }
  std::int64_t free_pages() const noexcept { return max_pages_ - used_; }
  // Bytes of one page (all layers, K and V).
  std::size_t page_bytes() const noexcept;
  // Bytes the pool holds (pages allocated so far, used or free).
  std::size_t allocated_bytes() const noexcept { return pages_.size() * page_bytes(); }

  // A page with one reference. Throws InvalidArgument when max_pages are in use.
  std::int32_t allocate();
  void retain(std::int32_t page);
  void release(std::int32_t page);  // frees the page with its last reference
  int refs(std::int32_t page) const { return refs_[static_cast<std::size_t>(page)]; }

  // Rows of a page for one layer: [kPageTokens, width()].
  float* k(std::int32_t page, std::int64_t layer) noexcept;
  float* v(std::int32_t page, std::int64_t layer) noexcept { return k(page, layer) + kPageTokens * width_; }

 private:
  std::int64_t width_, n_layer_, max_pages_;
  std::int64_t used_ = 0;
  std::vector<std::unique_ptr<float[]>> pages_;
  std::vector<int> refs_;
  std::vector<std::int32_t> free_;
};

// One sequence's view of the pool.
struct KvSequence {
  std::vector<std::int32_t> pages;
  std::int64_t length = 0;  // positions cached

  // Pages that holding `n` positions takes.
  static std::int64_t pages_for(std::int64_t n) { return (n + kPageTokens - 1) / kPageTokens; }
  // Makes room for positions [length, n): allocates the pages still missing
  // and copies a shared page that position `length` would write into.
  // Throws InvalidArgument when the pool runs out (nothing is lost then).
  void reserve(KvPool& pool, std::int64_t n);
  // Pages a reserve(n) would allocate (copies included).
  std::int64_t pages_needed(const KvPool& pool, std::int64_t n) const;
  // Keeps the first n positions; releases the pages past them.
  void truncate(KvPool& pool, std::int64_t n);
  void clear(KvPool& pool) { truncate(pool, 0); }
  // Becomes the first n positions of `src` (sharing its pages); releases
  // what this sequence held before.
  void share(KvPool& pool, const KvSequence& src, std::int64_t n);
};

}  // namespace gpt::detail
