// GGUF reader (format versions 2 and 3) over a memory-mapped file.
//
// Layout of a GGUF file (all integers little-endian):
//   "GGUF" magic, u32 version, u64 tensor_count, u64 kv_count,
//   kv_count x { string key, u32 value type, value },
//   tensor_count x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset },
//   padding to general.alignment (default 32), then the tensor data section;
//   each tensor's offset is relative to the start of that section.
// A string is a u64 byte length followed by that many bytes (no terminator).
//
// Everything read from the file is validated before use: counts, lengths,
// dimensions and offsets are checked against the file size and for integer
// overflow, and every violation throws gpt::FormatError with the path and the
// byte offset of the offending field (and the tensor name where there is one).
// Tensor types the engine cannot run throw gpt::UnsupportedModel at open time.
//
// Shapes are reported row-major, outermost first (GGUF lists ne[0], the
// innermost dimension, first; we reverse it): token_embd with ne = [576, 49152]
// is the TensorView {49152, 576}.
//
// Ownership and threads: a GgufFile owns its parsed metadata and shares the
// mapping (file()); TensorView::data points into that mapping and stays valid
// while the GgufFile or any copy of file() lives. A constructed GgufFile is
// immutable, and all const members may be called from several threads at once.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpt/tensor.h"
#include "io/mapped_file.h"

namespace gpt::io {

// Metadata value types, with GGUF's on-disk ids.
enum class GgufType : std::uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

// "UINT8", "STRING", ...; "type <id>" for ids outside the enum.
std::string gguf_type_name(GgufType t);

// One metadata value. Which payload member is meaningful depends on `type`:
//   UINT8/UINT16/UINT32/UINT64 -> u;  INT8/INT16/INT32/INT64 -> i;
//   FLOAT32/FLOAT64 -> f (a FLOAT32 is stored widened, exactly);  BOOL -> b;
//   STRING -> str;  ARRAY -> element_type, count and at(k).
// Arrays are stored compactly, so that parsing costs at most about twice the
// array's bytes in the file: numbers and bools stay in the mapping
// (`elements`) and at(k) decodes them; strings are views into the mapping
// (`strings`); only arrays of arrays hold parsed values (`array`). The views
// live as long as the GgufFile's mapping.
struct GgufValue {
  GgufType type = GgufType::UINT8;
  GgufType element_type = GgufType::UINT8;  // ARRAY only
  std::uint64_t offset = 0;                 // byte offset of the value in the file
  std::uint64_t u = 0;
  std::int64_t i = 0;
  double f = 0.0;
  bool b = false;
  std::string str;
  std::uint64_t count = 0;                  // ARRAY: number of elements
  const std::byte* elements = nullptr;      // ARRAY of numbers/bools: the first element's bytes
  std::vector<std::string_view> strings;    // ARRAY of STRING
  std::vector<GgufValue> array;             // ARRAY of ARRAY

  bool is_integer() const noexcept;
  bool is_float() const noexcept { return type == GgufType::FLOAT32 || type == GgufType::FLOAT64; }
  // The value as an int64 when it is an integer that fits; nullopt otherwise.
  std::optional<std::int64_t> as_int() const noexcept;
  // The value as a double when it is a float or an integer; nullopt otherwise.
  std::optional<double> as_float() const noexcept;
  // ARRAY: element k as a value of element_type (offset = its byte offset).
  // Throws InvalidArgument when k >= count or this is not an array.
  GgufValue at(std::uint64_t k) const;
};

// ggml tensor type ids the reader maps to gpt::DType.
enum class GgmlType : std::uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  BF16 = 30,
};

// The DType of a ggml type id; nullopt when the engine does not support it.
std::optional<DType> dtype_from_ggml(std::uint32_t ggml_type) noexcept;
// The ggml name of a type id ("Q2_K", "IQ4_NL", ...) or "unknown".
std::string_view ggml_type_name(std::uint32_t ggml_type) noexcept;

class GgufFile {
 public:
  // Maps and parses `path`; throws IoError, FormatError or UnsupportedModel.
  explicit GgufFile(const std::string& path);
  // Parses an existing mapping (shared, kept alive by this object).
  explicit GgufFile(std::shared_ptr<const MappedFile> file);

  const std::string& path() const;
  std::uint32_t version() const;
  std::shared_ptr<const MappedFile> file() const;  // keeps the mapping alive

  bool has(std::string_view key) const;
  const GgufValue* find(std::string_view key) const;  // nullptr if absent
  std::vector<std::string> keys() const;              // in file order

  // Typed getters: throw FormatError (naming the key) when the key is present
  // with a wrong type, return the fallback when absent. Integer getters accept
  // any integer type whose value fits in int64.
  std::string get_string(std::string_view key, const std::string& fallback = {}) const;
  std::int64_t get_int(std::string_view key, std::int64_t fallback) const;
  double get_float(std::string_view key, double fallback) const;  // f32/f64 and integers
  bool get_bool(std::string_view key, bool fallback) const;
  std::vector<std::string> get_string_array(std::string_view key) const;  // empty if absent
  std::vector<float> get_float_array(std::string_view key) const;        // f32/f64/integers
  std::vector<std::int64_t> get_int_array(std::string_view key) const;   // integers

  // Tensors in file order; names are unique.
  const std::vector<TensorView>& tensors() const;
  const TensorView* find_tensor(std::string_view name) const;  // nullptr if absent
  // The ggml type id of a tensor as stored in the file (its index in tensors()).
  std::uint32_t ggml_type(std::size_t tensor_index) const;

  std::uint64_t alignment() const;
  std::uint64_t data_offset() const;  // absolute file offset of the tensor data section

 private:
  void parse();
  [[noreturn]] void type_error(std::string_view key, const GgufValue& v, const char* want) const;

  std::shared_ptr<const MappedFile> file_;
  std::uint32_t version_ = 0;
  std::uint64_t alignment_ = 32;
  std::uint64_t data_offset_ = 0;
  std::vector<std::string> key_order_;
  std::map<std::string, GgufValue, std::less<>> kv_;
  std::vector<TensorView> tensors_;
  std::vector<std::uint32_t> ggml_types_;
  std::map<std::string, std::size_t, std::less<>> tensor_index_;
};

}  // namespace gpt::io
