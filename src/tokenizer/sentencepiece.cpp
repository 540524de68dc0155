#include "tokenizer/sentencepiece.h"

#include <sentencepiece_processor.h>

#include <cstring>

#include "gpt/error.h"

namespace gpt::tok {

// --- protobuf wire format, just what ModelProto needs -------------------------
namespace {
void varint(std::string& o, std::uint64_t v) {
  while (v >= 0x80) {
    o += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  o += static_cast<char>(v);
}
void tag(std::string& o, int field, int wire) { varint(o, (static_cast<std::uint64_t>(field) << 3) | wire); }
void put_int(std::string& o, int field, std::int64_t v) {
  tag(o, field, 0);
  varint(o, static_cast<std::uint64_t>(v));  // negative ints take 10 bytes, as protobuf does
}
void put_bytes(std::string& o, int field, std::string_view s) {
  tag(o, field, 2);
  varint(o, s.size());
  o.append(s);
}
void put_float(std::string& o, int field, float f) {
  tag(o, field, 5);
  char b[4];
  std::memcpy(b, &f, 4);  // little-endian hosts only (x86-64, aarch64)
  o.append(b, 4);
}
// Reads a varint at s[i]; false if truncated.
bool get_varint(std::string_view s, std::size_t& i, std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && i < s.size(); shift += 7) {
    const auto b = static_cast<unsigned char>(s[i++]);
    v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

// Skips a field of the given wire type; false if malformed.
bool skip_field(std::string_view s, std::size_t& i, int wire) {
  std::uint64_t v;
  switch (wire) {
    case 0: return get_varint(s, i, v);
    case 1: i += 8; return i <= s.size();
    case 5: i += 4; return i <= s.size();
    case 2:
      if (!get_varint(s, i, v) || v > s.size() - i) return false;
      i += v;
      return true;
    default: return false;
  }
}

// The type of every piece in a serialized ModelProto (libsentencepiece has no
// accessor for USER_DEFINED). Empty if the bytes do not parse.
std::vector<int> piece_types(std::string_view s) {
  std::vector<int> types;
  for (std::size_t i = 0; i < s.size();) {
    std::uint64_t key, len;
    if (!get_varint(s, i, key)) return {};
    const int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
    if (field != 1 || wire != 2) {
      if (!skip_field(s, i, wire)) return {};
      continue;
    }
    if (!get_varint(s, i, len) || len > s.size() - i) return {};
    std::string_view m = s.substr(i, len);
    i += len;
    int type = 1;  // NORMAL is the default
    for (std::size_t k = 0; k < m.size();) {
      std::uint64_t mk, v;
      if (!get_varint(m, k, mk)) return {};
      if ((mk >> 3) == 3 && (mk & 7) == 0) {
        if (!get_varint(m, k, v)) return {};
        type = static_cast<int>(v);
      } else if (!skip_field(m, k, static_cast<int>(mk & 7))) {
        return {};
      }
    }
    types.push_back(type);
  }
  return types;
}

}  // namespace

std::string build_model_proto(const SpmVocab& v) {
  // ModelProto { 1: repeated SentencePiece, 2: TrainerSpec, 3: NormalizerSpec }
  // SentencePiece { 1: piece, 2: score (float), 3: type }
  // TrainerSpec { 3: model_type, 4: vocab_size, 26: allow_whitespace_only_pieces, 35: byte_fallback, 40..43: unk/bos/eos/pad id,
  //               45..48: unk/bos/eos/pad piece }
  // NormalizerSpec { 1: name, 3: add_dummy_prefix, 4: remove_extra_whitespaces, 5: escape_whitespaces }
  std::string o;
  int unk = -1, bos = -1, eos = -1;
  bool has_byte = false;
  auto type_of = [&](std::size_t i) {
    const int t = i < v.types.size() ? v.types[i] : 1;
    return (t < 1 || t > 6) ? 1 : t;
  };
  int first_unknown = -1;
  for (std::size_t i = 0; i < v.pieces.size() && first_unknown < 0; ++i)
    if (type_of(i) == 2) first_unknown = static_cast<int>(i);
  if (first_unknown < 0 && v.unk_id >= 0 && static_cast<std::size_t>(v.unk_id) < v.pieces.size())
    first_unknown = v.unk_id;
  for (std::size_t i = 0; i < v.pieces.size(); ++i) {
    std::string p;
    put_bytes(p, 1, v.pieces[i]);
    put_float(p, 2, i < v.scores.size() ? v.scores[i] : 0.0f);
    int t = type_of(i);
    if (static_cast<int>(i) == first_unknown) t = 2;
    else if (t == 2) t = 3;
    put_int(p, 3, t);
    put_bytes(o, 1, p);
    if (t == 2 && unk < 0) unk = static_cast<int>(i);
    if (t == 6) has_byte = true;
    if (t == 3 && v.pieces[i] == "<s>") bos = static_cast<int>(i);
    if (t == 3 && v.pieces[i] == "</s>") eos = static_cast<int>(i);
  }
  std::string ts;
  put_int(ts, 3, v.model_type);
  put_int(ts, 4, static_cast<std::int64_t>(v.pieces.size()));
  put_int(ts, 26, 1);  // allow_whitespace_only_pieces: a run of spaces stays one word (Llama)
  put_int(ts, 35, (v.byte_fallback && has_byte) ? 1 : 0);
  put_int(ts, 40, unk);
  put_int(ts, 41, bos);
  put_int(ts, 42, eos);
  put_int(ts, 43, -1);
  if (unk >= 0) put_bytes(ts, 45, v.pieces[unk]);
  if (bos >= 0) put_bytes(ts, 46, v.pieces[bos]);
  if (eos >= 0) put_bytes(ts, 47, v.pieces[eos]);
  put_bytes(o, 2, ts);
  std::string ns;
  put_bytes(ns, 1, "identity");
  put_int(ns, 3, v.add_dummy_prefix ? 1 : 0);
  put_int(ns, 4, v.remove_extra_whitespaces ? 1 : 0);
  put_int(ns, 5, 1);
  put_bytes(o, 3, ns);
  return o;
}

// --- SpmTokenizer ----------------------------------------------------------------

SpmTokenizer::SpmTokenizer(const std::string& serialized, const std::string& source)
    : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  // libsentencepiece reports most problems in its status, but its trie
  // builder throws (Darts::Details::Exception, a std::exception) for some
  // malformed vocabularies, e.g. an empty piece in a unigram model.
  sentencepiece::util::Status st;
  try {
    st = sp_->LoadFromSerializedProto(serialized);
  } catch (const std::exception& e) {
    throw FormatError(source, std::string("not a valid SentencePiece model: ") + e.what());
  }
  if (!st.ok()) throw FormatError(source, "not a valid SentencePiece model: " + std::string(st.message()));
  const int n = sp_->GetPieceSize();
  const std::vector<int> proto_types = piece_types(serialized);
  std::vector<std::string> pieces(static_cast<std::size_t>(n));
  decoded_.resize(static_cast<std::size_t>(n));
  types_.resize(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    pieces[i] = sp_->IdToPiece(i);
    PieceType t = sp_->IsUnknown(i)   ? PieceType::Unknown
                  : sp_->IsControl(i) ? PieceType::Control
                  : sp_->IsByte(i)    ? PieceType::Byte
                  : sp_->IsUnused(i)  ? PieceType::Unused
                  : (static_cast<int>(proto_types.size()) == n && proto_types[i] == 4) ? PieceType::UserDefined
                                                                                       : PieceType::Normal;
    types_[i] = t;
    std::string& d = decoded_[i];
    if (t == PieceType::Byte) {
      // "<0xAB>"
      d = std::string(1, static_cast<char>(std::stoi(pieces[i].substr(3, 2), nullptr, 16)));
    } else if (t == PieceType::Control || t == PieceType::Unknown) {
      d = pieces[i];  // Hugging Face prints control and unknown pieces as their text
    } else {
      const std::string& p = pieces[i];
      for (std::size_t k = 0; k < p.size(); ++k) {
        if (p.compare(k, 3, "\xE2\x96\x81") == 0) {
          d += ' ';
          k += 2;
        } else {
          d += p[k];
        }
      }
    }
  }
  set_vocab(std::move(pieces));
  // add_dummy_prefix: ask the model how it encodes a bare word.
  std::vector<std::string> probe;
  sp_->Encode("a", &probe).IgnoreError();
  add_dummy_prefix_ = !probe.empty() && probe.front().rfind("\xE2\x96\x81", 0) == 0;
  // Control and unknown pieces are special added tokens, user-defined ones plain added
  // tokens, as transformers makes them: the text is split at them before SentencePiece runs.
  for (int i = 0; i < n; ++i)
    if (types_[i] == PieceType::Control || types_[i] == PieceType::Unknown || types_[i] == PieceType::UserDefined)
      add_added_token({i, token_to_piece(i), types_[i] != PieceType::UserDefined, false, false});
  SpecialTokens s;
  s.bos = sp_->bos_id();
  if (sp_->eos_id() >= 0) s.eos = {sp_->eos_id()};
  s.pad = sp_->pad_id();
  s.unk = sp_->unk_id();
  if (s.bos >= 0) s.prefix = {s.bos};
  set_special_tokens(std::move(s));
}

SpmTokenizer::~SpmTokenizer() = default;

float SpmTokenizer::score(Token id) const {
  token_to_piece(id);  // range check
  return sp_->GetScore(id);
}

PieceType SpmTokenizer::type(Token id) const {
  token_to_piece(id);
  return types_[static_cast<std::size_t>(id)];
}

void SpmTokenizer::encode_text(std::string_view text, std::vector<Token>& out) const {
  std::vector<int> ids;
  auto st = sp_->Encode(absl::string_view(text.data(), text.size()), &ids);
  if (!st.ok()) throw Error("SentencePiece encode failed: " + std::string(st.message()));
  out.insert(out.end(), ids.begin(), ids.end());
}

std::string SpmTokenizer::model_token_bytes(Token id) const { return decoded_[static_cast<std::size_t>(id)]; }

}  // namespace gpt::tok
