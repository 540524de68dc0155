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

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (std::size_t i = 0; i < stops_.size(); ++i)
    if (stops_[i].empty()) throw InvalidArgument("stop string " + std::to_string(i) + " is empty");
}

std::string StopMatcher::push(std::string_view text) {
  if (stopped_) return {};
  buffer_.append(text);

  // A complete stop string: the earliest start wins.
  std::size_t first = std::string::npos;
  for (const auto& s : stops_) first = std::min(first, buffer_.find(s));
  if (first != std::string::npos) {
    std::string out = buffer_.substr(0, first);
    buffer_.clear();
    stopped_ = true;
    return out;
  }

  // Hold back the longest suffix that is a proper prefix of some stop string.
  std::size_t hold = 0;
  for (const auto& s : stops_) {
    const std::size_t max_len = std::min(s.size() - 1, buffer_.size());
    for (std::size_t len = max_len; len > hold; --len) {
      if (buffer_.compare(buffer_.size() - len, len, s, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  std::size_t emit = buffer_.size() - hold;
  emit -= incomplete_utf8_tail(std::string_view(buffer_).substr(0, emit));
  std::string out = buffer_.substr(0, emit);
  buffer_.erase(0, emit);
  return out;
}

std::string StopMatcher::flush() {
  std::string out;
  out.swap(buffer_);
  return out;
}

}  // namespace gpt::detail
