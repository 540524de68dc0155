// GGUF reader: round trips through a tiny writer, every malformed input we
// can think of (each must throw a typed error with the right offset), a
// truncation sweep, a bit-flip fuzz loop, and the real default model.
#include "io/gguf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "gpt/error.h"

namespace {

using gpt::DType;
using gpt::io::GgufFile;
using gpt::io::GgufType;

// ------------------------------------------------------------------ writer --

// Appends little-endian GGUF fields to a byte string.
struct Bytes {
  std::string b;
  template <typename T>
  Bytes& put(T v) {
    char tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    b.append(tmp, sizeof(T));
    return *this;
  }
  Bytes& str(const std::string& s) {
    put<std::uint64_t>(s.size());
    b += s;
    return *this;
  }
  Bytes& type(GgufType t) { return put<std::uint32_t>(static_cast<std::uint32_t>(t)); }
  std::size_t size() const { return b.size(); }
  void pad_to(std::size_t align) {
    while (b.size() % align) b.push_back('\0');
  }
};

struct TensorSpec {
  std::string name;
  std::vector<std::uint64_t> ne;  // GGUF order, innermost first
  std::uint32_t ggml_type;
  std::string data;               // raw bytes
  std::optional<std::uint64_t> offset_override;
};

// A GGUF file: header, caller-written metadata, tensor infos, aligned data.
// Records where fields landed so tests can check reported offsets.
struct GgufBuilder {
  std::uint32_t version = 3;
  std::uint64_t alignment = 32;
  std::uint64_t n_kv = 0;
  Bytes kv;  // raw kv records
  std::vector<TensorSpec> tensors;

  // Offsets (absolute) filled in by build().
  std::size_t kv_start = 0;
  std::vector<std::size_t> info_start, ndims_at, offset_field_at;
  std::size_t data_start = 0;

  GgufBuilder& key(const std::string& k, GgufType t) {
    ++n_kv;
    kv.str(k).type(t);
    return *this;
  }
  template <typename T>
  GgufBuilder& scalar(const std::string& k, GgufType t, T v) {
    key(k, t);
    kv.put(v);
    return *this;
  }
  GgufBuilder& string(const std::string& k, const std::string& v) {
    key(k, GgufType::STRING);
    kv.str(v);
    return *this;
  }

  std::string build() {
    Bytes out;
    out.b = "GGUF";
    out.put<std::uint32_t>(version).put<std::uint64_t>(tensors.size()).put<std::uint64_t>(n_kv);
    kv_start = out.size();
    out.b += kv.b;
    std::vector<std::uint64_t> offsets;
    std::uint64_t off = 0;
    for (const auto& t : tensors) {
      offsets.push_back(t.offset_override.value_or(off));
      off += t.data.size();
      off = (off + alignment - 1) / alignment * alignment;
    }
    info_start.clear();
    ndims_at.clear();
    offset_field_at.clear();
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const auto& t = tensors[i];
      info_start.push_back(out.size());
      out.str(t.name);
      ndims_at.push_back(out.size());
      out.put<std::uint32_t>(static_cast<std::uint32_t>(t.ne.size()));
      for (auto d : t.ne) out.put<std::uint64_t>(d);
      out.put<std::uint32_t>(t.ggml_type);
      offset_field_at.push_back(out.size());
      out.put<std::uint64_t>(offsets[i]);
    }
    out.pad_to(alignment);
    data_start = out.size();
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      if (!tensors[i].offset_override) {
        out.b.resize(data_start + offsets[i], '\0');
        out.b += tensors[i].data;
      }
    }
    return out.b;  // no trailing padding: the last tensor ends the file
  }
};

