#!/usr/bin/env python3
"""Reference outputs of llama.cpp (llama-cpp-python) and transformers on the
default model, for the conformance test (tests/model/conformance_test.cpp).

    tools/fetch-model
    .venv/bin/pip install llama-cpp-python torch transformers gguf accelerate safetensors
    .venv/bin/python tools/make_llamacpp_fixtures.py
    .venv/bin/python tools/make_llamacpp_fixtures.py --greedy-only   # llama-cpp-python alone

For each prompt it records the token ids (llama.cpp's tokenizer), and for
every position the 40 largest logits of llama.cpp and of transformers
(loading the same GGUF, dequantized to f32), the full last-position logits
of llama.cpp (f16), and llama.cpp's 32-token greedy continuation. It also
records llama.cpp's logits on the tiny tests/data/gguf/llama.Q8_0.gguf.
Outputs: tests/data/conformance/smollm2.json, smollm2_last.safetensors,
tests/data/gguf/llama.Q8_0.llamacpp.json.
"""
import json
import os
import shutil
import sys
import tempfile

import numpy as np
from llama_cpp import Llama
from safetensors.numpy import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
OUT = os.path.join(ROOT, "tests", "data", "conformance")
TOP = 40
# llama.cpp keeps its KV cache in f16 by default and rounds q and the
# attention weights to f16 to multiply with it; an f32 cache keeps attention
# in f32 as ours does, so the comparison measures the weight and activation
# arithmetic. Flash attention off: the plain ggml graph.
LLAMA_ARGS = dict(n_ctx=512, n_batch=512, n_ubatch=512, logits_all=True, n_threads=2, verbose=False, seed=0,
                  type_k=0, type_v=0, flash_attn=False)
GREEDY = 32
GREEDY_TOP = 8

