"""Reference values from diffusers' own CogVideoXDDIMScheduler / CogVideoXDPMScheduler (diffusers 0.42.1).

fixtures/schedulers/
  schedulers.safetensors
    alphas_cumprod.s1 / .s3            float64 [1000], shipped config with snr_shift_scale 1.0 / 3.0
    ddim.{name}.sample/.output/.prev/.x0   single DDIM steps on random fp32 inputs (see STEP_CASES)
    dpm.{name}.sample/.output/.old/.prev/.x0  single DPM steps; noise drawn by the scheduler from
                                       torch.Generator().manual_seed(seed) (the Swift side redraws it)
    loop.{name}.latents0 / .final      full loops: latents0 = torch.randn(LOOP_SHAPE, generator=g) then the
                                       loop with the fake model of `fake_model` (DPM noise from the same g)
    add_noise.x0 / .noise / .out       add_noise at ADD_NOISE_T (s = 1)
  schedulers.json
    timesteps: {"trailing": {N: [...]}, "leading": {...}, "linspace": {...}} for the shipped config
    step_cases, loops, dynamic_cfg: [{guidance, steps, timestep, scale}], strength: [{steps, strength, timesteps}]
"""
import json
import math
import os

import numpy as np
import torch
from diffusers import CogVideoXDDIMScheduler, CogVideoXDPMScheduler
from safetensors.numpy import save_file

STEP_SHAPE = [1, 2, 4, 3, 5]
LOOP_SHAPE = [1, 3, 4, 6, 8]
# (name, snr_shift_scale, N, timestep, timestep_back, with_old, seed)
STEP_CASES = [
    ("s3_n50_t999", 3.0, 50, 999, None, False, 11),
    ("s3_n50_t979", 3.0, 50, 979, 999, True, 12),
    ("s1_n30_t966", 1.0, 30, 966, 999, True, 13),
    ("s1_n30_t32_last", 1.0, 30, 32, 66, True, 14),
    ("s1_n50_t19_last", 1.0, 50, 19, 39, True, 15),
    ("s1_n4_t499", 1.0, 4, 499, 749, True, 16),
]
LOOPS = [("ddim_s3_n30", "ddim", 3.0, 30, 2024), ("ddim_s1_n50", "ddim", 1.0, 50, 7),
         ("dpm_s1_n50", "dpm", 1.0, 50, 42), ("dpm_s3_n25", "dpm", 3.0, 25, 3)]
ADD_NOISE_T = 799


def config(s):
    return dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                clip_sample=False, set_alpha_to_one=True, steps_offset=0, prediction_type="v_prediction",
                timestep_spacing="trailing", rescale_betas_zero_snr=True, snr_shift_scale=s)


def fake_model(x, t):
    """A deterministic stand-in for the transformer built from float32 multiplies and adds only (so the Swift
    side can evaluate it bit-exactly): v = x * a + (x * x) * b with Python-float a, b."""
    a = 0.5 + t / 2000.0
    b = 0.01 * (t % 7) - 0.02
    return x * a + (x * x) * b


