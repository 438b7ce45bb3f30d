"""SAT-named (original CogVideo release) twins of the tiny 2b and 5b-I2V transformers and of the tiny VAE, made by
inverting diffusers' conversion script (scripts/convert_cogvideox_to_diffusers.py and cogvideox-spec.md §7.3-7.4):
fused qkv, 12-way AdaLN modulation rows, SAT layer names, `model.diffusion_model.` prefix, reversed decoder levels.

fixtures/sat/cogvideox-2b-transformer.safetensors   SAT transformer keys (plus SAT-only buffers diffusers drops)
fixtures/sat/cogvideox-5b-i2v-transformer.safetensors
fixtures/sat/vae.safetensors                        SAT VAE keys (plus a `loss.` tensor diffusers drops)
"""
import glob
import os
import re

import torch
from safetensors.torch import load_file, save_file

from .common import tiny_root

P = "model.diffusion_model."
SIMPLE = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
          "ofs_embedding.linear_1": "ofs_embed.0", "ofs_embedding.linear_2": "ofs_embed.2",
          "patch_embed.proj": "mixins.patch_embed.proj", "patch_embed.text_proj": "mixins.patch_embed.text_proj",
          "norm_final": "transformer.final_layernorm", "norm_out.norm": "mixins.final_layer.norm_final",
          "proj_out": "mixins.final_layer.linear", "norm_out.linear": "mixins.final_layer.adaLN_modulation.1"}
BLOCK = {"norm1.norm": "input_layernorm", "norm2.norm": "post_attention_layernorm", "attn1.to_out.0": "attention.dense",
         "ff.net.0.proj": "mlp.dense_h_to_4h", "ff.net.2": "mlp.dense_4h_to_h"}


def load_dir(d):
    sd = {}
    for f in sorted(glob.glob(os.path.join(d, "*.safetensors"))):
        sd.update(load_file(f))
    return sd


def to_sat_transformer(sd):
    out, layers = {}, sorted({int(k.split(".")[1]) for k in sd if k.startswith("transformer_blocks.")})
    for k, v in sd.items():
        if k.startswith("transformer_blocks."):
            continue
        if k == "patch_embed.pos_embedding":
            out[P + "mixins.pos_embed.pos_embedding"] = v
            continue
        stem, leaf = k.rsplit(".", 1)
        out[P + SIMPLE[stem] + "." + leaf] = v
    for l in layers:
        b = f"transformer_blocks.{l}."
        for leaf in ("weight", "bias"):
            for d, s in BLOCK.items():
                out[f"{P}transformer.layers.{l}.{s}.{leaf}"] = sd[b + d + "." + leaf]
            out[f"{P}transformer.layers.{l}.attention.query_key_value.{leaf}"] = torch.cat(
                [sd[b + f"attn1.to_{x}.{leaf}"] for x in "qkv"])
            out[f"{P}mixins.adaln_layer.query_layernorm_list.{l}.{leaf}"] = sd[b + f"attn1.norm_q.{leaf}"]
            out[f"{P}mixins.adaln_layer.key_layernorm_list.{l}.{leaf}"] = sd[b + f"attn1.norm_k.{leaf}"]
            n1 = sd[b + f"norm1.linear.{leaf}"].chunk(6)
            n2 = sd[b + f"norm2.linear.{leaf}"].chunk(6)
            out[f"{P}mixins.adaln_layer.adaLN_modulations.{l}.1.{leaf}"] = torch.cat(n1[0:3] + n2[0:3] + n1[3:6] + n2[3:6])
    # Buffers SAT files carry and diffusers recomputes.
    out[P + "mixins.pos_embed.freqs_sin"] = torch.zeros(4, 2)
    out[P + "mixins.pos_embed.freqs_cos"] = torch.ones(4, 2)
    return {k: v.contiguous() for k, v in out.items()}


def to_sat_vae(sd):
    out = {}
    for k, v in sd.items():
        n = k.replace("encoder.mid_block.resnets.0", "encoder.mid.block_1").replace("encoder.mid_block.resnets.1", "encoder.mid.block_2")
        n = n.replace("decoder.mid_block.resnets.0", "decoder.mid.block_1").replace("decoder.mid_block.resnets.1", "decoder.mid.block_2")
        n = n.replace("down_blocks.", "down.").replace("downsamplers.0", "downsample").replace("upsamplers.0", "upsample")
        n = n.replace("conv_shortcut", "nin_shortcut").replace("resnets.", "block.")
        m = re.match(r"decoder\.up_blocks\.(\d+)\.(.*)", n)
        if m:
            n = f"decoder.up.{3 - int(m.group(1))}.{m.group(2)}"
        out[n] = v.contiguous()
    out["loss.logvar"] = torch.zeros(1)
    return out


def generate(out):
    d = os.path.join(out, "sat")
    os.makedirs(d, exist_ok=True)
    root = tiny_root(out)
    for variant in ["cogvideox-2b", "cogvideox-5b-i2v"]:
        sd = load_dir(os.path.join(root, variant, "transformer"))
        save_file(to_sat_transformer(sd), os.path.join(d, f"{variant}-transformer.safetensors"))
    save_file(to_sat_vae(load_dir(os.path.join(root, "cogvideox-2b", "vae"))), os.path.join(d, "vae.safetensors"))