PROMPTS = [
    ("english", "The history of the printing press begins in the fifteenth century, when", False),
    ("code", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    if n < 2:\n        return n\n", False),
    ("chinese", "北京是中国的首都，也是一座历史悠久的城市。", False),
    ("chat", "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
             "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n", True),
    ("numbers", "Table: 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233,", False),
    ("mixed", "Emoji 🙂 and accents: café, naïve, Zürich. 日本語のテキスト。", False),
]


def llama_logits(llm, tokens):
    llm.reset()
    llm.eval(tokens)
    return np.array(llm.scores[: len(tokens)], dtype=np.float32)


def llama_greedy(llm, tokens, n, details=False):
    """n greedy tokens; with details, also each step's runner-up token, the
    margin between the best and the runner-up logit, and the GREEDY_TOP
    largest logits with their ids (so a test can tell how far any other
    token was from llama.cpp's choice)."""
    llm.reset()
    llm.eval(tokens)
    out, second, margin, top_ids, top_logits = [], [], [], [], []
    for _ in range(n):
        s = np.array(llm.scores[llm.n_tokens - 1])
        order = np.argsort(-s, kind="stable")
        out.append(int(order[0]))
        second.append(int(order[1]))
        margin.append(float(s[order[0]] - s[order[1]]))
        top_ids.append([int(t) for t in order[:GREEDY_TOP]])
        top_logits.append([float(s[t]) for t in order[:GREEDY_TOP]])
        llm.eval([int(order[0])])
    return (out, second, margin, top_ids, top_logits) if details else out


def top(logits):
    ids = np.argsort(-logits, axis=1, kind="stable")[:, :TOP]
    return ids.tolist(), np.take_along_axis(logits, ids, axis=1).tolist()


def greedy_only():
    """Re-runs only llama.cpp's greedy continuations (ids, runner-ups,
    margins, top logits per step) into the existing smollm2.json; needs
    llama-cpp-python and numpy, not torch or transformers."""
    path = os.path.join(OUT, "smollm2.json")
    data = json.load(open(path))
    llm = Llama(model_path=MODEL, **LLAMA_ARGS)
    for case in data["cases"]:
        ref = case["llamacpp"]
        greedy, second, margin, g_ids, g_logits = llama_greedy(llm, case["tokens"], GREEDY, details=True)
        same = next((i for i in range(GREEDY) if greedy[i] != ref["greedy"][i]), GREEDY)
        print(f"{case['name']}: greedy equal to the stored one for {same} of {GREEDY} steps")
        ref.update({"greedy": greedy, "greedy_second": second, "greedy_margin": margin, "greedy_top_ids": g_ids,
                    "greedy_top_logits": g_logits})
    with open(path, "w") as f:
        json.dump(data, f)


def main():
    if "--greedy-only" in sys.argv[1:]:
        return greedy_only()
    import torch  # only the full run compares with transformers
    os.makedirs(OUT, exist_ok=True)
    llm = Llama(model_path=MODEL, **LLAMA_ARGS)
    llm_f16kv = Llama(model_path=MODEL, **dict(LLAMA_ARGS, type_k=None, type_v=None))  # llama.cpp's default cache
    from transformers import AutoModelForCausalLM
    d = tempfile.mkdtemp()
    os.symlink(os.path.abspath(MODEL), os.path.join(d, "model.gguf"))
    hf = AutoModelForCausalLM.from_pretrained(d, gguf_file="model.gguf", dtype=torch.float32).eval()
    shutil.rmtree(d)
    cases, last = [], {}
    for name, text, special in PROMPTS:
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)
        ll = llama_logits(llm, tokens)
        l16 = llama_logits(llm_f16kv, tokens)
        with torch.no_grad():
            tl = hf(torch.tensor([tokens])).logits[0].numpy().astype(np.float32)
        li, lv = top(ll)
        # llama.cpp against itself: its default f16 KV cache vs the f32 one,
        # on the same entries the test compares (the spread of the reference).
        sel = np.take_along_axis(l16, np.array(li), axis=1)
        self_top = float(np.sum((sel - np.array(lv)) ** 2) / np.sum(np.array(lv) ** 2))
        self_last = float(np.sum((l16[-1] - ll[-1]) ** 2) / np.sum(ll[-1] ** 2))
        ti, tv = top(tl)
        greedy, second, margin, g_ids, g_logits = llama_greedy(llm, tokens, GREEDY, details=True)
        f16kv = llama_greedy(llm_f16kv, tokens, GREEDY)
        split = next((i for i in range(GREEDY) if f16kv[i] != greedy[i]), None)
        last[name] = ll[-1].astype(np.float16)
        cases.append({"name": name, "text": text, "special": special, "tokens": tokens,
                      "llamacpp": {"top_ids": li, "top_logits": lv, "greedy": greedy, "greedy_second": second,
                                   "greedy_margin": margin, "greedy_top_ids": g_ids, "greedy_top_logits": g_logits,
                                   "f16_kv_cache_greedy": f16kv,
                                   "f16_kv_cache_nmse_top": self_top, "f16_kv_cache_nmse_last": self_last},
                      "transformers": {"top_ids": ti, "top_logits": tv}})
        nmse = float(np.sum((tl - ll) ** 2) / np.sum(ll ** 2))
        print(f"{name}: {len(tokens)} tokens, transformers vs llama.cpp NMSE {nmse:.3g}; llama.cpp's own f16-KV greedy "
              f"splits from its f32-KV greedy at step {split}; greedy {llm.detokenize(greedy)!r}")
    with open(os.path.join(OUT, "smollm2.json"), "w") as f:
        json.dump({"model": os.path.basename(MODEL), "top": TOP, "cases": cases}, f)
    save_file(last, os.path.join(OUT, "smollm2_last.safetensors"))

    tiny = os.path.join(ROOT, "tests", "data", "gguf", "llama.Q8_0.gguf")
    ref = json.load(open(tiny.replace(".gguf", ".reference.json")))
    t = Llama(model_path=tiny, **dict(LLAMA_ARGS, n_ctx=64))
    tl = llama_logits(t, ref["tokens"])
    out = {"tokens": ref["tokens"], "greedy": llama_greedy(t, ref["tokens"], 20),
           "logits": [[float(f"{v:.8g}") for v in row] for row in tl.tolist()]}
    with open(tiny.replace(".gguf", ".llamacpp.json"), "w") as f:
        json.dump(out, f)
    print("tiny Q8_0 greedy (llama.cpp):", out["greedy"])


if __name__ == "__main__":
    main()
