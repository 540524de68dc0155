#include "io/gguf.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "gpt/error.h"

namespace gpt::io {

namespace {

constexpr std::uint32_t kMaxDims = 4;
constexpr int kMaxArrayDepth = 8;  // nested arrays deeper than this are rejected
constexpr std::uint64_t kDefaultAlignment = 32;

// Smallest number of bytes one value of a type takes on disk; bounds counts
// before anything is allocated for them.
std::uint64_t min_value_bytes(GgufType t) {
  switch (t) {
    case GgufType::UINT8:
    case GgufType::INT8:
    case GgufType::BOOL:
      return 1;
    case GgufType::UINT16:
    case GgufType::INT16:
      return 2;
    case GgufType::UINT32:
    case GgufType::INT32:
    case GgufType::FLOAT32:
      return 4;
    case GgufType::UINT64:
    case GgufType::INT64:
    case GgufType::FLOAT64:
    case GgufType::STRING:  // the u64 length
      return 8;
    case GgufType::ARRAY:  // u32 element type + u64 count
      return 12;
  }
  return 1;
}

// Arrays of arrays hold parsed values; their total count is capped so that
// nested arrays cannot multiply a file's size in memory.
constexpr std::uint64_t kMaxNestedArrays = 1u << 16;

bool valid_type(std::uint32_t t) { return t <= static_cast<std::uint32_t>(GgufType::FLOAT64); }

// Bounds-checked little-endian reader over the mapped bytes.
class Cursor {
 public:
  Cursor(const std::string& path, const std::byte* data, std::uint64_t size)
      : path_(path), data_(data), size_(size) {}

  std::uint64_t pos() const { return pos_; }
  std::uint64_t remaining() const { return size_ - pos_; }

  [[noreturn]] void fail(const std::string& msg, std::uint64_t at, const std::string& tensor = {}) const {
    throw FormatError(path_, msg, at, tensor);
  }

  void need(std::uint64_t n, const char* what) const {
    if (n > remaining())
      fail(std::string("file truncated: ") + what + " needs " + std::to_string(n) + " bytes, " +
               std::to_string(remaining()) + " left",
           pos_);
  }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string_view read_string_view(const char* what) {
    const std::uint64_t at = pos_;
    const auto len = read<std::uint64_t>(what);
    if (len > remaining())
      fail(std::string(what) + ": string length " + std::to_string(len) + " exceeds the " +
               std::to_string(remaining()) + " bytes left in the file",
           at);
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), static_cast<std::size_t>(len));
    pos_ += len;
    return s;
  }
  std::string read_string(const char* what) { return std::string(read_string_view(what)); }

  const std::byte* here() const { return data_ + pos_; }
  void skip(std::uint64_t n) {  // callers have checked n <= remaining()
    pos_ += n;
  }

 private:
  const std::string& path_;
  const std::byte* data_;
  std::uint64_t size_;
  std::uint64_t pos_ = 0;
};

// A fixed-size scalar of type t from `p` (min_value_bytes(t) bytes).
void decode_scalar(GgufType t, const std::byte* p, GgufValue& v) {
  auto get = [p](auto x) {
    std::memcpy(&x, p, sizeof x);
    return x;
  };
  switch (t) {
    case GgufType::UINT8: v.u = get(std::uint8_t{}); break;
    case GgufType::INT8: v.i = get(std::int8_t{}); break;
    case GgufType::UINT16: v.u = get(std::uint16_t{}); break;
    case GgufType::INT16: v.i = get(std::int16_t{}); break;
    case GgufType::UINT32: v.u = get(std::uint32_t{}); break;
    case GgufType::INT32: v.i = get(std::int32_t{}); break;
    case GgufType::UINT64: v.u = get(std::uint64_t{}); break;
    case GgufType::INT64: v.i = get(std::int64_t{}); break;
    case GgufType::FLOAT32: v.f = get(float{}); break;
    case GgufType::FLOAT64: v.f = get(double{}); break;
    case GgufType::BOOL: v.b = get(std::uint8_t{}) != 0; break;
    case GgufType::STRING:
    case GgufType::ARRAY: break;  // not fixed-size
  }
}

