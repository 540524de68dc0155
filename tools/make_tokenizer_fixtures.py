#!/usr/bin/env python3
"""Builds the tokenizer parity fixtures in tests/data/tokenizer/.

Run from the repository root with the project's Python environment:

    python tools/make_tokenizer_fixtures.py [--models models]

It writes
  corpus.json             the parity corpus: >= 500 lines (English prose, source code,
                          numbers, whitespace runs, CJK, emoji, accents and combining
                          marks, text next to special-token strings)
  bpe/tokenizer.json      (b) a byte-level BPE trained with Hugging Face tokenizers in
  bpe/vocab.json            GPT-2 configuration on a generated training text, saved both
  bpe/merges.txt            as tokenizer.json and as vocab.json + merges.txt
  spm/tokenizer.model     (c) a SentencePiece BPE with byte fallback trained by spm_train
  ref_bpe.json, ref_spm.json, ref_smollm2.json
                          reference ids produced by Hugging Face for every corpus line:
                          "ids"          add_special_tokens=False, special-token text NOT parsed
                          "ids_parse"    add_special_tokens=False, special-token text parsed
                          "ids_added"    add_special_tokens=True (first 40 lines), not parsed
                          "decoded"      Hugging Face's decode of "ids"
                          "lossy"        lines whose decode differs from the line itself
(a) SmolLM2's reference comes from transformers loading the GGUF file itself
(AutoTokenizer.from_pretrained(models, gguf_file=...)); the script checks it against a
tokenizer.json rebuilt from the GGUF's vocab and merges. The SmolLM2 vocabulary itself is
not written into tests/data; the C++ test reads the real GGUF file.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "tests", "data", "tokenizer")
SMOL = "SmolLM2-135M-Instruct.Q4_1.gguf"

WORDS = ("the of and to in is that it was for on are as with his they at be this from have "
         "or by one had not but what all were when we there can an your which their said if do "
         "will each about how up out them then she many some so these would other into has more "
         "her two like him see time could no make than first been its who now people my made over "
         "did down only way find use may water long little very after words called just where most "
         "know get through back much before go good new write our used me man too any day same right "
         "look think also around another came come work three word must because does part even place "
         "well such here take why things help put years different away again off went old number "
         "tokenizer inference transformer attention embedding quantization throughput latency").split()
CODE = [
    "def encode(self, text: str) -> list[int]:",
    "    return [self.vocab[t] for t in text.split()]",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
    "#include <vector>\n#include <string>\n\nint main() {\n\treturn 0;\n}",
    "const x = await fetch(`/api/v1/items?id=${id}`);",
    "if (x != nullptr && x->next) x = x->next; // walk",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "std::unordered_map<std::string, int> m{{\"a\", 1}, {\"b\", 2}};",
    "    if err != nil {\n        return fmt.Errorf(\"read %s: %w\", path, err)\n    }",
    "lambda x: x**2 + 3*x - 1  # quadratic",
    "<div class=\"note\">Hello &amp; welcome</div>",
    "{\"key\": [1, 2.5, -3e10, true, null], \"nested\": {\"a\": \"b\"}}",
    "$ cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && make -j8",
    "fn main() { println!(\"{:?}\", vec![1u8, 2, 3]); }",
    "x <<= 2; y >>= 3; z ^= ~w; q = a ?: b;",
    "@property\ndef name(self):\n    return self._name",
    "git commit -m 'fix: don''t crash on empty input'",
    "printf(\"%5.2f%%\\n\", ratio * 100.0);",
]
CJK = [
    "我爱自然语言处理。", "今天天气很好，我们去公园散步吧！", "人工智能正在改变世界。",
    "这是一个测试句子，包含标点符号：逗号、句号。", "北京是中国的首都", "机器学习模型需要大量数据",
    "日本語のテキストを処理します。", "東京は日本の首都です。", "ひらがなとカタカナ、そして漢字。",
    "今日はいい天気ですね", "ラーメンを食べたいです！", "トークナイザーのテスト",
    "안녕하세요, 만나서 반갑습니다.", "한국어 형태소 분석기", "서울은 대한민국의 수도입니다.",
    "오늘 날씨가 좋네요", "프로그래밍은 재미있어요!", "中文和English混合的句子",
]
EMOJI = ["😀", "🚀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "🇯🇵", "❤️", "🤖", "🎉🎉🎉", "✨", "🧑🏿‍💻", "☕", "🏳️‍🌈",
         "😂😂", "🙏", "🐍", "🦀", "⚡"]
ACCENT = ["café", "naïve", "résumé", "Zürich", "São Paulo", "Ångström", "Crème brûlée", "Dvořák",
          "façade", "piñata", "Ærøskøbing", "Łódź", "İstanbul", "ß straße", "ﬁnancial ligature",
          "e\u0301le\u0300ve", "n\u0303", "a\u0308\u0304", "Z\u0351\u0352a\u0353l\u0354g\u0355o",
          "Ελληνικά γράμματα", "Русский текст, ёжик", "עברית", "العربية", "हिन्दी", "ภาษาไทย"]
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<s>", "</s>", "<unk>", "<pad>",
           "<|im_start|>user\n", "<|im_end|>\n", "<repo_name>", "<file_sep>", "<tool_call>", "</tool_call>"]


def sentence(rng, n=None):
    n = n or rng.randint(4, 18)
    ws = [rng.choice(WORDS) for _ in range(n)]
    ws[0] = ws[0].capitalize()
    s = " ".join(ws)
    if rng.random() < 0.3:
        s = s.replace(" ", ", ", 1)
    if rng.random() < 0.2:
        s += " — " + rng.choice(WORDS) + "'s " + rng.choice(["can't", "won't", "I'm", "they've", "we'll", "it'd"])
    return s + rng.choice([".", "!", "?", "...", ";", ""])


def number(rng):
    k = rng.randint(0, 9)
    if k == 0: return str(rng.randint(0, 10**rng.randint(1, 12)))
    if k == 1: return f"{rng.uniform(-1e4, 1e4):.{rng.randint(1, 6)}f}"
    if k == 2: return f"{rng.randint(1, 999)},{rng.randint(0, 999):03d},{rng.randint(0, 999):03d}.{rng.randint(0, 99):02d}"
    if k == 3: return f"{rng.randint(1900, 2100)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00Z"
    if k == 4: return f"+1 ({rng.randint(200, 999)}) {rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
    if k == 5: return f"{rng.random():.3e}"
    if k == 6: return f"0x{rng.randint(0, 2**32):08X}"
    if k == 7: return f"v{rng.randint(0, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}"
    if k == 8: return f"{rng.randint(1, 100)}% of {rng.randint(1000, 99999)} items cost ${rng.randint(1, 999)}.{rng.randint(0, 99):02d}"
    return " ".join(str(rng.randint(0, 99999)) for _ in range(rng.randint(2, 8)))


def whitespace(rng):
    parts = []
    for _ in range(rng.randint(2, 6)):
        parts.append(rng.choice(WORDS))
        parts.append(rng.choice([" ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", " \n", "\r\n",
                                 "\n    ", "\t \t", "        ", "\u00a0", "\u3000", " \t\n "]))
    s = "".join(parts)
    if rng.random() < 0.3: s = rng.choice([" ", "   ", "\t", "\n"]) + s
    return s


def mixed(rng):
    pick = [lambda: sentence(rng, rng.randint(2, 6)), lambda: rng.choice(CJK), lambda: rng.choice(EMOJI),
            lambda: rng.choice(ACCENT), lambda: number(rng), lambda: rng.choice(SPECIAL)]
    return rng.choice([" ", "", "\n"]).join(rng.choice(pick)() for _ in range(rng.randint(2, 5)))


def special_line(rng):
    sp = rng.choice(SPECIAL)
    w = sentence(rng, rng.randint(1, 5))
    form = rng.randint(0, 5)
    if form == 0: return sp + w
    if form == 1: return w + sp
    if form == 2: return w + " " + sp + " " + rng.choice(WORDS)
    if form == 3: return sp + sp + rng.choice(WORDS)
    if form == 4: return f"{sp}system\nYou are helpful.{rng.choice(SPECIAL)}\n"
    return w.replace(" ", sp, 1)


def make_corpus():
    rng = random.Random(20261128)
    lines = []
    lines += [sentence(rng) for _ in range(90)]
    lines += [" ".join(sentence(rng) for _ in range(rng.randint(2, 4))) for _ in range(20)]
    lines += CODE + [rng.choice(CODE) + rng.choice(["", "\n", "  ", "\t"]) + rng.choice(CODE) for _ in range(40)]
    lines += [number(rng) for _ in range(60)]
    lines += [whitespace(rng) for _ in range(60)]
    lines += CJK + [rng.choice(CJK) + rng.choice(["", " ", "\n"]) + rng.choice(CJK) for _ in range(30)]
    lines += EMOJI + ["".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 5))) + " " + sentence(rng, 3) for _ in range(25)]
    lines += ACCENT + [unicodedata.normalize("NFD", sentence(rng, 3) + " " + rng.choice(ACCENT)) for _ in range(20)]
    lines += SPECIAL + [special_line(rng) for _ in range(60)]
    lines += [mixed(rng) for _ in range(80)]
    lines += ["", " ", "  ", "\n", "\t", "a", "I", "'s", "don't", "'''", "...", "<", "<|", "|>", "▁", "▁▁x",
              "\u200b", "\ufeffBOM", "\x00nul", "a\u0301" * 5, "e" * 300, " " * 40, "\n" * 12,
              "1" * 40, "😀" * 30, "中" * 50, "hello\u2028world", "tab\u000bvt", "~!@#$%^&*()_+`-=[]\\{}|;':\",./<>?"]
    return lines


def train_text():
    rng = random.Random(7)
    out = [sentence(rng) for _ in range(3000)]
    out += [rng.choice(CODE) for _ in range(800)]
    out += [number(rng) for _ in range(500)]
    out += [rng.choice(CJK[:9]) for _ in range(300)]   # Korean and some Japanese stay rare
    out += [rng.choice(ACCENT[:12]) + " " + sentence(rng, 4) for _ in range(300)]
    return out


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


def hf_reference(tok, lines, n_added=40):
    """tok: a tokenizers.Tokenizer. Returns the three id lists."""
    tok.encode_special_tokens = True
    ids = [tok.encode(s, add_special_tokens=False).ids for s in lines]
    added = [tok.encode(s, add_special_tokens=True).ids for s in lines[:n_added]]
    tok.encode_special_tokens = False
    parse = [tok.encode(s, add_special_tokens=False).ids for s in lines]
    decoded = [tok.decode(x, skip_special_tokens=False) for x in ids]
    # Lines whose text cannot survive a round trip in this tokenizer's format (SentencePiece
    # turns a literal U+2581 into a space); listed so the C++ test can tell them apart.
    lossy = [i for i, (s, d) in enumerate(zip(lines, decoded)) if s != d]
    return {"ids": ids, "ids_parse": parse, "ids_added": added, "decoded": decoded, "lossy": lossy}


def make_bpe(lines_train, d):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tr = trainers.BpeTrainer(vocab_size=1200, min_frequency=2, special_tokens=["<|endoftext|>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(lines_train, tr)
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"))
    tok.model.save(d)   # vocab.json + merges.txt
    return tok


LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def make_llama3_variant(src, d):
    from tokenizers import Tokenizer
    j = json.load(open(os.path.join(src, "tokenizer.json"), encoding="utf-8"))
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    j["model"]["ignore_merges"] = True
    j["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in j["model"]["merges"]]
    bos = j["model"]["vocab"]["<|endoftext|>"]
    j["post_processor"] = {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [bos],
                                                                "tokens": ["<|endoftext|>"]}}}
    os.makedirs(d, exist_ok=True)
    text = json.dumps(j, ensure_ascii=False)
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(text)
    return Tokenizer.from_str(text)


QWEN2_PATTERN = LLAMA3_PATTERN.replace(r"\p{N}{1,3}", r"\p{N}")


def make_qwen2_variant(src, d):
    from tokenizers import Tokenizer
    j = json.load(open(os.path.join(src, "tokenizer.json"), encoding="utf-8"))
    j["normalizer"] = {"type": "NFC"}
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}
    os.makedirs(d, exist_ok=True)
    text = json.dumps(j, ensure_ascii=False)
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(text)
    return Tokenizer.from_str(text)


def make_spm(lines_train, d):
    os.makedirs(d, exist_ok=True)
    # A fixed input name: spm_train records it in the model, so the bytes stay reproducible.
    path = os.path.join(tempfile.gettempdir(), "gpt_spm_train.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(l.replace("\n", " ") for l in lines_train))
    subprocess.run(["spm_train", f"--input={path}", f"--model_prefix={d}/tokenizer", "--vocab_size=1000",
                    "--model_type=bpe", "--byte_fallback=true", "--split_digits=true",
                    "--normalization_rule_name=identity", "--remove_extra_whitespaces=false",
                    "--allow_whitespace_only_pieces=true", "--character_coverage=0.9995",
                    "--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=-1", "--num_threads=2",
                    "--user_defined_symbols=<tool_call>,</tool_call>",
                    "--minloglevel=2"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.remove(path)
    os.remove(f"{d}/tokenizer.vocab")
    return hf_llama_from_spm(f"{d}/tokenizer.model")


def hf_llama_from_spm(model_file):
    """The Hugging Face fast tokenizer transformers builds for a Llama (legacy) tokenizer.model:
    BPE with byte fallback and merges from the piece scores, Prepend('▁') + Replace(' ', '▁')
    normalizer, control pieces as special added tokens, BOS prepended by the post-processor.
    (Done by hand because LlamaConverter in this transformers release fails on BPE models.)"""
    import sentencepiece as spm
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, processors
    from transformers.tokenization_utils_base import generate_merges
    sp = spm.SentencePieceProcessor(model_file=model_file)
    pieces = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.vocab_size())]
    vocab = {p: i for i, (p, _) in enumerate(pieces)}
    merges = generate_merges(vocab, pieces)
    tok = Tokenizer(models.BPE(vocab, merges, unk_token=sp.id_to_piece(sp.unk_id()), fuse_unk=True,
                               byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(content=" ", left=1)])
    # control pieces: special added tokens; user-defined ones: plain added tokens (as transformers)
    from sentencepiece import sentencepiece_model_pb2 as pb
    proto = pb.ModelProto()
    proto.ParseFromString(open(model_file, "rb").read())
    tok.add_tokens([AddedToken(p.piece, normalized=False, special=p.type in (2, 3))
                    for p in proto.pieces if p.type in (2, 3, 4)])
    bos = sp.id_to_piece(sp.bos_id())
    tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                       special_tokens=[(bos, sp.bos_id())])
    return tok


def write_spm_gguf(model_file, path):
    """The SentencePiece fixture as a GGUF "llama" vocabulary (no tensors), as llama.cpp's
    converter stores it: tokens, scores, token types, special ids, add_bos/add_eos."""
    import gguf
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb
    sp = spm.SentencePieceProcessor(model_file=model_file)
    proto = pb.ModelProto()
    proto.ParseFromString(open(model_file, "rb").read())
    w = gguf.GGUFWriter(path, "llama")
    w.add_tokenizer_model("llama")
    w.add_token_list([p.piece.encode() for p in proto.pieces])
    w.add_token_scores([p.score for p in proto.pieces])
    w.add_token_types([p.type for p in proto.pieces])
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(True)
    w.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def check_spm_against_sentencepiece(d, lines, ref):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=f"{d}/tokenizer.model")
    bad = sum(1 for s, ids in zip(lines, ref["ids"]) if sp.encode(s) != ids)
    print(f"  spm: transformers vs sentencepiece differ on {bad}/{len(lines)} lines")


def write_nfc_table(path):
    """src/tokenizer/nfc_data.inc: the Unicode data NFC needs (Python's unicodedata):
    canonical combining classes, full canonical decompositions, primary composites."""
    import unicodedata as ud
    ccc = []  # ranges [first, last] with one class
    for c in range(0x110000):
        k = ud.combining(chr(c))
        if not k:
            continue
        if ccc and ccc[-1][1] == c - 1 and ccc[-1][2] == k:
            ccc[-1][1] = c
        else:
            ccc.append([c, c, k])

    def full(c):
        d = ud.decomposition(chr(c))
        if not d or d.startswith("<"):
            return [c]
        return [x for p in d.split() for x in full(int(p, 16))]
    dec, comp = [], []
    for c in range(0x110000):
        if 0xAC00 <= c <= 0xD7A3:
            continue  # Hangul syllables: algorithmic
        d = ud.decomposition(chr(c))
        if not d or d.startswith("<"):
            continue
        dec.append((c, full(c)))
        parts = [int(p, 16) for p in d.split()]
        if len(parts) == 2 and ud.normalize("NFC", chr(parts[0]) + chr(parts[1])) == chr(c):
            comp.append((parts[0], parts[1], c))
    comp.sort()
    flat, idx = [], []
    for c, d in dec:
        idx.append((c, len(flat), len(d)))
        flat += d

    def rows(items, per):
        return "\n".join("    " + " ".join(items[i:i + per]) for i in range(0, len(items), per))
    with open(path, "w") as f:
        f.write(f"// Generated by tools/make_tokenizer_fixtures.py --nfc-table from Unicode {ud.unidata_version}.\n"
                "// Do not edit.\n")
        f.write("// {first, last, canonical combining class}: ranges, sorted\n")
        f.write("static constexpr CccEntry kCcc[] = {\n" +
                rows([f"{{0x{a:X},0x{b:X},{k}}}," for a, b, k in ccc], 8) + "\n};\n")
        f.write("// full canonical decompositions: {code point, offset into kDecompData, length}, sorted\n")
        f.write("static constexpr DecompEntry kDecomp[] = {\n" +
                rows([f"{{0x{c:X},{o},{n}}}," for c, o, n in idx], 10) + "\n};\n")
        f.write("static constexpr std::uint32_t kDecompData[] = {\n" + rows([f"0x{c:X}," for c in flat], 16) + "\n};\n")
        f.write("// primary composites: {first, second, composite}, sorted by (first, second)\n")
        f.write("static constexpr CompEntry kComp[] = {\n" +
                rows([f"{{0x{a:X},0x{b:X},0x{c:X}}}," for a, b, c in comp], 8) + "\n};\n")
    print(f"{path}: {len(ccc)} combining-class ranges, {len(dec)} decompositions, {len(comp)} composites")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.join(ROOT, "models"))
    ap.add_argument("--nfc-table", action="store_true", help="only regenerate src/tokenizer/nfc_data.inc")
    args = ap.parse_args()
    if args.nfc_table:
        write_nfc_table(os.path.join(ROOT, "src", "tokenizer", "nfc_data.inc"))
        return
    os.makedirs(OUT, exist_ok=True)
    lines = make_corpus()
    write_json(os.path.join(OUT, "corpus.json"), lines)
    print(f"corpus: {len(lines)} lines")
    tl = train_text()

    bpe = make_bpe(tl, os.path.join(OUT, "bpe"))
    write_json(os.path.join(OUT, "ref_bpe.json"), hf_reference(bpe, lines))
    print("bpe: vocab", bpe.get_vocab_size())

    # (b') the same vocabulary behind Llama 3's pre-tokenizer (Split regex + ByteLevel without
    # regex, ignore_merges), saved with merges in the "a b" string form of older tokenizer.json.
    l3 = make_llama3_variant(os.path.join(OUT, "bpe"), os.path.join(OUT, "bpe_llama3"))
    write_json(os.path.join(OUT, "ref_bpe_llama3.json"), hf_reference(l3, lines))
    # (b'') and behind Qwen2's: NFC normalizer, Qwen2 Split regex, ByteLevel without regex.
    q2 = make_qwen2_variant(os.path.join(OUT, "bpe"), os.path.join(OUT, "bpe_qwen2"))
    write_json(os.path.join(OUT, "ref_bpe_qwen2.json"), hf_reference(q2, lines))

    hf = make_spm(tl, os.path.join(OUT, "spm"))
    ref = hf_reference(hf, lines)
    write_json(os.path.join(OUT, "ref_spm.json"), ref)
    check_spm_against_sentencepiece(os.path.join(OUT, "spm"), lines, ref)
    write_spm_gguf(os.path.join(OUT, "spm", "tokenizer.model"), os.path.join(OUT, "spm", "vocab.gguf"))

    gg = os.path.join(args.models, SMOL)
    if not os.path.exists(gg):
        print(f"{gg} missing: run tools/fetch-model; skipping SmolLM2 reference", file=sys.stderr)
        return
    # The reference is the tokenizer.json rebuilt from the GGUF's vocab and merges with SmolLM2's
    # own pre-tokenizer (Digits(individual) + ByteLevel, llama.cpp's "smollm"). transformers'
    # GGUF loader ignores tokenizer.ggml.pre and uses plain ByteLevel; the two agree on every
    # line but those where a digit follows a whitespace run ("\n 59").
    rebuilt = rebuild_smollm2(gg)
    ref = hf_reference(rebuilt, lines)
    write_json(os.path.join(OUT, "ref_smollm2.json"), ref)
    from transformers import AutoTokenizer
    t = AutoTokenizer.from_pretrained(args.models, gguf_file=SMOL)
    r2 = hf_reference(t._tokenizer, lines)
    for k in ("ids", "ids_parse"):
        bad = sum(1 for a, b in zip(ref[k], r2[k]) if a != b)
        print(f"  smollm2 {k}: rebuilt tokenizer.json vs transformers(GGUF) differ on {bad}/{len(lines)} lines")


def rebuild_smollm2(path):
    """tokenizer.json equivalent of the GGUF's gpt2/smollm vocabulary (HF's SmolLM2 layout)."""
    from gguf import GGUFReader
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    r = GGUFReader(path)
    f = r.fields
    toks = [bytes(f["tokenizer.ggml.tokens"].parts[i]).decode() for i in f["tokenizer.ggml.tokens"].data]
    merges = [tuple(bytes(f["tokenizer.ggml.merges"].parts[i]).decode().split(" ", 1))
              for i in f["tokenizer.ggml.merges"].data]
    types = [int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data]
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(toks)}, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(toks, types) if ty == 3])
    return tok


if __name__ == "__main__":
    main()
