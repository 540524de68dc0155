// JSON from untrusted files (config.json, tokenizer.json, tokenizer_config.json,
// safetensors headers and indexes).
//
// nlohmann's parser itself is iterative, but copying, comparing, dumping and
// our own walkers (normalizer / pre-tokenizer / post-processor sequences)
// recurse once per nesting level, so a file nested 100k levels deep would
// overflow the stack. parse_json() therefore measures the nesting with a
// linear pre-scan and refuses anything deeper than kMaxJsonDepth before
// parsing. Every failure is a FormatError naming the file and the byte offset.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace gpt::io {

// Deepest nesting of arrays/objects accepted (real files use fewer than 10).
inline constexpr int kMaxJsonDepth = 128;

// Parses text (the contents of `path`, starting at byte `base_offset` of it).
// Throws FormatError for invalid JSON or nesting deeper than kMaxJsonDepth,
// and, with unique_keys, for an object that names a key twice (nlohmann
// would silently keep the last one; a safetensors header must not).
nlohmann::json parse_json(std::string_view text, const std::string& path, std::uint64_t base_offset = 0,
                          bool unique_keys = false);

}  // namespace gpt::io
