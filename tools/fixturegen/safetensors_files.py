"""Small safetensors files written by the reference Python package, for the Swift reader/writer round trip.

fixtures/safetensors/
  dtypes.safetensors        F32, F16, BF16, I8, U8, I64, BOOL, a scalar and an empty tensor, with metadata
  dtypes.json               for each tensor: dtype, shape, and the raw data bytes as hex (what Swift must read)
  writer_expected.safetensors  what safetensors.numpy.save_file writes for the tensors in writer_input.json
  writer_input.json         the tensors (name, dtype, shape, hex bytes) the Swift writer must reproduce byte for byte
  sharded/                  two shards + model.safetensors.index.json (one logical checkpoint)
  every_dtype.safetensors   one tensor of each dtype the Rust serializer writes (all of formats.md §1.2 but F6),
                            made by safetensors.serialize_file: reader bytes and writer order/byte parity
  every_dtype.json          each tensor as input to the Swift writer (name, dtype, shape, hex), in insertion order
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

    every_dtype(d)


# Every dtype the Python binding can write (all of formats.md §1.2 except the two F6 types, which no Python API
# writes; their parsing is covered by hand-made headers in the Swift tests), written through the Rust serializer.
# Names exercise the writer's order: same-size dtypes (F32/U32/I32, F16/BF16/I16/U16, the F8s/U8/I8) sort by the
# reference enum, then names by UTF-8 bytes ("e\u0301" — not NFC — sorts before "f", unlike Swift's String <).
EVERY_DTYPE = [
    # (name, binding dtype name, safetensors dtype, shape, byte count)
    ("f64", "float64", "F64", [3], 24),
    ("u64", "uint64", "U64", [2], 16),
    ("i64.scalar", "int64", "I64", [], 8),
    ("c64", "complex64", "C64", [2], 16),
    ("f32", "float32", "F32", [2, 2], 16),
    ("u32", "uint32", "U32", [3], 12),
    ("i32.empty", "int32", "I32", [0, 4], 0),
    ("i32", "int32", "I32", [2], 8),
    ("bf16", "bfloat16", "BF16", [3], 6),
    ("f16", "float16", "F16", [5], 10),
    ("u16", "uint16", "U16", [1], 2),
    ("i16", "int16", "I16", [2, 1], 4),
    ("f8_e5m2fnuz", "float8_e5m2fnuz", "F8_E5M2FNUZ", [3], 3),
    ("f8_e4m3fnuz", "float8_e4m3fnuz", "F8_E4M3FNUZ", [3], 3),
    ("f8_e8m0", "float8_e8m0fnu", "F8_E8M0", [2], 2),
    ("f8_e4m3", "float8_e4m3fn", "F8_E4M3", [4], 4),
    ("f8_e5m2", "float8_e5m2", "F8_E5M2", [4], 4),
    ("i8", "int8", "I8", [3], 3),
    ("u8", "uint8", "U8", [2, 3], 6),
    ("f", "uint8", "U8", [1], 1),
    ("e\u0301", "uint8", "U8", [1], 1),
    ("f4", "float4_e2m1fn_x2", "F4", [2], 2),
    ("bool", "bool", "BOOL", [4], 4),
]


def every_dtype(d):
    import safetensors
    from safetensors import TensorSpec

    rng = np.random.default_rng(11)
    keep = []
    specs = {}
    desc = []
    for name, binding, _, shape, nbytes in EVERY_DTYPE:
        data = rng.integers(0, 256, nbytes, dtype=np.uint8)
        if binding == "bool":
            data = data & 1
        keep.append(data)
        specs[name] = TensorSpec(dtype=binding, shape=shape, data_ptr=data.ctypes.data, data_len=nbytes)
        desc.append({"name": name, "shape": shape, "hex": data.tobytes().hex()})
    path = os.path.join(d, "every_dtype.safetensors")
    safetensors.serialize_file(specs, path, metadata={"made_by": "safetensors.serialize_file"})
    # What the file declares (dtype and shape as the Rust writer recorded them: F4 shapes count elements).
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    for t in desc:
        t["dtype"] = header[t["name"]]["dtype"]
        t["shape"] = header[t["name"]]["shape"]
    with open(os.path.join(d, "every_dtype.json"), "w") as f:
        json.dump({"metadata": {"made_by": "safetensors.serialize_file"}, "tensors": desc}, f, indent=1)
