#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "gpt/error.h"
#include "io/json.h"

namespace gpt::io {

namespace {

using json = nlohmann::json;

struct DtypeName {
  const char* name;
  std::size_t bytes;
  bool computable;
  DType dtype;
};

constexpr DtypeName kDtypes[] = {
    {"F32", 4, true, DType::F32},    {"F16", 2, true, DType::F16},   {"BF16", 2, true, DType::BF16},
    {"F64", 8, false, DType::F32},   {"I64", 8, false, DType::F32},  {"U64", 8, false, DType::F32},
    {"I32", 4, false, DType::F32},   {"U32", 4, false, DType::F32},  {"I16", 2, false, DType::F32},
    {"U16", 2, false, DType::F32},   {"I8", 1, false, DType::F32},   {"U8", 1, false, DType::F32},
    {"BOOL", 1, false, DType::F32},  {"F8_E4M3", 1, false, DType::F32}, {"F8_E5M2", 1, false, DType::F32},
};

const DtypeName* lookup_dtype(const std::string& s) {
  for (const auto& d : kDtypes)
    if (s == d.name) return &d;
  return nullptr;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path)
    : file_(std::make_shared<const MappedFile>(path)) {
  const std::size_t size = file_->size();
  if (size < 8) throw FormatError(path, "file is too short for a safetensors header", 0);
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | std::to_integer<std::uint64_t>(file_->data()[i]);
  if (header_len > size - 8)
    throw FormatError(path, "header length " + std::to_string(header_len) + " runs past the end of the " +
                      std::to_string(size) + "-byte file", 0);
  const char* hdr = reinterpret_cast<const char*>(file_->data() + 8);
  const json j = parse_json(std::string_view(hdr, static_cast<std::size_t>(header_len)), path, 8,
                                /*unique_keys=*/true);
  if (!j.is_object()) throw FormatError(path, "header is not a JSON object", 8);

  const std::uint64_t data_start = 8 + header_len;
  const std::uint64_t data_size = size - data_start;
  struct Range {
    std::uint64_t begin, end;
    std::string name;
  };
  std::vector<Range> ranges;

  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const json& e = it.value();
    if (name == "__metadata__") {
      if (!e.is_object()) throw FormatError(path, "__metadata__ is not an object", 8);
      for (auto m = e.begin(); m != e.end(); ++m)
        if (m.value().is_string()) metadata_[m.key()] = m.value().get<std::string>();
      continue;
    }
    auto bad = [&](const std::string& msg) { return FormatError(path, msg, 8, name); };
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      throw bad("entry needs dtype, shape and data_offsets");
    if (!e["dtype"].is_string()) throw bad("dtype is not a string");
    const std::string dt = e["dtype"].get<std::string>();
    const DtypeName* d = lookup_dtype(dt);
    if (!d) throw bad("unknown dtype '" + dt + "'");
    const json& shape = e["shape"];
    const json& offs = e["data_offsets"];
    if (!shape.is_array() || shape.size() > 8) throw bad("shape is not an array of at most 8 dims");
    if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() || !offs[1].is_number_unsigned())
      throw bad("data_offsets is not a pair of non-negative integers");
    std::vector<std::int64_t> dims;
    std::uint64_t numel = 1;
    for (const auto& s : shape) {
      if (!s.is_number_unsigned()) throw bad("shape has a negative or non-integer dimension");
      const std::uint64_t v = s.get<std::uint64_t>();
      if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
          (v != 0 && numel > std::numeric_limits<std::uint64_t>::max() / v / d->bytes))
        throw bad("shape overflows");
      numel *= v;
      dims.push_back(static_cast<std::int64_t>(v));
    }
    const std::uint64_t begin = offs[0].get<std::uint64_t>(), end = offs[1].get<std::uint64_t>();
    if (begin > end) throw bad("data_offsets are reversed");
    if (end > data_size)
      throw FormatError(path, "data [" + std::to_string(begin) + ", " + std::to_string(end) +
                        ") runs past the end of the file's data section (" + std::to_string(data_size) +
                        " bytes); the file may be truncated", data_start + begin, name);
    if (end - begin != numel * d->bytes)
      throw FormatError(path, "holds " + std::to_string(end - begin) + " bytes but " + dt + " " +
                        shape.dump() + " needs " + std::to_string(numel * d->bytes), data_start + begin, name);
    ranges.push_back({begin, end, name});
    if (!d->computable) {
      other_[name] = dt;
      continue;
    }
    TensorView v;
    v.name = name;
    v.dtype = d->dtype;
    v.shape = std::move(dims);
    v.data = file_->data() + data_start + begin;
    v.nbytes = static_cast<std::size_t>(end - begin);
    tensors_.push_back(std::move(v));
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (std::size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].begin < ranges[i - 1].end && ranges[i].begin != ranges[i].end)
      throw FormatError(path, "data overlaps tensor '" + ranges[i - 1].name + "'", data_start + ranges[i].begin,
                        ranges[i].name);
  std::sort(tensors_.begin(), tensors_.end(), [](const TensorView& a, const TensorView& b) { return a.name < b.name; });
}

const TensorView* SafetensorsFile::find(std::string_view name) const noexcept {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorView& t, std::string_view n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

SafetensorsCheckpoint open_safetensors(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  fs::path p = path;
  if (fs::is_directory(p)) {
    if (fs::exists(p / "model.safetensors.index.json")) p /= "model.safetensors.index.json";
    else if (fs::exists(p / "model.safetensors")) p /= "model.safetensors";
    else throw IoError(path.string(), "no model.safetensors or model.safetensors.index.json in this directory");
  }
  SafetensorsCheckpoint ck;
  auto add_file = [&](const fs::path& f) {
    auto sf = std::make_shared<const SafetensorsFile>(f.string());
    for (const auto& t : sf->tensors()) {
      if (!ck.tensors.emplace(t.name, std::make_pair(t, sf->path())).second)
        throw FormatError(sf->path(), "tensor appears in more than one shard", std::nullopt, t.name);
    }
    ck.files.push_back(std::move(sf));
  };
  if (p.filename().string().ends_with(".index.json")) {
    const auto idx = std::make_shared<const MappedFile>(p.string());
    const json j = parse_json(std::string_view(reinterpret_cast<const char*>(idx->data()), idx->size()), p.string());
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw FormatError(p.string(), "has no weight_map object");
    std::set<std::string> shards;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string()) throw FormatError(p.string(), "weight_map value is not a file name", std::nullopt, it.key());
      const std::string shard = it.value().get<std::string>();
      if (shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
        throw FormatError(p.string(), "shard name '" + shard + "' is not a plain file name", std::nullopt, it.key());
      shards.insert(shard);
    }
    for (const auto& s : shards) add_file(p.parent_path() / s);
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it)
      if (!ck.tensors.count(it.key()) &&
          std::none_of(ck.files.begin(), ck.files.end(), [&](const auto& f) { return f->other_tensors().count(it.key()); }))
        throw FormatError(p.string(), "listed in weight_map but missing from shard '" +
                          it.value().get<std::string>() + "'", std::nullopt, it.key());
  } else {
    add_file(p);
  }
  return ck;
}

}  // namespace gpt::io
