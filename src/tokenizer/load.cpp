// Finding and reading tokenizer files: Hugging Face directories, tokenizer.json,
// vocab.json + merges.txt, tokenizer.model. (GGUF metadata: gguf_vocab.cpp.)
#include <algorithm>
#include <charconv>
#include <fstream>
#include <functional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "gpt/error.h"
#include "io/json.h"
#include "tokenizer/bpe.h"
#include "tokenizer/loaders.h"
#include "tokenizer/sentencepiece.h"

namespace gpt::tok {

using nlohmann::json;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw IoError(p.string(), "cannot open file");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw IoError(p.string(), "read failed");
  return ss.str();
}

json read_json(const fs::path& p) { return io::parse_json(read_file(p), p.string()); }

const json& member_or_null(const json& j, const char* key) {
  static const json null_value;
  return j.is_object() && j.contains(key) ? j[key] : null_value;  // a reference: no deep copy
}

// A token id named in a file: an integer in [0, limit). Ids are bounded by
// the number of entries that could define them, so a crafted id cannot make
// the vocabulary grow to billions of empty pieces.
Token checked_id(const json& v, std::size_t limit, const std::string& src, const std::string& what) {
  if (!v.is_number_integer())
    throw FormatError(src, what + " has a non-integer id " + v.dump());
  const bool negative = v.is_number_integer() && !v.is_number_unsigned() && v.get<std::int64_t>() < 0;
  if (negative || v.get<std::uint64_t>() >= limit)
    throw FormatError(src, what + " has id " + v.dump() + ", outside [0, " + std::to_string(limit) +
                               ") (the number of entries that define ids)");
  return static_cast<Token>(v.get<std::uint64_t>());
}

// Every special id the tokenizer will emit or test must name a vocabulary entry.
void check_special_ids(const Tokenizer& tok, const std::string& src) {
  const SpecialTokens& s = tok.special_tokens();
  auto check = [&](Token id, const char* what) {
    if (id < -1 || (id >= 0 && static_cast<std::size_t>(id) >= tok.vocab_size()))
      throw FormatError(src, std::string(what) + " id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                 std::to_string(tok.vocab_size()) + ")");
  };
  check(s.bos, "bos");
  check(s.pad, "pad");
  check(s.unk, "unk");
  for (Token t : s.eos) check(t, "eos");
  for (Token t : s.prefix) check(t < 0 ? -2 : t, "post-processor");
  for (Token t : s.suffix) check(t < 0 ? -2 : t, "post-processor");
}

// A token named in a config: "<s>" or {"content": "<s>", ...}.
std::string token_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return {};
}

Token id_of(const Tokenizer& tok, const json& v) {
  std::string s = token_text(v);
  if (s.empty()) return -1;
  auto id = tok.piece_to_token(s);
  return id ? *id : -1;
}

}  // namespace

