// NFC = canonical decomposition, canonical ordering, canonical composition (UAX #15).
#include "tokenizer/nfc.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tokenizer/utf8.h"

namespace gpt::tok {

namespace {

struct CccEntry {
  std::uint32_t first, last;
  std::uint8_t ccc;
};
struct DecompEntry {
  std::uint32_t cp;
  std::uint16_t offset;
  std::uint8_t len;
};
struct CompEntry {
  std::uint32_t first, second, composite;
};

#include "tokenizer/nfc_data.inc"

// Hangul syllables are composed and decomposed by arithmetic.
constexpr std::uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr std::uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                        kSCount = kLCount * kNCount;

int ccc(std::uint32_t cp) {
  if (cp < 0x300) return 0;
  auto it = std::upper_bound(std::begin(kCcc), std::end(kCcc), cp,
                             [](std::uint32_t c, const CccEntry& e) { return c < e.first; });
  if (it == std::begin(kCcc)) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

void decompose(std::uint32_t cp, std::vector<std::uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const std::uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  if (cp >= 0xC0) {
    auto it = std::lower_bound(std::begin(kDecomp), std::end(kDecomp), cp,
                               [](const DecompEntry& e, std::uint32_t c) { return e.cp < c; });
    if (it != std::end(kDecomp) && it->cp == cp) {
      out.insert(out.end(), kDecompData + it->offset, kDecompData + it->offset + it->len);
      return;
    }
  }
  out.push_back(cp);
}

// The primary composite of a + b, or 0.
std::uint32_t compose(std::uint32_t a, std::uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  auto it = std::lower_bound(std::begin(kComp), std::end(kComp), std::pair{a, b},
                             [](const CompEntry& e, const std::pair<std::uint32_t, std::uint32_t>& k) {
                               return e.first != k.first ? e.first < k.first : e.second < k.second;
                             });
  if (it != std::end(kComp) && it->first == a && it->second == b) return it->composite;
  return 0;
}

// Normalizes a run of valid code points, appending UTF-8 to out.
void nfc_run(const std::vector<std::uint32_t>& cps, std::string& out) {
  std::vector<std::uint32_t> d;
  d.reserve(cps.size() + 8);
  for (std::uint32_t cp : cps) decompose(cp, d);
  // Canonical ordering: stable sort of each run of non-starters by class.
  for (std::size_t i = 0; i < d.size();) {
    if (ccc(d[i]) == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < d.size() && ccc(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + static_cast<std::ptrdiff_t>(i), d.begin() + static_cast<std::ptrdiff_t>(j),
                     [](std::uint32_t x, std::uint32_t y) { return ccc(x) < ccc(y); });
    i = j;
  }
  // Canonical composition.
  std::vector<std::uint32_t> r;
  r.reserve(d.size());
  std::ptrdiff_t starter = -1;
  int last_ccc = -1;  // class of the last character appended after the starter; -1: none
  for (std::uint32_t cp : d) {
    const int c = ccc(cp);
    if (starter >= 0 && (last_ccc == -1 || last_ccc < c)) {
      if (std::uint32_t k = compose(r[static_cast<std::size_t>(starter)], cp)) {
        r[static_cast<std::size_t>(starter)] = k;
        continue;
      }
    }
    if (c == 0) {
      starter = static_cast<std::ptrdiff_t>(r.size());
      last_ccc = -1;
    } else {
      last_ccc = c;
    }
    r.push_back(cp);
  }
  for (std::uint32_t cp : r) append_utf8(out, cp);
}

}  // namespace

bool nfc_may_change(std::string_view text) noexcept {
  // U+0300 is 0xCC 0x80; every code point >= U+0300 starts with a byte >= 0xCC.
  for (char ch : text)
    if (static_cast<unsigned char>(ch) >= 0xCC) return true;
  return false;
}

std::string nfc(std::string_view text) {
  if (!nfc_may_change(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  std::vector<std::uint32_t> run;
  auto flush = [&] {
    nfc_run(run, out);
    run.clear();
  };
  for (std::size_t i = 0; i < text.size();) {
    const int n = utf8_char(text, i);
    if (n <= 0) {  // invalid byte(s): copied as they are, between normalized runs
      flush();
      const std::size_t len = n == 0 ? text.size() - i : static_cast<std::size_t>(-n);
      out.append(text.substr(i, len));
      i += len;
      continue;
    }
    std::size_t j = i;
    run.push_back(next_cp(text, j));
    i += static_cast<std::size_t>(n);
  }
  flush();
  return out;
}

}  // namespace gpt::tok
