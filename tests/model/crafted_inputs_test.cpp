// Crafted inputs: files an attacker would write, each built here byte by
// byte (or derived from a fixture with one thing changed), each loaded
// through the public API in a fork()ed child. For every case the child must
// report a typed gpt::Error of the expected class whose message holds the
// expected phrase, its peak RSS (ru_maxrss from wait4, minus that of a child
// that does nothing) must stay under 64 MiB plus the size of the case's
// files, and the call must return within one second. Each case prints one
// "[ measure  ]" line: error, peak RSS growth, milliseconds.
//
// The classes: every finding of issue 9 (ids padding the vocabulary, huge
// layer counts, arrays of one-byte elements, deep JSON nesting, overflowing
// hyperparameters, non-integer ids and keys) and those of llama.cpp's GGUF
// advisories (oversized tensor counts, key lengths, array lengths, n_dims,
// dimension products, offsets past the end, misaligned data, duplicate
// tensor names, overlapping tensor ranges).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gpt/error.h"
#include "gpt/generate.h"
#include "gpt/model.h"
#include "gpt/tokenizer.h"
#include "io/gguf.h"
#include "test_util.h"

namespace gpt {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using io::GgufType;

// ------------------------------------------------------------ byte builders --

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
};

struct Tensor {
  std::string name;
  std::vector<std::uint64_t> ne;  // innermost first
  std::uint32_t type = 0;         // ggml type (0 = F32)
  std::uint64_t offset = 0;
};

// A GGUF file: header, metadata records written by the case, tensor infos,
// then `data_bytes` zero bytes of data after padding to 32.
struct Gguf {
  std::uint64_t n_kv = 0;
  std::optional<std::uint64_t> n_kv_override, n_tensors_override;
  Bytes kv;
  std::vector<Tensor> tensors;
  std::uint64_t data_bytes = 0;

  Gguf& key(const std::string& k, GgufType t) {
    ++n_kv;
    kv.str(k).type(t);
    return *this;
  }
  Gguf& u32(const std::string& k, std::uint32_t v) { return key(k, GgufType::UINT32), kv.put(v), *this; }
  Gguf& u64(const std::string& k, std::uint64_t v) { return key(k, GgufType::UINT64), kv.put(v), *this; }
  Gguf& f64(const std::string& k, double v) { return key(k, GgufType::FLOAT64), kv.put(v), *this; }
  Gguf& f32(const std::string& k, float v) { return key(k, GgufType::FLOAT32), kv.put(v), *this; }
  Gguf& string(const std::string& k, const std::string& v) { return key(k, GgufType::STRING), kv.str(v), *this; }
  Gguf& strings(const std::string& k, const std::vector<std::string>& v) {
    key(k, GgufType::ARRAY).kv.type(GgufType::STRING).put<std::uint64_t>(v.size());
    for (const auto& s : v) kv.str(s);
    return *this;
  }
  Gguf& tensor(const std::string& name, std::vector<std::uint64_t> ne, std::uint32_t type = 0) {
    std::uint64_t bytes = 4;
    for (auto d : ne) bytes *= d;
    tensors.push_back({name, std::move(ne), type, data_bytes});
    data_bytes += (bytes + 31) / 32 * 32;
    return *this;
  }

  std::string build() const {
    Bytes out;
    out.b = "GGUF";
    out.put<std::uint32_t>(3)
        .put<std::uint64_t>(n_tensors_override.value_or(tensors.size()))
        .put<std::uint64_t>(n_kv_override.value_or(n_kv));
    out.b += kv.b;
    for (const auto& t : tensors) {
      out.str(t.name).put<std::uint32_t>(static_cast<std::uint32_t>(t.ne.size()));
      for (auto d : t.ne) out.put<std::uint64_t>(d);
      out.put<std::uint32_t>(t.type).put<std::uint64_t>(t.offset);
    }
    while (out.b.size() % 32) out.b.push_back('\0');
    out.b.append(static_cast<std::size_t>(data_bytes), '\0');
    return out.b;
  }
};