std::string f32_bytes(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

class TempFiles {
 public:
  std::string write(const std::string& bytes) {
    const auto path = dir_ / ("t" + std::to_string(counter_++) + ".gguf");
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path.string();
  }
  TempFiles() {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("gguf_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  ~TempFiles() { std::filesystem::remove_all(dir_); }

 private:
  std::filesystem::path dir_;
  int counter_ = 0;
};

// A small valid file with a few keys and two tensors (F32 [2,4], Q8_0 [1,32]).
GgufBuilder small_builder() {
  GgufBuilder g;
  g.string("general.architecture", "llama");
  g.scalar<std::uint32_t>("llama.block_count", GgufType::UINT32, 2);
  g.scalar<float>("llama.rope.freq_base", GgufType::FLOAT32, 10000.0f);
  g.key("tokens", GgufType::ARRAY);
  g.kv.type(GgufType::STRING).put<std::uint64_t>(2).str("a").str("bc");
  TensorSpec a{"a", {4, 2}, 0, f32_bytes({1, 2, 3, 4, 5, 6, 7, 8}), {}};
  std::string q8(34, '\0');
  const std::uint16_t one_half = 0x3C00;  // f16 1.0
  std::memcpy(q8.data(), &one_half, 2);
  for (int j = 0; j < 32; ++j) q8[2 + j] = static_cast<char>(j - 16);
  TensorSpec b{"b", {32, 1}, 8, q8, {}};
  g.tensors = {a, b};
  return g;
}

template <typename Fn>
gpt::FormatError expect_format_error(Fn&& fn) {
  try {
    fn();
  } catch (const gpt::FormatError& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected FormatError, got: " << e.what();
    throw;
  }
  ADD_FAILURE() << "expected FormatError, nothing thrown";
  throw std::runtime_error("no throw");
}

// ------------------------------------------------------------- round trips --

TEST(gguf_reader, ReadsAllValueTypesVersion3) {
  TempFiles tmp;
  GgufBuilder g;
  g.scalar<std::uint8_t>("u8", GgufType::UINT8, 200);
  g.scalar<std::int8_t>("i8", GgufType::INT8, -100);
  g.scalar<std::uint16_t>("u16", GgufType::UINT16, 60000);
  g.scalar<std::int16_t>("i16", GgufType::INT16, -30000);
  g.scalar<std::uint32_t>("u32", GgufType::UINT32, 4000000000u);
  g.scalar<std::int32_t>("i32", GgufType::INT32, -2000000000);
  g.scalar<float>("f32", GgufType::FLOAT32, 0.1f);
  g.scalar<std::uint8_t>("bool_t", GgufType::BOOL, 1);
  g.scalar<std::uint8_t>("bool_f", GgufType::BOOL, 0);
  g.string("str", std::string("h\xC3\xA9llo\0x", 8));
  g.scalar<std::uint64_t>("u64", GgufType::UINT64, 18000000000000000000ull);
  g.scalar<std::int64_t>("i64", GgufType::INT64, -9000000000000000000ll);
  g.scalar<double>("f64", GgufType::FLOAT64, 3.141592653589793);
  g.key("arr_f32", GgufType::ARRAY);
  g.kv.type(GgufType::FLOAT32).put<std::uint64_t>(3).put(1.5f).put(-2.0f).put(0.25f);
  g.key("arr_i16", GgufType::ARRAY);
  g.kv.type(GgufType::INT16).put<std::uint64_t>(2).put<std::int16_t>(-5).put<std::int16_t>(7);
  g.key("arr_str", GgufType::ARRAY);
  g.kv.type(GgufType::STRING).put<std::uint64_t>(3).str("x").str("").str("yz");
  g.key("arr_empty", GgufType::ARRAY);
  g.kv.type(GgufType::UINT8).put<std::uint64_t>(0);
  g.key("nested", GgufType::ARRAY);  // [[1, 2], [3]] of i32, then [["p"]]
  g.kv.type(GgufType::ARRAY).put<std::uint64_t>(2);
  g.kv.type(GgufType::INT32).put<std::uint64_t>(2).put<std::int32_t>(1).put<std::int32_t>(2);
  g.kv.type(GgufType::INT32).put<std::uint64_t>(1).put<std::int32_t>(3);
  g.key("nested_str", GgufType::ARRAY);
  g.kv.type(GgufType::ARRAY).put<std::uint64_t>(1);
  g.kv.type(GgufType::STRING).put<std::uint64_t>(1).str("p");
  const std::string path = tmp.write(g.build());

  GgufFile f(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.path(), path);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_EQ(f.keys().size(), 19u);
  EXPECT_EQ(f.keys().front(), "u8");
  EXPECT_EQ(f.keys().back(), "nested_str");

  EXPECT_EQ(f.get_int("u8", 0), 200);
  EXPECT_EQ(f.get_int("i8", 0), -100);
  EXPECT_EQ(f.get_int("u16", 0), 60000);
  EXPECT_EQ(f.get_int("i16", 0), -30000);
  EXPECT_EQ(f.get_int("u32", 0), 4000000000ll);
  EXPECT_EQ(f.get_int("i32", 0), -2000000000);
  EXPECT_EQ(f.get_int("i64", 0), -9000000000000000000ll);
  EXPECT_EQ(f.find("u64")->u, 18000000000000000000ull);
  EXPECT_THROW(f.get_int("u64", 0), gpt::FormatError);  // does not fit in int64
  EXPECT_EQ(f.get_float("f32", 0), static_cast<double>(0.1f));
  EXPECT_EQ(f.get_float("f64", 0), 3.141592653589793);
  EXPECT_EQ(f.get_float("u8", 0), 200.0);
  EXPECT_TRUE(f.get_bool("bool_t", false));
  EXPECT_FALSE(f.get_bool("bool_f", true));
  EXPECT_EQ(f.get_string("str"), std::string("h\xC3\xA9llo\0x", 8));

  EXPECT_EQ(f.get_float_array("arr_f32"), (std::vector<float>{1.5f, -2.0f, 0.25f}));
  EXPECT_EQ(f.get_int_array("arr_i16"), (std::vector<std::int64_t>{-5, 7}));
  EXPECT_EQ(f.get_float_array("arr_i16"), (std::vector<float>{-5.0f, 7.0f}));
  EXPECT_EQ(f.get_string_array("arr_str"), (std::vector<std::string>{"x", "", "yz"}));
  EXPECT_TRUE(f.get_int_array("arr_empty").empty());
  EXPECT_EQ(f.find("arr_empty")->element_type, GgufType::UINT8);

  const auto* nested = f.find("nested");
  ASSERT_NE(nested, nullptr);
  ASSERT_EQ(nested->type, GgufType::ARRAY);
  ASSERT_EQ(nested->element_type, GgufType::ARRAY);
  ASSERT_EQ(nested->count, 2u);
  ASSERT_EQ(nested->at(0).count, 2u);
  EXPECT_EQ(nested->at(0).at(1).i, 2);
  EXPECT_EQ(nested->at(1).at(0).i, 3);
  EXPECT_EQ(f.find("nested_str")->at(0).at(0).str, "p");
  EXPECT_THROW(nested->at(2), gpt::InvalidArgument);

  // Absent keys give the fallback; wrong types throw naming the key.
  EXPECT_FALSE(f.has("missing"));
  EXPECT_EQ(f.find("missing"), nullptr);
  EXPECT_EQ(f.get_int("missing", 42), 42);
  EXPECT_EQ(f.get_string("missing", "dflt"), "dflt");
  EXPECT_TRUE(f.get_string_array("missing").empty());
  const auto e = expect_format_error([&] { f.get_int("str", 0); });
  EXPECT_NE(std::string(e.what()).find("'str'"), std::string::npos) << e.what();
  EXPECT_THROW(f.get_string("u8"), gpt::FormatError);
  EXPECT_THROW(f.get_bool("u8", false), gpt::FormatError);
  EXPECT_THROW(f.get_float("str", 0), gpt::FormatError);
  EXPECT_THROW(f.get_string_array("arr_f32"), gpt::FormatError);
  EXPECT_THROW(f.get_int_array("arr_f32"), gpt::FormatError);
  EXPECT_THROW(f.get_float_array("arr_str"), gpt::FormatError);
  EXPECT_THROW(f.get_int_array("u8"), gpt::FormatError);
}

TEST(gguf_reader, ReadsTensorsVersion2Alignment64) {
  TempFiles tmp;
  GgufBuilder g = small_builder();
  g.version = 2;
  g.alignment = 64;
  g.scalar<std::uint32_t>("general.alignment", GgufType::UINT32, 64);
  const std::string bytes = g.build();
  const std::string path = tmp.write(bytes);

  GgufFile f(path);
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset(), g.data_start);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_string_array("tokens"), (std::vector<std::string>{"a", "bc"}));
  ASSERT_EQ(f.tensors().size(), 2u);

  const auto* a = f.find_tensor("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::F32);
  EXPECT_EQ(a->shape, (std::vector<std::int64_t>{2, 4}));  // ne = [4, 2] reversed
  EXPECT_EQ(a->nbytes, 32u);
  EXPECT_EQ(a->data, f.file()->data() + g.data_start);
  float v[8];
  std::memcpy(v, a->data, 32);
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[7], 8.0f);

  const auto* b = f.find_tensor("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, DType::Q8_0);
  EXPECT_EQ(b->shape, (std::vector<std::int64_t>{1, 32}));
  EXPECT_EQ(b->nbytes, 34u);
  EXPECT_EQ(b->data, f.file()->data() + g.data_start + 64);  // 32 bytes of 'a', padded to 64
  EXPECT_EQ(f.ggml_type(1), 8u);
  EXPECT_EQ(f.find_tensor("c"), nullptr);

  // The mapping outlives the GgufFile through file().
  std::shared_ptr<const gpt::io::MappedFile> keep;
  {
    GgufFile f2(std::make_shared<const gpt::io::MappedFile>(path));
    keep = f2.file();
  }
  EXPECT_EQ(keep->size(), bytes.size());
}

TEST(gguf_reader, DefaultAlignmentIs32AndDataSectionIsAligned) {
  TempFiles tmp;
  GgufBuilder g = small_builder();
  g.string("pad", "xyz");  // makes the header length odd
  GgufFile f(tmp.write(g.build()));
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.data_offset() % 32, 0u);
  EXPECT_EQ(f.data_offset(), g.data_start);
  EXPECT_EQ(f.find_tensor("b")->data, f.file()->data() + g.data_start + 32);
}

// --------------------------------------------------------------- malformed --

TEST(gguf_reader, BadMagic) {
  TempFiles tmp;
  std::string bytes = small_builder().build();
  bytes[0] = 'X';
  const auto e = expect_format_error([&] { GgufFile f(tmp.write(bytes)); });
  EXPECT_EQ(e.offset(), 0u);
  EXPECT_NE(std::string(e.what()).find("magic"), std::string::npos);
}

TEST(gguf_reader, UnsupportedVersion) {
  TempFiles tmp;
  for (std::uint32_t v : {0u, 1u, 4u, 0xFFFFFFFFu, 0x03000000u}) {
    GgufBuilder g = small_builder();
    g.version = v;
    const auto e = expect_format_error([&] { GgufFile f(tmp.write(g.build())); });
    EXPECT_EQ(e.offset(), 4u);
    EXPECT_NE(std::string(e.what()).find("version"), std::string::npos);
  }
}

TEST(gguf_reader, HugeStringLength) {
  TempFiles tmp;
  GgufBuilder g;
  g.n_kv = 1;
  g.kv.put<std::uint64_t>(1ull << 62).b += "abc";
  const auto e = expect_format_error([&] { GgufFile f(tmp.write(g.build())); });
  EXPECT_EQ(e.offset(), 24u);  // the first key's length field
  EXPECT_NE(std::string(e.what()).find("string length"), std::string::npos) << e.what();

  GgufBuilder g2;  // a huge string value
  g2.key("k", GgufType::STRING);
  g2.kv.put<std::uint64_t>(~0ull);
  const auto e2 = expect_format_error([&] { GgufFile f(tmp.write(g2.build())); });
  EXPECT_EQ(e2.offset(), 24u + 8 + 1 + 4);
}

TEST(gguf_reader, HugeArrayCount) {
  TempFiles tmp;
  for (GgufType et : {GgufType::UINT8, GgufType::UINT32, GgufType::STRING, GgufType::ARRAY}) {
    GgufBuilder g;
    g.key("arr", GgufType::ARRAY);
    g.kv.type(et).put<std::uint64_t>(1ull << 60).put<std::uint64_t>(0);
    const auto e = expect_format_error([&] { GgufFile f(tmp.write(g.build())); });
    EXPECT_EQ(e.offset(), 24u + 8 + 3 + 4 + 4);  // the count field
    EXPECT_NE(std::string(e.what()).find("array length"), std::string::npos) << e.what();
  }
}

TEST(gguf_reader, HugeCounts) {
  TempFiles tmp;
  {
    Bytes b;
    b.b = "GGUF";
    b.put<std::uint32_t>(3).put<std::uint64_t>(0).put<std::uint64_t>(~0ull);
    const auto e = expect_format_error([&] { GgufFile f(tmp.write(b.b)); });
    EXPECT_EQ(e.offset(), 16u);
  }
  {
    Bytes b;
    b.b = "GGUF";
    b.put<std::uint32_t>(3).put<std::uint64_t>(1ull << 40).put<std::uint64_t>(0);
    const auto e = expect_format_error([&] { GgufFile f(tmp.write(b.b)); });
    EXPECT_EQ(e.offset(), 8u);
  }
}

TEST(gguf_reader, DeeplyNestedArraysAreRejected) {
  TempFiles tmp;
  GgufBuilder g;
  g.key("deep", GgufType::ARRAY);
  for (int i = 0; i < 100; ++i) g.kv.type(GgufType::ARRAY).put<std::uint64_t>(1);
  g.kv.type(GgufType::UINT8).put<std::uint64_t>(0);
  EXPECT_THROW(GgufFile f(tmp.write(g.build())), gpt::FormatError);
}

TEST(gguf_reader, UnknownValueType) {
  TempFiles tmp;
  GgufBuilder g;
  g.key("k", static_cast<GgufType>(13));
  g.kv.put<std::uint32_t>(0);
  const auto e = expect_format_error([&] { GgufFile f(tmp.write(g.build())); });
  EXPECT_EQ(e.offset(), 24u + 8 + 1);
}

TEST(gguf_reader, TooManyDimensions) {
  TempFiles tmp;
  GgufBuilder g = small_builder();
  g.tensors[0].ne = {1, 1, 1, 1, 32};
  g.tensors[0].data = std::string(128, '\0');
  g.build();
  const auto e = expect_format_error([&] { GgufFile f(tmp.write(g.build())); });
  EXPECT_EQ(e.offset(), g.ndims_at[0]);
  EXPECT_EQ(e.tensor(), "a");
  EXPECT_NE(std::string(e.what()).find("5 dimensions"), std::string::npos) << e.what();
}

TEST(gguf_reader, DimensionProductOverflows) {
  TempFiles tmp;
  GgufBuilder g = small_builder();
  g.tensors[0].ne = {1ull << 32, 1ull << 32};
  g.build();
  auto e = expect_format_error([&] { GgufFile f(tmp.write(g.build())); });
  EXPECT_EQ(e.offset(), g.ndims_at[0] + 4 + 8);  // the second dimension
  EXPECT_NE(std::string(e.what()).find("overflow"), std::string::npos) << e.what();

  g.tensors[0].ne = {1ull << 62, 1};  // fits in int64 but not in bytes (x4)
  g.build();
  e = expect_format_error([&] { GgufFile f(tmp.write(g.build())); });
  EXPECT_NE(std::string(e.what()).find("overflow"), std::string::npos) << e.what();

  g.tensors[0].ne = {1ull << 63};  // negative as int64
  g.build();
  e = expect_format_error([&] { GgufFile f(tmp.write(g.build())); });
  EXPECT_EQ(e.offset(), g.ndims_at[0] + 4);
}

TEST(gguf_reader, TensorDataPastEnd) {
  TempFiles tmp;
  GgufBuilder g = small_builder();
  g.tensors[1].offset_override = 1024;  // aligned, but the file is shorter
  g.build();
  const auto e = expect_format_error([&] { GgufFile f(tmp.write(g.build())); });
  EXPECT_EQ(e.offset(), g.offset_field_at[1]);
  EXPECT_EQ(e.tensor(), "b");
  EXPECT_NE(std::string(e.what()).find("past the end"), std::string::npos) << e.what();

  GgufBuilder g2 = small_builder();  // size itself too large for the data
  g2.tensors[1].ne = {32, 1000};
  g2.build();
  const auto e2 = expect_format_error([&] { GgufFile f(tmp.write(g2.build())); });
  EXPECT_EQ(e2.tensor(), "b");

  GgufBuilder g3 = small_builder();  // offset near 2^64: offset + size overflows
  g3.tensors[1].offset_override = ~0ull - 31;
  g3.build();
  EXPECT_THROW(GgufFile f(tmp.write(g3.build())), gpt::FormatError);
}

TEST(gguf_reader, MisalignedTensorOffset) {
  TempFiles tmp;
  GgufBuilder g = small_builder();
  g.tensors[1].offset_override = 36;
  g.build();
  const auto e = expect_format_error([&] { GgufFile f(tmp.write(g.build())); });
  EXPECT_EQ(e.offset(), g.offset_field_at[1]);
  EXPECT_EQ(e.tensor(), "b");
  EXPECT_NE(std::string(e.what()).find("alignment"), std::string::npos) << e.what();
}

TEST(gguf_reader, AlignmentMustBePowerOfTwo) {
  TempFiles tmp;
  for (std::uint32_t a : {0u, 3u, 48u}) {
    GgufBuilder g = small_builder();
    g.scalar<std::uint32_t>("general.alignment", GgufType::UINT32, a);
    const std::string bytes = g.build();
    const auto e = expect_format_error([&] { GgufFile f(tmp.write(bytes)); });
    EXPECT_NE(std::string(e.what()).find("power of two"), std::string::npos) << e.what();
    // The value is the last 4 bytes of the metadata.
    const std::size_t kv_end = g.kv_start + g.kv.size();
    EXPECT_EQ(e.offset(), kv_end - 4);
  }
  GgufBuilder g = small_builder();
  g.string("general.alignment", "32");
  EXPECT_THROW(GgufFile f(tmp.write(g.build())), gpt::FormatError);
}

TEST(gguf_reader, DuplicateKeyAndTensorName) {
  TempFiles tmp;
  GgufBuilder g = small_builder();
  const std::size_t second_at = 24 + g.kv.size();
  g.string("general.architecture", "gpt2");
  auto e = expect_format_error([&] { GgufFile f(tmp.write(g.build())); });
  EXPECT_EQ(e.offset(), second_at);
  EXPECT_NE(std::string(e.what()).find("duplicate metadata key 'general.architecture'"), std::string::npos);

  GgufBuilder g2 = small_builder();
  g2.tensors[1].name = "a";
  g2.tensors[1].ne = {32, 1};
  g2.build();
  e = expect_format_error([&] { GgufFile f(tmp.write(g2.build())); });
  EXPECT_EQ(e.offset(), g2.info_start[1]);
  EXPECT_EQ(e.tensor(), "a");
}

TEST(gguf_reader, RowLengthMustBeWholeBlocks) {
  TempFiles tmp;
  GgufBuilder g = small_builder();
  g.tensors[1].ne = {16, 2};  // Q8_0 rows of 16
  const auto e = expect_format_error([&] { GgufFile f(tmp.write(g.build())); });
  EXPECT_EQ(e.tensor(), "b");
  EXPECT_NE(std::string(e.what()).find("block size"), std::string::npos) << e.what();
}

TEST(gguf_reader, UnknownTensorTypeIsUnsupportedModel) {
  TempFiles tmp;
  for (std::uint32_t type : {10u, 28u, 1000u}) {
    GgufBuilder g = small_builder();
    g.tensors[1].ggml_type = type;
    try {
      GgufFile f(tmp.write(g.build()));
      ADD_FAILURE() << "no throw";
    } catch (const gpt::UnsupportedModel& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("'b'"), std::string::npos) << what;
      EXPECT_NE(what.find(std::to_string(type)), std::string::npos) << what;
    }
  }
}

