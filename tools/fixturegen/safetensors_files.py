"""Small safetensors files written by the reference Python package, for the Swift reader/writer round trip.

fixtures/safetensors/
  dtypes.safetensors        F32, F16, BF16, I8, U8, I64, BOOL, a scalar and an empty tensor, with metadata
  dtypes.json               for each tensor: dtype, shape, and the raw data bytes as hex (what Swift must read)
  writer_expected.safetensors  what safetensors.numpy.save_file writes for the tensors in writer_input.json
  writer_input.json         the tensors (name, dtype, shape, hex bytes) the Swift writer must reproduce byte for byte
  sharded/                  two shards + model.safetensors.index.json (one logical checkpoint)
"""
import json
import os

import numpy as np
import torch
from safetensors.numpy import save_file as np_save
from safetensors.torch import save_file as torch_save


def tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def generate(out):
    d = os.path.join(out, "safetensors")
    os.makedirs(os.path.join(d, "sharded"), exist_ok=True)
    g = torch.Generator().manual_seed(7)
    tensors = {
        "f32": torch.randn(3, 4, generator=g),
        "f16": torch.randn(2, 5, generator=g).half(),
        "bf16": torch.randn(4, 3, generator=g).bfloat16(),
        "i8": torch.randint(-128, 127, (7,), generator=g, dtype=torch.int8),
        "u8": torch.randint(0, 255, (2, 2, 2), generator=g, dtype=torch.uint8),
        "i64": torch.tensor([-(2**62), 5, 2**40], dtype=torch.int64),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.25),
        "empty": torch.zeros(2, 0),
    }
    meta = {"format": "pt", "note": "fixture ünïcode"}
    torch_save(tensors, os.path.join(d, "dtypes.safetensors"), metadata=meta)
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int8: "I8", torch.uint8: "U8",
             torch.int64: "I64", torch.bool: "BOOL"}
    desc = {k: {"dtype": names[v.dtype], "shape": list(v.shape), "hex": tensor_bytes(v).hex()} for k, v in tensors.items()}
    with open(os.path.join(d, "dtypes.json"), "w") as f:
        json.dump({"metadata": meta, "tensors": desc}, f, indent=1, sort_keys=True)

    # Writer parity: the Swift writer, given these tensors, must produce exactly Python's bytes.
    rng = np.random.default_rng(3)
    w = {
        "zeta.weight": rng.standard_normal((2, 3)).astype(np.float32),
        "alpha.bias": rng.standard_normal((5,)).astype(np.float16),
        "mid": rng.integers(-100, 100, (4,)).astype(np.int64),
        "bytes": rng.integers(0, 255, (3,)).astype(np.uint8),
        "alpha.weight": rng.standard_normal((1, 2)).astype(np.float32),
        "s": np.array(1.5, dtype=np.float64),
    }
    np_dtype = {np.float32: "F32", np.float16: "F16", np.int64: "I64", np.uint8: "U8", np.float64: "F64"}
    np_save(w, os.path.join(d, "writer_expected.safetensors"), metadata={"k": "v"})
    with open(os.path.join(d, "writer_input.json"), "w") as f:
        json.dump({"metadata": {"k": "v"},
                   "tensors": [{"name": k, "dtype": np_dtype[v.dtype.type], "shape": list(v.shape), "hex": v.tobytes().hex()}
                               for k, v in w.items()]}, f, indent=1)

    # A sharded checkpoint: two shards and an index, as transformers writes them.
    a = {"layer.0.weight": torch.randn(2, 2, generator=g), "layer.0.bias": torch.randn(2, generator=g)}
    b = {"layer.1.weight": torch.randn(3, 2, generator=g)}
    torch_save(a, os.path.join(d, "sharded", "model-00001-of-00002.safetensors"), metadata={"format": "pt"})
    torch_save(b, os.path.join(d, "sharded", "model-00002-of-00002.safetensors"), metadata={"format": "pt"})
    wm = {k: "model-00001-of-00002.safetensors" for k in a} | {k: "model-00002-of-00002.safetensors" for k in b}
    total = sum(t.numel() * t.element_size() for t in list(a.values()) + list(b.values()))
    with open(os.path.join(d, "sharded", "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(wm.items()))}, f, indent=2)
