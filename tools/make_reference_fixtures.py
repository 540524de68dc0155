#!/usr/bin/env python3
"""Generates the reference fixtures of the core engine's tests with PyTorch
and Hugging Face transformers.

    python3 -m venv .venv && .venv/bin/pip install torch transformers safetensors
    .venv/bin/python tools/make_reference_fixtures.py        # writes tests/data/{ops,models}
    .venv/bin/python tools/make_reference_fixtures.py --only llama-bias   # one checkpoint
Most checkpoints were written with transformers 4.45.2 (torch 1.13); qwen3,
gemma3-text and phi3 need transformers >= 4.51 and are written only with --only
(they were made with transformers 4.57.1, torch 2.5.1).

Everything is seeded, so a rerun with the same library versions rewrites the
same numbers. Outputs:
  tests/data/ops/*.safetensors   inputs and outputs of single ops (attention,
                                 rotary, norms, activations, positions)
  tests/data/models/<name>/      tiny random checkpoints saved with
                                 save_pretrained, plus reference.json: the
                                 input tokens, every position's logits and 20
                                 greedy tokens.
"""
import json
import math
import os
import shutil

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")
OPS = os.path.join(ROOT, "ops")
MODELS = os.path.join(ROOT, "models")


def c(t):
    return t.detach().to(torch.float32).contiguous()


def heads_to_rows(x):
    """[1, H, T, hd] -> [T, H*hd] (heads side by side in each row)."""
    _, h, t, d = x.shape
    return x[0].transpose(0, 1).reshape(t, h * d)


def sdpa_cases():
    g = torch.Generator().manual_seed(1)
    out = {}
    for T in (1, 7, 33):
        for hd in (64, 80):
            for causal in (False, True):
                q, k, v = (torch.randn(1, 1, T, hd, generator=g) for _ in range(3))
                o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                name = f"T{T}_d{hd}_{'causal' if causal else 'full'}"
                out.update({f"{name}.q": c(q[0, 0]), f"{name}.k": c(k[0, 0]), f"{name}.v": c(v[0, 0]), f"{name}.out": c(o[0, 0])})
    # Queries that continue a cached sequence: 7 new positions after 26 cached.
    q = torch.randn(1, 1, 7, 64, generator=g)
    k, v = torch.randn(1, 1, 33, 64, generator=g), torch.randn(1, 1, 33, 64, generator=g)
    mask = torch.arange(33)[None, :] <= (26 + torch.arange(7))[:, None]
    o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out.update({"offset26.q": c(q[0, 0]), "offset26.k": c(k[0, 0]), "offset26.v": c(v[0, 0]), "offset26.out": c(o[0, 0])})
    save_file(out, os.path.join(OPS, "sdpa.safetensors"))


def gqa_cases():
    g = torch.Generator().manual_seed(2)
    out = {}
    for name, H, KV, hd, T in (("gqa_h8_kv2_d64_T33", 8, 2, 64, 33), ("mqa_h4_kv1_d80_T7", 4, 1, 80, 7),
                               ("gqa_h6_kv3_d80_T1", 6, 3, 80, 1), ("mha_h4_kv4_d64_T7", 4, 4, 64, 7)):
        q = torch.randn(1, H, T, hd, generator=g)
        k, v = torch.randn(1, KV, T, hd, generator=g), torch.randn(1, KV, T, hd, generator=g)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        out.update({f"{name}.q": c(heads_to_rows(q)), f"{name}.k": c(heads_to_rows(k)),
                    f"{name}.v": c(heads_to_rows(v)), f"{name}.out": c(heads_to_rows(o))})
    save_file(out, os.path.join(OPS, "gqa.safetensors"))


def torch_mha_cases():
    torch.manual_seed(3)
    out = {}
    for name, E, H, T in (("E128_H2_T33", 128, 2, 33), ("E80_H1_T7", 80, 1, 7), ("E128_H2_T1", 128, 2, 1)):
        mha = torch.nn.MultiheadAttention(E, H, bias=True, batch_first=True)
        with torch.no_grad():
            mha.in_proj_bias.normal_(0, 0.1)
            mha.out_proj.bias.normal_(0, 0.1)
        x = torch.randn(1, T, E)
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # True = blocked
        with torch.no_grad():
            y, _ = mha(x, x, x, attn_mask=mask, need_weights=False)
        out.update({f"{name}.x": c(x[0]), f"{name}.in_proj_weight": c(mha.in_proj_weight),
                    f"{name}.in_proj_bias": c(mha.in_proj_bias), f"{name}.out_proj_weight": c(mha.out_proj.weight),
                    f"{name}.out_proj_bias": c(mha.out_proj.bias), f"{name}.out": c(y[0])})
    save_file(out, os.path.join(OPS, "torch_mha.safetensors"))


