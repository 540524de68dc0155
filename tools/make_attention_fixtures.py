#!/usr/bin/env python3
"""Writes tests/data/ops/attention_maps.json: transformers' attention
probabilities (output_attentions=True, eager attention) of tiny checkpoints in
tests/data/models on their reference tokens, [layer][head][query][key].

    /work/venv/bin/python tools/make_attention_fixtures.py   # torch + transformers 4.45
"""
import json
import os

import torch
from transformers import AutoModelForCausalLM

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")

if __name__ == "__main__":
    torch.set_grad_enabled(False)
    cases = []
    # llama-bias: grouped-query heads; gemma2: soft-capping and a window of 6;
    # gptneox: partial rotary, one kv head per query head.
    for name in ("llama-bias", "gemma2", "gptneox"):
        path = os.path.join(ROOT, "models", name)
        m = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32, attn_implementation="eager").eval()
        tokens = json.load(open(os.path.join(path, "reference.json")))["tokens"]
        out = m(torch.tensor([tokens]), output_attentions=True, use_cache=False)
        maps = [[[[float(f"{v:.8g}") for v in row] for row in head] for head in layer[0].tolist()]
                for layer in out.attentions]
        cases.append({"model": name, "tokens": tokens, "attentions": maps})
        print(name, len(maps), "layers x", len(maps[0]), "heads x", len(tokens), "positions")
    with open(os.path.join(ROOT, "ops", "attention_maps.json"), "w") as f:
        json.dump({"cases": cases}, f)