TEST(gguf_reader, BoolMustBeZeroOrOne) {
  TempFiles tmp;
  GgufBuilder g;
  g.scalar<std::uint8_t>("b", GgufType::BOOL, 2);
  EXPECT_THROW(GgufFile f(tmp.write(g.build())), gpt::FormatError);
}

TEST(gguf_reader, EveryTruncationThrows) {
  TempFiles tmp;
  GgufBuilder g = small_builder();
  g.key("nested", GgufType::ARRAY);
  g.kv.type(GgufType::ARRAY).put<std::uint64_t>(1);
  g.kv.type(GgufType::INT32).put<std::uint64_t>(2).put<std::int32_t>(1).put<std::int32_t>(2);
  const std::string bytes = g.build();
  ASSERT_NO_THROW(GgufFile f(tmp.write(bytes)));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const std::string path = tmp.write(bytes.substr(0, n));
    try {
      GgufFile f(path);
      ADD_FAILURE() << "prefix of " << n << " bytes parsed";
    } catch (const gpt::FormatError& e) {
      ASSERT_TRUE(e.offset().has_value()) << e.what();
      EXPECT_LE(*e.offset(), n) << e.what();
    }
    std::filesystem::remove(path);
  }
}

TEST(gguf_reader, RandomBitFlipsNeverCrash) {
  TempFiles tmp;
  GgufBuilder g = small_builder();
  g.scalar<std::uint32_t>("general.alignment", GgufType::UINT32, 32);
  g.key("nested", GgufType::ARRAY);
  g.kv.type(GgufType::ARRAY).put<std::uint64_t>(1);
  g.kv.type(GgufType::STRING).put<std::uint64_t>(2).str("x").str("yz");
  const std::string bytes = g.build();
  std::mt19937 rng(424242);
  int parsed = 0, rejected = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string m = bytes;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) {
      const std::size_t pos = rng() % m.size();
      m[pos] = static_cast<char>(m[pos] ^ (1 << (rng() % 8)));
    }
    const std::string path = tmp.write(m);
    try {
      GgufFile f(path);
      ++parsed;
      // Whatever parsed must point inside the file.
      const auto* begin = f.file()->data();
      const auto* end = begin + f.file()->size();
      for (const auto& t : f.tensors()) {
        ASSERT_GE(t.data, begin);
        ASSERT_LE(t.data + t.nbytes, end);
        volatile unsigned sum = 0;
        for (std::size_t j = 0; j < t.nbytes; ++j) sum = sum + static_cast<unsigned>(t.data[j]);
      }
    } catch (const gpt::Error&) {
      ++rejected;
    }
    std::filesystem::remove(path);
  }
  EXPECT_GT(parsed, 0);
  EXPECT_GT(rejected, 0);
}

