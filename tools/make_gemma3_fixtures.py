#!/usr/bin/env python3
"""Reference outputs of llama.cpp (llama-cpp-python) on the real Gemma 3 270M
Q4_K_M GGUF, for tests/model/gemma3_conformance_test.cpp.

    tools/fetch-model gemma3-270m
    python3 -m venv /path/to/venv && /path/to/venv/bin/pip install llama-cpp-python numpy
    /path/to/venv/bin/python tools/make_gemma3_fixtures.py [--corpus-only]

For each prompt it records the token ids (llama.cpp's tokenizer, with the
BOS the file asks for), llama.cpp's 40 largest logits at every position (the last LONG_TAIL of
the one prompt longer than the sliding window), the
LAST_TOP largest logits of the last position (the full 262144-entry vector
of six prompts would be 3 MB even in f16), and the 32-token greedy
continuation with the 8 best logits of each step. As for SmolLM2 it runs
llama.cpp with an f32 KV cache and records, as the reference's own spread,
how far its default f16 cache moves the same entries.
Output: tests/data/conformance/gemma3.json. It also writes the ids
llama.cpp's tokenizer gives every line of the tokenizer parity corpus
(tests/data/tokenizer/corpus.json, no BOS, special tokens not parsed) to
tests/data/tokenizer/ref_gemma3_llamacpp.json.
"""
import json
import os
import sys

import numpy as np
from llama_cpp import Llama

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODEL = os.path.join(ROOT, "models", "gemma-3-270m-q4_k_m.gguf")
OUT = os.path.join(ROOT, "tests", "data", "conformance", "gemma3.json")
TOP = 40
LAST_TOP = 2048
GREEDY = 32
GREEDY_TOP = 8
# f32 KV cache and no flash attention, as tools/make_llamacpp_fixtures.py.
LLAMA_ARGS = dict(n_ctx=1024, n_batch=1024, n_ubatch=1024, logits_all=True, n_threads=2, verbose=False, seed=0,
                  type_k=0, type_v=0, flash_attn=False)

PROMPTS = [
    ("english", "The history of the printing press begins in the fifteenth century, when", False),
    ("code", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    if n < 2:\n        return n\n", False),
    ("chinese", "北京是中国的首都，也是一座历史悠久的城市。", False),
    ("chat", "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n", True),
    ("numbers", "Table: 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233,", False),
    ("mixed", "Emoji 🙂 and accents: café, naïve, Zürich. 日本語のテキスト。", False),
    ("spaces", "  two leading spaces,\n\n\ttabs\tand    runs   of spaces \n<b>bold</b> \u2028 end", False),
    # Longer than the 512-position window of the sliding-window layers.
    ("long", " ".join(f"{i} squared is {i * i}." for i in range(1, 65)), False),
]
# Positions whose top-40 logits are stored: all, or the last LONG_TAIL of a
# prompt longer than twice that (keeps the fixture small).
LONG_TAIL = 64


def logits_of(llm, tokens):
    llm.reset()
    llm.eval(tokens)
    return np.array(llm.scores[: len(tokens)], dtype=np.float32)


def greedy(llm, tokens, n):
    llm.reset()
    llm.eval(tokens)
    out, top_ids, top_logits = [], [], []
    for _ in range(n):
        s = np.array(llm.scores[llm.n_tokens - 1])
        order = np.argsort(-s, kind="stable")
        out.append(int(order[0]))
        top_ids.append([int(t) for t in order[:GREEDY_TOP]])
        top_logits.append([float(s[t]) for t in order[:GREEDY_TOP]])
        llm.eval([int(order[0])])
    return out, top_ids, top_logits


def top(logits, k):
    ids = np.argsort(-logits, axis=-1, kind="stable")[..., :k]
    return ids, np.take_along_axis(logits, ids, axis=-1)


def r(x):  # 7 significant digits: f32 logits, a fraction of the file size
    return [float(f"{v:.7g}") for v in x]


def corpus_ids():
    vocab = Llama(model_path=MODEL, vocab_only=True, verbose=False)
    lines = json.load(open(os.path.join(ROOT, "tests", "data", "tokenizer", "corpus.json")))
    ids = [vocab.tokenize(line.encode("utf-8"), add_bos=False, special=False) for line in lines]
    # llama.cpp's text for the ids, where it is not the line itself (a literal
    # U+2581 reads as a space in SentencePiece).
    decoded = {}
    for i, (line, t) in enumerate(zip(lines, ids)):
        text = vocab.detokenize(t, special=True).decode("utf-8", errors="replace")
        if text != line:
            decoded[str(i)] = text
    path = os.path.join(ROOT, "tests", "data", "tokenizer", "ref_gemma3_llamacpp.json")
    with open(path, "w") as f:
        json.dump({"ids": ids, "decoded": decoded}, f, separators=(",", ":"), ensure_ascii=False)
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {sum(map(len, ids))} ids)")


def main():
    corpus_ids()
    if "--corpus-only" in sys.argv[1:]:
        return
    llm = Llama(model_path=MODEL, **LLAMA_ARGS)
    llm_f16kv = Llama(model_path=MODEL, **dict(LLAMA_ARGS, type_k=None, type_v=None))  # llama.cpp's default cache
    cases = []
    for name, text, special in PROMPTS:
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=True, special=special)
        ll = logits_of(llm, tokens)
        l16 = logits_of(llm_f16kv, tokens)
        first = max(0, len(tokens) - LONG_TAIL) if len(tokens) > 2 * LONG_TAIL else 0
        li, lv = top(ll[first:], TOP)
        self_top = float(np.sum((np.take_along_axis(l16[first:], li, axis=1) - lv) ** 2) / np.sum(lv ** 2))
        lasti, lastv = top(ll[-1], LAST_TOP)
        self_last = float(np.sum((l16[-1][lasti] - lastv) ** 2) / np.sum(lastv ** 2))
        g, g_ids, g_logits = greedy(llm, tokens, GREEDY)
        g16, _, _ = greedy(llm_f16kv, tokens, GREEDY)
        split = next((i for i in range(GREEDY) if g16[i] != g[i]), None)
        cases.append({"name": name, "text": text, "special": special, "tokens": tokens,
                      "llamacpp": {"top_first": first, "top_ids": li.tolist(), "top_logits": [r(row) for row in lv],
                                   "last_ids": lasti.tolist(), "last_logits": r(lastv),
                                   "greedy": g, "greedy_top_ids": g_ids, "greedy_top_logits": [r(x) for x in g_logits],
                                   "f16_kv_cache_greedy": g16,
                                   "f16_kv_cache_nmse_top": self_top, "f16_kv_cache_nmse_last": self_last}})
        print(f"{name}: {len(tokens)} tokens; f16-KV vs f32-KV NMSE top-{TOP} {self_top:.2e}, last top-{LAST_TOP} "
              f"{self_last:.2e}; f16-KV greedy splits at {split}; greedy {llm.detokenize(g)!r}")
    with open(OUT, "w") as f:
        json.dump({"model": os.path.basename(MODEL), "top": TOP, "last_top": LAST_TOP, "cases": cases}, f)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
