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
// Several stop strings: among those that complete within one push, the one
// that starts earliest in the text wins. Matching is byte-exact (no
// normalisation). All stop strings share one Aho-Corasick automaton whose
// state persists across pushes: building it is linear in the stop strings'
// total length, and each byte of text costs amortised constant time however
// many stop strings there are and whatever they hold. Held-back text is
// consumed from the front without moving the rest, so a long held-back
// suffix costs nothing per push. One matcher per sequence; not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
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
  std::size_t held() const noexcept { return buffer_.size() - begin_; }

 private:
  // The automaton: node 0 is the root (the empty prefix); every other node
  // is a prefix of some stop string, of length depth_[node].
  std::int32_t child(std::int32_t node, unsigned char byte) const;  // -1 if none
  std::int32_t step(std::int32_t node, unsigned char byte) const;   // follows failure links

  std::unordered_map<std::uint64_t, std::int32_t> next_;  // (node << 8 | byte) -> child
  std::vector<std::int32_t> fail_;     // longest proper suffix that is also a node
  std::vector<std::size_t> depth_;     // prefix length
  std::vector<std::size_t> longest_;   // longest stop string that is a suffix of the node's prefix (0: none)
  std::int32_t state_ = 0;             // node of the longest suffix of the text that is a prefix of a stop
  std::string buffer_;                 // held-back text is buffer_[begin_, end)
  std::size_t begin_ = 0;
  bool stopped_ = false;
};

}  // namespace gpt::detail