TEST(gguf_reader, MissingFileIsIoError) {
  EXPECT_THROW(GgufFile f("/nonexistent/dir/model.gguf"), gpt::IoError);
}

// ---------------------------------------------------------- the real model --

TEST(gguf_reader, DefaultModel) {
  const std::string path = std::string(GPT_MODELS_DIR) + "/SmolLM2-135M-Instruct.Q4_1.gguf";
  ASSERT_TRUE(std::filesystem::exists(path))
      << path << " is missing: run tools/fetch-model to download it (see models/README.md)";
  GgufFile f(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.data_offset(), 1785664u);
  EXPECT_EQ(f.keys().size(), 33u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_string("general.license"), "apache-2.0");
  EXPECT_EQ(f.get_int("llama.block_count", 0), 30);
  EXPECT_EQ(f.get_int("llama.embedding_length", 0), 576);
  EXPECT_EQ(f.get_int("llama.feed_forward_length", 0), 1536);
  EXPECT_EQ(f.get_int("llama.attention.head_count", 0), 9);
  EXPECT_EQ(f.get_int("llama.attention.head_count_kv", 0), 3);
  EXPECT_EQ(f.get_int("llama.context_length", 0), 8192);
  EXPECT_EQ(f.get_float("llama.rope.freq_base", 0), 100000.0);
  EXPECT_FLOAT_EQ(static_cast<float>(f.get_float("llama.attention.layer_norm_rms_epsilon", 0)), 1e-5f);
  EXPECT_EQ(f.get_int("general.file_type", -1), 3);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), "smollm");
  EXPECT_FALSE(f.get_bool("tokenizer.ggml.add_bos_token", true));
  EXPECT_FALSE(f.get_bool("tokenizer.ggml.add_space_prefix", true));
  EXPECT_EQ(f.get_int("tokenizer.ggml.bos_token_id", -1), 1);
  EXPECT_EQ(f.get_int("tokenizer.ggml.eos_token_id", -1), 2);
  EXPECT_EQ(f.get_int("tokenizer.ggml.unknown_token_id", -1), 0);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").size(), 49152u);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.merges").size(), 48900u);
  EXPECT_EQ(f.get_int_array("tokenizer.ggml.token_type").size(), 49152u);
  EXPECT_EQ(f.get_string_array("general.languages"), (std::vector<std::string>{"en"}));
  EXPECT_NE(f.get_string("tokenizer.chat_template").find("<|im_start|>"), std::string::npos);

  ASSERT_EQ(f.tensors().size(), 272u);
  int n_q4_1 = 0, n_f32 = 0, n_q8_0 = 0;
  for (const auto& t : f.tensors()) {
    n_q4_1 += t.dtype == DType::Q4_1;
    n_f32 += t.dtype == DType::F32;
    n_q8_0 += t.dtype == DType::Q8_0;
  }
  EXPECT_EQ(n_q4_1, 210);
  EXPECT_EQ(n_f32, 61);
  EXPECT_EQ(n_q8_0, 1);
  EXPECT_EQ(f.find_tensor("output.weight"), nullptr);  // tied to token_embd

  const auto* base = f.file()->data();
  const auto* emb = f.find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->dtype, DType::Q8_0);
  EXPECT_EQ(emb->shape, (std::vector<std::int64_t>{49152, 576}));
  EXPECT_EQ(emb->nbytes, 30081024u);
  EXPECT_EQ(emb->data, base + 1785664);

  const auto* down = f.find_tensor("blk.0.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->dtype, DType::Q4_1);
  EXPECT_EQ(down->shape, (std::vector<std::int64_t>{576, 1536}));
  EXPECT_EQ(down->nbytes, 552960u);
  EXPECT_EQ(down->data, base + 31868992);

  const auto* k = f.find_tensor("blk.0.attn_k.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->dtype, DType::Q4_1);
  EXPECT_EQ(k->shape, (std::vector<std::int64_t>{192, 576}));
  EXPECT_EQ(k->data, base + 33530176);

  const auto* norm = f.find_tensor("output_norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->dtype, DType::F32);
  EXPECT_EQ(norm->shape, (std::vector<std::int64_t>{576}));
  EXPECT_EQ(norm->nbytes, 2304u);
  EXPECT_EQ(f.find_tensor("blk.29.ffn_up.weight")->shape, (std::vector<std::int64_t>{1536, 576}));
}

}  // namespace
