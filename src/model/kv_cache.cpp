// The paged KV cache: see kv_cache.h.
#include "model/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "gpt/error.h"

namespace gpt::detail {

KvPool::KvPool(const ModelConfig& c, std::int64_t max_pages)
    : width_(c.n_kv_head * c.head_dim), n_layer_(c.n_layer), max_pages_(max_pages) {
  if (width_ <= 0 || n_layer_ <= 0) throw InvalidArgument("KV cache: the model has no layers or no key/value heads");
  if (max_pages < 0) throw InvalidArgument("KV cache: negative page count");
}

std::size_t KvPool::page_bytes() const noexcept {
  return static_cast<std::size_t>(2 * n_layer_ * kPageTokens * width_) * sizeof(float);
}

std::int32_t KvPool::allocate() {
  if (used_ >= max_pages_)
    throw InvalidArgument("KV cache full: all " + std::to_string(max_pages_) + " pages of " +
                          std::to_string(kPageTokens) + " positions are in use");
  std::int32_t p;
  if (!free_.empty()) {
    p = free_.back();
    free_.pop_back();
  } else {
    p = static_cast<std::int32_t>(pages_.size());
    pages_.emplace_back(new float[page_bytes() / sizeof(float)]);
    refs_.push_back(0);
  }
  refs_[static_cast<std::size_t>(p)] = 1;
  ++used_;
  return p;
}

void KvPool::retain(std::int32_t page) { ++refs_[static_cast<std::size_t>(page)]; }

void KvPool::release(std::int32_t page) {
  int& r = refs_[static_cast<std::size_t>(page)];
  if (--r == 0) {
    free_.push_back(page);
    --used_;
  }
}

float* KvPool::k(std::int32_t page, std::int64_t layer) noexcept {
  return pages_[static_cast<std::size_t>(page)].get() + layer * 2 * kPageTokens * width_;
}

std::int64_t KvSequence::pages_needed(const KvPool& pool, std::int64_t n) const {
  std::int64_t need = std::max<std::int64_t>(0, pages_for(n) - static_cast<std::int64_t>(pages.size()));
  if (n > length && length % kPageTokens != 0 && pool.refs(pages[static_cast<std::size_t>(length / kPageTokens)]) > 1)
    ++need;  // the shared, partly filled last page is copied before it is written
  return need;
}

void KvSequence::reserve(KvPool& pool, std::int64_t n) {
  if (n <= length) return;
  if (pages_needed(pool, n) > pool.free_pages())
    throw InvalidArgument("KV cache full: " + std::to_string(n) + " positions need " +
                          std::to_string(pages_needed(pool, n)) + " more pages of " + std::to_string(kPageTokens) +
                          " positions, " + std::to_string(pool.free_pages()) + " are free");
  if (length % kPageTokens != 0) {
    const auto i = static_cast<std::size_t>(length / kPageTokens);
    if (pool.refs(pages[i]) > 1) {  // copy on write
      const std::int32_t copy = pool.allocate();
      std::memcpy(pool.k(copy, 0), pool.k(pages[i], 0), pool.page_bytes());
      pool.release(pages[i]);
      pages[i] = copy;
    }
  }
  while (static_cast<std::int64_t>(pages.size()) < pages_for(n)) pages.push_back(pool.allocate());
}

void KvSequence::truncate(KvPool& pool, std::int64_t n) {
  if (n < 0 || n > length) throw InvalidArgument("KV cache: truncate to " + std::to_string(n) + " of " + std::to_string(length));
  while (static_cast<std::int64_t>(pages.size()) > pages_for(n)) {
    pool.release(pages.back());
    pages.pop_back();
  }
  length = n;
}

void KvSequence::share(KvPool& pool, const KvSequence& src, std::int64_t n) {
  if (n < 0 || n > src.length) throw InvalidArgument("KV cache: sharing " + std::to_string(n) + " of " + std::to_string(src.length));
  for (std::int64_t i = 0; i < pages_for(n); ++i) pool.retain(src.pages[static_cast<std::size_t>(i)]);
  clear(pool);
  pages.assign(src.pages.begin(), src.pages.begin() + pages_for(n));
  length = n;
}

}  // namespace gpt::detail
