#include "io/json.h"

#include <set>
#include <vector>

#include "gpt/error.h"

namespace gpt::io {

namespace {

// Offset of the first bracket that opens level kMaxJsonDepth + 1, or npos.
// Brackets inside strings do not count; the scan is one pass, no allocation.
std::size_t too_deep_at(std::string_view s) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return i;
    } else if (c == ']' || c == '}') {
      --depth;  // unbalanced input is the parser's to report
    }
  }
  return std::string_view::npos;
}

// A SAX pass that finds the first key repeated within one object.
struct DuplicateKeys : nlohmann::json_sax<nlohmann::json> {
  std::vector<std::set<std::string>> open;  // keys seen, per open object (arrays hold an empty set)
  std::string duplicate;
  bool found = false;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { open.emplace_back(); return true; }
  bool end_object() override { open.pop_back(); return true; }
  bool start_array(std::size_t) override { open.emplace_back(); return true; }
  bool end_array() override { open.pop_back(); return true; }
  bool key(string_t& k) override {
    if (open.back().insert(k).second) return true;
    duplicate = k;
    found = true;
    return false;  // stops the parse
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& path, std::uint64_t base_offset,
                          bool unique_keys) {
  if (const std::size_t at = too_deep_at(text); at != std::string_view::npos)
    throw FormatError(path, "JSON nested more than " + std::to_string(kMaxJsonDepth) + " levels deep",
                      base_offset + at);
  if (unique_keys) {
    DuplicateKeys sax;
    nlohmann::json::sax_parse(text.begin(), text.end(), &sax);
    if (sax.found)
      throw FormatError(path, "JSON object names '" + sax.duplicate + "' twice", base_offset);
  }
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    throw FormatError(path, std::string("not valid JSON: ") + e.what(), base_offset + e.byte);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path, std::string("not valid JSON: ") + e.what(), base_offset);
  }
}

}  // namespace gpt::io