def generate(root):
    d = os.path.join(root, "schedulers")
    os.makedirs(d, exist_ok=True)
    out = {}
    meta = {"step_cases": [], "loops": [], "timesteps": {}, "dynamic_cfg": [], "strength": []}
    for s in (1.0, 3.0):
        out[f"alphas_cumprod.s{int(s)}"] = CogVideoXDDIMScheduler(**config(s)).alphas_cumprod.numpy()

    for spacing in ("trailing", "leading", "linspace"):
        table = {}
        for n in list(range(1, 101)) + [125, 250, 333, 500, 999, 1000]:
            sch = CogVideoXDDIMScheduler(**dict(config(1.0), timestep_spacing=spacing))
            sch.set_timesteps(n)
            table[str(n)] = sch.timesteps.tolist()
        meta["timesteps"][spacing] = table

    g = torch.Generator().manual_seed(1)
    for name, s, n, t, tb, with_old, seed in STEP_CASES:
        sample = torch.randn(STEP_SHAPE, generator=g)
        output = torch.randn(STEP_SHAPE, generator=g)
        old = torch.randn(STEP_SHAPE, generator=g)
        ddim = CogVideoXDDIMScheduler(**config(s))
        ddim.set_timesteps(n)
        prev, x0 = ddim.step(output, t, sample, return_dict=False)
        out.update({f"ddim.{name}.sample": sample.numpy(), f"ddim.{name}.output": output.numpy(),
                    f"ddim.{name}.prev": prev.numpy(), f"ddim.{name}.x0": x0.numpy()})
        dpm = CogVideoXDPMScheduler(**config(s))
        dpm.set_timesteps(n)
        gen = torch.Generator().manual_seed(seed)
        prev, x0 = dpm.step(output, old if with_old else None, t, tb if with_old else None, sample, generator=gen,
                            return_dict=False)
        out.update({f"dpm.{name}.sample": sample.numpy(), f"dpm.{name}.output": output.numpy(),
                    f"dpm.{name}.old": old.numpy(), f"dpm.{name}.prev": prev.numpy(), f"dpm.{name}.x0": x0.numpy()})
        meta["step_cases"].append(dict(name=name, snr_shift_scale=s, steps=n, timestep=t, timestep_back=tb,
                                       with_old=with_old, seed=seed))

    for name, kind, s, n, seed in LOOPS:
        cls = CogVideoXDDIMScheduler if kind == "ddim" else CogVideoXDPMScheduler
        sch = cls(**config(s))
        sch.set_timesteps(n)
        gen = torch.Generator().manual_seed(seed)
        latents = torch.randn(LOOP_SHAPE, generator=gen, dtype=torch.float32)
        out[f"loop.{name}.latents0"] = latents.numpy().copy()
        old = None
        ts = sch.timesteps
        for i, t in enumerate(ts):
            v = fake_model(latents, int(t))
            if kind == "ddim":
                latents = sch.step(v, t, latents, generator=gen, return_dict=False)[0]
            else:
                latents, old = sch.step(v, old, t, ts[i - 1] if i > 0 else None, latents, generator=gen,
                                        return_dict=False)
        out[f"loop.{name}.final"] = latents.numpy()
        meta["loops"].append(dict(name=name, scheduler=kind, snr_shift_scale=s, steps=n, seed=seed))

    sch = CogVideoXDDIMScheduler(**config(1.0))
    x0 = torch.randn(STEP_SHAPE, generator=g)
    noise = torch.randn(STEP_SHAPE, generator=g)
    out["add_noise.x0"], out["add_noise.noise"] = x0.numpy(), noise.numpy()
    out["add_noise.out"] = sch.add_noise(x0, noise, torch.tensor([ADD_NOISE_T])).numpy()
    meta["add_noise_timestep"] = ADD_NOISE_T

    # The dynamic CFG expression exactly as pipeline_cogvideox.py writes it.
    for guidance, n in ((6.0, 50), (7.0, 30), (6.0, 4)):
        sch = CogVideoXDDIMScheduler(**config(1.0))
        sch.set_timesteps(n)
        for t in sch.timesteps:
            scale = 1 + guidance * ((1 - math.cos(math.pi * ((n - t.item()) / n) ** 5.0)) / 2)
            meta["dynamic_cfg"].append(dict(guidance=guidance, steps=n, timestep=int(t), scale=scale))

    # Video-to-video truncation as CogVideoXVideoToVideoPipeline.get_timesteps does it.
    for n, strength in ((50, 0.8), (50, 1.0), (30, 0.5), (25, 0.33), (10, 0.0), (7, 0.999)):
        sch = CogVideoXDDIMScheduler(**config(1.0))
        sch.set_timesteps(n)
        init_timestep = min(int(n * strength), n)
        t_start = max(n - init_timestep, 0)
        meta["strength"].append(dict(steps=n, strength=strength, timesteps=sch.timesteps[t_start:].tolist()))

    save_file(dict(sorted(out.items())), os.path.join(d, "schedulers.safetensors"),
              metadata={"diffusers": __import__("diffusers").__version__, "torch": torch.__version__})
    with open(os.path.join(d, "schedulers.json"), "w") as f:
        json.dump(meta, f, sort_keys=True, separators=(",", ":"))
        f.write("\n")
