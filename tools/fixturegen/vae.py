"""Reference AutoencoderKLCogVideoX decodes and encodes (diffusers, fp32) on the tiny VAE, non-square:
decode of 1, 2, 3 and 5 latent frames, encode of 1, 9 and 17 frames, untiled and with small tiles (so diffusers'
tiled_decode / tiled_encode, with overlaps and blending, run on small inputs), and the posterior with given noise.

fixtures/vae/reference.safetensors
  decode.T<n>.z [1, 4, n, 4, 6] (F16, already ÷ scaling factor) / decode.T<n>.out [1, 3, F, 32, 48]
  decode_tiled.T3.z [1, 4, 3, 6, 12] / .out [1, 3, 9, 48, 96]   (tiles 32×48 px = 4×6 latent, stride 3×4 latent)
  encode.F<n>.x [1, 3, n, 32, 48] (F16) / encode.F<n>.moments [1, 8, T, 4, 6]
  encode_tiled.F9.x [1, 3, 9, 48, 96] / .moments [1, 8, 3, 6, 12]
  posterior.noise (F16) / posterior.sample (from encode.F9's moments)
"""
import os

import torch
from diffusers import AutoencoderKLCogVideoX
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
from safetensors.torch import save_file

from .common import tiny_root


@torch.no_grad()
def generate(out):
    vae = AutoencoderKLCogVideoX.from_pretrained(os.path.join(tiny_root(out), "cogvideox-2b", "vae")).eval()
    g = torch.Generator().manual_seed(21)
    t, inputs = {}, set()

    def rnd(*shape, uniform=False):
        # Inputs are made fp16-exact so they can be stored as F16 without loss (keeps the fixture small).
        x = torch.rand(*shape, generator=g) * 2 - 1 if uniform else torch.randn(*shape, generator=g)
        return x.half().float()

    for n in (1, 2, 3, 5):
        z = rnd(1, 4, n, 4, 6)
        t[f"decode.T{n}.z"], t[f"decode.T{n}.out"] = z.clone(), vae.decode(z).sample
        inputs.add(f"decode.T{n}.z")
    vae.enable_tiling(tile_sample_min_height=32, tile_sample_min_width=48)
    z = rnd(1, 4, 3, 6, 12)
    t["decode_tiled.T3.z"], t["decode_tiled.T3.out"] = z.clone(), vae.decode(z).sample
    inputs.add("decode_tiled.T3.z")
    vae.disable_tiling()
    for n in (1, 9, 17):
        x = rnd(1, 3, n, 32, 48, uniform=True)
        t[f"encode.F{n}.x"], t[f"encode.F{n}.moments"] = x.clone(), vae._encode(x)
        inputs.add(f"encode.F{n}.x")
    vae.enable_tiling(tile_sample_min_height=32, tile_sample_min_width=48)
    x = rnd(1, 3, 9, 48, 96, uniform=True)
    t["encode_tiled.F9.x"], t["encode_tiled.F9.moments"] = x.clone(), vae._encode(x)
    inputs.add("encode_tiled.F9.x")
    vae.disable_tiling()
    post = DiagonalGaussianDistribution(t["encode.F9.moments"])
    noise = rnd(*post.mean.shape)
    t["posterior.noise"] = noise
    t["posterior.sample"] = post.mean + post.std * noise
    inputs.add("posterior.noise")
    os.makedirs(os.path.join(out, "vae"), exist_ok=True)
    save_file({k: (v.half() if k in inputs else v.float()).contiguous() for k, v in t.items()},
              os.path.join(out, "vae", "reference.safetensors"))
