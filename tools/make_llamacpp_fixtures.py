#!/usr/bin/env python3
"""Reference outputs of llama.cpp (llama-cpp-python) and transformers on the
default model, for the conformance test (tests/model/conformance_test.cpp).

    tools/fetch-model
    .venv/bin/pip install llama-cpp-python torch transformers gguf accelerate safetensors
    .venv/bin/python tools/make_llamacpp_fixtures.py

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
import tempfile

import numpy as np
import torch
from llama_cpp import Llama
from safetensors.numpy import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
OUT = os.path.join(ROOT, "tests", "data", "conformance")
TOP = 40
GREEDY = 32

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


def llama_greedy(llm, tokens, n):
    llm.reset()
    llm.eval(tokens)
    out = []
    for _ in range(n):
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(nxt)
        llm.eval([nxt])
    return out


def top(logits):
    ids = np.argsort(-logits, axis=1, kind="stable")[:, :TOP]
    return ids.tolist(), np.take_along_axis(logits, ids, axis=1).tolist()


def main():
    os.makedirs(OUT, exist_ok=True)
    llm = Llama(model_path=MODEL, n_ctx=512, n_batch=512, logits_all=True, n_threads=2, verbose=False, seed=0)
    from transformers import AutoModelForCausalLM
    d = tempfile.mkdtemp()
    os.symlink(os.path.abspath(MODEL), os.path.join(d, "model.gguf"))
    hf = AutoModelForCausalLM.from_pretrained(d, gguf_file="model.gguf", dtype=torch.float32).eval()
    shutil.rmtree(d)
    cases, last = [], {}
    for name, text, special in PROMPTS:
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)
        ll = llama_logits(llm, tokens)
        with torch.no_grad():
            tl = hf(torch.tensor([tokens])).logits[0].numpy().astype(np.float32)
        li, lv = top(ll)
        ti, tv = top(tl)
        greedy = llama_greedy(llm, tokens, GREEDY)
        last[name] = ll[-1].astype(np.float16)
        cases.append({"name": name, "text": text, "special": special, "tokens": tokens,
                      "llamacpp": {"top_ids": li, "top_logits": lv, "greedy": greedy},
                      "transformers": {"top_ids": ti, "top_logits": tv}})
        nmse = float(np.sum((tl - ll) ** 2) / np.sum(ll ** 2))
        print(f"{name}: {len(tokens)} tokens, transformers vs llama.cpp NMSE {nmse:.3g}, greedy {llm.detokenize(greedy)!r}")
    with open(os.path.join(OUT, "smollm2.json"), "w") as f:
        json.dump({"model": os.path.basename(MODEL), "top": TOP, "cases": cases}, f)
    save_file(last, os.path.join(OUT, "smollm2_last.safetensors"))

    tiny = os.path.join(ROOT, "tests", "data", "gguf", "llama.Q8_0.gguf")
    ref = json.load(open(tiny.replace(".gguf", ".reference.json")))
    t = Llama(model_path=tiny, n_ctx=64, logits_all=True, n_threads=2, verbose=False, seed=0)
    tl = llama_logits(t, ref["tokens"])
    out = {"tokens": ref["tokens"], "greedy": llama_greedy(t, ref["tokens"], 20),
           "logits": [[float(f"{v:.8g}") for v in row] for row in tl.tolist()]}
    with open(tiny.replace(".gguf", ".llamacpp.json"), "w") as f:
        json.dump(out, f)
    print("tiny Q8_0 greedy (llama.cpp):", out["greedy"])


if __name__ == "__main__":
    main()
