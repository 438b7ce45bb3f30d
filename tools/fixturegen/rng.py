"""torch.randn reference draws for the Swift TorchGenerator (mt19937 + PyTorch's uniform and Box-Muller rules).

fixtures/rng/randn.safetensors, all values drawn by torch on the CPU (AVX2 normal kernel, which x86-64 torch
uses on AVX2 and AVX-512 machines alike), metadata "torch" = version:
  f32.s{seed}.n{n}            torch.randn(n, generator=manual_seed(seed)), full, n in 1, 15, 16, 17, 1000
  f32.s0.n65536               full
  f32.s{seed}.n{n}.idx/.val   for long draws: every STRIDE-th value plus the first and last EDGE values
  f32.s{seed}.n{n}.sum        float64 sum of all n values (shape [1])
  f64.s0.n{n}                 torch.randn(n, dtype=float64), full
  f16.s42.n1584 / bf16.s42.n1584  torch.randn(1584, dtype=float16 / bfloat16) as float32 (a 16-channel latent size)
  seq.s1234                   one generator, shapes SEQ_SHAPES drawn in order (float32 unless listed in
                              SEQ_F64), all values concatenated as float64 (exact for float32 values)
  scalar.f32.s0.n{n}          the same draws with ATEN_CPU_CAPABILITY=default (the scalar libm kernel that
                              non-x86 PyTorch uses), from a subprocess
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch
from safetensors.numpy import save_file

SEEDS = [0, 42, 1234, 2**32 + 7, 2**63 + 5]
SMALL = [1, 15, 16, 17, 1000]
SEQ_SHAPES = [[3], [1], [20], [2, 3], [16], [5, 7], [1000], [1], [4], [17]]
SEQ_F64 = {3, 8}  # indices into SEQ_SHAPES drawn as float64
LONG = {65536: (97, 256, [42, 2**32 + 7]), 1_000_000: (997, 4096, [0, 42])}


def sampled(prefix, x, stride, edge, out):
    n = x.shape[0]
    idx = np.unique(np.concatenate([np.arange(0, n, stride), np.arange(edge), np.arange(n - edge, n)]))
    out[prefix + ".idx"] = idx.astype(np.int64)
    out[prefix + ".val"] = x[idx]
    out[prefix + ".sum"] = np.array([x.astype(np.float64).sum()], dtype=np.float64)


def draws(out, prefix=""):
    for s in SEEDS:
        for n in SMALL:
            g = torch.Generator().manual_seed(s)
            out[f"{prefix}f32.s{s}.n{n}"] = torch.randn(n, generator=g).numpy()
    g = torch.Generator().manual_seed(0)
    out[f"{prefix}f32.s0.n65536"] = torch.randn(65536, generator=g).numpy()
    for n, (stride, edge, seeds) in LONG.items():
        for s in seeds:
            g = torch.Generator().manual_seed(s)
            sampled(f"{prefix}f32.s{s}.n{n}", torch.randn(n, generator=g).numpy(), stride, edge, out)


def scalar_main(path):
    out = {}
    for n in [16, 17, 1000, 4099]:
        g = torch.Generator().manual_seed(0)
        out[f"scalar.f32.s0.n{n}"] = torch.randn(n, generator=g).numpy()
    save_file(out, path)


def generate(root):
    d = os.path.join(root, "rng")
    os.makedirs(d, exist_ok=True)
    out = {}
    draws(out)
    for n in [1, 5, 16, 17, 1000]:
        g = torch.Generator().manual_seed(0)
        out[f"f64.s0.n{n}"] = torch.randn(n, generator=g, dtype=torch.float64).numpy()
    for name, dt in (("f16", torch.float16), ("bf16", torch.bfloat16)):
        g = torch.Generator().manual_seed(42)
        out[f"{name}.s42.n1584"] = torch.randn(1584, generator=g, dtype=dt).float().numpy()
    g = torch.Generator().manual_seed(1234)
    seq = []
    for i, shape in enumerate(SEQ_SHAPES):
        dt = torch.float64 if i in SEQ_F64 else torch.float32
        seq.append(torch.randn(shape, generator=g, dtype=dt).double().flatten().numpy())
    out["seq.s1234"] = np.concatenate(seq)
    tmp = os.path.join(d, ".scalar.tmp.safetensors")
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
    subprocess.run([sys.executable, os.path.abspath(__file__), "--scalar", tmp], check=True, env=env)
    from safetensors.numpy import load_file
    out.update(load_file(tmp))
    os.remove(tmp)
    meta = {"torch": torch.__version__, "seq_shapes": json.dumps(SEQ_SHAPES), "seq_f64": json.dumps(sorted(SEQ_F64))}
    save_file(dict(sorted(out.items())), os.path.join(d, "randn.safetensors"), metadata=meta)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--scalar":
    scalar_main(sys.argv[2])
