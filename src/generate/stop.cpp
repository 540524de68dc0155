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
  // failure[k]: length of the longest proper prefix of s[0, k] that is also
  // a suffix of it.
  for (const auto& s : stops_) {
    std::vector<std::size_t> f(s.size(), 0);
    for (std::size_t k = 1, m = 0; k < s.size(); ++k) {
      while (m > 0 && s[k] != s[m]) m = f[m - 1];
      if (s[k] == s[m]) ++m;
      f[k] = m;
    }
    failure_.push_back(std::move(f));
  }
  state_.assign(stops_.size(), 0);
}

std::string StopMatcher::push(std::string_view text) {
  if (stopped_) return {};
  const std::size_t base = buffer_.size();  // buffer_ offset of text[0]
  buffer_.append(text);

  // Advance every automaton over the new bytes; a stop's first completion
  // is its earliest occurrence, and the earliest start among those wins.
  std::size_t first = std::string::npos;
  for (std::size_t k = 0; k < stops_.size(); ++k) {
    const std::string& s = stops_[k];
    const auto& f = failure_[k];
    std::size_t m = state_[k];
    for (std::size_t i = 0; i < text.size(); ++i) {
      while (m > 0 && text[i] != s[m]) m = f[m - 1];
      if (text[i] == s[m]) ++m;
      if (m == s.size()) {
        first = std::min(first, base + i + 1 - s.size());
        break;
      }
    }
    state_[k] = m;
  }
  if (first != std::string::npos) {
    std::string out = buffer_.substr(0, first);
    buffer_.clear();
    stopped_ = true;
    return out;
  }

  // Hold back the longest suffix that is a proper prefix of some stop
  // string: exactly the largest automaton state.
  std::size_t hold = 0;
  for (std::size_t m : state_) hold = std::max(hold, m);
  hold = std::min(hold, buffer_.size());
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
