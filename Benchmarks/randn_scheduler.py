#!/usr/bin/env python3
"""torch.randn and one CogVideoX DPM / DDIM scheduler step on a 2b-sized latent (1x13x16x60x90 = 1,123,200 values),
Swift (TorchGenerator, CogVideoXDPMScheduler) side by side with torch / diffusers on the CPU in the same run.

    swift build -c release --product cogvideo-bench
    python3 Benchmarks/randn_scheduler.py [--reps 5]
"""
import argparse
import json
import os
import subprocess
import time

import torch
from diffusers import CogVideoXDDIMScheduler, CogVideoXDPMScheduler

SHAPE = (1, 13, 16, 60, 90)


def best(fn, reps):
    b = 1e9
    for _ in range(reps):
        t0 = time.perf_counter(); fn(); b = min(b, time.perf_counter() - t0)
    return b


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (the Swift side is 1 thread)")
    ap.add_argument("--bench", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "cogvideo-bench"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n = 1
    for s in SHAPE:
        n *= s
    out = subprocess.run([args.bench, "randn", str(n), str(args.reps)], capture_output=True, text=True, check=True)
    sw = json.loads(out.stdout.strip().splitlines()[-1])
    cfg = dict(prediction_type="v_prediction", timestep_spacing="trailing", rescale_betas_zero_snr=True,
               snr_shift_scale=1.0, clip_sample=False)
    g = torch.Generator().manual_seed(42)
    x, v, old = (torch.randn(SHAPE, generator=g) for _ in range(3))
    t_randn = best(lambda: torch.randn(SHAPE, generator=g), args.reps)
    dpm = CogVideoXDPMScheduler(**cfg); dpm.set_timesteps(50)
    t_dpm = best(lambda: dpm.step(v, old, 979, 999, x, generator=g, return_dict=False), args.reps)
    ddim = CogVideoXDDIMScheduler(**cfg); ddim.set_timesteps(50)
    t_ddim = best(lambda: ddim.step(v, 979, x, return_dict=False), args.reps)
    print(f"{'what':<12}{'Swift ms':>10}{'torch ms':>10}{'torch/Swift':>13}")
    for name, s, p in [("randn", sw["randn_s"], t_randn), ("DPM step", sw["dpm_step_s"], t_dpm),
                       ("DDIM step", sw["ddim_step_s"], t_ddim)]:
        print(f"{name:<12}{s * 1e3:>10.2f}{p * 1e3:>10.2f}{p / s:>13.2f}")


if __name__ == "__main__":
    main()
