"""Tiny random-weight CogVideoX pipelines in the exact Hugging Face Hub folder layout, one per published variant:

fixtures/tiny/<variant>/
  model_index.json                   as diffusers' save_pretrained writes it
  scheduler/scheduler_config.json    CogVideoXDDIMScheduler with the variant's real values
  tokenizer/                         T5Tokenizer over a tiny SentencePiece Unigram model (nmt_nfkc normalizer)
  text_encoder/                      tiny T5EncoderModel, two shards + model.safetensors.index.json
  transformer/                       tiny CogVideoXTransformer3DModel of the variant's structure, two shards + index
  vae/                               tiny AutoencoderKLCogVideoX (variant's scaling_factor / invert_scale_latents)

Every parameter is perturbed away from its init value; weights are fp32. The configurations:

| part | tiny value |
|---|---|
| T5 | d_model 32, d_kv 8, 4 heads, d_ff 64, 2 layers, gated-gelu, 32 buckets / max distance 128 |
| transformer | 2 heads × 16 = 32 wide, 2 layers, 4 latent channels (8 in for I2V), time/ofs embed 16, text 32 |
| sample size | 48×64 px, 9 frames (3 latent) for 1.0; 17 frames for 1.5 (patch_size_t 2) |
| VAE | block_out_channels [8, 8, 8, 8], 1 layer per block, 4 groups, 4 latent channels |
"""
import io
import json
import os
import shutil

import sentencepiece as spm
import torch
from diffusers import (AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXImageToVideoPipeline,
                       CogVideoXPipeline, CogVideoXTransformer3DModel)
from transformers import T5Config, T5EncoderModel, T5Tokenizer

from .common import VARIANTS, perturb, tiny_root

WORDS = ("a cat dog bird fish horse panda robot astronaut city forest ocean mountain river street garden sunset night "
         "rain snow fire light shadow walking running flying swimming dancing playing sitting slowly quickly under "
         "over near the of and with in on at by red green blue golden silver bright dark small big old young camera "
         "pans zooms close-up wide shot cinematic realistic detailed video frame scene motion").split()
EXTRA = ["café naïve résumé", "東京の夜 桜", "北京 上海", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "emoji 🐼🚀✨",
         "e\u0301 a\u0300 combining", "Straße Größe", "ﬁ ligature ①②③", "Ωmega ½ ¼", "tab\tand  spaces"]


def corpus():
    g = torch.Generator().manual_seed(1)
    lines = []
    for i in range(3000):
        n = int(torch.randint(4, 16, (1,), generator=g))
        idx = torch.randint(0, len(WORDS), (n,), generator=g).tolist()
        lines.append(" ".join(WORDS[j] for j in idx))
    lines += EXTRA * 20
    return lines


def train_tokenizer(folder):
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus()), model_writer=model, vocab_size=150,
                                   model_type="unigram", normalization_rule_name="nmt_nfkc", pad_id=0, eos_id=1,
                                   unk_id=2, bos_id=-1, character_coverage=1.0, num_threads=1, seed_sentencepiece_size=5000,
                                   shuffle_input_sentence=False)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, "spiece.model")
    with open(tmp, "wb") as f:
        f.write(model.getvalue())
    tok = T5Tokenizer(vocab_file=tmp, extra_ids=100, model_max_length=226, legacy=True)
    return tok


TRANSFORMER_BASE = dict(num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=4, time_embed_dim=16,
                        text_embed_dim=32, num_layers=2, sample_width=8, sample_height=6, sample_frames=9)
VARIANT_CONFIG = {
    "cogvideox-2b": dict(use_rotary_positional_embeddings=False),
    "cogvideox-5b": dict(use_rotary_positional_embeddings=True),
    "cogvideox-5b-i2v": dict(use_rotary_positional_embeddings=True, use_learned_positional_embeddings=True,
                             in_channels=8),
    "cogvideox1.5-5b": dict(use_rotary_positional_embeddings=True, patch_size_t=2, sample_frames=17, patch_bias=False,
                            sample_width=8, sample_height=8),
    "cogvideox1.5-5b-i2v": dict(use_rotary_positional_embeddings=True, patch_size_t=2, sample_frames=17,
                                patch_bias=False, in_channels=8, ofs_embed_dim=16, sample_width=8, sample_height=8),
}