GgufValue read_value(Cursor& c, GgufType type, int depth, std::uint64_t& nested_arrays) {
  GgufValue v;
  v.type = type;
  v.offset = c.pos();
  switch (type) {
    case GgufType::STRING: v.str = c.read_string("string value"); break;
    case GgufType::ARRAY: {
      if (depth >= kMaxArrayDepth)
        c.fail("arrays nested deeper than " + std::to_string(kMaxArrayDepth) + " levels", v.offset);
      const auto type_at = c.pos();
      const auto et = c.read<std::uint32_t>("array element type");
      if (!valid_type(et)) c.fail("unknown array element type " + std::to_string(et), type_at);
      v.element_type = static_cast<GgufType>(et);
      const auto count_at = c.pos();
      const auto count = c.read<std::uint64_t>("array length");
      const std::uint64_t min_bytes = min_value_bytes(v.element_type);
      if (count > c.remaining() / min_bytes)
        c.fail("array length " + std::to_string(count) + " of " + gguf_type_name(v.element_type) +
                   " exceeds the " + std::to_string(c.remaining()) + " bytes left in the file",
               count_at);
      v.count = count;
      if (v.element_type == GgufType::STRING) {
        v.strings.reserve(static_cast<std::size_t>(count));  // 16 bytes per >= 8 in the file
        for (std::uint64_t k = 0; k < count; ++k) v.strings.push_back(c.read_string_view("array string"));
      } else if (v.element_type == GgufType::ARRAY) {
        if (count > kMaxNestedArrays - nested_arrays)
          c.fail("more than " + std::to_string(kMaxNestedArrays) + " arrays nested inside arrays", count_at);
        nested_arrays += count;
        v.array.reserve(static_cast<std::size_t>(count));
        for (std::uint64_t k = 0; k < count; ++k)
          v.array.push_back(read_value(c, v.element_type, depth + 1, nested_arrays));
      } else {
        v.elements = c.here();
        if (v.element_type == GgufType::BOOL)
          for (std::uint64_t k = 0; k < count; ++k)
            if (std::to_integer<std::uint8_t>(v.elements[k]) > 1)
              c.fail("bool value " + std::to_string(std::to_integer<int>(v.elements[k])) + " is neither 0 nor 1",
                     c.pos() + k);
        c.skip(count * min_bytes);
      }
      break;
    }
    case GgufType::BOOL: {
      const auto b = c.read<std::uint8_t>("bool value");
      if (b > 1) c.fail("bool value " + std::to_string(b) + " is neither 0 nor 1", v.offset);
      v.b = b != 0;
      break;
    }
    default: {
      const std::uint64_t n = min_value_bytes(type);
      c.need(n, (gguf_type_name(type) + " value").c_str());
      decode_scalar(type, c.here(), v);
      c.skip(n);
      break;
    }
  }
  return v;
}

bool is_pow2(std::uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

}  // namespace

std::string gguf_type_name(GgufType t) {
  static const char* names[] = {"UINT8",   "INT8",  "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
                                "BOOL",    "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"};
  const auto id = static_cast<std::uint32_t>(t);
  if (id < std::size(names)) return names[id];
  return "type " + std::to_string(id);
}

bool GgufValue::is_integer() const noexcept {
  switch (type) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::UINT16: case GgufType::INT16:
    case GgufType::UINT32: case GgufType::INT32: case GgufType::UINT64: case GgufType::INT64:
      return true;
    default:
      return false;
  }
}

std::optional<std::int64_t> GgufValue::as_int() const noexcept {
  switch (type) {
    case GgufType::UINT8: case GgufType::UINT16: case GgufType::UINT32: case GgufType::UINT64:
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
      return static_cast<std::int64_t>(u);
    case GgufType::INT8: case GgufType::INT16: case GgufType::INT32: case GgufType::INT64:
      return i;
    default:
      return std::nullopt;
  }
}

std::optional<double> GgufValue::as_float() const noexcept {
  if (is_float()) return f;
  if (type == GgufType::UINT8 || type == GgufType::UINT16 || type == GgufType::UINT32 ||
      type == GgufType::UINT64)
    return static_cast<double>(u);
  if (is_integer()) return static_cast<double>(i);
  return std::nullopt;
}

GgufValue GgufValue::at(std::uint64_t k) const {
  if (type != GgufType::ARRAY || k >= count)
    throw InvalidArgument("GgufValue::at(" + std::to_string(k) + "): not an array element");
  if (element_type == GgufType::ARRAY) return array[static_cast<std::size_t>(k)];
  GgufValue v;
  v.type = element_type;
  if (element_type == GgufType::STRING) {
    v.str = std::string(strings[static_cast<std::size_t>(k)]);
    return v;
  }
  decode_scalar(element_type, elements + k * min_value_bytes(element_type), v);
  return v;
}

