"""GGUF fixtures written by gguf-py (the reference), for the Swift reader and codecs.

fixtures/gguf/
  codec_vectors.safetensors   input rows (F32) with zero blocks, .5 ties, extreme and subnormal scales; for every type gguf-py
                              quantizes (F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1): `<type>.quantized` (U8, gguf-py's
                              bytes) and `<type>.dequantized` (F32); for Q4_K/Q5_K/Q6_K: random valid `<type>.blocks`
                              and gguf-py's `<type>.dequantized`.
  reference.gguf              a file written by GGUFWriter: every metadata value type, a tensor of each type above,
                              a 5-D tensor stored 4-D with comfy.gguf.orig_shape
  reference_expected.safetensors  gguf-py's dequantization of every tensor of reference.gguf (F32, PyTorch shape)
"""
import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter, quants
from safetensors.numpy import save_file

QUANTIZABLE = ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"]
K_TYPES = ["Q4_K", "Q5_K", "Q6_K"]


def codec_rows(rng):
    rows = []
    rows.append(rng.standard_normal(32 * 64).astype(np.float32) * 0.02)            # typical weights
    rows.append(rng.standard_t(3, 32 * 64).astype(np.float32))                     # heavy tails
    z = rng.standard_normal(32 * 8).astype(np.float32)
    z[32:64] = 0                                                                   # an all-zero block
    z[96:128] = -0.0
    rows.append(z)
    t = np.zeros(32 * 4, dtype=np.float32)                                         # exact .5 ties (Q8_0: d = 1)
    t[0:32] = np.arange(32, dtype=np.float32) - 15.5
    t[0] = 127
    t[32:64] = np.linspace(-8, 8, 32, dtype=np.float32)                           # Q4_0 ties with max -8
    t[32] = -8
    t[64:96] = np.float32(0.5) * np.arange(-16, 16, dtype=np.float32)
    t[96:128] = np.repeat(np.float32([1.0, -1.0]), 16)                             # equal magnitudes: first wins
    rows.append(t)
    e = rng.standard_normal(32 * 4).astype(np.float32)
    e[0:32] *= 1e30                                                                # scale overflows fp16
    e[32:64] *= 1e-30                                                              # scale underflows fp16
    e[64:96] = np.float32(65504.0) * np.sign(e[64:96])
    e[96:128] *= 1e4
    rows.append(e)
    # Scales at the edges of fp32 (no rng draws here, so the other fixtures keep their values). gguf-py's NumPy casts
    # ±inf/NaN quantization levels to 0 (x86 cvttss2si), which a Swift `UInt8(_:)` would trap on.
    s = np.zeros(32 * 6, dtype=np.float32)
    s[0:32] = np.float32(1e-39) * np.linspace(-1, 1, 32, dtype=np.float32)       # subnormal max: 1/d = inf
    s[40] = np.float32(1e-40)                                                     # one subnormal among zeros
    s[64:96] = np.float32(3e38) * np.linspace(-1, 1, 32, dtype=np.float32)       # max - min overflows (Q4_1/Q5_1)
    s[96:128] = np.float32(1e-45)                                                 # d underflows to -0.0
    s[128:160] = np.linspace(-1e-38, 1e-38, 32, dtype=np.float32)                 # subnormal and normal mixed
    s[160:192] = -np.float32(2e-39)                                               # constant negative subnormal
    rows.append(s)
    return np.concatenate(rows)


def k_blocks(rng, qtype, n):
    size = quants.GGML_QUANT_SIZES[qtype][1]
    b = rng.integers(0, 256, (n, size), dtype=np.uint8)
    scale = rng.uniform(1e-3, 1e-1, (n, 2)).astype(np.float16).view(np.uint8)
    if qtype == T.Q6_K:
        b[:, -2:] = scale[:, 0:2]
    else:
        b[:, 0:4] = np.concatenate([scale, rng.uniform(1e-3, 1e-1, (n, 2)).astype(np.float16).view(np.uint8)], axis=1)[:, 0:4]
    return b


def generate(out):
    d = os.path.join(out, "gguf")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(11)
    x = codec_rows(rng)
    tensors = {"input": x}
    with np.errstate(all="ignore"):
        for name in QUANTIZABLE:
            qt = T[name]
            q = quants.quantize(x, qt)
            tensors[f"{name}.quantized"] = np.ascontiguousarray(q.reshape(-1)).view(np.uint8)
            tensors[f"{name}.dequantized"] = quants.dequantize(q, qt).reshape(-1).astype(np.float32)
        for name in K_TYPES:
            qt = T[name]
            b = k_blocks(rng, qt, 24)
            tensors[f"{name}.blocks"] = b.reshape(-1)
            tensors[f"{name}.dequantized"] = quants.dequantize(b, qt).reshape(-1).astype(np.float32)
    save_file(tensors, os.path.join(d, "codec_vectors.safetensors"))

    # A reference file from gguf-py's writer.
    w = GGUFWriter(os.path.join(d, "reference.gguf"), arch="cogvideox")
    w.add_name("reference fixture")
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4_000_000_000)
    w.add_int32("test.i32", -2_000_000_000)
    w.add_float32("test.f32", 1.5)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "héllo ✓")
    w.add_uint64("test.u64", 2**63 + 5)
    w.add_int64("test.i64", -(2**62))
    w.add_float64("test.f64", -2.25)
    w.add_array("test.array_i32", [1, -2, 3])
    w.add_array("test.array_str", ["a", "bc", ""])
    w.add_array("test.array_f32", [0.5, -1.0])
    w.add_quantization_version(2)
    w.add_file_type(7)
    expected = {}
    base = rng.standard_normal((4, 64)).astype(np.float32)
    for name in ["F32"] + QUANTIZABLE:
        qt = T[name]
        tname = f"t.{name.lower()}"
        if name == "F32":
            w.add_tensor(tname, base)
            expected[tname] = base
        elif name in ("F16",):
            w.add_tensor(tname, base.astype(np.float16))
            expected[tname] = base.astype(np.float16).astype(np.float32)
        else:
            q = quants.quantize(base, qt)
            w.add_tensor(tname, q, raw_dtype=qt)
            expected[tname] = quants.dequantize(q, qt).astype(np.float32)
    for name in K_TYPES:
        qt = T[name]
        b = k_blocks(rng, qt, 2)          # 2 rows of one 256-block each
        w.add_tensor(f"t.{name.lower()}", b, raw_dtype=qt)
        expected[f"t.{name.lower()}"] = quants.dequantize(b, qt).astype(np.float32)
    conv = rng.standard_normal((4, 3, 3, 3, 2)).astype(np.float32)   # a Conv3d kernel [out, in, kT, kH, kW]
    w.add_tensor("vae.conv.weight", conv.reshape(12, 3, 3, 2))      # stored 4-D: first two dims merged
    w.add_array("comfy.gguf.orig_shape.vae.conv.weight", list(conv.shape))
    expected["vae.conv.weight"] = conv
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    save_file({k: np.ascontiguousarray(v) for k, v in expected.items()}, os.path.join(d, "reference_expected.safetensors"))
