#!/usr/bin/env python3
"""Build full-size CogVideoX checkpoint folders (Hub layout) with the exact published configs, for the
convert/validate full-size benchmark (issue 8). Key names and shapes come from the diffusers/transformers model
classes instantiated on the `meta` device, so they are exactly what the real checkpoints hold; the data is random
(default) or zeros in sparse files (`--fill zeros`, no disk traffic). Sharding follows the Hub: diffusers models
at 10 GB per shard, transformers' T5 at 5 GB.

    python Benchmarks/make_fullsize_checkpoints.py --variant 2b --out /tmp/fullsize [--fill zeros]

Needs: torch, diffusers, transformers, numpy (a venv outside the repository).
"""
import argparse
import json
import os
import shutil
import struct

import numpy as np
import torch

T5_CONFIG = dict(d_model=4096, d_kv=64, num_heads=64, d_ff=10240, num_layers=24, feed_forward_proj="gated-gelu",
                 relative_attention_num_buckets=32, relative_attention_max_distance=128, layer_norm_epsilon=1e-6,
                 vocab_size=32128, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
                 tie_word_embeddings=False, dense_act_fn="gelu_new", is_gated_act=True)

TRANSFORMER = {
    "2b": dict(num_attention_heads=30, num_layers=30, use_rotary_positional_embeddings=False),
    "5b": dict(num_attention_heads=48, num_layers=42, use_rotary_positional_embeddings=True),
    "5b-i2v": dict(num_attention_heads=48, num_layers=42, in_channels=32, use_rotary_positional_embeddings=True,
                   use_learned_positional_embeddings=True),
    "1.5": dict(num_attention_heads=48, num_layers=42, use_rotary_positional_embeddings=True, sample_height=300,
                sample_width=300, sample_frames=81, patch_size_t=2, patch_bias=False),
    "1.5-i2v": dict(num_attention_heads=48, num_layers=42, in_channels=32, use_rotary_positional_embeddings=True,
                    sample_height=300, sample_width=300, sample_frames=81, patch_size_t=2, patch_bias=False,
                    ofs_embed_dim=512),
}
SCALING = {"2b": 1.15258426}
SNR_SHIFT = {"2b": 3.0}
DTYPE = {"2b": ("F16", torch.float16)}
PIPELINE_CLASS = {"5b-i2v": "CogVideoXImageToVideoPipeline", "1.5-i2v": "CogVideoXImageToVideoPipeline"}