// A tiny but complete llama GGUF model: d_model 8, 1 layer, vocab 4.
Gguf tiny_llama(std::uint64_t block_count = 1, std::uint64_t context_length = 32) {
  Gguf g;
  g.string("general.architecture", "llama")
      .u32("llama.embedding_length", 8)
      .u64("llama.block_count", block_count)
      .u32("llama.attention.head_count", 2)
      .u32("llama.feed_forward_length", 16)
      .u64("llama.context_length", context_length);
  g.tensor("token_embd.weight", {8, 4}).tensor("output_norm.weight", {8});
  for (const char* n : {"attn_norm", "ffn_norm"}) g.tensor(std::string("blk.0.") + n + ".weight", {8});
  for (const char* n : {"attn_q", "attn_k", "attn_v", "attn_output"}) g.tensor(std::string("blk.0.") + n + ".weight", {8, 8});
  g.tensor("blk.0.ffn_gate.weight", {8, 16}).tensor("blk.0.ffn_up.weight", {8, 16}).tensor("blk.0.ffn_down.weight", {16, 8});
  return g;
}

// A minimal GGUF BPE tokenizer vocabulary (byte pieces for a, b, c, "a b" merge).
Gguf with_tokenizer(Gguf g) {
  g.string("tokenizer.ggml.model", "gpt2").strings("tokenizer.ggml.tokens", {"a", "b", "ab", "c"});
  return g;
}

std::string safetensors(const json& header, const std::string& data) {
  const std::string h = header.dump();
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((h.size() >> (8 * i)) & 0xff));
  return out + h + data;
}

std::string nested(const std::string& open, const std::string& close, std::size_t depth, const std::string& inner) {
  std::string s;
  s.reserve(depth * (open.size() + close.size()) + inner.size());
  for (std::size_t i = 0; i < depth; ++i) s += open;
  s += inner;
  for (std::size_t i = 0; i < depth; ++i) s += close;
  return s;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

// ------------------------------------------------------------------ cases --

enum class Kind { Format, Unsupported, Invalid, Io };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Format: return "FormatError";
    case Kind::Unsupported: return "UnsupportedModel";
    case Kind::Invalid: return "InvalidArgument";
    case Kind::Io: return "IoError";
  }
  return "?";
}

// The files of a case, written under a scratch directory; `load` is the
// public call made on the case's path.
struct Case {
  std::string name;
  std::vector<std::pair<std::string, std::string>> files;  // relative name -> bytes
  std::string target;                                      // path given to the loader ("" = the directory)
  std::function<void(const std::string&)> load;
  Kind expect;
  std::string phrase;
};

void load_model(const std::string& p) { Model::load(p); }
void load_tok(const std::string& p) { load_tokenizer(p); }
void load_lm(const std::string& p) { LanguageModel::load(p); }

// A valid tokenizer.json for the BPE fixture, as JSON to modify.
json bpe_tokenizer_json() { return json::parse(slurp(test::data_path("tokenizer/bpe/tokenizer.json"))); }