def shard_in_two(folder, weights_name):
    """Re-saves the single weights file of a folder as two shards + index (Hub layout for big components)."""
    from safetensors.torch import load_file, save_file
    single = os.path.join(folder, weights_name + ".safetensors")
    sd = load_file(single)
    os.remove(single)
    names = sorted(sd)
    half = len(names) // 2
    parts = [names[:half], names[half:]]
    weight_map, total = {}, 0
    for i, part in enumerate(parts):
        fname = f"{weights_name}-{i + 1:05d}-of-00002.safetensors"
        save_file({k: sd[k].contiguous() for k in part}, os.path.join(folder, fname), metadata={"format": "pt"})
        for k in part:
            weight_map[k] = fname
            total += sd[k].numel() * sd[k].element_size()
    with open(os.path.join(folder, weights_name + ".safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2, sort_keys=True)
        f.write("\n")


def build(variant, seed):
    torch.manual_seed(seed)
    is_15 = variant.startswith("cogvideox1.5")
    cfg = dict(TRANSFORMER_BASE, **VARIANT_CONFIG[variant])
    transformer = CogVideoXTransformer3DModel(**cfg).eval()
    perturb(transformer, seed + 1)
    vae = AutoencoderKLCogVideoX(block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1,
                                 norm_num_groups=4, sample_height=48, sample_width=64,
                                 scaling_factor=1.15258426 if variant == "cogvideox-2b" else 0.7,
                                 invert_scale_latents=is_15).eval()
    perturb(vae, 100)  # the same VAE weights in every variant (only the config differs), as on the Hub
    return transformer, vae


def generate(out):
    root = tiny_root(out)
    shutil.rmtree(root, ignore_errors=True)
    scratch = os.path.join(root, "_tokenizer")
    tok = train_tokenizer(scratch)
    vocab = (len(tok) + 63) // 64 * 64
    torch.manual_seed(7)
    t5 = T5EncoderModel(T5Config(d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=2, vocab_size=vocab,
                                 feed_forward_proj="gated-gelu", relative_attention_num_buckets=32,
                                 relative_attention_max_distance=128, layer_norm_epsilon=1e-6, dropout_rate=0.0,
                                 pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
                                 tie_word_embeddings=False)).eval()
    perturb(t5, 8, scale=0.5)
    for i, variant in enumerate(VARIANTS):
        transformer, vae = build(variant, 1000 + 10 * i)
        snr = 3.0 if variant == "cogvideox-2b" else 1.0
        scheduler = CogVideoXDDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                           clip_sample=False, num_train_timesteps=1000, prediction_type="v_prediction",
                                           rescale_betas_zero_snr=True, set_alpha_to_one=True, snr_shift_scale=snr,
                                           timestep_spacing="trailing", steps_offset=0)
        cls = CogVideoXImageToVideoPipeline if variant.endswith("i2v") else CogVideoXPipeline
        pipe = cls(tokenizer=tok, text_encoder=t5, vae=vae, transformer=transformer, scheduler=scheduler)
        folder = os.path.join(root, variant)
        pipe.save_pretrained(folder, safe_serialization=True)
        shard_in_two(os.path.join(folder, "transformer"), "diffusion_pytorch_model")
        shard_in_two(os.path.join(folder, "text_encoder"), "model")
        # transformers 5 saves only tokenizer.json; the Hub folders also carry the SentencePiece model.
        shutil.copy(os.path.join(scratch, "spiece.model"), os.path.join(folder, "tokenizer", "spiece.model"))
    shutil.rmtree(scratch)
    # Each folder must load with the reference classes.
    for variant in VARIANTS:
        cls = CogVideoXImageToVideoPipeline if variant.endswith("i2v") else CogVideoXPipeline
        cls.from_pretrained(os.path.join(root, variant))
