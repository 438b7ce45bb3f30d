"""Reference CogVideoXTransformer3DModel outputs (diffusers, fp32) for every tiny variant at two resolutions:
the model's sample size, and a different, non-square one (5b-I2V's learned table only works at its sample size, so
its second case changes the frame count instead, which makes diffusers recompute a sin-cos table).

fixtures/transformer/<variant>/<case>.safetensors
  hidden_states [B, F, C, H, W], encoder_hidden_states [B, 226, text_dim], timestep [B] (F32), ofs [1] (1.5-I2V),
  rope_cos / rope_sin [N, head_dim] (RoPE variants; from the pipeline's own _prepare_rotary_positional_embeddings),
  output [B, F', C_out, H, W]
"""
import os

import torch
from diffusers import CogVideoXTransformer3DModel
from diffusers.pipelines.cogvideo.pipeline_cogvideox import CogVideoXPipeline

from .common import VARIANTS, tiny_root

CASES = {  # (batch, latent frames, latent height, latent width)
    "cogvideox-2b": {"native": (2, 3, 6, 8), "other": (1, 2, 4, 10)},
    "cogvideox-5b": {"native": (2, 3, 6, 8), "other": (1, 2, 4, 10)},
    "cogvideox-5b-i2v": {"native": (2, 3, 6, 8), "frames": (1, 2, 6, 8)},
    "cogvideox1.5-5b": {"native": (2, 4, 8, 8), "other": (1, 2, 6, 4)},
    "cogvideox1.5-5b-i2v": {"native": (2, 4, 8, 8), "other": (1, 2, 6, 4)},
}


class _RopeHost:
    """Just enough of a pipeline for CogVideoXPipeline._prepare_rotary_positional_embeddings."""
    vae_scale_factor_spatial = 8

    def __init__(self, transformer):
        self.transformer = transformer


@torch.no_grad()
def generate(out):
    for i, variant in enumerate(VARIANTS):
        model = CogVideoXTransformer3DModel.from_pretrained(os.path.join(tiny_root(out), variant, "transformer")).eval()
        cfg = model.config
        d = os.path.join(out, "transformer", variant)
        os.makedirs(d, exist_ok=True)
        for j, (case, (b, f, h, w)) in enumerate(CASES[variant].items()):
            g = torch.Generator().manual_seed(100 * i + j)
            x = torch.randn(b, f, cfg.in_channels, h, w, generator=g)
            enc = torch.randn(b, cfg.max_text_seq_length, cfg.text_embed_dim, generator=g)
            t = torch.tensor([999.0, 431.0][:b])
            tensors = {"hidden_states": x, "encoder_hidden_states": enc, "timestep": t}
            kwargs = {}
            if cfg.ofs_embed_dim:
                ofs = torch.tensor([2.0])
                tensors["ofs"] = ofs
                kwargs["ofs"] = ofs
            rope = None
            if cfg.use_rotary_positional_embeddings:
                rope = CogVideoXPipeline._prepare_rotary_positional_embeddings(_RopeHost(model), h * 8, w * 8, f, "cpu")
                tensors["rope_cos"], tensors["rope_sin"] = rope[0].contiguous(), rope[1].contiguous()
            y = model(hidden_states=x, encoder_hidden_states=enc, timestep=t, image_rotary_emb=rope, return_dict=False, **kwargs)[0]
            tensors["output"] = y.float().contiguous()
            from safetensors.torch import save_file
            save_file(tensors, os.path.join(d, f"{case}.safetensors"))
