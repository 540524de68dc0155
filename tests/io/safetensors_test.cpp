// The safetensors reader on valid and malformed files written here.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gpt/error.h"
#include "io/safetensors.h"

namespace gpt::io {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("gpt_st_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string write_raw(const fs::path& p, std::uint64_t header_len, const std::string& header, std::size_t data_bytes) {
  std::ofstream f(p, std::ios::binary);
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>((header_len >> (8 * i)) & 0xff));
  f << header << std::string(data_bytes, '\x01');
  return p.string();
}

std::string write_file(const fs::path& p, const nlohmann::json& header, std::size_t data_bytes) {
  const std::string h = header.dump();
  return write_raw(p, h.size(), h, data_bytes);
}

nlohmann::json entry(const char* dtype, std::vector<int> shape, std::uint64_t b, std::uint64_t e) {
  return {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {b, e}}};
}

TEST(Safetensors, ReadsTensorsAndMetadata) {
  TempDir d;
  const auto p = write_file(d.path / "ok.safetensors",
                            {{"__metadata__", {{"format", "pt"}}},
                             {"a", entry("F32", {2, 3}, 0, 24)},
                             {"b", entry("BF16", {4}, 24, 32)},
                             {"ids", entry("I64", {1}, 32, 40)}},
                            40);
  SafetensorsFile f(p);
  ASSERT_EQ(f.tensors().size(), 2u);
  const TensorView* a = f.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::F32);
  EXPECT_EQ(a->shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(a->nbytes, 24u);
  EXPECT_EQ(f.find("b")->dtype, DType::BF16);
  EXPECT_EQ(f.other_tensors().at("ids"), "I64");
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.find("missing"), nullptr);
}

// Each malformed file must raise FormatError naming the file (and tensor).
void expect_format_error(const std::string& path, const std::string& tensor, const std::string& words) {
  try {
    SafetensorsFile f(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const FormatError& e) {
    EXPECT_EQ(e.path(), path);
    EXPECT_EQ(e.tensor(), tensor) << e.what();
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

TEST(Safetensors, RejectsMalformedFiles) {
  TempDir d;
  const auto dir = d.path;
  {  // 4-byte file
    std::ofstream(dir / "tiny") << "abcd";
    expect_format_error((dir / "tiny").string(), "", "too short");
  }
  expect_format_error(write_raw(dir / "huge_header", 1ull << 40, "{}", 0), "", "header length");
  expect_format_error(write_raw(dir / "header_past_end", 100, "{}", 10), "", "runs past the end");
  expect_format_error(write_raw(dir / "bad_json", 5, "{abc}", 0), "", "not valid JSON");
  expect_format_error(write_file(dir / "not_object", nlohmann::json::array({1, 2}), 0), "", "not a JSON object");
  expect_format_error(write_file(dir / "truncated", {{"w", entry("F32", {4, 4}, 0, 64)}}, 40), "w", "truncated");
  expect_format_error(write_file(dir / "size_mismatch", {{"w", entry("F32", {4, 4}, 0, 60)}}, 64), "w", "needs 64");
  expect_format_error(write_file(dir / "overlap", {{"a", entry("F32", {4}, 0, 16)}, {"b", entry("F32", {4}, 8, 24)}}, 24),
                      "b", "overlaps tensor 'a'");
  expect_format_error(write_file(dir / "reversed", {{"w", entry("F32", {0}, 8, 4)}}, 8), "w", "reversed");
  expect_format_error(write_file(dir / "unknown_dtype", {{"w", entry("Q9", {1}, 0, 4)}}, 4), "w", "unknown dtype");
  expect_format_error(write_file(dir / "neg_shape", {{"w", {{"dtype", "F32"}, {"shape", {-1}}, {"data_offsets", {0, 4}}}}}, 4),
                      "w", "negative");
  expect_format_error(write_file(dir / "overflow", {{"w", entry("F32", {1 << 30, 1 << 30}, 0, 4)}}, 4), "w", "");
  expect_format_error(write_file(dir / "no_offsets", {{"w", {{"dtype", "F32"}, {"shape", {1}}}}}, 4), "w", "data_offsets");
}

TEST(Safetensors, MissingFileIsIoError) {
  EXPECT_THROW(SafetensorsFile("/nonexistent/model.safetensors"), IoError);
}

TEST(Safetensors, ShardedIndexReportsMissingTensors) {
  TempDir d;
  write_file(d.path / "s1.safetensors", {{"a", entry("F32", {1}, 0, 4)}}, 4);
  write_file(d.path / "s2.safetensors", {{"b", entry("F32", {1}, 0, 4)}}, 4);
  std::ofstream(d.path / "model.safetensors.index.json")
      << nlohmann::json{{"weight_map", {{"a", "s1.safetensors"}, {"b", "s2.safetensors"}}}}.dump();
  const auto ck = open_safetensors(d.path);
  EXPECT_EQ(ck.files.size(), 2u);
  EXPECT_EQ(ck.tensors.size(), 2u);
  std::ofstream(d.path / "model.safetensors.index.json")
      << nlohmann::json{{"weight_map", {{"a", "s1.safetensors"}, {"c", "s2.safetensors"}}}}.dump();
  try {
    open_safetensors(d.path);
    ADD_FAILURE() << "missing tensor not reported";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.tensor(), "c");
  }
  std::ofstream(d.path / "model.safetensors.index.json")
      << nlohmann::json{{"weight_map", {{"a", "../s1.safetensors"}}}}.dump();
  EXPECT_THROW(open_safetensors(d.path), FormatError);
}

}  // namespace
}  // namespace gpt::io