std::vector<Case> cases() {
  std::vector<Case> c;
  auto gguf = [&](std::string name, const std::string& bytes, Kind k, std::string phrase,
                  std::function<void(const std::string&)> load = load_model) {
    c.push_back({std::move(name), {{"m.gguf", bytes}}, "m.gguf", std::move(load), k, std::move(phrase)});
  };
  const std::uint64_t huge = std::uint64_t{1} << 62;

  // --- GGUF header and metadata ---
  gguf("gguf bad magic", "GGUX" + std::string(20, '\0'), Kind::Format, "bad magic");
  {
    Bytes b;
    b.b = "GGUF";
    b.put<std::uint32_t>(99).put<std::uint64_t>(0).put<std::uint64_t>(0);
    gguf("gguf version 99", b.b, Kind::Format, "unsupported GGUF version");
  }
  gguf("gguf truncated header", std::string("GGUF\x03\0\0\0\0\0", 10), Kind::Format, "file truncated");
  {
    Gguf g;
    g.n_tensors_override = huge;
    gguf("gguf tensor count 2^62", g.build(), Kind::Format, "tensor count");
    g.n_tensors_override = 1000;  // small, but more than the file can hold
    gguf("gguf tensor count 1000 in 64 bytes", g.build(), Kind::Format, "tensor count");
  }
  {
    Gguf g;
    g.n_kv_override = huge;
    gguf("gguf metadata count 2^62", g.build(), Kind::Format, "metadata count");
  }
  {
    Gguf g;
    g.string("a", "x");
    g.kv.b.replace(0, 8, std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8));  // key length
    gguf("gguf key length 2^63-1", g.build(), Kind::Format, "string length");
  }
  {
    Gguf g;
    g.string("a", "x");
    const std::uint64_t len = 1000;
    std::memcpy(g.kv.b.data(), &len, 8);
    gguf("gguf key length past the end", g.build(), Kind::Format, "string length");
  }
  {
    Gguf g;
    g.key("s", GgufType::STRING).kv.put<std::uint64_t>(huge);
    gguf("gguf string value length 2^62", g.build(), Kind::Format, "string length");
  }
  {
    Gguf g;
    g.key("arr", GgufType::ARRAY).kv.type(GgufType::UINT8).put<std::uint64_t>(huge);
    gguf("gguf u8 array length 2^62", g.build(), Kind::Format, "array length");
  }
  {
    Gguf g;
    g.key("arr", GgufType::ARRAY).kv.type(GgufType::STRING).put<std::uint64_t>(1u << 20).str("x");
    gguf("gguf string array length 2^20 in 100 bytes", g.build(), Kind::Format, "array length");
  }
  {
    Gguf g;
    g.key("arr", GgufType::ARRAY);
    for (int d = 0; d < 9; ++d) g.kv.type(GgufType::ARRAY).put<std::uint64_t>(1);
    g.kv.type(GgufType::UINT8).put<std::uint64_t>(0);
    gguf("gguf arrays nested 10 deep", g.build(), Kind::Format, "nested deeper");
  }
  {
    Gguf g;
    g.key("arr", GgufType::ARRAY).kv.type(GgufType::ARRAY).put<std::uint64_t>(70000);
    for (int k = 0; k < 70000; ++k) g.kv.type(GgufType::UINT8).put<std::uint64_t>(0);
    gguf("gguf 70000 nested arrays", g.build(), Kind::Format, "arrays nested inside arrays");
  }
  {
    Gguf g;
    g.key("t", static_cast<GgufType>(13)).kv.put<std::uint32_t>(0);
    gguf("gguf unknown value type", g.build(), Kind::Format, "unknown value type");
    Gguf h;
    h.key("t", GgufType::ARRAY).kv.put<std::uint32_t>(200).put<std::uint64_t>(0);
    gguf("gguf unknown array element type", h.build(), Kind::Format, "unknown array element type");
  }
  {
    Gguf g;
    g.key("b", GgufType::BOOL).kv.put<std::uint8_t>(2);
    gguf("gguf bool value 2", g.build(), Kind::Format, "neither 0 nor 1");
    Gguf h;
    h.key("b", GgufType::ARRAY).kv.type(GgufType::BOOL).put<std::uint64_t>(2).put<std::uint8_t>(1).put<std::uint8_t>(7);
    gguf("gguf bool array element 7", h.build(), Kind::Format, "neither 0 nor 1");
  }
  {
    Gguf g;
    g.u32("k", 1).u32("k", 2);
    gguf("gguf duplicate metadata key", g.build(), Kind::Format, "duplicate metadata key");
  }
  {
    Gguf g;
    g.u32("general.alignment", 24);
    gguf("gguf alignment 24", g.build(), Kind::Format, "power of two");
    Gguf h;
    h.u32("general.alignment", 0);
    gguf("gguf alignment 0", h.build(), Kind::Format, "power of two");
  }
  // A 30 MB array of one-byte elements: stays in the mapping, no 104-byte values.
  {
    Gguf g = with_tokenizer(tiny_llama());
    g.key("tokenizer.ggml.token_type", GgufType::ARRAY).kv.type(GgufType::UINT8).put<std::uint64_t>(30'000'000);
    g.kv.b.append(30'000'000, '\1');
    gguf("gguf 30M u8 token_type array", g.build(), Kind::Format, "token_type has 30000000 entries", load_lm);
  }

  // --- GGUF tensor infos ---
  auto tensor_case = [&](std::string name, Tensor t, std::uint64_t data, Kind k, std::string phrase) {
    Gguf g;
    g.tensors.push_back(std::move(t));
    g.data_bytes = data;
    gguf(std::move(name), g.build(), k, std::move(phrase));
  };
  tensor_case("gguf n_dims 5", {"t", {1, 1, 1, 1, 1}}, 32, Kind::Format, "dimensions");
  tensor_case("gguf n_dims 2^32-1", {"t", std::vector<std::uint64_t>(0), 0, 0}, 32, Kind::Format, "dimensions");
  {
    Gguf g;
    g.tensors.push_back({"t", {}, 0, 0});
    std::string bytes = g.build();
    const std::size_t ndims_at = 24 + 8 + 1;
    const std::uint32_t n = 0xffffffffu;
    std::memcpy(bytes.data() + ndims_at, &n, 4);
    c.back().files[0].second = bytes;
  }
  tensor_case("gguf dimension product overflows", {"t", {1ull << 32, 1ull << 32}}, 32, Kind::Format, "overflows");
  tensor_case("gguf dimension 2^63", {"t", {1ull << 63}}, 32, Kind::Format, "negative or too large");
  tensor_case("gguf dims 2^30 x 2^30 F32 past the end", {"t", {1ull << 30, 1ull << 30}}, 64, Kind::Format,
              "runs past the end");
  tensor_case("gguf offset past the end", {"t", {4}, 0, 1024}, 32, Kind::Format, "runs past the end");
  tensor_case("gguf offset 2^63 aligned", {"t", {4}, 0, 1ull << 63}, 32, Kind::Format, "runs past the end");
  tensor_case("gguf misaligned offset", {"t", {4}, 0, 4}, 64, Kind::Format, "not a multiple of the alignment");
  tensor_case("gguf unsupported ggml type Q2_K", {"t", {256}, 10, 0}, 128, Kind::Unsupported, "not supported");
  tensor_case("gguf ggml type 2^31", {"t", {4}, 0x80000000u, 0}, 32, Kind::Unsupported, "not supported");
  tensor_case("gguf Q4_0 row of 33", {"t", {33}, 2, 0}, 64, Kind::Format, "block size");
  {
    Gguf g;
    g.tensor("t", {4}).tensor("t", {4});
    gguf("gguf duplicate tensor name", g.build(), Kind::Format, "duplicate tensor name");
  }
  {
    Gguf g;
    g.tensor("a", {16}).tensor("b", {16});
    g.tensors[1].offset = 32;  // a is [0, 64)
    gguf("gguf overlapping tensor ranges", g.build(), Kind::Format, "overlaps tensor 'a'");
  }
  {
    Gguf g;
    g.tensor("a", {4});
    std::string bytes = g.build();
    bytes.resize(bytes.size() - 32);  // infos end where data should start
    gguf("gguf data section missing", bytes, Kind::Format, "past the end");
  }

  // --- GGUF model hyperparameters ---
  gguf("gguf block_count 20M", tiny_llama(20'000'000).build(), Kind::Format, "layers but the checkpoint holds");
  gguf("gguf block_count 2^32", tiny_llama(1ull << 32).build(), Kind::Unsupported, "layer count");
  gguf("gguf block_count 2^62", tiny_llama(huge).build(), Kind::Unsupported, "layer count");
  gguf("gguf block_count 2 (layer 1 absent)", tiny_llama(2).build(), Kind::Format, "blk.1.attn_norm.weight");
  {
    Gguf g;
    g.string("general.architecture", "llama")
        .u32("llama.embedding_length", 8)
        .u64("llama.block_count", 1)
        .u64("llama.attention.head_count", 1ull << 31)
        .u64("llama.attention.key_length", 1ull << 31)
        .u32("llama.feed_forward_length", 16)
        .u32("llama.context_length", 32);
    g.tensor("token_embd.weight", {8, 4});
    gguf("gguf heads x head_dim = 2^62", g.build(), Kind::Unsupported, "n_head * head_dim");
  }
  {
    Gguf g = tiny_llama();
    g.f64("llama.rope.freq_base", 1e300);
    gguf("gguf rope freq_base 1e300", g.build(), Kind::Format, "not a finite f32");
  }
  {
    Gguf g = tiny_llama();
    g.f32("llama.attention.layer_norm_rms_epsilon", std::numeric_limits<float>::quiet_NaN());
    gguf("gguf rms epsilon NaN", g.build(), Kind::Format, "not a finite f32");
  }
  {
    Gguf g = tiny_llama();
    g.u64("llama.vocab_size", 1ull << 40);
    gguf("gguf vocab_size 2^40", g.build(), Kind::Unsupported, "vocab_size");
  }
  {
    Gguf g = tiny_llama();
    g.u64("llama.rope.dimension_count", huge);
    gguf("gguf rope dimension_count 2^62", g.build(), Kind::Unsupported, "rotary_dim");
  }
  gguf("gguf context_length 2^40", tiny_llama(1, 1ull << 40).build(), Kind::Unsupported, "context length");
  {
    Gguf g = with_tokenizer(tiny_llama());
    g.u64("tokenizer.ggml.bos_token_id", 1ull << 40);
    gguf("gguf bos_token_id 2^40", g.build(), Kind::Format, "outside the vocabulary", load_tok);
  }
  {
    Gguf g = with_tokenizer(tiny_llama());
    g.strings("tokenizer.ggml.merges", {"a b", "nospace"});
    gguf("gguf merge without a space", g.build(), Kind::Format, "is not two pieces", load_tok);
  }

  // --- tokenizer.json / tokenizer_config.json / vocab.json ---
  auto tok = [&](std::string name, std::vector<std::pair<std::string, std::string>> files, Kind k, std::string phrase) {
    c.push_back({std::move(name), std::move(files), "", load_tok, k, std::move(phrase)});
  };
  {
    json j = bpe_tokenizer_json();
    j["added_tokens"] = json::array({{{"id", 2147483000}, {"content", "<x>"}, {"special", true}}});
    tok("tokenizer.json added token id 2^31", {{"tokenizer.json", j.dump()}}, Kind::Format, "outside [0,");
  }
  {
    json j = bpe_tokenizer_json();
    j["model"]["vocab"]["zz"] = 1 << 24;
    tok("tokenizer.json vocab id 2^24", {{"tokenizer.json", j.dump()}}, Kind::Format, "vocab entry 'zz' has id");
    j["model"]["vocab"]["zz"] = -1;
    tok("tokenizer.json vocab id -1", {{"tokenizer.json", j.dump()}}, Kind::Format, "vocab entry 'zz' has id");
    j["model"]["vocab"]["zz"] = "7";
    tok("tokenizer.json vocab id \"7\"", {{"tokenizer.json", j.dump()}}, Kind::Format, "non-integer id");
    j["model"]["vocab"]["zz"] = 1e300;
    tok("tokenizer.json vocab id 1e300", {{"tokenizer.json", j.dump()}}, Kind::Format, "non-integer id");
  }
  {
    const std::string s = bpe_tokenizer_json().dump();
    // A 100k-level Sequence of pre-tokenizers, and a 100k-level normalizer.
    json j = bpe_tokenizer_json();
    j["pre_tokenizer"] = "@@";
    std::string deep = j.dump();
    deep.replace(deep.find("\"@@\""), 4,
                 nested(R"({"type":"Sequence","pretokenizers":[)", "]}", 100000, R"({"type":"ByteLevel"})"));
    tok("tokenizer.json pre_tokenizer nested 100k", {{"tokenizer.json", deep}}, Kind::Format, "nested more than");
    j = bpe_tokenizer_json();
    j["normalizer"] = "@@";
    deep = j.dump();
    deep.replace(deep.find("\"@@\""), 4, nested("[", "]", 100000, ""));
    tok("tokenizer.json normalizer [[[...]]] 100k", {{"tokenizer.json", deep}}, Kind::Format, "nested more than");
    tok("tokenizer.json truncated", {{"tokenizer.json", s.substr(0, s.size() / 2)}}, Kind::Format, "not valid JSON");
  }
  {
    json j = bpe_tokenizer_json();
    j["model"]["merges"].push_back(json::array({"a"}));
    tok("tokenizer.json merge of one piece", {{"tokenizer.json", j.dump()}}, Kind::Format, "merge entry");
    j = bpe_tokenizer_json();
    j["added_tokens"] = json::array({{{"id", 1}, {"content", 5}}});
    tok("tokenizer.json added token content 5", {{"tokenizer.json", j.dump()}}, Kind::Format, "unexpected content");
    j = bpe_tokenizer_json();
    j["post_processor"] = {{"type", "TemplateProcessing"},
                           {"single", json::array({{{"SpecialToken", {{"id", "X"}}}}, {{"Sequence", {{"id", "A"}}}}})},
                           {"special_tokens", {{"X", {{"ids", json::array({2147483647})}}}}}};
    tok("tokenizer.json post-processor id 2^31-1", {{"tokenizer.json", j.dump()}}, Kind::Format, "is outside the vocabulary");
  }
  const std::string good_tok = slurp(test::data_path("tokenizer/bpe/tokenizer.json"));
  tok("tokenizer_config key \"abc\"",
      {{"tokenizer.json", good_tok}, {"tokenizer_config.json", R"({"added_tokens_decoder": {"abc": {"content": "<x>"}}})"}},
      Kind::Format, "added_tokens_decoder key 'abc'");
  tok("tokenizer_config key 2^40",
      {{"tokenizer.json", good_tok},
       {"tokenizer_config.json", R"({"added_tokens_decoder": {"1099511627776": {"content": "<x>"}}})"}},
      Kind::Format, "is not a token id");
  tok("tokenizer_config key \"-1\"",
      {{"tokenizer.json", good_tok}, {"tokenizer_config.json", R"({"added_tokens_decoder": {"-1": {"content": "<x>"}}})"}},
      Kind::Format, "is not a token id");
  tok("tokenizer_config chat_template [1, 2]",
      {{"tokenizer.json", good_tok}, {"tokenizer_config.json", R"({"chat_template": [1, 2]})"}}, Kind::Format,
      "unexpected content");
  tok("tokenizer_config nested 100k",
      {{"tokenizer.json", good_tok}, {"tokenizer_config.json", nested("{\"a\":", "}", 100000, "1")}}, Kind::Format,
      "nested more than");
  tok("generation_config eos_token_id 2^40",
      {{"tokenizer.json", good_tok}, {"generation_config.json", R"({"eos_token_id": [1, 1099511627776]})"}},
      Kind::Format, "eos_token_id has id");
  {
    const std::string merges = slurp(test::data_path("tokenizer/bpe/merges.txt"));
    json v = json::parse(slurp(test::data_path("tokenizer/bpe/vocab.json")));
    v["zz"] = 1 << 24;
    tok("vocab.json id 2^24", {{"vocab.json", v.dump()}, {"merges.txt", merges}}, Kind::Format, "vocab entry 'zz'");
    tok("merges.txt line of three pieces",
        {{"vocab.json", slurp(test::data_path("tokenizer/bpe/vocab.json"))}, {"merges.txt", merges + "a b c\n"}},
        Kind::Format, "is not two pieces");
  }

  // --- config.json + safetensors (the tiny Llama fixture with one change) ---
  const std::string llama_st = slurp(test::data_path("models/llama/model.safetensors"));
  const json llama_cfg = json::parse(slurp(test::data_path("models/llama/config.json")));
  auto hf = [&](std::string name, const json& cfg, Kind k, std::string phrase, const std::string& st = {}) {
    c.push_back({std::move(name), {{"config.json", cfg.dump()}, {"model.safetensors", st.empty() ? llama_st : st}}, "",
                 load_model, k, std::move(phrase)});
  };
  auto cfg_with = [&](const char* key, json v) {
    json j = llama_cfg;
    j[key] = std::move(v);
    return j;
  };
  hf("config eos_token_id [2, \"x\"]", cfg_with("eos_token_id", json::array({2, "x"})), Kind::Format,
     "eos_token_id entry");
  hf("config vocab_size 1e300", cfg_with("vocab_size", 1e300), Kind::Format, "not a 64-bit integer");
  hf("config vocab_size 2^64-1", cfg_with("vocab_size", std::numeric_limits<std::uint64_t>::max()), Kind::Format,
     "not a 64-bit integer");
  hf("config partial_rotary_factor 1e300", cfg_with("partial_rotary_factor", 1e300), Kind::Format,
     "partial_rotary_factor");
  hf("config rms_norm_eps 1e300", cfg_with("rms_norm_eps", 1e300), Kind::Format, "not a finite number");
  {
    json j = cfg_with("num_attention_heads", 1ll << 40);
    j["head_dim"] = 1ll << 40;
    j["num_key_value_heads"] = 1ll << 40;
    hf("config heads x head_dim = 2^80", j, Kind::Unsupported, "exceeds");
  }
  hf("config num_hidden_layers 20M", cfg_with("num_hidden_layers", 20'000'000), Kind::Format,
     "layers but the checkpoint holds");
  hf("config num_hidden_layers 2^62", cfg_with("num_hidden_layers", 1ll << 62), Kind::Unsupported, "layer count");
  {
    json g = json::parse(slurp(test::data_path("models/gpt2/config.json")));
    g["n_embd"] = 1ll << 62;
    g.erase("n_inner");
    c.push_back({"config gpt2 n_embd 2^62 (4 x n_embd)",
                 {{"config.json", g.dump()}, {"model.safetensors", slurp(test::data_path("models/gpt2/model.safetensors"))}},
                 "", load_model, Kind::Unsupported, "hidden size"});
  }
  {
    json j = llama_cfg;
    std::string deep = j.dump();
    deep.insert(1, "\"x\":" + nested("[", "]", 100000, "") + ",");
    c.push_back({"config.json nested 100k", {{"config.json", deep}, {"model.safetensors", llama_st}}, "", load_model,
                 Kind::Format, "nested more than"});
  }
  // safetensors headers
  {
    std::string st = llama_st;
    const std::uint64_t len = huge;
    std::memcpy(st.data(), &len, 8);
    hf("safetensors header length 2^62", llama_cfg, Kind::Format, "header length", st);
  }
  {
    const json h = {{"a", {{"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {0, 16}}}},
                    {"b", {{"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {8, 24}}}}};
    hf("safetensors overlapping ranges", llama_cfg, Kind::Format, "overlaps tensor", safetensors(h, std::string(24, '\0')));
    const json p = {{"a", {{"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {0, 16}}}}};
    hf("safetensors data past the end", llama_cfg, Kind::Format, "runs past the end", safetensors(p, std::string(8, '\0')));
    const json o = {{"a", {{"dtype", "F32"}, {"shape", {1ull << 40, 1ull << 40}}, {"data_offsets", {0, 16}}}}};
    hf("safetensors shape 2^80", llama_cfg, Kind::Format, "shape overflows", safetensors(o, std::string(16, '\0')));
    std::string dup = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
    std::string st;
    for (int i = 0; i < 8; ++i) st.push_back(static_cast<char>((dup.size() >> (8 * i)) & 0xff));
    hf("safetensors duplicate tensor name", llama_cfg, Kind::Format, "names 'a' twice", st + dup + std::string(8, '\0'));
    std::string deep = "{\"__metadata__\":" + nested("[", "]", 100000, "") + "}";
    st.clear();
    for (int i = 0; i < 8; ++i) st.push_back(static_cast<char>((deep.size() >> (8 * i)) & 0xff));
    hf("safetensors header nested 100k", llama_cfg, Kind::Format, "nested more than", st + deep);
  }
  c.push_back({"safetensors index shard \"../x\"",
               {{"config.json", llama_cfg.dump()},
                {"model.safetensors.index.json", R"({"weight_map": {"a": "../x.safetensors"}})"}},
               "", load_model, Kind::Format, "not a plain file name"});
  return c;
}

// ------------------------------------------------------------------ runner --

struct Outcome {
  std::string kind;  // "FormatError", ..., "none", or "other: <type>"
  std::string what;
  double ms = 0;
  long max_rss_kb = 0;
  int status = 0;
};

// Runs f in a child process; returns what it threw, how long it took and the
// child's peak RSS.
Outcome run_in_child(const std::function<void()>& f) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    close(fds[0]);
    std::string kind = "none", what;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      f();
    } catch (const FormatError& e) {
      kind = "FormatError", what = e.what();
    } catch (const UnsupportedModel& e) {
      kind = "UnsupportedModel", what = e.what();
    } catch (const InvalidArgument& e) {
      kind = "InvalidArgument", what = e.what();
    } catch (const IoError& e) {
      kind = "IoError", what = e.what();
    } catch (const Error& e) {
      kind = "Error", what = e.what();
    } catch (const std::exception& e) {
      kind = "other", what = e.what();
    } catch (...) {
      kind = "other", what = "unknown exception";
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const std::string msg = kind + "\n" + std::to_string(ms) + "\n" + what;
    std::size_t off = 0;
    while (off < msg.size()) {
      const ssize_t n = write(fds[1], msg.data() + off, msg.size() - off);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  std::string msg;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) msg.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  Outcome o;
  struct rusage ru {};
  wait4(pid, &o.status, 0, &ru);
  o.max_rss_kb = ru.ru_maxrss;
  const auto a = msg.find('\n'), b = msg.find('\n', a == std::string::npos ? 0 : a + 1);
  if (a == std::string::npos || b == std::string::npos) {
    o.kind = "crashed (status " + std::to_string(o.status) + ")";
    return o;
  }
  o.kind = msg.substr(0, a);
  o.ms = std::stod(msg.substr(a + 1, b - a - 1));
  o.what = msg.substr(b + 1);
  return o;
}

TEST(CraftedInputs, EveryCaseIsATypedErrorInBoundedMemoryAndTime) {
  const std::vector<Case> all = cases();
  EXPECT_GE(all.size(), 50u);
  const fs::path root = fs::temp_directory_path() / ("gpt_crafted_" + std::to_string(getpid()));
  for (const Case& k : all) {
    SCOPED_TRACE(k.name);
    const fs::path dir = root / std::to_string(&k - all.data());
    fs::create_directories(dir);
    std::uint64_t file_bytes = 0;
    for (const auto& [name, bytes] : k.files) {
      std::ofstream(dir / name, std::ios::binary) << bytes;
      file_bytes += bytes.size();
    }
    const std::string target = (k.target.empty() ? dir : dir / k.target).string();
    const long baseline_kb = run_in_child([] {}).max_rss_kb;
    const Outcome o = run_in_child([&] { k.load(target); });
    const double grew_mib = static_cast<double>(o.max_rss_kb - baseline_kb) / 1024.0;
    const double limit_mib = 64.0 + static_cast<double>(file_bytes) / (1024.0 * 1024.0);
    std::printf("[ measure  ] %-42s %-16s peak RSS +%7.2f MiB (files %8.2f MiB) %7.1f ms  %s\n", k.name.c_str(),
                o.kind.c_str(), grew_mib, static_cast<double>(file_bytes) / (1024.0 * 1024.0), o.ms,
                o.what.substr(o.what.find(dir.string()) == 0 ? dir.string().size() + 1 : 0).c_str());
    EXPECT_EQ(o.kind, kind_name(k.expect)) << o.what;
    EXPECT_NE(o.what.find(k.phrase), std::string::npos) << "expected '" << k.phrase << "' in: " << o.what;
    EXPECT_LT(grew_mib, limit_mib);
    EXPECT_LT(o.ms, 1000.0);
    fs::remove_all(dir);
  }
  fs::remove_all(root);
}

}  // namespace
}  // namespace gpt
