#!/usr/bin/env python3
"""CogVideoX VAE benchmark (issue 6): the real VAE config (the 2b `AutoencoderKLCogVideoX` defaults) with random
weights (torch default init, seed 0), decoding seeded random latents `[1, 16, T, H/8, W/8]` with the Swift VAE
(`cogvideo-bench vae`) and, in the same run, with diffusers in fp32. Each side runs in its own process; wall time of
the decode alone (weights already loaded) and the process's peak RSS are reported, plus the agreement of the
outputs (max |swift - diffusers| / max |diffusers| and PSNR over [-1, 1]).

    swift build -c release --product cogvideo-bench
    /work/venv/bin/python Benchmarks/vae_decode.py --frames 4 --height 240 --width 368
    /work/venv/bin/python Benchmarks/vae_decode.py --frames 13 --height 480 --width 720 --tile --skip-diffusers
    /work/venv/bin/python Benchmarks/vae_decode.py --frames 2 --height 240 --width 368 --types f16,bf16,q8_0-flat

`--types` runs the Swift side once per weight type (f32 from the fp32 checkpoint, f16/bf16 from checkpoints saved
in that dtype, q8_0-flat = fp32 checkpoint with conv kernels Q8_0 fake-quantized at load); the first f32 output (or
the diffusers output when run) is the reference for the PSNR of the others. `--tile` enables diffusers' default
tiling (tiles of half the sample size: 240x360 pixels, overlaps 1/6 and 1/5) on both sides.
"""
import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

DIFFUSERS_RUN = r"""
import json, resource, sys, time
import torch
from safetensors.torch import load_file, save_file
from diffusers import AutoencoderKLCogVideoX
torch.set_num_threads({threads})
vae = AutoencoderKLCogVideoX.from_pretrained({dir!r}, torch_dtype=torch.float32).eval()
if {tile}:
    vae.enable_tiling()
x = load_file({input!r})["input"]
with torch.no_grad():
    t0, c0 = time.perf_counter(), time.process_time()
    y = vae.decode(x).sample if {decode} else vae.encode(x).latent_dist.parameters
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
save_file({{"output": y.contiguous()}}, {output!r})
print(json.dumps({{"impl": "diffusers", "type": "f32", "seconds": dt, "cpu_seconds": cpu, "threads": torch.get_num_threads(),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "shape": list(y.shape)}}))
"""


def make_checkpoints(root, types):
    import torch
    from diffusers import AutoencoderKLCogVideoX

    dirs = {"f32": os.path.join(root, "vae-f32"), "f16": os.path.join(root, "vae-f16"), "bf16": os.path.join(root, "vae-bf16")}
    needed = {"f32"} | {t for t in types if t in ("f16", "bf16")}
    if all(os.path.exists(os.path.join(dirs[t], "config.json")) for t in needed):
        return dirs
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX()  # diffusers defaults = the shipped 2b config (spec §3.1)
    vae.save_pretrained(dirs["f32"])
    for t, dt in (("f16", torch.float16), ("bf16", torch.bfloat16)):
        if t in needed:
            vae.to(dt).save_pretrained(dirs[t])
            vae.to(torch.float32)
    return dirs


def load(path):
    from safetensors.numpy import load_file
    return load_file(path)["output"]