def meta_state(cls, **cfg):
    with torch.device("meta"):
        model = cls(**cfg)
    return model, [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


def write_safetensors(path, entries, dtype_name, fill, rng):
    """entries: [(name, shape)]; writes the reference layout (one dtype, so sorted by name)."""
    item = {"F16": 2, "BF16": 2, "F32": 4}[dtype_name]
    entries = sorted(entries)
    header, offset = {}, 0
    for name, shape in entries:
        n = int(np.prod(shape)) * item
        header[name] = {"dtype": dtype_name, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - (len(text) + 8) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        start = f.tell()
        if fill == "zeros":
            f.truncate(start + offset)
            return offset
        chunk = 1 << 24  # elements per write
        for name, shape in entries:
            left = int(np.prod(shape))
            while left > 0:
                m = min(left, chunk)
                x = (rng.standard_normal(m, dtype=np.float32) * 0.02)
                if dtype_name == "F16":
                    f.write(x.astype(np.float16).tobytes())
                elif dtype_name == "BF16":
                    f.write((x.view(np.uint32) >> 16).astype(np.uint16).tobytes())
                else:
                    f.write(x.tobytes())
                left -= m
    return offset


def write_component(folder, entries, dtype_name, fill, rng, base, shard_bytes, config):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    item = {"F16": 2, "BF16": 2, "F32": 4}[dtype_name]
    shards, cur, size = [], [], 0
    for name, shape in entries:
        n = int(np.prod(shape)) * item
        if cur and size + n > shard_bytes:
            shards.append(cur)
            cur, size = [], 0
        cur.append((name, shape))
        size += n
    shards.append(cur)
    if len(shards) == 1:
        write_safetensors(os.path.join(folder, f"{base}.safetensors"), shards[0], dtype_name, fill, rng)
        return
    weight_map, total = {}, 0
    for i, shard in enumerate(shards):
        fname = f"{base}-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        total += write_safetensors(os.path.join(folder, fname), shard, dtype_name, fill, rng)
        weight_map.update({n: fname for n, _ in shard})
    with open(os.path.join(folder, f"{base}.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", choices=sorted(TRANSFORMER), required=True)
    ap.add_argument("--out", required=True, help="parent folder; the pipeline goes in OUT/cogvideox-VARIANT")
    ap.add_argument("--fill", choices=["random", "zeros"], default="random")
    ap.add_argument("--tokenizer", default=os.path.join(os.path.dirname(__file__), "..", "fixtures", "tiny",
                                                         "cogvideox-2b", "tokenizer"),
                    help="tokenizer folder to copy (the real spiece.model is not available offline)")
    ap.add_argument("--components", default="transformer,vae,text_encoder")
    args = ap.parse_args()

    from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
    from transformers import T5Config, T5EncoderModel

    v = args.variant
    dtype_name, _ = DTYPE.get(v, ("BF16", torch.bfloat16))
    root = os.path.join(args.out, f"cogvideox-{v}")
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(0)
    comps = args.components.split(",")

    if "transformer" in comps:
        model, entries = meta_state(CogVideoXTransformer3DModel, **TRANSFORMER[v])
        cfg = dict(model.config)
        cfg["_class_name"] = "CogVideoXTransformer3DModel"
        write_component(os.path.join(root, "transformer"), entries, dtype_name, args.fill, rng,
                        "diffusion_pytorch_model", 10 * 10**9, cfg)
    if "vae" in comps:
        vae_cfg = dict(scaling_factor=SCALING.get(v, 0.7), invert_scale_latents=v.startswith("1.5"))
        model, entries = meta_state(AutoencoderKLCogVideoX, **vae_cfg)
        cfg = dict(model.config)
        cfg["_class_name"] = "AutoencoderKLCogVideoX"
        write_component(os.path.join(root, "vae"), entries, dtype_name, args.fill, rng,
                        "diffusion_pytorch_model", 10 * 10**9, cfg)
    if "text_encoder" in comps:
        config = T5Config(**T5_CONFIG)
        with torch.device("meta"):
            model = T5EncoderModel(config)
        entries = [(k, tuple(t.shape)) for k, t in model.state_dict().items() if k != "encoder.embed_tokens.weight"]
        cfg = config.to_dict()
        cfg["architectures"] = ["T5EncoderModel"]
        write_component(os.path.join(root, "text_encoder"), entries, dtype_name, args.fill, rng,
                        "model", 5 * 10**9, cfg)
    if os.path.isdir(args.tokenizer):
        shutil.copytree(args.tokenizer, os.path.join(root, "tokenizer"), dirs_exist_ok=True)
    os.makedirs(os.path.join(root, "scheduler"), exist_ok=True)
    with open(os.path.join(root, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump({"_class_name": "CogVideoXDDIMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
                   "beta_start": 0.00085, "clip_sample": False, "clip_sample_range": 1.0, "num_train_timesteps": 1000,
                   "prediction_type": "v_prediction", "rescale_betas_zero_snr": True, "sample_max_value": 1.0,
                   "set_alpha_to_one": True, "snr_shift_scale": SNR_SHIFT.get(v, 1.0), "steps_offset": 0,
                   "timestep_spacing": "trailing", "trained_betas": None}, f, indent=2)
    with open(os.path.join(root, "model_index.json"), "w") as f:
        json.dump({"_class_name": PIPELINE_CLASS.get(v, "CogVideoXPipeline"), "_diffusers_version": "0.42.1",
                   "scheduler": ["diffusers", "CogVideoXDDIMScheduler"],
                   "text_encoder": ["transformers", "T5EncoderModel"], "tokenizer": ["transformers", "T5Tokenizer"],
                   "transformer": ["diffusers", "CogVideoXTransformer3DModel"],
                   "vae": ["diffusers", "AutoencoderKLCogVideoX"]}, f, indent=2)
    print(root)


if __name__ == "__main__":
    main()
