// Checkpoints with something wrong load as a FormatError / UnsupportedModel
// naming the file and the tensor, never a crash. Each case is the tiny Llama
// fixture with one thing changed, written to a scratch directory.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "gpt/error.h"
#include "gpt/model.h"
#include "test_util.h"

namespace gpt {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Checkpoint {
  json header;        // safetensors header of the fixture
  std::string data;   // its data section
  json config;
};

Checkpoint read_fixture() {
  Checkpoint c;
  std::ifstream f(test::data_path("models/llama/model.safetensors"), std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(f)), {});
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(all[std::size_t(i)]);
  c.header = json::parse(all.substr(8, n));
  c.data = all.substr(8 + n);
  c.config = test::read_json(test::data_path("models/llama/config.json"));
  return c;
}

class ScratchModel {
 public:
  ScratchModel() {
    dir_ = fs::temp_directory_path() /
           ("gpt_load_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  ~ScratchModel() { fs::remove_all(dir_); }
  std::string write(const Checkpoint& c) const {
    std::ofstream(dir_ / "config.json") << c.config.dump();
    const std::string h = c.header.dump();
    std::ofstream f(dir_ / "model.safetensors", std::ios::binary);
    for (int i = 0; i < 8; ++i) f.put(static_cast<char>((h.size() >> (8 * i)) & 0xff));
    f << h << c.data;
    return dir_.string();
  }
  std::string file() const { return (dir_ / "model.safetensors").string(); }

 private:
  fs::path dir_;
};

template <typename E>
void expect_error(const std::string& dir, const std::string& file, const std::string& tensor, const std::string& words) {
  try {
    Model::load(dir);
    ADD_FAILURE() << "loaded without error";
  } catch (const E& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(file), std::string::npos) << what;
    EXPECT_NE(what.find(tensor), std::string::npos) << what;
    EXPECT_NE(what.find(words), std::string::npos) << what;
  }
}

TEST(LoadErrors, UnchangedFixtureLoads) {
  ScratchModel s;
  EXPECT_NO_THROW(Model::load(s.write(read_fixture())));
}

TEST(LoadErrors, MissingTensor) {
  ScratchModel s;
  Checkpoint c = read_fixture();
  c.header.erase("model.layers.1.mlp.up_proj.weight");
  expect_error<FormatError>(s.write(c), s.file(), "blk.1.ffn_up.weight", "missing tensor");
}

TEST(LoadErrors, WrongShape) {
  ScratchModel s;
  Checkpoint c = read_fixture();
  auto& e = c.header["model.layers.0.self_attn.k_proj.weight"];  // [32, 64] -> [64, 32]: same bytes
  e["shape"] = {64, 32};
  expect_error<FormatError>(s.write(c), s.file(), "model.layers.0.self_attn.k_proj.weight", "has shape [64, 32]");
}

TEST(LoadErrors, WrongDtype) {
  ScratchModel s;
  Checkpoint c = read_fixture();
  auto& e = c.header["model.norm.weight"];  // 64 x F32 = 256 bytes = 32 x I64
  e["dtype"] = "I64";
  e["shape"] = {32};
  expect_error<FormatError>(s.write(c), s.file(), "model.norm.weight", "type I64");
}

TEST(LoadErrors, TruncatedFile) {
  ScratchModel s;
  Checkpoint c = read_fixture();
  c.data.resize(c.data.size() - 1000);
  s.write(c);
  try {
    Model::load(fs::path(s.file()).parent_path());
    ADD_FAILURE() << "loaded a truncated file";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.path(), s.file());
    EXPECT_FALSE(e.tensor().empty());
    EXPECT_TRUE(e.offset().has_value());
  }
}

// Appends an f32 tensor of `n` values to the checkpoint.
void add_tensor(Checkpoint& c, const std::string& name, std::int64_t n) {
  const std::size_t start = c.data.size();
  c.data.append(std::size_t(n) * 4, '\0');
  c.header[name] = {{"dtype", "F32"}, {"shape", {n}}, {"data_offsets", {start, c.data.size()}}};
}

// A tensor the decoder would not read is a feature the engine lacks: the
// checkpoint is refused by the tensor's name, never run without it.
TEST(LoadErrors, TensorOfAnUnimplementedFeature) {
  ScratchModel s;
  Checkpoint c = read_fixture();
  add_tensor(c, "model.layers.0.self_attn.q_norm.weight", 16);  // Qwen3-style q norm
  expect_error<UnsupportedModel>(s.write(c), s.file(), "model.layers.0.self_attn.q_norm.weight", "not used");
  c = read_fixture();
  add_tensor(c, "model.layers.1.mlp.up_proj.bias", 128);  // a bias the config (mlp_bias: false) does not announce
  expect_error<UnsupportedModel>(s.write(c), s.file(), "model.layers.1.mlp.up_proj.bias", "not used");
  c = read_fixture();
  add_tensor(c, "model.layers.0.self_attn.rotary_emb.inv_freq", 8);  // a buffer, recomputed from the config
  EXPECT_NO_THROW(Model::load(s.write(c)));
}

TEST(LoadErrors, BadConfig) {
  ScratchModel s;
  Checkpoint c = read_fixture();
  c.config["num_key_value_heads"] = 3;  // 4 heads are not a multiple of 3
  expect_error<UnsupportedModel>(s.write(c), "", "", "n_kv_head");
  c = read_fixture();
  c.config["model_type"] = "t5";
  expect_error<UnsupportedModel>(s.write(c), "config.json", "", "model_type 't5'");
  c = read_fixture();
  c.config.erase("hidden_size");
  expect_error<FormatError>(s.write(c), "config.json", "", "hidden_size");
  c = read_fixture();
  c.config["rope_parameters"]["rope_type"] = "dynamic";
  expect_error<UnsupportedModel>(s.write(c), "config.json", "", "dynamic");
  c = read_fixture();
  c.config["rope_parameters"]["rope_type"] = "yarn";  // without its factor
  expect_error<FormatError>(s.write(c), "config.json", "", "factor");
}

}  // namespace
}  // namespace gpt
