#!/usr/bin/env python3
"""Writes the fuzz seed corpora (tests/fuzz/corpus/<target>/) from tests/data.

    python3 tests/fuzz/make_seeds.py

Standard library only. Seeds are small, well-formed inputs of every kind each
target reads (see tests/fuzz/targets.h for how an input is laid out); libFuzzer
mutates them. GGUF seeds are tiny models written here (d_model 32, one layer,
a 300-token vocabulary taken from tests/data/tokenizer), one per architecture
and weight type the engine runs without 256-wide k-quant blocks. Deterministic:
running it twice gives the same files.
"""
import json
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
OUT = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(rel, mode="rb"):
    with open(os.path.join(DATA, rel), mode) as f:
        return f.read()


# --- GGUF --------------------------------------------------------------------

T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)


def gguf_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gguf_value(t, v):
    if t == T_STR:
        return gguf_str(v)
    if t == T_ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gguf_value(et, x) for x in items)
    fmt = {T_U8: "B", T_I8: "b", T_U16: "H", T_I16: "h", T_U32: "I", T_I32: "i", T_F32: "f", T_BOOL: "?",
           T_U64: "Q", T_I64: "q", T_F64: "d"}[t]
    return struct.pack("<" + fmt, v)


def read_gguf_kv(path):
    """Metadata of a GGUF file: {key: (type, value)} (arrays as (elem type, list))."""
    b = read(path)
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, b, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("Q")
        s = b[pos:pos + n]
        pos += n
        return s

    def value(t):
        if t == T_STR:
            return string()
        if t == T_ARR:
            et, n = take("I"), take("Q")
            return (et, [value(et) for _ in range(n)])
        return take({T_U8: "B", T_I8: "b", T_U16: "H", T_I16: "h", T_U32: "I", T_I32: "i", T_F32: "f", T_BOOL: "?",
                     T_U64: "Q", T_I64: "q", T_F64: "d"}[t])

    assert b[:4] == b"GGUF"
    pos = 4
    take("I")
    n_tensors, n_kv = take("Q"), take("Q")
    kv = {}
    for _ in range(n_kv):
        k = string().decode()
        t = take("I")
        kv[k] = (t, value(t))
    return kv


GGML = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q4_1": (3, 32, 20), "Q5_0": (6, 32, 22),
        "Q5_1": (7, 32, 24), "Q8_0": (8, 32, 34), "BF16": (30, 1, 2)}


