#!/usr/bin/env python3
"""Tokenizer encode throughput: ours (bench-tokenize) next to Hugging Face tokenizers,
on the same 1 MB mixed-language text, in the same run.

    python tools/bench_tokenize.py [--build build] [--models models] [--text FILE]

Both sides encode the text one line at a time on one thread (HF: encode_batch with
RAYON_NUM_THREADS=1, so no Python per-call overhead), best of --repeat passes after a
warm-up pass. Paths: BPE = SmolLM2-135M-Instruct's vocabulary (ours from the GGUF; HF from
the tokenizer.json rebuilt from it), SentencePiece = the test fixture's tokenizer.model
(ours via libsentencepiece; HF: the fast tokenizer transformers builds for a Llama model).
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import make_tokenizer_fixtures as fx  # noqa: E402


def make_text(path, size=1 << 20):
    """~1 MB of mixed text from the fixture generators (prose, code, numbers, whitespace,
    CJK, emoji, accents, special-token strings), freshly drawn so words repeat as in real text."""
    rng = random.Random(1)
    gens = [lambda: fx.sentence(rng), lambda: fx.sentence(rng), lambda: fx.number(rng), lambda: fx.whitespace(rng),
            lambda: rng.choice(fx.CODE), lambda: fx.mixed(rng), lambda: rng.choice(fx.CJK) + rng.choice(fx.CJK),
            lambda: fx.special_line(rng), lambda: rng.choice(fx.ACCENT) + " " + fx.sentence(rng, 5),
            lambda: " ".join(rng.choice(fx.EMOJI) for _ in range(3)) + fx.sentence(rng, 4)]
    out, n = [], 0
    while n < size:
        l = rng.choice(gens)().replace("\n", " ")
        out.append(l)
        n += len(l.encode()) + 1
    data = "\n".join(out).encode()[:size].decode("utf-8", "ignore")
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(data)


def hf_bench(tok, lines, repeat):
    tok.encode_special_tokens = True
    tok.encode_batch(lines, add_special_tokens=False)
    best = 1e30
    for _ in range(repeat):
        t = time.perf_counter()
        enc = tok.encode_batch(lines, add_special_tokens=False)
        best = min(best, time.perf_counter() - t)
    ntok = sum(len(e.ids) for e in enc)
    nbytes = sum(len(l.encode()) for l in lines)
    return nbytes / 1e6 / best, ntok / best, ntok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default=os.path.join(ROOT, "models"))
    ap.add_argument("--text")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    text = a.text
    if not text:
        text = os.path.join(tempfile.gettempdir(), "gpt_bench_mixed_1mb.txt")
        make_text(text)
    data = open(text, encoding="utf-8", newline="").read()
    lines = [l for l in data.split("\n") if l]
    gguf = os.path.join(a.models, fx.SMOL)
    spm = os.path.join(fx.OUT, "spm", "tokenizer.model")
    exe = os.path.join(a.build, "tools", "bench-tokenize")
    out = subprocess.run([exe, "--json", "--repeat", str(a.repeat), "--text", text, gguf, spm],
                         check=True, capture_output=True, text=True).stdout
    ours = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    hf_rows = [hf_bench(fx.rebuild_smollm2(gguf), lines, a.repeat),
               hf_bench(fx.hf_llama_from_spm(spm), lines, a.repeat)]
    print(f"text: {text} ({len(data.encode()) / 1e6:.2f} MB, {len(lines)} lines), one thread, best of {a.repeat}")
    print(f"{'path':<34}{'ours MB/s':>10}{'HF MB/s':>10}{'ours tok/s':>13}{'HF tok/s':>13}{'tokens (ours/HF)':>20}")
    for name, o, h in zip(["BPE (SmolLM2, GGUF vocab)", "SentencePiece (fixture, byte fb)"], ours, hf_rows):
        print(f"{name:<34}{o['mb_per_s']:>10.2f}{h[0]:>10.2f}{o['tokens_per_s']:>13.0f}{h[1]:>13.0f}"
              f"{str(o['tokens']) + '/' + str(h[2]):>20}")
    print("ours, first pass with an empty word cache: " +
          ", ".join(f"{o['cold_mb_per_s']:.2f} MB/s" for o in ours) + "; load: " +
          ", ".join(f"{o['load_s'] * 1000:.0f} ms" for o in ours))


if __name__ == "__main__":
    main()
