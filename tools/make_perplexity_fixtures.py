#!/usr/bin/env python3
"""Writes the references of tests/generate/perplexity_test.cpp.

    # tiny checkpoints against transformers (a venv with torch + transformers)
    /work/venv/bin/python tools/make_perplexity_fixtures.py --tiny
    # the default model against llama.cpp's own llama-perplexity (tools/build-llamacpp)
    python3 tools/make_perplexity_fixtures.py --llamacpp

--tiny: tests/data/ops/perplexity_tiny.json. For the checkpoints in
tests/data/models, a random token sequence and llama-perplexity's two
computations done on transformers' logits in float64: chunks of `ctx` tokens
(first token replaced by BOS, or not), the second half scored; and strided
windows (the last `stride` predictions of windows every `stride` tokens).

--llamacpp: tests/data/conformance/perplexity_gpl3.json. llama-perplexity on
the default model and /usr/share/common-licenses/GPL-3 (every Debian machine
has it), -c 512 --chunks 4, 2 threads, in two settings: its default (flash
attention, f16 KV cache) and its most precise one (-fa off, f32 KV cache).
"""
import hashlib
import json
import math
import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DATA = os.path.join(ROOT, "tests", "data")


def chunked(logp, tokens, ctx):
    """logp(window) -> [len, vocab] float64 log-softmax of each position."""
    nll, nll2, count = 0.0, 0.0, 0
    for i in range(len(tokens) // ctx):
        window = tokens[i * ctx:(i + 1) * ctx]
        lp = logp(window)
        for pos in range(ctx // 2, ctx - 1):
            v = -float(lp[pos][tokens[i * ctx + pos + 1]])
            nll, nll2, count = nll + v, nll2 + v * v, count + 1
    mean = nll / count
    var = nll2 / count - mean * mean
    ppl = math.exp(mean)
    return {"ppl": ppl, "ppl_error": math.sqrt(var / (count - 1)) * ppl, "tokens_scored": count}


def strided(logp, tokens, ctx, stride):
    nll, count = 0.0, 0
    n_chunk = (len(tokens) - ctx + stride - 1) // stride
    for i in range(n_chunk):
        start = i * stride
        lp = logp(tokens[start:start + ctx])
        for pos in range(ctx - stride - 1, ctx - 1):
            nll, count = nll - float(lp[pos][tokens[start + pos + 1]]), count + 1
    return {"ppl": math.exp(nll / count), "tokens_scored": count}


def tiny():
    import torch
    from transformers import AutoModelForCausalLM
    torch.set_grad_enabled(False)
    cases = []
    # (checkpoints whose config.json transformers 4.45 reads as written: the
    # "llama" one uses transformers 5's rope_parameters)
    for name, seed in (("llama-bias", 1), ("gpt2", 2), ("gemma2", 3)):
        m = AutoModelForCausalLM.from_pretrained(os.path.join(DATA, "models", name), torch_dtype=torch.float32,
                                                 attn_implementation="eager").eval()
        vocab = m.config.vocab_size
        g = torch.Generator().manual_seed(300 + seed)
        ctx, stride, bos = 16, 5, 1
        tokens = torch.randint(0, vocab, (3 * ctx + 7,), generator=g).tolist()

        def logp(window, bos_first=None):
            ids = list(window)
            if bos_first is not None:
                ids[0] = bos_first
            logits = m(torch.tensor([ids]), use_cache=False).logits[0].double()
            return torch.log_softmax(logits, dim=-1).tolist()

        cases.append({"model": name, "tokens": tokens, "ctx": ctx, "stride": stride, "bos": bos,
                      "chunks_no_bos": chunked(logp, tokens, ctx),
                      "chunks_bos": chunked(lambda w: logp(w, bos), tokens, ctx),
                      "strided": strided(logp, tokens, ctx, stride)})
        print(name, cases[-1]["chunks_no_bos"], cases[-1]["chunks_bos"], cases[-1]["strided"])
    with open(os.path.join(DATA, "ops", "perplexity_tiny.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=1)


def llamacpp():
    cache = os.environ.get("GPT_CACHE_DIR", os.path.expanduser("~/.cache/gpt"))
    exe = os.path.join(cache, "llamacpp-build", "build", "bin", "llama-perplexity")
    model = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
    text = "/usr/share/common-licenses/GPL-3"
    raw = open(text, "rb").read()
    out = {"text": text, "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest(),
           "model": os.path.basename(model), "ctx": 512, "chunks": 4, "llama_cpp": {}}
    settings = {"default": [], "fa_off_f32_kv": ["-fa", "off", "-ctk", "f32", "-ctv", "f32"]}
    for name, extra in settings.items():
        r = subprocess.run([exe, "-m", model, "-f", text, "-c", "512", "--chunks", "4", "-t", "2"] + extra,
                           capture_output=True, text=True, check=True)
        log = r.stdout + r.stderr
        final = re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", log)
        per_chunk = [float(v) for v in re.findall(r"\[\d+\]([0-9.]+),", log)]
        out["llama_cpp"][name] = {"args": extra, "ppl": float(final.group(1)), "ppl_error": float(final.group(2)),
                                  "ppl_after_chunk": per_chunk}
        print(name, out["llama_cpp"][name])
    with open(os.path.join(DATA, "conformance", "perplexity_gpl3.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    if sys.argv[1:] == ["--tiny"]:
        tiny()
    elif sys.argv[1:] == ["--llamacpp"]:
        llamacpp()
    else:
        sys.exit(__doc__)