def tensor_bytes(rng, dtype, n):
    """n elements of small random weights in a ggml type (quantized blocks with sane scales)."""
    _, blk, size = GGML[dtype]
    if dtype == "F32":
        return struct.pack(f"<{n}f", *[rng.uniform(-0.1, 0.1) for _ in range(n)])
    if dtype == "F16":
        return struct.pack(f"<{n}e", *[rng.uniform(-0.1, 0.1) for _ in range(n)])
    if dtype == "BF16":
        return b"".join(struct.pack("<f", rng.uniform(-0.1, 0.1))[2:] for _ in range(n))
    out = b""
    for _ in range(n // blk):
        head = struct.pack("<e", 0.01)
        if dtype in ("Q4_1", "Q5_1"):
            head += struct.pack("<e", -0.05)
        out += head + bytes(rng.randrange(256) for _ in range(size - len(head)))
    return out


def write_gguf(kv, tensors, align=32):
    """kv: list of (key, type, value); tensors: list of (name, shape outermost first, dtype, bytes)."""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for k, t, v in kv:
        head += gguf_str(k) + struct.pack("<I", t) + gguf_value(t, v)
    data = b""
    for name, shape, dtype, raw in tensors:
        ne = list(reversed(shape))
        head += gguf_str(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
        head += struct.pack("<IQ", GGML[dtype][0], len(data))
        data += raw + b"\0" * (-len(raw) % align)
    head += b"\0" * (-len(head) % align)
    return head + data


def bpe_vocab(n):
    """The first n pieces of the BPE fixture and the merges among them."""
    j = json.loads(read("tokenizer/bpe/tokenizer.json"))
    by_id = sorted(j["model"]["vocab"].items(), key=lambda kv: kv[1])
    pieces = [p for p, i in by_id if i < n]
    keep = set(pieces)
    merges = []
    for m in j["model"]["merges"]:
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if a in keep and b in keep and a + b in keep:
            merges.append(f"{a} {b}")
    return pieces, merges


def tiny_model(arch, dtype, tokenizer, seed):
    rng = random.Random(seed)
    d, ff, n_head, n_kv, n_ctx = 32, 64, 4, 2, 16
    hd = d // n_head
    kv = [("general.architecture", T_STR, arch), ("general.alignment", T_U32, 32),
          (f"{arch}.embedding_length", T_U32, d), (f"{arch}.block_count", T_U32, 1),
          (f"{arch}.attention.head_count", T_U32, n_head), (f"{arch}.feed_forward_length", T_U32, ff),
          (f"{arch}.context_length", T_U32, n_ctx)]
    if arch != "gpt2":
        kv += [(f"{arch}.attention.head_count_kv", T_U32, n_kv), (f"{arch}.rope.freq_base", T_F32, 10000.0),
               (f"{arch}.attention.layer_norm_rms_epsilon", T_F32, 1e-5), (f"{arch}.rope.dimension_count", T_U32, hd)]
    else:
        n_kv = n_head
        kv += [(f"{arch}.attention.layer_norm_epsilon", T_F32, 1e-5)]
    if tokenizer == "gpt2":
        pieces, merges = bpe_vocab(300)
        pieces += ["<|im_start|>", "<|im_end|>"]
        types = [1] * len(pieces)
        types[pieces.index("<|endoftext|>") if "<|endoftext|>" in pieces else 0] = 3
        types[-1] = types[-2] = 3
        kv += [("tokenizer.ggml.model", T_STR, "gpt2"), ("tokenizer.ggml.pre", T_STR, "smollm"),
               ("tokenizer.ggml.tokens", T_ARR, (T_STR, pieces)), ("tokenizer.ggml.token_type", T_ARR, (T_I32, types)),
               ("tokenizer.ggml.merges", T_ARR, (T_STR, merges)), ("tokenizer.ggml.bos_token_id", T_U32, len(pieces) - 2),
               ("tokenizer.ggml.eos_token_id", T_U32, len(pieces) - 1),
               ("tokenizer.chat_template", T_STR, read("chat/templates/chatml.jinja").decode())]
        vocab = len(pieces)
    else:
        spm = read_gguf_kv("tokenizer/spm/vocab.gguf")
        for k in sorted(spm):
            if k.startswith("tokenizer."):
                t, v = spm[k]
                kv.append((k, t, v))
        vocab = len(spm["tokenizer.ggml.tokens"][1])
    mat = lambda rows, cols: tensor_bytes(rng, dtype, rows * cols)
    vec = lambda n: tensor_bytes(rng, "F32", n)
    ts = [("token_embd.weight", [vocab, d], dtype, mat(vocab, d)), ("output_norm.weight", [d], "F32", vec(d))]
    if arch == "gpt2":
        ts += [("position_embd.weight", [n_ctx, d], "F32", vec(n_ctx * d)), ("output_norm.bias", [d], "F32", vec(d))]
    p = "blk.0."
    ts += [(p + "attn_norm.weight", [d], "F32", vec(d)), (p + "ffn_norm.weight", [d], "F32", vec(d))]
    if arch == "gpt2":
        ts += [(p + "attn_norm.bias", [d], "F32", vec(d)), (p + "ffn_norm.bias", [d], "F32", vec(d)),
               (p + "attn_qkv.weight", [3 * d, d], dtype, mat(3 * d, d)), (p + "attn_qkv.bias", [3 * d], "F32", vec(3 * d)),
               (p + "attn_output.bias", [d], "F32", vec(d)), (p + "ffn_up.bias", [ff], "F32", vec(ff)),
               (p + "ffn_down.bias", [d], "F32", vec(d))]
    else:
        ts += [(p + "attn_q.weight", [n_head * hd, d], dtype, mat(n_head * hd, d)),
               (p + "attn_k.weight", [n_kv * hd, d], dtype, mat(n_kv * hd, d)),
               (p + "attn_v.weight", [n_kv * hd, d], dtype, mat(n_kv * hd, d)),
               (p + "ffn_gate.weight", [ff, d], dtype, mat(ff, d))]
        if arch == "qwen2":
            ts += [(p + "attn_q.bias", [n_head * hd], "F32", vec(n_head * hd)),
                   (p + "attn_k.bias", [n_kv * hd], "F32", vec(n_kv * hd)),
                   (p + "attn_v.bias", [n_kv * hd], "F32", vec(n_kv * hd))]
    ts += [(p + "attn_output.weight", [d, n_head * hd], dtype, mat(d, n_head * hd)),
           (p + "ffn_up.weight", [ff, d], dtype, mat(ff, d)), (p + "ffn_down.weight", [d, ff], dtype, mat(d, ff))]
    return write_gguf(kv, ts)


def gguf_seeds():
    write("gguf", "llama_f32_bpe.gguf", tiny_model("llama", "F32", "gpt2", 1))
    write("gguf", "llama_q4_0_spm.gguf", tiny_model("llama", "Q4_0", "llama", 2))
    write("gguf", "qwen2_q8_0_bpe.gguf", tiny_model("qwen2", "Q8_0", "gpt2", 3))
    write("gguf", "qwen2_q5_1_bpe.gguf", tiny_model("qwen2", "Q5_1", "gpt2", 4))
    write("gguf", "gpt2_f16_bpe.gguf", tiny_model("gpt2", "F16", "gpt2", 5))
    write("gguf", "llama_bf16_spm.gguf", tiny_model("llama", "BF16", "llama", 6))
    write("gguf", "llama_q4_1_bpe.gguf", tiny_model("llama", "Q4_1", "gpt2", 7))
    write("gguf", "llama_q5_0_bpe.gguf", tiny_model("llama", "Q5_0", "gpt2", 8))
    write("gguf", "truncated.gguf", read("gguf/truncated.gguf")[:1024])


# --- safetensors ---------------------------------------------------------------

def safetensors_file(tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def safetensors_seeds():
    rng = random.Random(9)
    f32 = lambda n: struct.pack(f"<{n}f", *[rng.uniform(-1, 1) for _ in range(n)])
    shard = safetensors_file([("model.embed_tokens.weight", "F32", [4, 3], f32(12)),
                              ("model.norm.weight", "F16", [3], struct.pack("<3e", 1, 1, 1)),
                              ("lm_head.weight", "BF16", [2, 2], b"\x80\x3f" * 4),
                              ("position_ids", "I64", [2], struct.pack("<2q", 0, 1)),
                              ("empty", "F32", [0], b"")], {"format": "pt"})
    index = json.dumps({"metadata": {"total_size": 60},
                        "weight_map": {"model.embed_tokens.weight": "model-00001-of-00001.safetensors",
                                       "model.norm.weight": "model-00001-of-00001.safetensors",
                                       "lm_head.weight": "model-00001-of-00001.safetensors",
                                       "position_ids": "model-00001-of-00001.safetensors"}}, indent=1)
    write("safetensors", "index_and_shard", index.encode() + b"\0" + shard)
    write("safetensors", "shard_only", b"\0" + shard)
    write("safetensors", "missing_tensor", json.dumps({"weight_map": {"x": "model-00001-of-00001.safetensors"}}).encode()
          + b"\0" + safetensors_file([("y", "F32", [1], f32(1))]))
    # The header of a real fixture with its data cut off.
    real = read("models/llama-tied-bf16-sharded/model-00002-of-00006.safetensors")
    n = struct.unpack_from("<Q", real)[0]
    write("safetensors", "real_header", b"\0" + real[:8 + n] + real[8 + n:8 + n + 64])


# --- config.json, tokenizers, chat -------------------------------------------

def config_seeds():
    for m in ("gpt2", "llama", "mistral-window6", "qwen2-f16", "llama-tied-bf16-sharded"):
        write("hf_config", m + ".json", read(f"models/{m}/config.json"))


def trimmed_tokenizer_json(rel, n):
    j = json.loads(read(rel))
    vocab = {p: i for p, i in j["model"]["vocab"].items() if i < n}
    keep = set(vocab)
    merges = []
    for m in j["model"]["merges"]:
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if a in keep and b in keep and a + b in keep:
            merges.append(m)
    j["model"]["vocab"], j["model"]["merges"] = vocab, merges
    j["added_tokens"] = [dict(a, id=n + k) for k, a in enumerate(j.get("added_tokens", []))]
    j["added_tokens"].append({"id": n + len(j["added_tokens"]), "content": "<|im_start|>", "special": True,
                              "lstrip": True, "rstrip": False, "normalized": False, "single_word": False})
    return json.dumps(j, ensure_ascii=False, indent=1)


def tokenizer_seeds():
    for name in ("bpe", "bpe_llama3", "bpe_qwen2"):
        write("tokenizer_json", name + ".json", trimmed_tokenizer_json(f"tokenizer/{name}/tokenizer.json", 300))
    pieces, merges = bpe_vocab(300)
    vocab = json.dumps({p: i for i, p in enumerate(pieces + ["<|endoftext|>"])}, ensure_ascii=False)
    write("vocab_merges", "gpt2_layout", vocab.encode() + b"\0" + ("#version: 0.2\n" + "\n".join(merges) + "\n").encode())
    write("sentencepiece", "tokenizer.model", read("tokenizer/spm/tokenizer.model"))


def chat_seeds():
    def cfg(template, **extra):
        d = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True,
             "added_tokens_decoder": {"1": {"content": "<s>", "special": True}, "2": {"content": "</s>", "special": True}},
             "chat_template": template}
        d.update(extra)
        return json.dumps(d, indent=1)

    for t in sorted(os.listdir(os.path.join(DATA, "chat", "templates"))):
        write("chat", t.replace(".jinja", ""), cfg(read(f"chat/templates/{t}").decode()))
    # All four files; the template from chat_template.jinja.
    write("chat", "four_files", "\0".join([
        json.dumps({"bos_token": {"content": "<s>", "lstrip": False}, "eos_token": "</s>", "add_eos_token": True}),
        json.dumps({"pad_token": "<unk>", "eos_token": "</s>"}),
        json.dumps({"eos_token_id": [2, 1], "bos_token_id": 1}),
        read("chat/templates/zephyr.jinja").decode()]))
    write("chat", "named_templates", cfg([{"name": "default", "template": read("chat/templates/llama2.jinja").decode()},
                                          {"name": "tool_use", "template": "{{ x }}"}]))


def tokenize_seeds():
    corpus = json.loads(read("tokenizer/corpus.json"))
    texts = corpus if isinstance(corpus, list) else list(corpus.values())
    texts = [t if isinstance(t, str) else json.dumps(t) for t in texts][:12]
    n = 0
    for mode in range(6):
        for i, t in enumerate(texts[mode::6][:2]):
            write("tokenize", f"text_{mode}_{i}", bytes([mode | (0x08 if i else 0x10)]) + t.encode())
            n += 1
    rng = random.Random(11)
    for mode in range(6):
        ids = [rng.randrange(2000) for _ in range(24)]
        write("tokenize", f"ids_{mode}", bytes([0x40 | mode | (0x20 if mode % 2 else 0)]) + struct.pack(f"<{len(ids)}H", *ids))
    write("tokenize", "invalid_utf8", bytes([0x04]) + b"a\xff\xfe b\xc3 \xe4\xbd \xed\xa0\x80 \xf4\x90\x80\x80 <s>\xf0\x9f")


if __name__ == "__main__":
    gguf_seeds()
    safetensors_seeds()
    config_seeds()
    tokenizer_seeds()
    chat_seeds()
    tokenize_seeds()
    total = 0
    for root, _, files in os.walk(OUT):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    print(f"seed corpora: {total} bytes under {OUT}")