std::optional<DType> dtype_from_ggml(std::uint32_t t) noexcept {
  switch (static_cast<GgmlType>(t)) {
    case GgmlType::F32: return DType::F32;
    case GgmlType::F16: return DType::F16;
    case GgmlType::BF16: return DType::BF16;
    case GgmlType::Q4_0: return DType::Q4_0;
    case GgmlType::Q4_1: return DType::Q4_1;
    case GgmlType::Q5_0: return DType::Q5_0;
    case GgmlType::Q5_1: return DType::Q5_1;
    case GgmlType::Q8_0: return DType::Q8_0;
    case GgmlType::Q4_K: return DType::Q4_K;
    case GgmlType::Q5_K: return DType::Q5_K;
    case GgmlType::Q6_K: return DType::Q6_K;
  }
  return std::nullopt;
}

std::string_view ggml_type_name(std::uint32_t t) noexcept {
  static constexpr std::string_view names[] = {
      "F32",   "F16",    "Q4_0",    "Q4_1",   "Q4_2",  "Q4_3",  "Q5_0",  "Q5_1",   "Q8_0",
      "Q8_1",  "Q2_K",   "Q3_K",    "Q4_K",   "Q5_K",  "Q6_K",  "Q8_K",  "IQ2_XXS", "IQ2_XS",
      "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S",  "IQ2_S", "IQ4_XS", "I8",   "I16",    "I32",
      "I64",   "F64",    "IQ1_M",   "BF16",   "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0",
      "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8", "MXFP4"};
  if (t < std::size(names)) return names[t];
  return "unknown";
}

GgufFile::GgufFile(const std::string& path) : GgufFile(std::make_shared<const MappedFile>(path)) {}

