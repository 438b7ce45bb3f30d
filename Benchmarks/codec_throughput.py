#!/usr/bin/env python3
"""Q8_0 / Q4_0 (and on request the other block types) quantize and dequantize throughput (GB/s of fp32) of the Swift
codecs on 1 and 2 threads, side by side with gguf-py's NumPy implementation in the same run (issue 3).

    swift build -c release --product cogvideo-bench
    python3 Benchmarks/codec_throughput.py [--mega 64] [--py-mega 8] [--types q8_0,q4_0,q4_1,q5_0,q5_1]
"""
import argparse
import json
import os
import subprocess
import time

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants


def py_rates(name, mega):
    n = mega << 20
    x = ((np.random.default_rng(0).random(n, dtype=np.float32) - 0.5) * 0.1).astype(np.float32).reshape(-1, 4096)
    qt = T[name.upper()]
    best_q = best_d = 1e9
    for _ in range(2):
        t0 = time.perf_counter(); q = quants.quantize(x, qt); best_q = min(best_q, time.perf_counter() - t0)
        t0 = time.perf_counter(); quants.dequantize(q, qt); best_d = min(best_d, time.perf_counter() - t0)
    gb = n * 4 / 1e9
    return gb / best_q, gb / best_d


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mega", type=int, default=64, help="Swift: millions (2^20) of floats")
    ap.add_argument("--py-mega", type=int, default=8, help="gguf-py: millions (2^20) of floats")
    ap.add_argument("--bench", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "cogvideo-bench"))
    ap.add_argument("--types", default="q8_0,q4_0", help="comma-separated block types (any gguf-py can quantize)")
    args = ap.parse_args()
    print(f"{'type':<6}{'impl':<16}{'threads':>8}{'quantize GB/s':>15}{'dequantize GB/s':>17}{'q ratio':>9}{'dq ratio':>10}")
    for name in args.types.split(","):
        pq, pd = py_rates(name, args.py_mega)
        print(f"{name:<6}{'gguf-py numpy':<16}{1:>8}{pq:>15.3f}{pd:>17.3f}")
        for threads in (1, 2):
            out = subprocess.run([args.bench, "codec", name, str(args.mega), str(threads)], check=True,
                                 capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(f"{name:<6}{'swift':<16}{threads:>8}{r['quantize_gbps']:>15.3f}{r['dequantize_gbps']:>17.3f}"
                  f"{r['quantize_gbps'] / pq:>8.1f}x{r['dequantize_gbps'] / pd:>9.1f}x")


if __name__ == "__main__":
    main()
