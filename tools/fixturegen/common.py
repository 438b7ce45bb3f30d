"""Helpers shared by the fixture parts: seeding, parameter perturbation, safetensors output."""
import json
import os

import torch

VARIANTS = ["cogvideox-2b", "cogvideox-5b", "cogvideox-5b-i2v", "cogvideox1.5-5b", "cogvideox1.5-5b-i2v"]


def seed_all(seed: int):
    torch.manual_seed(seed)


@torch.no_grad()
def perturb(module: torch.nn.Module, seed: int, scale: float = 0.1):
    """Moves every parameter (and persistent buffer such as a learned position table) away from its init value:
    fresh init leaves norms at exactly 1 and some projections at exactly 0, which hides bugs."""
    g = torch.Generator().manual_seed(seed)
    for name, p in sorted(module.state_dict(keep_vars=True).items()):
        if not p.is_floating_point():
            continue
        std = float(p.float().std()) if p.numel() > 1 else 0.0
        s = scale * (std if std > 1e-6 else 1.0)
        p.add_(torch.randn(p.shape, generator=g, dtype=torch.float32).to(p.dtype) * s)


def tiny_root(out):
    return os.path.join(out, "tiny")


def write_json(path, obj, sort_keys=True):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=sort_keys, ensure_ascii=False)
        f.write("\n")
