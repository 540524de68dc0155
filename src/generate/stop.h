// Stop strings over streamed text.
//
// Generated text arrives in pieces (one per token) and a stop string may be
// split across several of them. StopMatcher holds back just enough text to
// decide: push() returns what is safe to show now and keeps the longest
// suffix that could still be the start of a stop string (plus an incomplete
// UTF-8 character at the end, so what it returns is whole characters when
// the input is). When a stop string completes, push() returns the text
// before it, drops the stop string and everything after, and stopped()
// becomes true; later pushes return nothing. flush() returns what is held
// back once the text has ended without a stop.
//
// Several stop strings: the one that starts earliest in the text wins.
// Matching is byte-exact (no normalisation). Each stop string carries a
// Knuth-Morris-Pratt automaton whose state persists across pushes, so every
// byte of text is examined once per stop string: the time is linear in the
// text and the stop strings, whatever they hold. One matcher per sequence;
// not thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gpt::detail {

class StopMatcher {
 public:
  // Throws InvalidArgument for an empty stop string. No stop strings is
  // allowed: then everything but an incomplete trailing UTF-8 character
  // passes straight through.
  explicit StopMatcher(std::vector<std::string> stops);

  std::string push(std::string_view text);
  std::string flush();
  bool stopped() const noexcept { return stopped_; }
  // Bytes currently held back.
  std::size_t held() const noexcept { return buffer_.size(); }

 private:
  std::vector<std::string> stops_;
  std::vector<std::vector<std::size_t>> failure_;  // per stop: KMP failure function
  std::vector<std::size_t> state_;                 // per stop: bytes of it matched by the text's end
  std::string buffer_;
  bool stopped_ = false;
};

}  // namespace gpt::detail
