#!/usr/bin/env python3
"""Attention throughput: `Ops.attention` (flash-style; fp32, and bf16 products with fp32 accumulation on CPUs with
AVX-512 BF16) vs PyTorch `scaled_dot_product_attention` (fp32) on q, k, v of shape [1, H, S, D], side by side in
one run (issue 4). Default: the 2b transformer at 480x720x49 (S = 17,776 tokens, 30 heads of 64).

    swift build -c release --product cogvideo-bench
    /work/venv/bin/python Benchmarks/attention.py [--s 17776] [--heads 30] [--dim 64] [--threads 2] [--precisions f32,bf16]
    [--no-torch]
"""
import argparse
import json
import os
import resource
import subprocess
import time

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--s", type=int, default=17776)
    ap.add_argument("--heads", type=int, default=30)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--precisions", default="f32,bf16", help="Swift rows: comma-separated f32, bf16")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch SDPA")
    ap.add_argument("--bench", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "cogvideo-bench"))
    args = ap.parse_args()
    s, h, d = args.s, args.heads, args.dim
    flops = 4 * h * s * s * d
    rows = []
    for p in args.precisions.split(","):
        out = subprocess.run([args.bench, "attention", str(s), str(h), str(d), str(args.repeats), str(args.threads), p],
                             check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    swift_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    best = None
    if not args.no_torch:
        torch.set_num_threads(args.threads)
        g = torch.Generator().manual_seed(0)
        q, k, v = (torch.randn(1, h, s, d, generator=g) for _ in range(3))
        F.scaled_dot_product_attention(q[:, :, :64], k[:, :, :64], v[:, :, :64])
        best = 1e9
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            F.scaled_dot_product_attention(q, k, v)
            best = min(best, time.perf_counter() - t0)
    torch_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"attention [1, {h}, {s}, {d}], {args.threads} threads")
    print(f"{'impl':<14}{'seconds':>9}{'CPU s':>8}{'GFLOP/s':>9}{'peak RSS MB':>13}{'vs torch':>10}")
    if best is not None:
        print(f"{'torch SDPA':<14}{best:>9.2f}{'':>8}{flops / best / 1e9:>9.1f}{torch_rss:>13.0f}{'':>10}")
    for r in rows:
        ratio = f"{best / r['seconds']:.2f}x" if best is not None else ""
        print(f"{'swift ' + r['precision']:<14}{r['seconds']:>9.2f}{r['cpu_seconds']:>8.2f}{r['gflops']:>9.1f}"
              f"{swift_rss:>13.0f}{ratio:>10}")
    print("(peak RSS of the Swift rows: the largest child process)")


if __name__ == "__main__":
    main()
