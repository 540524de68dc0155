#!/usr/bin/env python3
"""llama.cpp's side of bench-grammar: the cost of JSON-schema constrained
sampling in llama.cpp (through llama-cpp-python), on the same model, schema,
prompt and one thread, in process CPU time per token.

    python3 -m venv /path/to/venv && /path/to/venv/bin/pip install llama-cpp-python
    /path/to/venv/bin/python tools/bench_grammar_llamacpp.py [MODEL] [--seeds N]

For each seed: a completion constrained by LlamaGrammar.from_json_schema
(temperature 1), then an unconstrained one of the same length (EOS banned).
"""
import argparse
import json
import time

import llama_cpp

SCHEMA = {"type": "object", "properties": {
    "name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}, "email": {"type": "string"},
    "tags": {"type": "array", "items": {"enum": ["admin", "user", "guest"]}, "maxItems": 3},
    "address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
                "required": ["city"]}},
    "required": ["name", "age", "address"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--seeds", type=int, default=5)
    a = ap.parse_args()
    llm = llama_cpp.Llama(model_path=a.model, n_threads=1, n_threads_batch=1, n_ctx=1024, verbose=False)
    schema = json.dumps(SCHEMA, separators=(",", ":"))
    grammar = llama_cpp.LlamaGrammar.from_json_schema(schema, verbose=False)
    messages = [{"role": "user", "content": "Make up a user record as JSON for this schema: " + schema}]
    eos = llm.token_eos()
    tot = {"c": [0.0, 0], "u": [0.0, 0]}
    print("seed  tokens  constrained cpu ms/tok  unconstrained cpu ms/tok")
    for s in range(a.seeds):
        t = time.process_time()
        r = llm.create_chat_completion(messages, temperature=1.0, seed=100 + s, max_tokens=256, grammar=grammar)
        c_ms = 1000 * (time.process_time() - t)
        n = r["usage"]["completion_tokens"]
        t = time.process_time()
        u = llm.create_chat_completion(messages, temperature=1.0, seed=100 + s, max_tokens=n, logit_bias={eos: -1e9})
        u_ms = 1000 * (time.process_time() - t)
        m = u["usage"]["completion_tokens"]
        json.loads(r["choices"][0]["message"]["content"])  # the constrained output is JSON
        tot["c"][0] += c_ms; tot["c"][1] += n
        tot["u"][0] += u_ms; tot["u"][1] += m
        print(f"{s:4d}  {n:6d}  {c_ms / n:22.2f}  {u_ms / m:24.2f}")
    c = tot["c"][0] / tot["c"][1]
    u = tot["u"][0] / tot["u"][1]
    print(f"all   {tot['c'][1]:6d}  {c:22.2f}  {u:24.2f}   overhead {100 * (c / u - 1):+.1f} % cpu "
          f"(prompt processing included in both)")


if __name__ == "__main__":
    main()
