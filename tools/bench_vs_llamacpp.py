#!/usr/bin/env python3
"""gpt-bench and llama.cpp (llama-cpp-python) side by side on one GGUF file,
in the same run, with the ratios.

    .venv/bin/pip install llama-cpp-python
    .venv/bin/python tools/bench_vs_llamacpp.py [-m MODEL] [-t 1,2] [-p 128,512] [-n 128] [-r 3]

Each engine runs in its own process (so peak RSS is its own). ppN: N prompt
tokens in one batch; tgN: N tokens one at a time after a 1-token prompt.
Medians of -r repetitions.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def llama_cpp_bench(model, threads, pps, tg, reps):
    import numpy as np
    from llama_cpp import Llama
    rng = np.random.default_rng(1)
    results = []
    for t in threads:
        llm = Llama(model_path=model, n_ctx=max(pps + [tg + 2]) + 8, n_batch=max(pps + [1]), n_threads=t,
                    n_threads_batch=t, verbose=False, logits_all=False)
        vocab = llm.n_vocab()
        for n in pps:
            rates = []
            for _ in range(reps):
                toks = rng.integers(0, vocab, n).tolist()
                llm.reset()
                a = time.perf_counter()
                llm.eval(toks)
                rates.append(n / (time.perf_counter() - a))
            results.append({"threads": t, "test": f"pp{n}", "tokens_per_s": statistics.median(rates)})
        if tg > 0:
            rates = []
            for _ in range(reps):
                llm.reset()
                llm.eval([int(rng.integers(0, vocab))])
                a = time.perf_counter()
                for _ in range(tg):
                    llm.eval([int(rng.integers(0, vocab))])
                rates.append(tg / (time.perf_counter() - a))
            results.append({"threads": t, "test": f"tg{tg}", "tokens_per_s": statistics.median(rates)})
        del llm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"results": results, "peak_rss_mib": peak}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", default=os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("-t", "--threads", default="1,2")
    ap.add_argument("-p", "--n-prompt", default="128,512")
    ap.add_argument("-n", "--n-gen", type=int, default=128)
    ap.add_argument("-r", "--reps", type=int, default=3)
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "tools", "gpt-bench"))
    ap.add_argument("--llama-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    threads = [int(x) for x in a.threads.split(",")]
    pps = [int(x) for x in a.n_prompt.split(",") if int(x) > 0]
    if a.llama_only:
        print(json.dumps(llama_cpp_bench(a.model, threads, pps, a.n_gen, a.reps)))
        return
    ours = json.loads(subprocess.run([a.bench, "-m", a.model, "-t", a.threads, "-p", a.n_prompt, "-n", str(a.n_gen),
                                      "-r", str(a.reps), "--json"], check=True, capture_output=True, text=True).stdout)
    theirs = json.loads(subprocess.run([sys.executable, __file__, "--llama-only", "-m", a.model, "-t", a.threads,
                                        "-p", a.n_prompt, "-n", str(a.n_gen), "-r", str(a.reps)],
                                       check=True, capture_output=True, text=True).stdout)
    size = os.path.getsize(a.model) / 2**20
    print(f"model: {os.path.basename(a.model)} ({size:.1f} MiB); medians of {a.reps} runs, tokens/s")
    print("| threads | test   |  gpt t/s | llama.cpp t/s | gpt / llama.cpp |")
    print("|--------:|:-------|---------:|--------------:|----------------:|")
    for o, l in zip(ours["results"], theirs["results"]):
        assert o["test"] == l["test"] and o["threads"] == l["threads"]
        print(f"| {o['threads']:7d} | {o['test']:<6} | {o['tokens_per_s']:8.2f} | {l['tokens_per_s']:13.2f} | "
              f"{o['tokens_per_s'] / l['tokens_per_s']:15.2f} |")
    print(f"peak RSS: gpt {ours['peak_rss_mib']:.1f} MiB, llama.cpp (python process) {theirs['peak_rss_mib']:.1f} MiB; "
          f"gpt load {ours['load_ms']:.0f} ms")


if __name__ == "__main__":
    main()
