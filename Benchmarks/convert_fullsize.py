#!/usr/bin/env python3
"""Full-size conversion benchmark (issue 8): build a Hub-layout checkpoint with the exact published config
(make_fullsize_checkpoints.py: meta-device key names and shapes, random data, Hub sharding), convert it to Q8_0 with
cogvideo-convert (--type, default q8_0), validate the result, and run a gguf-py script doing the same quantization in the same run.
Reports time, GB in and out, throughput and peak RSS of both.

    swift build -c release --product cogvideo-convert
    python3 Benchmarks/convert_fullsize.py --variant 2b --work /tmp/fullsize [--components transformer]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GGUFPY = r'''
import glob, os, sys, time, json, resource
import numpy as np, torch
from safetensors import safe_open
from gguf import GGUFWriter, GGMLQuantizationType as T, quants
src, out, comps = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
qtype = sys.argv[4] if len(sys.argv) > 4 else "q8_0"
w = GGUFWriter(out, arch="cogvideox")
w.add_quantization_version(2); w.add_file_type(7 if qtype == "q8_0" else 1)
t0 = time.perf_counter(); bytes_in = 0
for comp in comps:
    for f in sorted(glob.glob(os.path.join(src, comp, "*.safetensors"))):
        with safe_open(f, "pt") as st:
            for k in st.keys():
                t = st.get_tensor(k); bytes_in += t.numel() * t.element_size()
                x = t.float().numpy()
                if x.ndim >= 2 and x.size > 1024 and x.shape[-1] % 32 == 0 and comp != "vae":
                    if qtype == "q8_0":
                        w.add_tensor(f"{comp}.{k}", quants.quantize(x, T.Q8_0), raw_dtype=T.Q8_0)
                    else:
                        w.add_tensor(f"{comp}.{k}", x.astype(np.float16))
                elif x.ndim <= 1 or x.size <= 1024:
                    w.add_tensor(f"{comp}.{k}", x)
                else:
                    w.add_tensor(f"{comp}.{k}", x.astype(np.float16))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
print(json.dumps({"seconds": time.perf_counter() - t0, "bytes_in": bytes_in,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def run_measured(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
    rss_kb = int(p.stderr.strip().splitlines()[-1])
    return dt, rss_kb / 1024, p


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default="2b")
    ap.add_argument("--work", default="/tmp/fullsize")
    ap.add_argument("--components", default="transformer,vae,text_encoder")
    ap.add_argument("--skip-build", action="store_true", help="reuse an existing checkpoint folder")
    ap.add_argument("--skip-ggufpy", action="store_true")
    ap.add_argument("--type", default="q8_0", choices=["q8_0", "f16"], help="type of the large matrices (both sides)")
    ap.add_argument("--cli", default=os.path.join(HERE, "..", ".build", "release", "cogvideo-convert"))
    args = ap.parse_args()
    folder = os.path.join(args.work, f"cogvideox-{args.variant}")
    if not args.skip_build:
        subprocess.run([sys.executable, os.path.join(HERE, "make_fullsize_checkpoints.py"), "--variant", args.variant,
                        "--out", args.work, "--components", args.components], check=True)
    out = os.path.join(args.work, f"{args.variant}-{args.type}.gguf")
    if os.path.exists(out):
        os.remove(out)
    comps = args.components
    size_in = sum(os.path.getsize(os.path.join(dp, f)) for c in comps.split(",") for dp, _, fs in os.walk(os.path.join(folder, c))
                  for f in fs if f.endswith(".safetensors"))
    subprocess.run(["sync"])
    dt, rss, _ = run_measured([args.cli, "convert", folder, "-o", out, "--type", args.type, "--components", comps, "--quiet"])
    size_out = os.path.getsize(out)
    vt, vrss, v = run_measured([args.cli, "validate", out])
    names = [t for t in json.loads(subprocess.run([args.cli, "inspect", out, "--json"], capture_output=True, text=True).stdout)["tensors"]]
    longest = max(len(t["name"]) for t in names)
    over = sum(1 for t in names if len(t["name"].encode()) >= 64)
    print(f"CogVideoX {args.variant} [{comps}] to {args.type}: in {size_in / 1e9:.2f} GB -> out {size_out / 1e9:.2f} GB")
    print(f"swift convert : {dt:7.1f} s  {size_in / 1e9 / dt:6.2f} GB/s  peak RSS {rss:8.0f} MB")
    print(f"swift validate: {vt:7.1f} s  peak RSS {vrss:8.0f} MB  ({v.stdout.count('clean')} components clean)")
    print(f"tensor names: longest {longest} bytes; {over} of {len(names)} are ≥ 64 bytes (ggml's GGML_MAX_NAME)")
    if not args.skip_ggufpy:
        gout = os.path.join(args.work, f"{args.variant}-ggufpy.gguf")
        gt, grss, g = run_measured([sys.executable, "-c", GGUFPY, folder, gout, comps, args.type])
        os.remove(gout)
        print(f"gguf-py       : {gt:7.1f} s  {size_in / 1e9 / gt:6.2f} GB/s  peak RSS {grss:8.0f} MB")
        print(f"ratio gguf-py / swift time: {gt / dt:.1f}x; RSS {grss / rss:.1f}x")


if __name__ == "__main__":
    main()
