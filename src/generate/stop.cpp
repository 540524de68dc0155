// Stop-string matching over streamed text; see stop.h.
#include "generate/stop.h"

#include <algorithm>

#include "gpt/error.h"

namespace gpt::detail {

namespace {

// Bytes at the end of s that start a UTF-8 character whose continuation
// bytes have not arrived yet (0 if s ends on a whole character or on bytes
// that cannot become one).
std::size_t incomplete_utf8_tail(std::string_view s) {
  const std::size_t n = s.size();
  for (std::size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto b = static_cast<unsigned char>(s[n - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: look further back
    std::size_t need = 0;
    if ((b & 0xE0) == 0xC0) need = 2;
    else if ((b & 0xF0) == 0xE0) need = 3;
    else if ((b & 0xF8) == 0xF0) need = 4;
    return need > back ? back : 0;
  }
  return 0;
}

}  // namespace

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (std::size_t i = 0; i < stops.size(); ++i)
    if (stops[i].empty()) throw InvalidArgument("stop string " + std::to_string(i) + " is empty");
  // The trie of the stop strings.
  fail_.push_back(0);
  depth_.push_back(0);
  longest_.push_back(0);
  std::vector<std::vector<std::int32_t>> children(1);  // for the breadth-first pass below
  for (const auto& s : stops) {
    std::int32_t node = 0;
    for (char ch : s) {
      const auto key = (std::uint64_t(node) << 8) | static_cast<unsigned char>(ch);
      auto it = next_.find(key);
      if (it == next_.end()) {
        const auto id = static_cast<std::int32_t>(depth_.size());
        it = next_.emplace(key, id).first;
        fail_.push_back(0);
        depth_.push_back(depth_[std::size_t(node)] + 1);
        longest_.push_back(0);
        children.emplace_back();
        children[std::size_t(node)].push_back(id);
      }
      node = it->second;
    }
    longest_[std::size_t(node)] = s.size();
  }
  // Failure links, breadth first: a node's link is found from its parent's.
  // The byte that leads to each node is the last byte of its prefix; keep
  // it beside the queue.
  std::vector<std::int32_t> queue;
  std::vector<unsigned char> last(depth_.size(), 0);
  for (const auto& [key, id] : next_) last[std::size_t(id)] = static_cast<unsigned char>(key & 0xff);
  queue.push_back(0);
  for (std::size_t q = 0; q < queue.size(); ++q) {
    const std::int32_t u = queue[q];
    for (std::int32_t v : children[std::size_t(u)]) {
      if (u != 0) fail_[std::size_t(v)] = step(fail_[std::size_t(u)], last[std::size_t(v)]);
      if (longest_[std::size_t(v)] == 0) longest_[std::size_t(v)] = longest_[std::size_t(fail_[std::size_t(v)])];
      queue.push_back(v);
    }
  }
}

std::int32_t StopMatcher::child(std::int32_t node, unsigned char byte) const {
  auto it = next_.find((std::uint64_t(node) << 8) | byte);
  return it == next_.end() ? -1 : it->second;
}

std::int32_t StopMatcher::step(std::int32_t node, unsigned char byte) const {
  for (;;) {
    if (const std::int32_t c = child(node, byte); c >= 0) return c;
    if (node == 0) return 0;
    node = fail_[std::size_t(node)];
  }
}

std::string StopMatcher::push(std::string_view text) {
  if (stopped_) return {};
  const std::size_t base = buffer_.size();  // buffer_ offset of text[0]
  buffer_.append(text);

  // Advance the automaton over the new bytes. At each byte the longest stop
  // string ending there starts earliest among those ending there; keep the
  // earliest start among all completions in this push.
  std::size_t first = std::string::npos;
  std::int32_t m = state_;
  for (std::size_t i = 0; i < text.size(); ++i) {
    m = step(m, static_cast<unsigned char>(text[i]));
    if (const std::size_t len = longest_[std::size_t(m)]; len > 0)
      first = std::min(first, base + i + 1 - len);
  }
  state_ = m;
  if (first != std::string::npos) {
    std::string out = buffer_.substr(begin_, first - std::min(first, begin_));
    buffer_.clear();
    begin_ = 0;
    stopped_ = true;
    return out;
  }

  // Hold back the longest suffix that is a proper prefix of some stop
  // string: exactly the automaton state's depth.
  const std::size_t pending = buffer_.size() - begin_;
  const std::size_t hold = std::min(depth_[std::size_t(m)], pending);
  std::size_t emit = pending - hold;
  emit -= incomplete_utf8_tail(std::string_view(buffer_).substr(begin_, emit));
  std::string out = buffer_.substr(begin_, emit);
  begin_ += emit;
  if (begin_ > buffer_.size() / 2) {  // compact: linear in what is moved, at most what was emitted
    buffer_.erase(0, begin_);
    begin_ = 0;
  }
  return out;
}

std::string StopMatcher::flush() {
  std::string out = buffer_.substr(begin_);
  buffer_.clear();
  begin_ = 0;
  return out;
}

}  // namespace gpt::detail
