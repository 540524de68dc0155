#!/usr/bin/env python3
"""Writes tiny GGUF checkpoints and their references (tests/data/gguf/).

    .venv/bin/pip install torch transformers gguf numpy
    .venv/bin/python tools/make_gguf_fixtures.py

The tiny Hugging Face checkpoints of tools/make_reference_fixtures.py are
converted to GGUF the way llama.cpp's converter does it: Llama's q/k rows
permuted for the interleaved rotary layout, GPT-2's Conv1D weights
transposed. Outputs, each with NAME.reference.json (tokens, every position's
logits, 20 greedy tokens) computed by transformers loading the GGUF file:
  llama.F32.gguf    same weights as tests/data/models/llama
  llama.Q8_0.gguf   its matrices quantized to Q8_0 (gguf.quants)
  qwen2.F32.gguf    the weights of tests/data/models/qwen2-f16 (biases, tied)
  gpt2.F32.gguf     a smaller GPT-2 (n_embd 32, 1 layer)
  llama-rope-{linear,llama3}.F32.gguf, gemma2.F32.gguf, gptneox.F32.gguf: converted from the
                    checkpoints of the same names; their references are
                    transformers on those checkpoints (see the functions)

    python tools/make_gguf_fixtures.py --rope | --gemma2 | --gptneox | --qwen3 | --phi3   # only those
  qwen3.F32.gguf, phi3.F32.gguf (--qwen3, --phi3 only; transformers >= 4.51):
                    from tests/data/models/qwen3 and phi3
"""
import json
import math
import os
import shutil
import tempfile

import gguf
import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")
OUT = os.path.join(ROOT, "gguf")


def permute(w, n_head):
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def byte_vocab(writer, n):
    """A minimal gpt2-style vocabulary so loaders that insist on one are happy."""
    tokens = [f"<t{i}>" for i in range(n)]
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.NORMAL] * n)
    writer.add_token_merges(["<t1> <t2>"])  # llama.cpp wants at least one merge
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)