def rope_cases():
    from transformers import LlamaConfig
    from transformers.models.gptj import modeling_gptj
    from transformers.models.llama import modeling_llama
    g = torch.Generator().manual_seed(4)
    out = {}
    # Hugging Face Llama: half-split pairs, whole head, custom theta.
    for name, H, hd, T, start, theta in (("llama_h4_d64_T7_at5", 4, 64, 7, 5, 50000.0),
                                         ("llama_h2_d80_T33_at0", 2, 80, 33, 0, 10000.0),
                                         ("llama_h3_d64_T1_at100", 3, 64, 1, 100, 500000.0)):
        cfg = LlamaConfig(hidden_size=H * hd, num_attention_heads=H, head_dim=hd, rope_theta=theta,
                          max_position_embeddings=256)
        rot = modeling_llama.LlamaRotaryEmbedding(cfg)
        x = torch.randn(1, H, T, hd, generator=g)
        pos = torch.arange(start, start + T)[None, :]
        cos, sin = rot(x, pos)
        y, _ = modeling_llama.apply_rotary_pos_emb(x, x, cos, sin)
        out.update({f"{name}.x": c(heads_to_rows(x)), f"{name}.out": c(heads_to_rows(y))})
    # GPT-J: interleaved pairs on the first rotary_dim dims, base 10000.
    for name, H, hd, rd, T, start in (("gptj_h2_d64_r32_T7_at3", 2, 64, 32, 7, 3), ("gptj_h2_d80_r80_T33_at0", 2, 80, 80, 33, 0)):
        x = torch.randn(1, T, H, hd, generator=g)
        sincos_table = modeling_gptj.create_sinusoidal_positions(256, rd)
        pos = torch.arange(start, start + T)[None, :]
        sincos = sincos_table[pos]
        sin, cos = torch.split(sincos, sincos.shape[-1] // 2, dim=-1)
        x_rot, x_pass = x[..., :rd], x[..., rd:]
        y = torch.cat([modeling_gptj.apply_rotary_pos_emb(x_rot, sin, cos), x_pass], dim=-1)
        out.update({f"{name}.x": c(x[0].reshape(T, H * hd)), f"{name}.out": c(y[0].reshape(T, H * hd))})
    save_file(out, os.path.join(OPS, "rope.safetensors"))


def elementwise_cases():
    from transformers.models.llama.modeling_llama import LlamaRMSNorm
    g = torch.Generator().manual_seed(5)
    out = {}
    x = torch.randn(7, 80, generator=g) * 3 + 0.5
    gamma, beta = torch.randn(80, generator=g), torch.randn(80, generator=g)
    out["ln.x"], out["ln.gamma"], out["ln.beta"] = c(x), c(gamma), c(beta)
    out["ln.out"] = c(F.layer_norm(x, (80,), gamma, beta, eps=1e-5))
    rms = LlamaRMSNorm(80, eps=1e-6)
    with torch.no_grad():
        rms.weight.copy_(gamma)
        out["rms.out"] = c(rms(x))
    a = torch.randn(33, 80, generator=g) * 4
    out["act.x"] = c(a)
    out["act.gelu_tanh"] = c(F.gelu(a, approximate="tanh"))
    out["act.gelu_erf"] = c(F.gelu(a))
    out["act.silu"] = c(F.silu(a))
    # Sinusoidal positions as in "Attention Is All You Need" (PyTorch tutorial form).
    d, start, n = 64, 3, 33
    position = torch.arange(start, start + n, dtype=torch.float64).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    out["sinusoidal.d64_at3"] = c(pe)
    # SwiGLU MLP as in Llama: down(silu(gate(x)) * up(x)); GPT-2 MLP with gelu_new.
    x = torch.randn(7, 64, generator=g)
    wg, wu, wd = torch.randn(96, 64, generator=g) * 0.2, torch.randn(96, 64, generator=g) * 0.2, torch.randn(64, 96, generator=g) * 0.2
    out.update({"swiglu.x": c(x), "swiglu.gate": c(wg), "swiglu.up": c(wu), "swiglu.down": c(wd),
                "swiglu.out": c(F.linear(F.silu(F.linear(x, wg)) * F.linear(x, wu), wd))})
    b1, b2 = torch.randn(96, generator=g), torch.randn(64, generator=g)
    out.update({"mlp.b1": c(b1), "mlp.b2": c(b2),
                "mlp.out": c(F.linear(F.gelu(F.linear(x, wu, b1), approximate="tanh"), wd, b2))})
    save_file(out, os.path.join(OPS, "elementwise.safetensors"))


def perturb(model, seed):
    """Random weights with some spread, so every parameter matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and ("norm" in name or "ln" in name) and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[-1]) * 1.5)


def save_model(name, model, dtype=torch.float32, shard=None, n_tokens=16, seed=0, load_kwargs=None):
    """Saves `model` in `dtype` with save_pretrained, loads it back with
    from_pretrained in float32 and records that model's logits and greedy
    tokens: the reference is transformers reading the very files we test."""
    from transformers import AutoModelForCausalLM
    path = os.path.join(MODELS, name)
    shutil.rmtree(path, ignore_errors=True)
    kwargs = {"max_shard_size": shard} if shard else {}
    model.to(dtype).save_pretrained(path, **kwargs)
    for extra in ("generation_config.json",):
        if os.path.exists(os.path.join(path, extra)):
            os.remove(os.path.join(path, extra))
    model = AutoModelForCausalLM.from_pretrained(path, **{DTYPE_ARG: torch.float32}, **(load_kwargs or {})).eval()
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(100 + seed)
    tokens = torch.randint(0, vocab, (1, n_tokens), generator=g)
    with torch.no_grad():
        logits = model(tokens, use_cache=False).logits[0]
        seq = tokens.clone()
        greedy = []
        for _ in range(20):
            nxt = int(model(seq, use_cache=False).logits[0, -1].argmax())
            greedy.append(nxt)
            seq = torch.cat([seq, torch.tensor([[nxt]])], dim=1)
    ref = {"tokens": tokens[0].tolist(), "greedy": greedy,
           "logits": [[float(f"{v:.8g}") for v in row] for row in logits.tolist()]}
    with open(os.path.join(path, "reference.json"), "w") as f:
        json.dump(ref, f)
    print(name, "files:", sorted(os.listdir(path)), "greedy:", greedy)


def models(only=None):
    from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, MistralConfig,
                              MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM)
    torch.manual_seed(0)
    if only:  # regenerate one checkpoint, leave the others as they are
        global save_model
        real_save = save_model
        save_model = lambda name, *a, **k: real_save(name, *a, **k) if name == only else None
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=256, n_embd=64, n_layer=2, n_head=4, n_positions=64,
                                      bos_token_id=0, eos_token_id=0))
    perturb(gpt2, 1)
    save_model("gpt2", gpt2, seed=1)

    llama_kw = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, rope_theta=50000.0,
                    max_position_embeddings=128, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2)
    llama = LlamaForCausalLM(LlamaConfig(tie_word_embeddings=False, **llama_kw))
    perturb(llama, 2)
    save_model("llama", llama, seed=2)

    tied = LlamaForCausalLM(LlamaConfig(tie_word_embeddings=True, **llama_kw))
    perturb(tied, 3)
    tied.tie_weights()
    save_model("llama-tied-bf16-sharded", tied, dtype=torch.bfloat16, shard="40KB", seed=3)

    qwen = Qwen2ForCausalLM(Qwen2Config(vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=1, rope_theta=1000000.0,
                                        max_position_embeddings=128, tie_word_embeddings=True,
                                        bos_token_id=1, eos_token_id=2))
    perturb(qwen, 4)
    qwen.tie_weights()
    save_model("qwen2-f16", qwen, dtype=torch.float16, seed=4)

    mistral = MistralForCausalLM(MistralConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                               num_attention_heads=4, num_key_value_heads=2, sliding_window=6,
                                               max_position_embeddings=128, tie_word_embeddings=False,
                                               bos_token_id=1, eos_token_id=2))
    perturb(mistral, 5)
    save_model("mistral-window6", mistral, seed=5, n_tokens=16)

    # Llama with biases on q/k/v/o (attention_bias) and on gate/up/down
    # (mlp_bias): every bias is random and non-zero.
    biased = LlamaForCausalLM(LlamaConfig(tie_word_embeddings=False, attention_bias=True, mlp_bias=True, **llama_kw))
    perturb(biased, 6)
    save_model("llama-bias", biased, seed=6)

    # The checkpoints below are smaller (hidden 32, vocab 128: about 110 KB
    # each) to keep tests/data small.
    small = dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                 bos_token_id=1, eos_token_id=2)

    # Rope scaling, one checkpoint per type transformers computes: the
    # factors are chosen so that some rotary pairs of the 8-dim heads are
    # left alone, some scaled fully and some blended.
    scalings = {
        "llama-rope-linear": {"rope_type": "linear", "factor": 4.0},
        "llama-rope-llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                              "high_freq_factor": 4.0, "original_max_position_embeddings": 256},
        "llama-rope-yarn": {"rope_type": "yarn", "factor": 4.0, "beta_fast": 32.0, "beta_slow": 1.0},
    }
    for i, (name, scaling) in enumerate(scalings.items()):
        scaled = LlamaForCausalLM(LlamaConfig(tie_word_embeddings=False, rope_scaling=scaling, rope_theta=50000.0,
                                              rms_norm_eps=1e-5, **small))
        perturb(scaled, 7 + i)
        save_model(name, scaled, seed=7 + i)

    # Gemma 2: sandwich norms stored as w of (1 + w), sqrt(d)-scaled
    # embeddings, GELU-tanh, query_pre_attn_scalar != head_dim, the even
    # layers windowed (6), and soft-capping small enough to bite on random
    # weights (attention 5, final 3). Eager attention: transformers' SDPA
    # path skips the attention soft-capping.
    from transformers import Gemma2Config, Gemma2ForCausalLM
    gemma2 = Gemma2ForCausalLM(Gemma2Config(
        **small, head_dim=8, query_pre_attn_scalar=12, sliding_window=6, attn_logit_softcapping=5.0,
        final_logit_softcapping=3.0, rope_theta=10000.0, pad_token_id=0, attn_implementation="eager"))
    perturb(gemma2, 10)
    gemma2.tie_weights()
    save_model("gemma2", gemma2, seed=10, load_kwargs={"attn_implementation": "eager"})

    # GPT-NeoX (Pythia layout): rotary over half of each head, q/k/v fused
    # head by head, parallel residual, LayerNorm and biases everywhere.
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM
    neox = GPTNeoXForCausalLM(GPTNeoXConfig(
        vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        rotary_pct=0.5, rotary_emb_base=10000, max_position_embeddings=128, use_parallel_residual=True,
        tie_word_embeddings=False, bos_token_id=0, eos_token_id=2))
    perturb(neox, 11)
    save_model("gptneox", neox, seed=11)

    # Qwen3 (transformers >= 4.51): q/k RMSNorms per head, head_dim 12 !=
    # hidden / heads, an untied output.
    if only in ("qwen3", "gemma3-text", "phi3"):
        from transformers import Qwen3Config, Qwen3ForCausalLM
        qwen3 = Qwen3ForCausalLM(Qwen3Config(**small, head_dim=12, rope_theta=1000000.0, tie_word_embeddings=False))
        perturb(qwen3, 12)
        save_model("qwen3", qwen3, seed=12)

        # Gemma 3 text (transformers >= 4.50): 6 layers, the 6th global
        # (rope base 1e6, linear rope scaling 4), the others windowed (4,
        # rope base 10000, unscaled); q/k norms; (1 + w) norms.
        from transformers import Gemma3ForCausalLM, Gemma3TextConfig
        gemma3 = Gemma3ForCausalLM(Gemma3TextConfig(
            **{**small, "num_hidden_layers": 6}, head_dim=8, query_pre_attn_scalar=12, sliding_window=4,
            rope_theta=1000000.0, rope_local_base_freq=10000.0, rope_scaling={"rope_type": "linear", "factor": 4.0},
            pad_token_id=0, attn_implementation="eager"))
        perturb(gemma3, 13)
        gemma3.tie_weights()
        save_model("gemma3-text", gemma3, seed=13, load_kwargs={"attn_implementation": "eager"})

        # Phi-3 (4k form): fused qkv_proj and gate_up_proj; a window of 6,
        # which transformers >= 4.48 applies to every layer.
        from transformers import Phi3Config, Phi3ForCausalLM
        phi3 = Phi3ForCausalLM(Phi3Config(**small, rope_theta=10000.0, original_max_position_embeddings=128,
                                          sliding_window=6, tie_word_embeddings=False, pad_token_id=0))
        perturb(phi3, 14)
        save_model("phi3", phi3, seed=14)


def _dtype_arg():
    """from_pretrained's dtype argument: `dtype` since transformers 4.56,
    `torch_dtype` before."""
    import transformers
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


DTYPE_ARG = None

if __name__ == "__main__":
    import sys
    DTYPE_ARG = _dtype_arg()
    if len(sys.argv) == 3 and sys.argv[1] == "--only":  # e.g. --only llama-bias
        torch.set_grad_enabled(False)
        models(sys.argv[2])
        sys.exit(0)
    os.makedirs(OPS, exist_ok=True)
    os.makedirs(MODELS, exist_ok=True)
    torch.set_grad_enabled(False)
    sdpa_cases()
    gqa_cases()
    torch_mha_cases()
    rope_cases()
    elementwise_cases()
    models()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs
                if d.startswith(OPS) or d.startswith(MODELS))
    print(f"fixtures: {total / 1e6:.2f} MB")
