#!/usr/bin/env python3
"""gpt-bench against llama.cpp's own llama-bench (C++ against C++): the same
GGUF files, the same thread counts, interleaved in one run; medians and ratios.

    tools/build-llamacpp                      # once: builds llama-bench natively
    tools/make-quant-variants                 # optional: F32, F16, ... files from the default model
    python3 tools/bench_vs_llamacpp.py [-m FILE ...] [-t 1,2] [-p 512] [-n 128] [-r 3] [--rounds 2]

For each round and each file, gpt-bench and llama-bench each run once as their
own process (the order alternates between rounds), each doing -r timed
repetitions of every test at every thread count. ppN: N prompt tokens in one
batch; tgN: N tokens generated one at a time. llama-bench warms up before it
times; gpt-bench does not, so it runs one extra repetition whose figure is
dropped. The median is over all timed repetitions of all rounds.

With --batched B1,B2,... it compares batched decoding instead: gpt-bench -b
(gpt::Batch) against llama.cpp's llama-batched-bench, B sequences each with
its own -p prompt tokens (not shared) then -n generated tokens; aggregate
prompt t/s (llama.cpp's S_PP) and generation t/s (S_TG). llama-batched-bench
times one run per process after its warm-up, so each round gives one sample
per test; gpt-bench does -r repetitions (plus one dropped warm-up).

    python3 tools/bench_vs_llamacpp.py --batched 1,2,4,8,16 -t 2 -p 128 -n 128 --rounds 3

Prints one markdown table (tokens/s), and with --json the raw samples.
Needs only the Python standard library.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


LIMITS = {}  # (model, threads, test) -> [roofline tokens/s, one per gpt-bench run]


def run_gpt(bench, model, threads, pp, tg, reps):
    cmd = [bench, "-m", model, "-t", threads, "-p", str(pp), "-n", str(tg), "-r", str(reps + 1), "--json"]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    for r in out["results"]:
        # The roofline gpt-bench measured at start-up, as tokens/s: for tg the
        # read bandwidth / bytes per token, for pp the f32 matmul rate / flops per token.
        limit = r.get("limit_tokens_per_s") or (r["f32_matmul_gflops"] * 1e9 / r["flops_per_token"]
                                                if r.get("flops_per_token") else 0.0)
        if limit:
            LIMITS.setdefault((model, r["threads"], r["test"]), []).append(limit)
    return {(r["threads"], r["test"]): r["runs"][1:] for r in out["results"]}


def run_llama(bench, model, threads, pp, tg, reps):
    cmd = [bench, "-m", model, "-t", threads, "-p", str(pp), "-n", str(tg), "-r", str(reps), "-o", "json"]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    samples = {}
    for r in out:
        test = f"pp{r['n_prompt']}" if r["n_gen"] == 0 else f"tg{r['n_gen']}"
        samples[(r["n_threads"], test)] = r["samples_ts"]
    return samples


def run_gpt_batched(bench, model, threads, pp, tg, reps, batches):
    cmd = [bench, "-m", model, "-t", threads, "-n", str(tg), "--batch-prompt", str(pp), "-b", batches,
           "-r", str(reps + 1), "--json"]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    samples = {}
    for r in out["batch_results"]:
        samples[(r["threads"], f"pp{pp} B={r['batch']}")] = r["prompt_runs"][1:]
        samples[(r["threads"], f"tg{tg} B={r['batch']}")] = r["gen_runs"][1:]
    return samples


def run_llama_batched(bench, model, threads, pp, tg, reps, batches):
    del reps  # one timed run per configuration
    most = max(int(b) for b in batches.split(","))
    samples = {}
    for t in threads.split(","):
        cmd = [bench, "-m", model, "-t", t, "-tb", t, "-c", str(most * (pp + tg)), "-b", "2048", "-ub", "512",
               "-npp", str(pp), "-ntg", str(tg), "-npl", batches, "--output-format", "jsonl"]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            samples[(int(t), f"pp{pp} B={r['pl']}")] = [r["speed_pp"]]
            samples[(int(t), f"tg{tg} B={r['pl']}")] = [r["speed_tg"]]
    return samples


def weight_type(path):
    name = os.path.basename(path)
    if name.endswith(".gguf"):
        name = name[: -len(".gguf")]
    return name.rsplit(".", 1)[-1] if "." in name else name


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", nargs="+",
                    default=[os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")],
                    help="GGUF files (default: the default model)")
    ap.add_argument("-t", "--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("-p", "--n-prompt", type=int, default=512, help="prompt length for ppN (0 to skip)")
    ap.add_argument("-n", "--n-gen", type=int, default=128, help="tokens for tgN (0 to skip)")
    ap.add_argument("-r", "--reps", type=int, default=3, help="timed repetitions per process")
    ap.add_argument("--rounds", type=int, default=2, help="processes per engine and file, interleaved")
    ap.add_argument("--gpt-bench", default=os.path.join(ROOT, "build", "tools", "gpt-bench"))
    ap.add_argument("--llama-bench", default=None,
                    help="default: llama-bench in the folder tools/build-llamacpp --print-bin-dir names")
    ap.add_argument("--batched", default="", help="comma-separated batch sizes: compare batched decoding "
                                                  "with llama-batched-bench instead")
    ap.add_argument("--json", action="store_true", help="also print every sample as JSON")
    a = ap.parse_args()
    if a.llama_bench is None:
        bindir = subprocess.run([os.path.join(ROOT, "tools", "build-llamacpp"), "--print-bin-dir"], check=True,
                                capture_output=True, text=True).stdout.strip()
        a.llama_bench = os.path.join(bindir, "llama-batched-bench" if a.batched else "llama-bench")
    for exe in (a.gpt_bench, a.llama_bench):
        if not os.access(exe, os.X_OK):
            sys.exit(f"bench_vs_llamacpp: {exe} is not an executable (build it first: cmake --build build "
                     f"--target gpt-bench; tools/build-llamacpp)")
    threads = [int(x) for x in a.threads.split(",")]
    tests = ([f"pp{a.n_prompt}"] if a.n_prompt > 0 else []) + ([f"tg{a.n_gen}"] if a.n_gen > 0 else [])
    if a.batched:
        if a.n_prompt <= 0 or a.n_gen <= 0:
            sys.exit("bench_vs_llamacpp: --batched needs -p and -n above 0")
        bs = [int(b) for b in a.batched.split(",")]
        tests = [f"pp{a.n_prompt} B={b}" for b in bs] + [f"tg{a.n_gen} B={b}" for b in bs]

    samples = {}  # (model, engine, threads, test) -> [tokens/s]
    for rnd in range(a.rounds):
        for model in a.model:
            if a.batched:
                engines = [("gpt", lambda *x: run_gpt_batched(*x, a.batched), a.gpt_bench),
                           ("llama.cpp", lambda *x: run_llama_batched(*x, a.batched), a.llama_bench)]
            else:
                engines = [("gpt", run_gpt, a.gpt_bench), ("llama.cpp", run_llama, a.llama_bench)]
            if rnd % 2:
                engines.reverse()
            for engine, fn, exe in engines:
                print(f"round {rnd + 1}/{a.rounds}: {engine} on {os.path.basename(model)}", file=sys.stderr, flush=True)
                for (t, test), v in fn(exe, model, a.threads, a.n_prompt, a.n_gen, a.reps).items():
                    samples.setdefault((model, engine, t, test), []).extend(v)

    n = a.rounds * a.reps
    if a.batched:
        print(f"medians over {a.rounds} interleaved rounds (gpt: {a.reps} timed repetitions per round; llama.cpp: 1), "
              f"aggregate tokens/s of B sequences; ratio = gpt / llama.cpp")
    else:
        print(f"medians of {n} timed repetitions ({a.rounds} interleaved rounds x {a.reps}), tokens/s; "
              f"ratio = gpt / llama.cpp")
    if not a.batched:
        print("roofline (measured by gpt-bench at start-up): tg = read bandwidth / bytes of weights per token; "
              "pp = this library's f32 matmul rate / matrix-product flops per token")
    print("| file | type | threads | test | gpt | llama.cpp | ratio | gpt % of roofline | llama.cpp % of roofline |")
    print("|---|---|--:|:--|--:|--:|--:|--:|--:|")
    for model in a.model:
        for t in threads:
            for test in tests:
                g = statistics.median(samples[(model, "gpt", t, test)])
                l = statistics.median(samples[(model, "llama.cpp", t, test)])
                lim = LIMITS.get((model, t, test))
                pct = (f"{100 * g / statistics.median(lim):.0f} % | {100 * l / statistics.median(lim):.0f} %"
                       if lim else "– | –")
                print(f"| {os.path.basename(model)} | {weight_type(model)} | {t} | {test} | {g:.1f} | {l:.1f} | "
                      f"{g / l:.2f} | {pct} |")
    if a.json:
        print(json.dumps([{"model": m, "engine": e, "threads": t, "test": s, "tokens_per_s": v}
                          for (m, e, t, s), v in samples.items()]))


if __name__ == "__main__":
    main()
