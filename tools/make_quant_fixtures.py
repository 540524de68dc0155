#!/usr/bin/env python3
"""Writes the dequantization fixtures in tests/data/quant/.

Regenerate (needs numpy and the `gguf` Python package, and the default model
fetched with tools/fetch-model):

    .venv/bin/python tools/make_quant_fixtures.py

For each case NAME it writes NAME.q (raw ggml block bytes, rows back to back)
and NAME.f32 (the little-endian float32 values gguf.quants.dequantize gives
for them), and lists the case in manifest.txt as "NAME TYPE ROWS COLS".
Cases:
  * rows of real tensors from models/SmolLM2-135M-Instruct.Q4_1.gguf
    (Q8_0 token embeddings, Q4_1 projections);
  * Q4_0 / Q4_1 / Q5_0 / Q5_1 / Q8_0 blocks made by gguf.quants.quantize from
    seeded random data;
  * Q4_K / Q5_K / Q6_K blocks of seeded random bytes with finite f16 scales
    (gguf 0.19 cannot quantize to K-quants, but it dequantizes them, and any
    bytes with finite scales are valid blocks), plus blocks with zero and
    subnormal scales.
"""
import pathlib
import sys

import numpy as np
from gguf import GGUFReader, GGML_QUANT_SIZES, GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "quant"
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def write_case(manifest, name, qtype, raw, cols):
    raw = np.ascontiguousarray(raw, dtype=np.uint8)
    rows = raw.shape[0]
    expected = dequantize(raw, qtype).astype("<f4").reshape(rows, cols)
    assert np.all(np.isfinite(expected)), name
    (OUT / f"{name}.q").write_bytes(raw.tobytes())
    (OUT / f"{name}.f32").write_bytes(expected.tobytes())
    manifest.append(f"{name} {qtype.name} {rows} {cols}")


def random_k_blocks(rng, qtype, n_blocks):
    block_elems, block_bytes = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    scale = (rng.uniform(1e-4, 5e-2, size=n_blocks) * rng.choice([-1, 1], size=n_blocks)).astype(np.float16)
    dmin = rng.uniform(1e-4, 5e-2, size=n_blocks).astype(np.float16)
    scale[0] = np.float16(0.0)  # an all-zero scale
    scale[1] = np.frombuffer(np.uint16(0x0003).tobytes(), dtype=np.float16)[0]  # subnormal
    if qtype == T.Q6_K:  # ql[128] qh[64] scales[16] d
        raw[:, 208:210] = scale.view(np.uint8).reshape(n_blocks, 2)
    else:  # d, dmin, ...
        raw[:, 0:2] = scale.view(np.uint8).reshape(n_blocks, 2)
        raw[:, 2:4] = dmin.view(np.uint8).reshape(n_blocks, 2)
    return raw


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = []
    if not MODEL.exists():
        sys.exit(f"{MODEL} is missing: run tools/fetch-model first")
    reader = GGUFReader(str(MODEL))
    tensors = {t.name: t for t in reader.tensors}
    for name, rows, case in [
        ("token_embd.weight", [0, 1, 1000, 49151], "model_token_embd_q8_0"),
        ("blk.0.attn_q.weight", [0, 1, 2, 575], "model_blk0_attn_q_q4_1"),
        ("blk.7.ffn_down.weight", [0, 300], "model_blk7_ffn_down_q4_1"),
    ]:
        t = tensors[name]
        cols = int(t.shape[0])
        write_case(manifest, case, t.tensor_type, np.asarray(t.data)[rows], cols)

    rng = np.random.default_rng(20261128)
    for qtype in [T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1]:
        data = rng.standard_normal((3, 256)).astype(np.float32) * np.float32(0.05)
        data[0, :32] = 0.0  # an all-zero block
        write_case(manifest, f"random_{qtype.name.lower()}", qtype, quantize(data, qtype), 256)
    for qtype in [T.Q4_K, T.Q5_K, T.Q6_K]:
        raw = random_k_blocks(rng, qtype, 8)
        write_case(manifest, f"random_{qtype.name.lower()}", qtype, raw.reshape(4, -1), 512)

    (OUT / "manifest.txt").write_text("\n".join(manifest) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(manifest)} cases to {OUT} ({total} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
