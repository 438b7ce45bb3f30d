#!/usr/bin/env python3
"""Open-and-validate benchmark (issue 2): a synthetic 8 GB sparse safetensors file with 30,000 tensors (only the
header is written; the data section is a hole), opened by the Swift reader and by Python safetensors' safe_open
in the same run. Prints wall time, peak RSS and ratios.

    swift build -c release --product cogvideo-bench
    python3 Benchmarks/safetensors_open.py [--size-gb 8] [--tensors 30000]
"""
import argparse
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time


def make_file(path, size_gb, n):
    per = (size_gb * 10**9) // n // 4 * 4
    header, off = {}, 0
    for i in range(n):
        header[f"model.layers.{i}.weight"] = {"dtype": "F32", "shape": [per // 4], "data_offsets": [off, off + per]}
        off += per
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - (len(text) + 8) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        f.truncate(8 + len(text) + off)
    return 8 + len(text) + off


def python_open(path, repeats):
    code = f"""
import resource, time, json
from safetensors import safe_open
best = 1e9
for _ in range({repeats}):
    t0 = time.perf_counter()
    with safe_open({path!r}, "np") as f:
        n = len(list(f.keys()))
    best = min(best, time.perf_counter() - t0)
print(json.dumps({{"impl": "python-safetensors", "tensors": n, "seconds": best,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-gb", type=int, default=8)
    ap.add_argument("--tensors", type=int, default=30000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--bench", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "cogvideo-bench"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "big.safetensors")
        size = make_file(path, args.size_gb, args.tensors)
        swift = json.loads(subprocess.run([args.bench, "safetensors-open", path, str(args.repeats)], check=True,
                                          capture_output=True, text=True).stdout.strip())
        py = python_open(path, args.repeats)
        # RSS independence: the same file at 1/8 of the size must give the same Swift RSS.
        small = os.path.join(d, "small.safetensors")
        make_file(small, max(1, args.size_gb // 8), args.tensors)
        swift_small = json.loads(subprocess.run([args.bench, "safetensors-open", small, str(args.repeats)], check=True,
                                                capture_output=True, text=True).stdout.strip())
    print(f"file: {size / 1e9:.2f} GB, {args.tensors} tensors (sparse)")
    print(f"{'impl':<22}{'best open+validate':>20}{'peak RSS':>12}")
    for r in (swift, py):
        print(f"{r['impl']:<22}{r['seconds'] * 1000:>17.1f} ms{r['peak_rss_mb']:>9.1f} MB")
    print(f"swift RSS at {max(1, args.size_gb // 8)} GB: {swift_small['peak_rss_mb']:.1f} MB (vs {swift['peak_rss_mb']:.1f} MB at {args.size_gb} GB)")
    print(f"ratio python/swift time: {py['seconds'] / swift['seconds']:.2f}x")


if __name__ == "__main__":
    main()
