#!/usr/bin/env python3
"""Time to first token, process start and model load included: gpt-generate
against llama.cpp's own llama-completion, on the same GGUF file and prompt.

    tools/build-llamacpp                 # once: llama.cpp's C++ programs, built natively
    python3 tools/bench_ttft.py [-m FILE] [-t 1,2] [-r 10]

The prompt is the README's chat question through the model's chat template
(SmolLM2's ChatML: a system message and "What is the capital of France?", 27
tokens). gpt-generate gets it as --chat --system ... -p ...; llama-completion
gets the same templated text as a raw prompt (-no-cnv), so both read the same
tokens (checked with llama-tokenize and gpt-generate --json before timing).
Each engine generates one token greedily (-n 1) and exits: the figure is the
wall time of the whole process, from exec to exit, so it holds start-up,
loading the file (mmap, both), the prompt and one token. llama-completion runs
at its fastest: --no-warmup (it otherwise runs an empty batch through the
model before reading the prompt), -c 128 (by default it allocates and clears
a KV cache for the model's whole context, about 70 ms more here; gpt-generate
allocates its cache page by page as it fills), no display of the prompt,
logging off.
The runs alternate between the engines; medians and ratios are printed.
Needs only the Python standard library.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSTEM = "You are a helpful assistant."
QUESTION = "What is the capital of France?"
CHATML = (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{QUESTION}<|im_end|>\n"
          "<|im_start|>assistant\n")


def llama_bin_dir():
    out = subprocess.run([os.path.join(ROOT, "tools", "build-llamacpp"), "--print-bin-dir"], check=True,
                         capture_output=True, text=True).stdout.strip()
    return out


def wall(cmd):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"bench_ttft: {cmd[0]} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", "--model", default=os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("-t", "--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("-r", "--reps", type=int, default=10, help="timed runs per engine and thread count")
    ap.add_argument("--gpt-generate", default=os.path.join(ROOT, "build", "tools", "gpt-generate"))
    ap.add_argument("--llama-bin", default=None, help="folder of llama.cpp's programs (default: tools/build-llamacpp's)")
    args = ap.parse_args()
    llama = args.llama_bin or llama_bin_dir()
    completion = os.path.join(llama, "llama-completion")
    for exe in (args.gpt_generate, completion):
        if not os.access(exe, os.X_OK):
            sys.exit(f"bench_ttft: {exe} is missing (cmake --build build --target gpt-generate; tools/build-llamacpp)")

    # The same tokens on both sides.
    theirs = json.loads(subprocess.run([os.path.join(llama, "llama-tokenize"), "-m", args.model, "-p", CHATML, "--ids",
                                        "--log-disable"], check=True, capture_output=True, text=True).stdout)
    ours = json.loads(subprocess.run([args.gpt_generate, "-m", args.model, "--chat", "--system", SYSTEM, "-p", QUESTION,
                                      "-n", "1", "--temp", "0", "--json"], check=True, capture_output=True,
                                     text=True).stdout)
    n_ours = ours["prompt_tokens"] if "prompt_tokens" in ours else ours.get("usage", {}).get("prompt_tokens")
    if n_ours != len(theirs):
        sys.exit(f"bench_ttft: the prompts differ: gpt reads {n_ours} tokens, llama.cpp {len(theirs)}")

    rows = []
    for t in [int(x) for x in args.threads.split(",")]:
        gpt_cmd = [args.gpt_generate, "-m", args.model, "--chat", "--system", SYSTEM, "-p", QUESTION, "-n", "1",
                   "--temp", "0", "-t", str(t), "-q"]
        llama_cmd = [completion, "-m", args.model, "-p", CHATML, "-no-cnv", "-n", "1", "--temp", "0", "-t", str(t),
                     "-c", "128", "--no-warmup", "--no-display-prompt", "--log-disable", "--no-perf"]
        g, l = [], []
        for r in range(args.reps + 1):  # the first pair warms the page cache and is dropped
            pair = [(gpt_cmd, g), (llama_cmd, l)] if r % 2 == 0 else [(llama_cmd, l), (gpt_cmd, g)]
            for cmd, out in pair:
                dt = wall(cmd)
                if r > 0:
                    out.append(dt)
        rows.append((t, statistics.median(g), statistics.median(l)))
    print(f"time to first token, process start to exit (-n 1), {len(theirs)} prompt tokens, "
          f"{os.path.basename(args.model)}; medians of {args.reps} alternating runs, ms")
    print("| threads | gpt-generate | llama-completion | ratio gpt / llama.cpp |")
    print("|--:|--:|--:|--:|")
    for t, g, l in rows:
        print(f"| {t} | {g * 1e3:.1f} | {l * 1e3:.1f} | {g / l:.2f} |")


if __name__ == "__main__":
    main()
