#!/usr/bin/env python3
"""CI interop check (scripts/test.sh runs it after `swift test`):
1. gguf-py reads the GGUF file our Swift writer produced (written by the Swift test `writeTheFileThatGGUFPyChecks`
   into .build/interop/) with identical metadata, shapes and values, and gguf-py's own quantization of the same fp32
   inputs gives byte-identical tensor data;
2. when $COGVIDEO_CONVERT names the built CLI, `cogvideo-convert export --dtype f32` of that file and of gguf-py's
   fixtures/gguf/reference.gguf writes safetensors equal to gguf-py's dequantization, in PyTorch shape.
Needs: pip install gguf numpy safetensors."""
import os
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, quants
from safetensors.numpy import load_file

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
d = os.path.join(root, ".build", "interop")
if not os.path.exists(os.path.join(d, "swift_written.gguf")):
    print("gguf_roundtrip: .build/interop/swift_written.gguf is missing: run `swift test --filter GGUFLikeTests` first")
    sys.exit(1)
r = GGUFReader(os.path.join(d, "swift_written.gguf"))
inputs = load_file(os.path.join(d, "swift_written_inputs.safetensors"))
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def field(name):
    f = r.fields[name]
    return f.contents()


check(field("general.architecture") == "cogvideox", "architecture")
check(field("general.name") == "swift interop", "name")
expected = {"test.u8": 250, "test.i8": -7, "test.u16": 65000, "test.i16": -32000, "test.u32": 3_000_000_000,
            "test.i32": -5, "test.f32": 0.25, "test.bool": False, "test.string": "ünï ✓", "test.u64": 1 << 60,
            "test.i64": -3, "test.f64": 1e-300, "test.array_u8": list(range(200)), "test.array_str": ["x", "yz"]}
for k, v in expected.items():
    got = field(k)
    check(got == v, f"metadata {k}: {got!r} != {v!r}")

tensors = {t.name: t for t in r.tensors}
check(len(tensors) == 9, f"tensor count {len(tensors)}")
for name, x in inputs.items():
    t = tensors[name]
    if name == "vae.conv.weight":
        orig = [int(v) for v in field("comfy.gguf.orig_shape.vae.conv.weight")]
        check(orig == list(x.shape), f"orig_shape {orig}")
        got = np.asarray(t.data).astype(np.float32).reshape(x.shape)
        check(np.array_equal(got, x.astype(np.float16).astype(np.float32)), "conv values")
        continue
    qt = t.tensor_type
    check(list(reversed([int(v) for v in t.shape])) == list(x.shape), f"{name} shape {t.shape}")
    theirs = np.ascontiguousarray(quants.quantize(x, qt)).view(np.uint8).reshape(-1)
    ours = np.ascontiguousarray(np.asarray(t.data)).view(np.uint8).reshape(-1)
    check(np.array_equal(theirs, ours), f"{name} ({qt.name}) bytes differ from gguf-py's quantization")
    deq = quants.dequantize(np.asarray(t.data), qt).reshape(x.shape)
    tol = {T.F32: 0, T.F16: 1e-3, T.BF16: 1e-2}.get(qt, 0.2)
    check(np.max(np.abs(deq - x)) <= tol, f"{name} dequantized error {np.max(np.abs(deq - x))}")



def gguf_py_floats(reader):
    """Every tensor of a GGUFReader dequantized by gguf-py, in PyTorch shape (orig_shape applied)."""
    out = {}
    for t in reader.tensors:
        v = quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32)
        key = "comfy.gguf.orig_shape." + t.name
        shape = [int(x) for x in reader.fields[key].contents()] if key in reader.fields else list(reversed([int(x) for x in t.shape]))
        out[t.name] = v.reshape(shape)
    return out


exporter = os.environ.get("COGVIDEO_CONVERT")
exported = 0
if exporter:
    for src in [os.path.join(d, "swift_written.gguf"), os.path.join(root, "fixtures", "gguf", "reference.gguf")]:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.safetensors")
            p = subprocess.run([exporter, "export", src, "-o", out, "--dtype", "f32"], capture_output=True, text=True)
            if p.returncode != 0:
                failures.append(f"export {os.path.basename(src)} failed: {p.stderr.strip()}")
                continue
            ours = load_file(out)
            theirs = gguf_py_floats(GGUFReader(src))
            check(set(ours) == set(theirs), f"export {os.path.basename(src)}: names {sorted(set(ours) ^ set(theirs))}")
            for name, v in theirs.items():
                if name in ours:
                    check(ours[name].shape == v.shape, f"export {name}: shape {ours[name].shape} != {v.shape}")
                    check(ours[name].tobytes() == v.tobytes(), f"export {name}: values differ from gguf-py's dequantization")
                    exported += 1

if failures:
    print("gguf_roundtrip: FAILED\n  " + "\n  ".join(failures))
    sys.exit(1)
print(f"gguf_roundtrip: gguf-py read {len(tensors)} tensors and {len(expected)} metadata keys identically; "
      f"{exported} exported tensors equal gguf-py's dequantization" + ("" if exporter else " ($COGVIDEO_CONVERT not set)"))