GgufFile::GgufFile(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {
  if (!file_) throw InvalidArgument("GgufFile: null file");
  parse();
}

void GgufFile::parse() {
  const std::string& path = file_->path();
  const std::uint64_t size = file_->size();
  Cursor c(path, file_->data(), size);

  c.need(4, "magic");
  if (std::memcmp(file_->data(), "GGUF", 4) != 0) c.fail("bad magic: not a GGUF file", 0);
  c.read<std::uint32_t>("magic");

  version_ = c.read<std::uint32_t>("version");
  if (version_ == 0x02000000u || version_ == 0x03000000u)
    c.fail("byte-swapped version " + std::to_string(version_) + ": big-endian GGUF files are not supported", 4);
  if (version_ != 2 && version_ != 3)
    c.fail("unsupported GGUF version " + std::to_string(version_) + " (supported: 2 and 3)", 4);

  const auto tensor_count_at = c.pos();
  const auto tensor_count = c.read<std::uint64_t>("tensor count");
  const auto kv_count_at = c.pos();
  const auto kv_count = c.read<std::uint64_t>("metadata count");
  // Smallest record: key length (8) + type (4) + a 1-byte value.
  if (kv_count > c.remaining() / 13)
    c.fail("metadata count " + std::to_string(kv_count) + " cannot fit in the file", kv_count_at);
  // Smallest tensor info: name length (8) + n_dims (4) + type (4) + offset (8).
  if (tensor_count > c.remaining() / 24)
    c.fail("tensor count " + std::to_string(tensor_count) + " cannot fit in the file", tensor_count_at);

  // --- metadata ---
  std::uint64_t nested_arrays = 0;
  key_order_.reserve(static_cast<std::size_t>(kv_count));
  for (std::uint64_t k = 0; k < kv_count; ++k) {
    const auto key_at = c.pos();
    std::string key = c.read_string("metadata key");
    const auto type_at = c.pos();
    const auto type = c.read<std::uint32_t>("metadata value type");
    if (!valid_type(type))
      c.fail("metadata key '" + key + "': unknown value type " + std::to_string(type), type_at);
    GgufValue v = read_value(c, static_cast<GgufType>(type), 0, nested_arrays);
    if (kv_.count(key)) c.fail("duplicate metadata key '" + key + "'", key_at);
    key_order_.push_back(key);
    kv_.emplace(std::move(key), std::move(v));
  }

  if (const GgufValue* a = find("general.alignment")) {
    const auto n = a->as_int();
    if (!n || *n <= 0 || !is_pow2(static_cast<std::uint64_t>(*n)))
      c.fail("general.alignment must be a positive power of two", a->offset);
    alignment_ = static_cast<std::uint64_t>(*n);
  } else {
    alignment_ = kDefaultAlignment;
  }

  // --- tensor infos ---
  struct Pending {
    std::uint64_t offset;      // relative to the data section
    std::uint64_t offset_at;   // where the offset field is in the file
    std::uint64_t info_at;     // where the tensor info starts
  };
  std::vector<Pending> pending;
  pending.reserve(static_cast<std::size_t>(tensor_count));
  tensors_.reserve(static_cast<std::size_t>(tensor_count));
  ggml_types_.reserve(static_cast<std::size_t>(tensor_count));
  for (std::uint64_t t = 0; t < tensor_count; ++t) {
    const auto info_at = c.pos();
    TensorView tv;
    tv.name = c.read_string("tensor name");
    const auto fail = [&](const std::string& msg, std::uint64_t at) { c.fail(msg, at, tv.name); };
    if (tensor_index_.count(tv.name)) fail("duplicate tensor name", info_at);

    const auto ndims_at = c.pos();
    const auto n_dims = c.read<std::uint32_t>("tensor dimension count");
    if (n_dims > kMaxDims)
      fail("has " + std::to_string(n_dims) + " dimensions (at most " + std::to_string(kMaxDims) + ")",
           ndims_at);
    std::uint64_t ne[kMaxDims] = {1, 1, 1, 1};
    std::uint64_t numel = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const auto dim_at = c.pos();
      ne[d] = c.read<std::uint64_t>("tensor dimension");
      if (ne[d] > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        fail("dimension " + std::to_string(d) + " is negative or too large", dim_at);
      if (ne[d] != 0 && numel > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / ne[d])
        fail("element count overflows", dim_at);
      numel *= ne[d];
    }
    const auto type_at = c.pos();
    const auto type = c.read<std::uint32_t>("tensor type");
    const auto offset_at = c.pos();
    const auto offset = c.read<std::uint64_t>("tensor data offset");

    const auto dtype = dtype_from_ggml(type);
    if (!dtype)
      throw UnsupportedModel(path + ": tensor '" + tv.name + "' has ggml type " + std::to_string(type) +
                             " (" + std::string(ggml_type_name(type)) + "), which is not supported");
    tv.dtype = *dtype;
    const auto& info = dtype_info(tv.dtype);
    if (n_dims > 0 && ne[0] % static_cast<std::uint64_t>(info.block_elems) != 0)
      fail("row length " + std::to_string(ne[0]) + " is not a multiple of the " + std::string(info.name) +
               " block size " + std::to_string(info.block_elems),
           type_at);
    if (n_dims == 0 && info.block_elems != 1)
      fail("a scalar cannot have block type " + std::string(info.name), type_at);
    const std::uint64_t blocks = numel / static_cast<std::uint64_t>(info.block_elems);
    if (blocks > std::numeric_limits<std::uint64_t>::max() / info.block_bytes)
      fail("byte size overflows", type_at);
    tv.nbytes = static_cast<std::size_t>(blocks * info.block_bytes);
    if (offset % alignment_ != 0)
      fail("data offset " + std::to_string(offset) + " is not a multiple of the alignment " +
               std::to_string(alignment_),
           offset_at);

    tv.shape.resize(n_dims);
    for (std::uint32_t d = 0; d < n_dims; ++d) tv.shape[n_dims - 1 - d] = static_cast<std::int64_t>(ne[d]);

    tensor_index_.emplace(tv.name, tensors_.size());
    tensors_.push_back(std::move(tv));
    ggml_types_.push_back(type);
    pending.push_back({offset, offset_at, info_at});
  }

  // --- data section ---
  const std::uint64_t end_of_infos = c.pos();
  data_offset_ = end_of_infos + (alignment_ - end_of_infos % alignment_) % alignment_;
  if (tensor_count > 0 && data_offset_ > size)
    c.fail("file truncated: the tensor data section would start at byte " + std::to_string(data_offset_) +
               ", past the end of the file (" + std::to_string(size) + " bytes)",
           end_of_infos);
  const std::uint64_t data_size = tensor_count > 0 ? size - data_offset_ : 0;
  for (std::size_t t = 0; t < tensors_.size(); ++t) {
    auto& tv = tensors_[t];
    const auto& p = pending[t];
    if (p.offset > data_size || tv.nbytes > data_size - p.offset)
      c.fail("data [" + std::to_string(p.offset) + ", +" + std::to_string(tv.nbytes) +
                 ") runs past the end of the data section (" + std::to_string(data_size) + " bytes)",
             p.offset_at, tv.name);
    tv.data = file_->data() + data_offset_ + p.offset;
  }
  // No two tensors may share bytes: a writer never does this, and a reader
  // that trusts it could be handed one buffer under two roles.
  std::vector<std::size_t> by_offset(tensors_.size());
  for (std::size_t t = 0; t < by_offset.size(); ++t) by_offset[t] = t;
  std::sort(by_offset.begin(), by_offset.end(),
            [&](std::size_t a, std::size_t b) { return pending[a].offset < pending[b].offset; });
  std::size_t prev = by_offset.size();  // the previous non-empty tensor
  for (std::size_t t : by_offset) {
    if (tensors_[t].nbytes == 0) continue;
    if (prev != by_offset.size() && pending[t].offset < pending[prev].offset + tensors_[prev].nbytes)
      c.fail("data [" + std::to_string(pending[t].offset) + ", +" + std::to_string(tensors_[t].nbytes) +
                 ") overlaps tensor '" + tensors_[prev].name + "'",
             pending[t].offset_at, tensors_[t].name);
    prev = t;
  }
}

const std::string& GgufFile::path() const { return file_->path(); }
std::uint32_t GgufFile::version() const { return version_; }
std::shared_ptr<const MappedFile> GgufFile::file() const { return file_; }
std::uint64_t GgufFile::alignment() const { return alignment_; }
std::uint64_t GgufFile::data_offset() const { return data_offset_; }
const std::vector<TensorView>& GgufFile::tensors() const { return tensors_; }
std::uint32_t GgufFile::ggml_type(std::size_t i) const { return ggml_types_.at(i); }

bool GgufFile::has(std::string_view key) const { return kv_.find(key) != kv_.end(); }

const GgufValue* GgufFile::find(std::string_view key) const {
  const auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

std::vector<std::string> GgufFile::keys() const { return key_order_; }

const TensorView* GgufFile::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

void GgufFile::type_error(std::string_view key, const GgufValue& v, const char* want) const {
  std::string have = gguf_type_name(v.type);
  if (v.type == GgufType::ARRAY) have += " of " + gguf_type_name(v.element_type);
  throw FormatError(path(), "metadata key '" + std::string(key) + "' has type " + have + ", expected " + want,
                    v.offset);
}

std::string GgufFile::get_string(std::string_view key, const std::string& fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (v->type != GgufType::STRING) type_error(key, *v, "STRING");
  return v->str;
}

std::int64_t GgufFile::get_int(std::string_view key, std::int64_t fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  const auto n = v->as_int();
  if (!n) type_error(key, *v, "an integer that fits in int64");
  return *n;
}

double GgufFile::get_float(std::string_view key, double fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  const auto f = v->as_float();
  if (!f) type_error(key, *v, "a number");
  return *f;
}

bool GgufFile::get_bool(std::string_view key, bool fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (v->type != GgufType::BOOL) type_error(key, *v, "BOOL");
  return v->b;
}

std::vector<std::string> GgufFile::get_string_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return {};
  if (v->type != GgufType::ARRAY || v->element_type != GgufType::STRING)
    type_error(key, *v, "ARRAY of STRING");
  return std::vector<std::string>(v->strings.begin(), v->strings.end());
}

std::vector<float> GgufFile::get_float_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return {};
  if (v->type != GgufType::ARRAY || v->element_type == GgufType::STRING ||
      v->element_type == GgufType::ARRAY || v->element_type == GgufType::BOOL)
    type_error(key, *v, "ARRAY of numbers");
  std::vector<float> out;
  out.reserve(static_cast<std::size_t>(v->count));
  for (std::uint64_t k = 0; k < v->count; ++k) {
    const double d = *v->at(k).as_float();
    if (std::isfinite(d) && std::fabs(d) > std::numeric_limits<float>::max())
      type_error(key, *v, "ARRAY of numbers that fit in f32");
    out.push_back(static_cast<float>(d));
  }
  return out;
}

std::vector<std::int64_t> GgufFile::get_int_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return {};
  if (v->type != GgufType::ARRAY) type_error(key, *v, "ARRAY of integers");
  std::vector<std::int64_t> out;
  out.reserve(static_cast<std::size_t>(v->count));
  for (std::uint64_t k = 0; k < v->count; ++k) {
    const auto n = v->element_type == GgufType::ARRAY ? std::nullopt : v->at(k).as_int();
    if (!n) type_error(key, *v, "ARRAY of integers that fit in int64");
    out.push_back(*n);
  }
  return out;
}

}  // namespace gpt::io