def llama3_rope_factors(theta, dim, scaling):
    """The per-pair frequency divisors llama.cpp's converter stores as
    rope_freqs.weight for rope type llama3 (f32)."""
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old = scaling["original_max_position_embeddings"]
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    out = []
    for f in freqs.tolist():
        wavelen = 2 * math.pi / f
        if wavelen < old / high:
            out.append(1.0)
        elif wavelen > old / low:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def write_llama(path, qtype, arch="llama", src_name="llama"):
    """Llama-layout checkpoints: "llama" (q/k permuted as llama.cpp's
    converter does) or "qwen2" (not permuted; q/k/v biases)."""
    from transformers import AutoModelForCausalLM
    src = os.path.join(ROOT, "models", src_name)
    m = AutoModelForCausalLM.from_pretrained(src, torch_dtype=torch.float32)
    c = m.config
    w = gguf.GGUFWriter(path, arch)
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    theta = c.rope_parameters["rope_theta"] if hasattr(c, "rope_parameters") else c.rope_theta
    w.add_rope_freq_base(theta)
    scaling = getattr(c, "rope_scaling", None) or {}
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind == "linear":
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(scaling["factor"])
    elif kind == "llama3":
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(theta, c.hidden_size // c.num_attention_heads, scaling))
    elif kind is not None:
        raise ValueError(f"rope scaling {kind} is not written by this script")
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    if head_dim != c.hidden_size // c.num_attention_heads:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    w.add_vocab_size(c.vocab_size)
    byte_vocab(w, c.vocab_size)
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    per_layer = {"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
                 "self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias",
                 "self_attn.v_proj.bias": "attn_v.bias",
                 "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
                 "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
                 "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
                 "mlp.down_proj.weight": "ffn_down.weight",
                 "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight"}
    for name, t in m.state_dict().items():
        if name == "lm_head.weight" and c.tie_word_embeddings:
            continue
        a = t.numpy().astype(np.float32)
        if name in names:
            out = names[name]
        else:
            parts = name.split(".")
            out = f"blk.{parts[2]}." + per_layer[".".join(parts[3:])]
        if arch == "llama" and out.endswith("attn_q.weight"):
            a = permute(a, c.num_attention_heads)
        elif arch == "llama" and out.endswith("attn_k.weight"):
            a = permute(a, c.num_key_value_heads)
        if qtype != gguf.GGMLQuantizationType.F32 and a.ndim == 2:
            w.add_tensor(out, gguf.quants.quantize(a, qtype), raw_dtype=qtype)
        else:
            w.add_tensor(out, a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_gpt2(path):
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    m = GPT2LMHeadModel(GPT2Config(vocab_size=256, n_embd=32, n_layer=1, n_head=2, n_positions=1024,
                                   bos_token_id=1, eos_token_id=2))
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if p.dim() == 1 and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[-1]) * 1.5)
    c = m.config
    w = gguf.GGUFWriter(path, "gpt2")
    w.add_context_length(c.n_positions)
    w.add_embedding_length(c.n_embd)
    w.add_block_count(c.n_layer)
    w.add_feed_forward_length(4 * c.n_embd)
    w.add_head_count(c.n_head)
    w.add_layer_norm_eps(c.layer_norm_epsilon)
    byte_vocab(w, c.vocab_size)
    names = {"transformer.wte.weight": "token_embd.weight", "transformer.wpe.weight": "position_embd.weight",
             "transformer.ln_f.weight": "output_norm.weight", "transformer.ln_f.bias": "output_norm.bias"}
    per_layer = {"ln_1": "attn_norm", "ln_2": "ffn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output",
                 "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
    for name, t in m.state_dict().items():
        if name == "lm_head.weight" or name.endswith(".attn.bias") or name.endswith("masked_bias"):
            continue
        a = t.numpy().astype(np.float32)
        if name in names:
            out = names[name]
        else:
            parts = name.split(".")
            base, kind = ".".join(parts[3:-1]), parts[-1]
            out = f"blk.{parts[2]}.{per_layer[base]}.{kind}"
            if kind == "weight" and a.ndim == 2:
                a = np.ascontiguousarray(a.T)  # Conv1D [in, out] -> [out, in]
        w.add_tensor(out, a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def reference(path, n_tokens=12, seed=0):
    """transformers loading the GGUF file (dequantized to f32) is the reference."""
    from transformers import AutoModelForCausalLM
    d = tempfile.mkdtemp()
    shutil.copy(path, os.path.join(d, "model.gguf"))
    m = AutoModelForCausalLM.from_pretrained(d, gguf_file="model.gguf", dtype=torch.float32).eval()
    shutil.rmtree(d)
    g = torch.Generator().manual_seed(200 + seed)
    tokens = torch.randint(0, m.config.vocab_size, (1, n_tokens), generator=g)
    with torch.no_grad():
        logits = m(tokens).logits[0]
        seq, greedy = tokens.clone(), []
        for _ in range(20):
            nxt = int(m(seq).logits[0, -1].argmax())
            greedy.append(nxt)
            seq = torch.cat([seq, torch.tensor([[nxt]])], dim=1)
    ref = {"tokens": tokens[0].tolist(), "greedy": greedy,
           "logits": [[float(f"{v:.8g}") for v in row] for row in logits.tolist()]}
    with open(path.replace(".gguf", ".reference.json"), "w") as f:
        json.dump(ref, f)
    print(os.path.basename(path), os.path.getsize(path), "bytes; greedy", greedy)


def write_reference(ref, path, seed):
    """PATH.reference.json from transformers model `ref` (the source
    checkpoint under the config the GGUF file represents): 16 random tokens,
    every position's logits, 20 greedy tokens."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, ref.config.vocab_size, (1, 16), generator=g)
    logits = ref(tokens, use_cache=False).logits[0]
    seq, greedy = tokens.clone(), []
    for _ in range(20):
        nxt = int(ref(seq, use_cache=False).logits[0, -1].argmax())
        greedy.append(nxt)
        seq = torch.cat([seq, torch.tensor([[nxt]])], dim=1)
    with open(path.replace(".gguf", ".reference.json"), "w") as f:
        json.dump({"tokens": tokens[0].tolist(), "greedy": greedy,
                   "logits": [[float(f"{v:.8g}") for v in row] for row in logits.tolist()]}, f)
    print(os.path.basename(path), os.path.getsize(path), "bytes; greedy", greedy)


def write_gemma2(path):
    """The Gemma 2 checkpoint of tools/make_reference_fixtures.py as llama.cpp's
    converter writes it: norm weights stored as 1 + w, embeddings tied, rotary
    pairs half-split (not permuted). GGUF has no query_pre_attn_scalar
    (llama.cpp takes head_dim), so the reference is transformers on the
    source checkpoint with query_pre_attn_scalar = head_dim."""
    from transformers import AutoModelForCausalLM
    src = os.path.join(ROOT, "models", "gemma2")
    m = AutoModelForCausalLM.from_pretrained(src, torch_dtype=torch.float32)
    c = m.config
    w = gguf.GGUFWriter(path, "gemma2")
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_key_length(c.head_dim)
    w.add_value_length(c.head_dim)
    w.add_rope_freq_base(c.rope_theta)
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_sliding_window(c.sliding_window)
    w.add_attn_logit_softcapping(c.attn_logit_softcapping)
    w.add_final_logit_softcapping(c.final_logit_softcapping)
    byte_vocab(w, c.vocab_size)
    per_layer = {"input_layernorm.weight": "attn_norm.weight",
                 "post_attention_layernorm.weight": "post_attention_norm.weight",
                 "pre_feedforward_layernorm.weight": "ffn_norm.weight",
                 "post_feedforward_layernorm.weight": "post_ffw_norm.weight",
                 "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
                 "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
                 "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
                 "mlp.down_proj.weight": "ffn_down.weight"}
    for name, t in m.state_dict().items():
        if name == "lm_head.weight":
            continue
        a = t.numpy().astype(np.float32)
        if name.endswith("norm.weight"):
            a = a + 1.0
        if name == "model.embed_tokens.weight":
            out = "token_embd.weight"
        elif name == "model.norm.weight":
            out = "output_norm.weight"
        else:
            parts = name.split(".")
            out = f"blk.{parts[2]}." + per_layer[".".join(parts[3:])]
        w.add_tensor(out, a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    ref = AutoModelForCausalLM.from_pretrained(src, torch_dtype=torch.float32, attn_implementation="eager",
                                               query_pre_attn_scalar=c.head_dim).eval()
    write_reference(ref, path, seed=210)


def write_gptneox(path):
    """The GPT-NeoX checkpoint of tools/make_reference_fixtures.py as llama.cpp's
    converter writes it: the head-by-head fused q/k/v rows regrouped into
    [q | k | v]. The reference is transformers on the source checkpoint."""
    from transformers import AutoModelForCausalLM
    name = "gptneox"
    src = os.path.join(ROOT, "models", name)
    m = AutoModelForCausalLM.from_pretrained(src, torch_dtype=torch.float32)
    c = m.config
    n_head, d = c.num_attention_heads, c.hidden_size
    hd = d // n_head
    w = gguf.GGUFWriter(path, "gptneox")
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(d)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(n_head)
    w.add_rope_dimension_count(int(hd * c.rotary_pct))
    w.add_rope_freq_base(c.rotary_emb_base)
    w.add_parallel_residual(c.use_parallel_residual)
    w.add_layer_norm_eps(c.layer_norm_eps)
    byte_vocab(w, c.vocab_size)
    names = {"gpt_neox.embed_in.weight": "token_embd.weight", "gpt_neox.final_layer_norm.weight": "output_norm.weight",
             "gpt_neox.final_layer_norm.bias": "output_norm.bias", "embed_out.weight": "output.weight"}
    per_layer = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
                 "attention.query_key_value": "attn_qkv", "attention.dense": "attn_output",
                 "mlp.dense_h_to_4h": "ffn_up", "mlp.dense_4h_to_h": "ffn_down"}
    for key, t in m.state_dict().items():
        if key.endswith(".attention.bias") or key.endswith("masked_bias") or key.endswith("inv_freq"):
            continue
        a = t.numpy().astype(np.float32)
        if key in names:
            out = names[key]
        else:
            parts = key.split(".")
            out = f"blk.{parts[2]}.{per_layer['.'.join(parts[3:-1])]}.{parts[-1]}"
        if out.endswith("attn_qkv.weight") or out.endswith("attn_qkv.bias"):
            a = a.reshape(n_head, 3, hd, -1).transpose(1, 0, 2, 3).reshape(a.shape)
        w.add_tensor(out, np.ascontiguousarray(a))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    shutil.copy(os.path.join(src, "reference.json"), path.replace(".gguf", ".reference.json"))
    print(os.path.basename(path), os.path.getsize(path), "bytes")


def write_phi3(path):
    """The Phi-3 checkpoint of tools/make_reference_fixtures.py as llama.cpp's
    converter writes it (fused attn_qkv, fused gate and up in ffn_up, the
    window in metadata). llama.cpp does not apply Phi-3's window, so the
    reference is transformers on the source checkpoint without it."""
    from transformers import AutoModelForCausalLM
    src = os.path.join(ROOT, "models", "phi3")
    m = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)
    c = m.config
    w = gguf.GGUFWriter(path, "phi3")
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_rope_dimension_count(c.hidden_size // c.num_attention_heads)
    w.add_rope_freq_base(c.rope_theta)
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_sliding_window(c.sliding_window)
    byte_vocab(w, c.vocab_size)
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    per_layer = {"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
                 "self_attn.qkv_proj.weight": "attn_qkv.weight", "self_attn.o_proj.weight": "attn_output.weight",
                 "mlp.gate_up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight"}
    for key, t in m.state_dict().items():
        parts = key.split(".")
        out = names[key] if key in names else f"blk.{parts[2]}." + per_layer[".".join(parts[3:])]
        w.add_tensor(out, t.numpy().astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    ref = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32, sliding_window=None).eval()
    write_reference(ref, path, seed=214)


def scaled_rope_fixtures():
    """Rope-scaled Llama GGUF files converted from the checkpoints of
    tools/make_reference_fixtures.py (linear: metadata; llama3: the
    rope_freqs tensor). transformers reading the source checkpoint is the
    reference (its GGUF reader knows neither form)."""
    for kind in ("linear", "llama3"):
        name = f"llama-rope-{kind}"
        path = os.path.join(OUT, f"{name}.F32.gguf")
        write_llama(path, gguf.GGMLQuantizationType.F32, src_name=name)
        shutil.copy(os.path.join(ROOT, "models", name, "reference.json"), path.replace(".gguf", ".reference.json"))
        print(os.path.basename(path), os.path.getsize(path), "bytes")


if __name__ == "__main__":
    import sys
    os.makedirs(OUT, exist_ok=True)
    torch.set_grad_enabled(False)
    if sys.argv[1:] == ["--rope"]:  # only the rope-scaled files
        scaled_rope_fixtures()
        sys.exit(0)
    if sys.argv[1:] == ["--gemma2"]:
        write_gemma2(os.path.join(OUT, "gemma2.F32.gguf"))
        sys.exit(0)
    if sys.argv[1:] == ["--qwen3"]:  # needs transformers >= 4.51
        path = os.path.join(OUT, "qwen3.F32.gguf")
        write_llama(path, gguf.GGMLQuantizationType.F32, arch="qwen3", src_name="qwen3")
        shutil.copy(os.path.join(ROOT, "models", "qwen3", "reference.json"), path.replace(".gguf", ".reference.json"))
        sys.exit(0)
    if sys.argv[1:] == ["--phi3"]:  # needs transformers >= 4.51
        write_phi3(os.path.join(OUT, "phi3.F32.gguf"))
        sys.exit(0)
    if sys.argv[1:] == ["--gptneox"]:
        write_gptneox(os.path.join(OUT, "gptneox.F32.gguf"))
        sys.exit(0)
    write_llama(os.path.join(OUT, "llama.F32.gguf"), gguf.GGMLQuantizationType.F32)
    reference(os.path.join(OUT, "llama.F32.gguf"), seed=1)
    write_llama(os.path.join(OUT, "llama.Q8_0.gguf"), gguf.GGMLQuantizationType.Q8_0)
    reference(os.path.join(OUT, "llama.Q8_0.gguf"), seed=2)
    write_llama(os.path.join(OUT, "qwen2.F32.gguf"), gguf.GGMLQuantizationType.F32, arch="qwen2", src_name="qwen2-f16")
    reference(os.path.join(OUT, "qwen2.F32.gguf"), seed=4)
    write_gpt2(os.path.join(OUT, "gpt2.F32.gguf"))
    reference(os.path.join(OUT, "gpt2.F32.gguf"), seed=3)
    scaled_rope_fixtures()
    write_gemma2(os.path.join(OUT, "gemma2.F32.gguf"))
    write_gptneox(os.path.join(OUT, "gptneox.F32.gguf"))