def compare(a, ref):
    rel = float(np.abs(a - ref).max() / np.abs(ref).max())
    mse = float(np.mean((np.clip(a, -1, 1).astype(np.float64) - np.clip(ref, -1, 1)) ** 2))
    return rel, (10 * math.log10(4 / mse) if mse > 0 else float("inf"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=4, help="latent frames (decode) or pixel frames (encode)")
    ap.add_argument("--height", type=int, default=240, help="pixel height")
    ap.add_argument("--width", type=int, default=368, help="pixel width")
    ap.add_argument("--encode", action="store_true", help="benchmark encode instead of decode")
    ap.add_argument("--tile", action="store_true", help="diffusers' default tiling on both sides")
    ap.add_argument("--types", default="f32", help="comma-separated Swift weight types: f32,f16,bf16,q8_0-flat (\"\" = none)")
    ap.add_argument("--skip-diffusers", action="store_true")
    ap.add_argument("--reuse-diffusers", action="store_true",
                    help="reuse the diffusers result of an earlier run with the same input (kept in --workdir)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--workdir", default="/tmp/cogvideo-vae-bench", help="checkpoints are cached here between runs")
    ap.add_argument("--bench", default=os.path.join(HERE, "..", ".build", "release", "cogvideo-bench"))
    args = ap.parse_args()
    types = [t for t in args.types.split(",") if t]  # --types "" runs diffusers only
    os.makedirs(args.workdir, exist_ok=True)
    dirs = make_checkpoints(args.workdir, types)

    import torch
    from safetensors.torch import save_file
    g = torch.Generator().manual_seed(0)
    if args.encode:
        shape = (1, 3, args.frames, args.height, args.width)
        x = torch.rand(shape, generator=g) * 2 - 1
    else:
        shape = (1, 16, args.frames, args.height // 8, args.width // 8)
        x = torch.randn(shape, generator=g)
    inp = os.path.join(args.workdir, "input.safetensors")
    save_file({"input": x}, inp)
    mode = "encode" if args.encode else "decode"
    tile = ["--tile", "240", "360"] if args.tile else []
    print(f"{mode} input {list(shape)}, tiling {'on' if args.tile else 'off'}, {args.threads} threads", flush=True)

    results = []
    key = f"{mode}-{'x'.join(map(str, shape))}{'-tiled' if args.tile else ''}"
    if not args.skip_diffusers:
        out = os.path.join(args.workdir, f"out-diffusers-{key}.safetensors")
        saved = os.path.join(args.workdir, f"diffusers-{key}.json")
        if args.reuse_diffusers and os.path.exists(saved):
            r = json.load(open(saved))
            r["reused"] = True
        else:
            code = DIFFUSERS_RUN.format(threads=args.threads, dir=dirs["f32"], tile=args.tile, input=inp, decode=not args.encode, output=out)
            r = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
            r["out"] = out
            json.dump(r, open(saved, "w"))
        results.append(r)
        print(json.dumps(r), flush=True)
    # The engine picks its BLAS kernel itself (AVX-512 where available); a session-wide OPENBLAS_CORETYPE (this
    # machine's environment sets Haswell) would override that choice, so it is removed for the Swift runs.
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    for t in types:
        out = os.path.join(args.workdir, f"out-swift-{t}-{key}.safetensors")
        folder = dirs["f32"] if t in ("f32", "q8_0-flat") else dirs[t]
        cmd = [args.bench, "vae", mode, folder, inp, out, "--threads", str(args.threads)] + tile
        if t == "q8_0-flat":
            cmd += ["--type", t]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout.strip())
        r["type"], r["out"] = t, out
        results.append(r)
        print(json.dumps(r), flush=True)

    ref = load(results[0]["out"])
    base = results[0]
    print(f"\n{'impl':<10}{'weights':<11}{'wall s':>9}{'CPU s':>9}{'peak RSS MB':>13}{'wall ratio':>11}{'CPU ratio':>10}{'RSS ratio':>11}{'rel max err':>13}{'PSNR dB':>9}")
    for r in results:
        out = load(r["out"])
        rel, p = compare(out, ref) if r is not base else (0.0, float("inf"))
        psnr = "ref" if r is base else f"{p:.1f}"
        cpu, bcpu = r.get("cpu_seconds", float("nan")), base.get("cpu_seconds", float("nan"))
        print(f"{r['impl']:<10}{r['type']:<11}{r['seconds']:>9.2f}{cpu:>9.2f}{r['peak_rss_mb']:>13.0f}"
              f"{base['seconds'] / r['seconds']:>10.2f}x{bcpu / cpu:>9.2f}x{r['peak_rss_mb'] / base['peak_rss_mb']:>11.2f}{rel:>13.2e}{psnr:>9}")
    print(f"(reference row: {base['impl']} {base['type']}; output shape {base['shape']})")


if __name__ == "__main__":
    main()
