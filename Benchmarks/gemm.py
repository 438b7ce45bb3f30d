#!/usr/bin/env python3
"""GEMM throughput of `Linear` on each stored weight type vs PyTorch `torch.matmul` (fp32), side by side in one run
(issue 4). Shapes are the transformer's: [M, K] x [K, N] with M = 4096 / 17776 tokens, K = 1920, N = 1920 / 5120.

    swift build -c release --product cogvideo-bench
    /work/venv/bin/python Benchmarks/gemm.py [--threads 2] [--types f32,f16,bf16,q8_0] [--shapes 4096x1920x1920,...]

Swift's f32 row runs OpenBLAS (single-threaded per engine thread) when libopenblas is installed, its built-in GEMM
with COGVIDEO_GEMM=builtin in the environment (or without OpenBLAS); the other types always run the built-in GEMM.
"""
import argparse
import json
import os
import subprocess
import time

import torch


def torch_gflops(m, k, n, threads, repeats, dtype=torch.float32):
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(m, k, generator=g) * 2 - 1).to(dtype)
    w = ((torch.rand(n, k, generator=g) * 2 - 1) * 0.05).to(dtype)
    torch.matmul(x[:64], w.t())  # warm-up
    best = 1e9
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.matmul(x, w.t())
        best = min(best, time.perf_counter() - t0)
    return 2 * m * n * k / best / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--types", default="f32,f16,bf16,q8_0,q4_0")
    ap.add_argument("--shapes", default="4096x1920x1920,17776x1920x5120", help="MxKxN,...")
    ap.add_argument("--torch-bf16", action="store_true", help="also time torch.matmul in bfloat16")
    ap.add_argument("--bench", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "cogvideo-bench"))
    args = ap.parse_args()
    print(f"{'M':>6} {'K':>5} {'N':>5}  {'impl':<30}{'GFLOP/s':>9}{'vs torch fp32':>15}")
    for shape in args.shapes.split(","):
        m, k, n = (int(v) for v in shape.split("x"))
        ref = torch_gflops(m, k, n, args.threads, args.repeats)
        print(f"{m:>6} {k:>5} {n:>5}  {'torch.matmul fp32':<30}{ref:>9.1f}{1:>14.2f}x", flush=True)
        if args.torch_bf16:
            r = torch_gflops(m, k, n, args.threads, args.repeats, torch.bfloat16)
            print(f"{m:>6} {k:>5} {n:>5}  {'torch.matmul bf16':<30}{r:>9.1f}{r / ref:>14.2f}x", flush=True)
        for t in args.types.split(","):
            out = subprocess.run([args.bench, "gemm", t, str(m), str(k), str(n), str(args.repeats), str(args.threads)],
                                 check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            label = f"swift {t}" + ((f" [OpenBLAS {r['blas_core']}]" if r["blas"] else " [built-in]") if t == "f32" else "")
            print(f"{m:>6} {k:>5} {n:>5}  {label:<30}{r['gflops']:>9.1f}{r['gflops'] / ref:>14.2f}x", flush=True)


if __name__ == "__main__":
    main()
