// Text as Python sees it, for the chat front end (the Jinja renderer and the
// hand-written template renderers): code points of UTF-8, Python's
// whitespace, and str.strip() with a predicate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tokenizer/utf8.h"

namespace gpt::detail {

// The code point at s[i] and its length in bytes. Bytes that do not start a
// well-formed character decode one at a time as U+FFFD (as Python's
// errors="replace" reads them): never whitespace, never a letter.
inline std::size_t decode_cp(std::string_view s, std::size_t i, std::uint32_t& cp) {
  const int n = tok::utf8_char(s, i);
  if (n <= 0) {
    cp = 0xFFFD;
    return 1;
  }
  std::size_t j = i;
  cp = tok::next_cp(s, j);
  return static_cast<std::size_t>(n);
}

// Python's str.isspace() for one code point.
inline bool is_python_space(std::uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// s without the leading (left) and trailing (right) code points `strip`
// accepts, as str.strip / lstrip / rstrip.
template <typename Pred>
std::string_view strip_code_points(std::string_view s, Pred strip, bool left, bool right) {
  std::size_t b = 0, e = s.size();
  if (left)
    while (b < e) {
      std::uint32_t cp;
      const std::size_t len = decode_cp(s.substr(0, e), b, cp);
      if (!strip(cp)) break;
      b += len;
    }
  if (right)
    while (e > b) {
      // Start of the last character: back over up to three continuation bytes.
      std::size_t start = e - 1;
      while (start > b && e - start < 4 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
      std::uint32_t cp;
      if (decode_cp(s.substr(0, e), start, cp) != e - start || !strip(cp)) break;
      e = start;
    }
  return s.substr(b, e - b);
}

}  // namespace gpt::detail