void apply_hf_config(Tokenizer& tok, const fs::path& dir, bool default_add_bos) {
  const std::string cfg_path = (dir / "tokenizer_config.json").string();
  json cfg = json::object(), stm = json::object(), gen = json::object();
  if (fs::exists(dir / "tokenizer_config.json")) cfg = read_json(dir / "tokenizer_config.json");
  if (fs::exists(dir / "special_tokens_map.json")) stm = read_json(dir / "special_tokens_map.json");
  if (fs::exists(dir / "generation_config.json")) gen = read_json(dir / "generation_config.json");
  try {
    // Added tokens the config declares (ids fixed there).
    if (cfg.contains("added_tokens_decoder") && cfg["added_tokens_decoder"].is_object()) {
      const json& decoder = cfg["added_tokens_decoder"];
      const std::size_t limit = tok.vocab_size() + decoder.size();
      std::vector<AddedToken> added;
      for (auto& [k, v] : decoder.items()) {
        AddedToken t;
        std::uint64_t id = 0;
        const auto [end, ec] = std::from_chars(k.data(), k.data() + k.size(), id);
        if (ec != std::errc() || end != k.data() + k.size() || k.empty() || id >= limit)
          throw FormatError(cfg_path, "added_tokens_decoder key '" + k + "' is not a token id in [0, " +
                                          std::to_string(limit) + ")");
        t.id = static_cast<Token>(id);
        t.content = v.value("content", "");
        t.special = v.value("special", true);
        t.lstrip = v.value("lstrip", false);
        t.rstrip = v.value("rstrip", false);
        if (!t.content.empty()) added.push_back(std::move(t));
      }
      // Keys sort as strings ("100000" < "99999"): add in id order.
      std::stable_sort(added.begin(), added.end(), [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
      for (AddedToken& t : added) tok.add_added_token(std::move(t));
    }
    SpecialTokens s = tok.special_tokens();
    auto pick = [&](const char* key, Token& dst) {
      const json* v = cfg.contains(key) ? &cfg[key] : stm.contains(key) ? &stm[key] : nullptr;
      if (v && !v->is_null()) dst = id_of(tok, *v);
    };
    Token eos = s.eos.empty() ? -1 : s.eos.front();
    pick("bos_token", s.bos);
    pick("eos_token", eos);
    pick("pad_token", s.pad);
    pick("unk_token", s.unk);
    s.eos.clear();
    if (eos >= 0) s.eos.push_back(eos);
    if (gen.contains("eos_token_id")) {
      const json& e = gen["eos_token_id"];
      for (const json& x : e.is_array() ? e : json::array({e})) {
        if (!x.is_number_integer()) continue;
        const Token id = checked_id(x, tok.vocab_size(), (dir / "generation_config.json").string(), "eos_token_id");
        if (std::find(s.eos.begin(), s.eos.end(), id) == s.eos.end()) s.eos.push_back(id);
      }
    }
    // add_bos_token / add_eos_token override what tokenizer.json's post-processor says.
    if (cfg.contains("add_bos_token") || default_add_bos) {
      const bool add_bos = cfg.value("add_bos_token", default_add_bos);
      s.prefix = (add_bos && s.bos >= 0) ? std::vector<Token>{s.bos} : std::vector<Token>{};
    }
    if (cfg.contains("add_eos_token")) s.suffix = (cfg.value("add_eos_token", false) && eos >= 0) ? std::vector<Token>{eos} : std::vector<Token>{};
    tok.set_special_tokens(std::move(s));
    if (cfg.contains("chat_template")) {
      const json& t = cfg["chat_template"];
      if (t.is_string()) {
        tok.set_chat_template(t.get<std::string>());
      } else if (t.is_array() && !t.empty()) {
        std::string chosen = t[0].value("template", "");
        for (const json& e : t)
          if (e.value("name", "") == "default") chosen = e.value("template", "");
        tok.set_chat_template(chosen);
      }
    }
  } catch (const json::exception& e) {
    throw FormatError(cfg_path, std::string("unexpected content: ") + e.what());
  }
  check_special_ids(tok, cfg_path);
  if (tok.chat_template().empty() && fs::exists(dir / "chat_template.jinja"))
    tok.set_chat_template(read_file(dir / "chat_template.jinja"));
}

std::shared_ptr<Tokenizer> load_tokenizer_json(const fs::path& file) {
  const std::string src = file.string();
  json j = read_json(file);
  std::shared_ptr<Tokenizer> tok;
  try {
    if (!j.is_object() || !j.contains("model")) throw FormatError(src, "no \"model\" object");
    const json& m = j["model"];
    std::string type = m.value("type", m.contains("merges") ? "BPE" : "");
    if (type != "BPE") throw UnsupportedModel(src + ": tokenizer model '" + type + "' is not supported (BPE only)");
    if (m.value("byte_fallback", false))
      throw UnsupportedModel(src + ": SentencePiece-style BPE (byte_fallback) in tokenizer.json; load tokenizer.model");

    PreTokenizer pre;
    BpeOptions opt;
    opt.source = src;
    // normalizer: none, or NFC (possibly inside a Sequence).
    const json& norm = member_or_null(j, "normalizer");
    std::function<void(const json&)> check_norm = [&](const json& n) {
      if (n.is_null()) return;
      std::string t = n.value("type", "");
      if (t == "Sequence") {
        for (const json& x : n.at("normalizers")) check_norm(x);
      } else if (t == "NFC") {
        opt.nfc = true;
      } else {
        throw UnsupportedModel(src + ": normalizer '" + t + "' is not supported");
      }
    };
    check_norm(norm);

    bool byte_level = false;
    try {
      add_hf_pre_tokenizer(member_or_null(j, "pre_tokenizer"), pre, &byte_level, &opt.add_prefix_space);
    } catch (const UnsupportedModel& e) {
      throw UnsupportedModel(src + ": " + e.what());
    }
    if (j.contains("decoder") && j["decoder"].is_object() && j["decoder"].value("type", "") == "ByteLevel")
      byte_level = true;
    if (!byte_level) throw UnsupportedModel(src + ": BPE without ByteLevel pre-tokenizer/decoder is not supported");
    opt.byte_level = true;
    opt.ignore_merges = m.value("ignore_merges", false);
    if (m.contains("unk_token") && m["unk_token"].is_string()) opt.unk_piece = m["unk_token"].get<std::string>();

    const json& vocab = m.at("vocab");
    if (!vocab.is_object()) throw FormatError(src, "model.vocab is not an object mapping pieces to ids");
    const json& added_tokens = member_or_null(j, "added_tokens");
    // Ids are dense in practice; holes may be filled by added tokens.
    const std::size_t id_limit = vocab.size() + (added_tokens.is_array() ? added_tokens.size() : 0);
    std::vector<std::string> pieces;
    for (auto& [piece, id] : vocab.items()) {
      const auto i = static_cast<std::size_t>(checked_id(id, id_limit, src, "vocab entry '" + piece + "'"));
      if (pieces.size() <= i) pieces.resize(i + 1);
      pieces[i] = piece;
    }
    std::vector<std::pair<std::string, std::string>> merges;
    for (const json& x : m.at("merges")) {
      if (x.is_string()) {
        const std::string s = x.get<std::string>();
        auto sp = s.find(' ', 1);
        if (sp == std::string::npos) throw FormatError(src, "merge '" + s + "' is not two pieces");
        merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else if (x.is_array() && x.size() == 2) {
        merges.emplace_back(x[0].get<std::string>(), x[1].get<std::string>());
      } else {
        throw FormatError(src, "merge entry " + x.dump() + " is neither \"a b\" nor [\"a\", \"b\"]");
      }
    }
    tok = std::make_shared<BpeTokenizer>(std::move(pieces), merges, std::move(pre), opt);

    if (!added_tokens.is_null()) {
      std::vector<AddedToken> added;
      for (const json& a : added_tokens)
        added.push_back({checked_id(a.at("id"), id_limit, src, "added token"), a.at("content").get<std::string>(),
                         a.value("special", false), a.value("lstrip", false), a.value("rstrip", false)});
      std::stable_sort(added.begin(), added.end(), [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
      for (AddedToken& t : added) tok->add_added_token(std::move(t));
    }

    // post_processor -> what add_special_tokens puts around the text
    SpecialTokens s;
    std::function<void(const json&)> post = [&](const json& p) {
      if (p.is_null()) return;
      std::string t = p.value("type", "");
      if (t == "Sequence") {
        for (const json& x : p.at("processors")) post(x);
      } else if (t == "TemplateProcessing") {
        bool after = false;
        for (const json& e : p.at("single")) {
          if (e.contains("Sequence")) {
            after = true;
          } else if (e.contains("SpecialToken")) {
            const std::string name = e["SpecialToken"].at("id").get<std::string>();
            const json& st = p.at("special_tokens").at(name);
            for (const json& id : st.at("ids")) (after ? s.suffix : s.prefix).push_back(id.get<Token>());
          }
        }
      } else if (t == "RobertaProcessing" || t == "BertProcessing") {
        s.prefix = {p.at("cls").at(1).get<Token>()};
        s.suffix = {p.at("sep").at(1).get<Token>()};
      }
    };
    post(member_or_null(j, "post_processor"));
    if (s.prefix.size() == 1) s.bos = s.prefix[0];
    tok->set_special_tokens(s);
  } catch (const json::exception& e) {
    throw FormatError(src, std::string("unexpected content: ") + e.what());
  }
  check_special_ids(*tok, src);
  apply_hf_config(*tok, file.parent_path(), false);
  return tok;
}

std::shared_ptr<Tokenizer> load_vocab_merges(const fs::path& vocab_json, const fs::path& merges_txt) {
  const std::string src = vocab_json.string();
  json v = read_json(vocab_json);
  if (!v.is_object()) throw FormatError(src, "expected an object mapping pieces to ids");
  std::vector<std::string> pieces;
  for (auto& [piece, id] : v.items()) {
    const auto i = static_cast<std::size_t>(checked_id(id, v.size(), src, "vocab entry '" + piece + "'"));
    if (pieces.size() <= i) pieces.resize(i + 1);
    pieces[i] = piece;
  }
  std::istringstream in(read_file(merges_txt));
  std::vector<std::pair<std::string, std::string>> merges;
  std::string line;
  std::uint64_t offset = 0;
  while (std::getline(in, line)) {
    std::uint64_t here = offset;
    offset += line.size() + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    auto sp = line.find(' ', 1);
    if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
      throw FormatError(merges_txt.string(), "line '" + line + "' is not two pieces", here);
    merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  PreTokenizer pre;
  pre.add_regex(kGpt2Pattern);
  BpeOptions opt;
  opt.source = src;
  auto tok = std::make_shared<BpeTokenizer>(std::move(pieces), merges, std::move(pre), opt);
  // GPT-2's convention (transformers' GPT2Tokenizer defaults): <|endoftext|> is BOS, EOS and UNK.
  if (auto eot = tok->piece_to_token("<|endoftext|>")) {
    tok->add_added_token({*eot, "<|endoftext|>", true, false, false});
    SpecialTokens s;
    s.bos = s.unk = *eot;
    s.eos = {*eot};
    tok->set_special_tokens(s);
  }
  apply_hf_config(*tok, vocab_json.parent_path(), false);
  return tok;
}

std::shared_ptr<Tokenizer> load_sentencepiece(const fs::path& file) {
  auto tok = std::make_shared<SpmTokenizer>(read_file(file), file.string());
  apply_hf_config(*tok, file.parent_path(), true);
  return tok;
}

}  // namespace gpt::tok

namespace gpt {

namespace {
std::shared_ptr<const Tokenizer> load_tokenizer_unguarded(const std::filesystem::path& p);
}  // namespace

std::shared_ptr<const Tokenizer> load_tokenizer(const std::filesystem::path& p) {
  // Typed errors only: anything else a malformed file provokes becomes a
  // FormatError naming the path.
  try {
    return load_tokenizer_unguarded(p);
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw FormatError(p.string(), "out of memory while loading the tokenizer");
  } catch (const std::exception& e) {
    throw FormatError(p.string(), std::string("unexpected content: ") + e.what());
  }
}

namespace {

std::shared_ptr<const Tokenizer> load_tokenizer_unguarded(const std::filesystem::path& p) {
  namespace fs = std::filesystem;
  using namespace tok;
  std::error_code ec;
  if (!fs::exists(p, ec)) throw IoError(p.string(), "no such file or directory");
  if (fs::is_directory(p)) {
    if (fs::exists(p / "tokenizer.json")) {
      try {
        return load_tokenizer_json(p / "tokenizer.json");
      } catch (const UnsupportedModel&) {
        if (!fs::exists(p / "tokenizer.model")) throw;  // a SentencePiece tokenizer.json: use the .model
      }
    }
    if (fs::exists(p / "tokenizer.model")) return load_sentencepiece(p / "tokenizer.model");
    if (fs::exists(p / "vocab.json") && fs::exists(p / "merges.txt"))
      return load_vocab_merges(p / "vocab.json", p / "merges.txt");
    for (const auto& e : fs::directory_iterator(p))
      if (e.path().extension() == ".gguf") return load_gguf_tokenizer(e.path());
    throw IoError(p.string(), "no tokenizer.json, tokenizer.model, vocab.json + merges.txt or .gguf file here");
  }
  const std::string name = p.filename().string();
  const std::string ext = p.extension().string();
  if (ext == ".gguf") return load_gguf_tokenizer(p);
  if (ext == ".model") return load_sentencepiece(p);
  if (ext == ".json") {
    if (name == "vocab.json" || (name != "tokenizer.json" && fs::exists(p.parent_path() / "merges.txt"))) {
      fs::path merges = p.parent_path() / "merges.txt";
      if (!fs::exists(merges)) throw IoError(merges.string(), "merges.txt must sit next to " + name);
      return load_vocab_merges(p, merges);
    }
    return load_tokenizer_json(p);
  }
  // Unknown name: sniff.
  std::ifstream f(p, std::ios::binary);
  char magic[4] = {};
  f.read(magic, 4);
  if (f.gcount() == 4 && std::string(magic, 4) == "GGUF") return load_gguf_tokenizer(p);
  if (f.gcount() >= 1 && magic[0] == '{') return load_tokenizer_json(p);
  return load_sentencepiece(p);
}

}  // namespace

}  // namespace gpt
