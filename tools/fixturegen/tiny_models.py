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
| tokenizer | SentencePiece Unigram, 200 pieces (<pad> 0, </s> 1, <unk> 2), nmt_nfkc, + 100 <extra_id_*> (reversed) = 300 |
| T5 | d_model 32, d_kv 8, 4 heads, d_ff 64, 2 layers, gated-gelu, 32 buckets / max distance 128, vocab 384 |
| transformer | 2 heads × 16 = 32 wide, 2 layers, 4 latent channels (8 in for I2V), time/ofs embed 16, text 32 |
| sample size | 48×64 px, 9 frames (3 latent) for 1.0; 17 frames for 1.5 (patch_size_t 2) |
| VAE | block_out_channels [4, 8, 8, 8] (so conv_shortcut exists, as in the real [128, 256, 256, 512]), 1 layer per
block, 2 groups, 4 latent channels |

The tokenizer folder holds exactly the Hub files (spiece.model, tokenizer_config.json, special_tokens_map.json,
added_tokens.json; no tokenizer.json): transformers 5 converts spiece.model itself when loading.
The T5, tokenizer and VAE weights are the same in every variant (as on the Hub), so git stores those blobs once.
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

from .common import VARIANTS, perturb, tiny_root, write_json

WORDS = ("a cat dog bird fish horse panda robot astronaut city forest ocean mountain river street garden sunset night "
         "rain snow fire light shadow walking running flying swimming dancing playing sitting slowly quickly under "
         "over near the of and with in on at by red green blue golden silver bright dark small big old young camera "
         "pans zooms close-up wide shot cinematic realistic detailed video frame scene motion beautiful gentle wind leaves "
         "trees flowers butterfly mirror reflection glowing neon lights skyscraper traffic people crowd market bicycle "
         "train station platform window curtain candle table coffee cup steam morning evening afternoon clouds sky "
         "waves beach sand desert cactus lizard eagle wolf fox rabbit deer elephant giraffe tiger lion monkey whale "
         "dolphin octopus jellyfish coral underwater spaceship planet galaxy stars moon orbit volcano lava glacier ice "
         "winter summer autumn spring painting watercolor anime style photograph portrait landscape aerial drone "
         "tracking handheld slow-motion timelapse soft warm cold vivid colorful misty foggy stormy lightning thunder "
         "guitar piano violin singer dancer chef kitchen cooking bread pizza noodles chopsticks lantern temple castle "
         "bridge tower lighthouse harbor boat sailing fisherman village farmer field wheat sunflower meadow hills").split()
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


SPM_PIECES = 200
EXTRA_IDS = 100


def train_spiece():
    """Trains the tiny SentencePiece model (deterministic: one thread, no shuffling) and returns its bytes."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus()), model_writer=model, vocab_size=SPM_PIECES,
                                   model_type="unigram", normalization_rule_name="nmt_nfkc", pad_id=0, eos_id=1,
                                   unk_id=2, bos_id=-1, character_coverage=1.0, num_threads=1,
                                   seed_sentencepiece_size=5000, shuffle_input_sentence=False)
    return model.getvalue()


def write_tokenizer(folder, spiece: bytes):
    """The Hub tokenizer folder as transformers 4.x saved it for THUDM/CogVideoX-* (T5Tokenizer, legacy=true,
    model_max_length 226): <extra_id_i> has id pieces + 99 - i."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "spiece.model"), "wb") as f:
        f.write(spiece)
    extra = [f"<extra_id_{i}>" for i in range(EXTRA_IDS)]
    extra_id = {t: SPM_PIECES + EXTRA_IDS - 1 - i for i, t in enumerate(extra)}

    def added(content):
        return {"content": content, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                "special": True}

    decoder = {str(i): added(t) for i, t in enumerate(["<pad>", "</s>", "<unk>"])}
    decoder.update({str(extra_id[t]): added(t) for t in reversed(extra)})
    write_json(os.path.join(folder, "tokenizer_config.json"), {
        "added_tokens_decoder": decoder, "additional_special_tokens": extra, "clean_up_tokenization_spaces": True,
        "eos_token": "</s>", "extra_ids": EXTRA_IDS, "legacy": True, "model_max_length": 226, "pad_token": "<pad>",
        "sp_model_kwargs": {}, "tokenizer_class": "T5Tokenizer", "unk_token": "<unk>"}, sort_keys=False)
    write_json(os.path.join(folder, "special_tokens_map.json"), {
        "additional_special_tokens": extra, "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"})
    write_json(os.path.join(folder, "added_tokens.json"), dict(sorted(extra_id.items(), key=lambda kv: kv[1])),
               sort_keys=False)


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
    vae = AutoencoderKLCogVideoX(block_out_channels=(4, 8, 8, 8), latent_channels=4, layers_per_block=1,
                                 norm_num_groups=2, sample_height=48, sample_width=64,
                                 scaling_factor=1.15258426 if variant == "cogvideox-2b" else 0.7,
                                 invert_scale_latents=is_15).eval()
    perturb(vae, 100)
    return transformer, vae


def make_t5():
    vocab = (SPM_PIECES + EXTRA_IDS + 127) // 128 * 128  # rounded up like the real 32100 -> 32128
    torch.manual_seed(7)
    config = T5Config(d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=2, vocab_size=vocab,
                      feed_forward_proj="gated-gelu", relative_attention_num_buckets=32,
                      relative_attention_max_distance=128, layer_norm_epsilon=1e-6, dropout_rate=0.0,
                      pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, tie_word_embeddings=False)
    t5 = T5EncoderModel(config).eval()
    perturb(t5, 8, scale=0.5)
    return t5


def make_scheduler(variant):
    return CogVideoXDDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                  clip_sample=False, num_train_timesteps=1000, prediction_type="v_prediction",
                                  rescale_betas_zero_snr=True, set_alpha_to_one=True,
                                  snr_shift_scale=3.0 if variant == "cogvideox-2b" else 1.0,
                                  timestep_spacing="trailing", steps_offset=0)


def pipeline_class(variant):
    return CogVideoXImageToVideoPipeline if variant.endswith("i2v") else CogVideoXPipeline


def generate(out):
    root = tiny_root(out)
    shutil.rmtree(root, ignore_errors=True)
    spiece = train_spiece()
    scratch = os.path.join(root, "_tokenizer")
    write_tokenizer(scratch, spiece)
    tok = T5Tokenizer.from_pretrained(scratch)
    assert len(tok) == SPM_PIECES + EXTRA_IDS, len(tok)
    t5 = make_t5()
    for i, variant in enumerate(VARIANTS):
        transformer, vae = build(variant, 1000 + 10 * i)
        # The same VAE weights in every variant (only the config differs), as on the Hub: the 2b ones.
        shared_vae = shared_vae if i else {k: v.clone() for k, v in vae.state_dict().items()}
        vae.load_state_dict(shared_vae)
        pipe = pipeline_class(variant)(tokenizer=tok, text_encoder=t5, vae=vae, transformer=transformer,
                                       scheduler=make_scheduler(variant))
        folder = os.path.join(root, variant)
        pipe.save_pretrained(folder, safe_serialization=True)
        shard_in_two(os.path.join(folder, "transformer"), "diffusion_pytorch_model")
        shard_in_two(os.path.join(folder, "text_encoder"), "model")
        # transformers 5 saves only tokenizer.json; the Hub folders carry the SentencePiece files instead.
        shutil.rmtree(os.path.join(folder, "tokenizer"))
        write_tokenizer(os.path.join(folder, "tokenizer"), spiece)
    shutil.rmtree(scratch)
    verify(root)


def verify(root):
    """Each folder loads with the reference pipeline class and runs one tiny generation."""
    from PIL import Image
    for variant in VARIANTS:
        pipe = pipeline_class(variant).from_pretrained(os.path.join(root, variant))
        tok = pipe.tokenizer
        ids = tok("a cat walking").input_ids
        assert ids[-1] == 1 and max(ids) < SPM_PIECES and 2 not in ids, ids
        assert tok.convert_tokens_to_ids("<extra_id_0>") == SPM_PIECES + EXTRA_IDS - 1
        frames = 17 if variant.startswith("cogvideox1.5") else 9
        kw = dict(prompt="a cat walking", num_frames=frames, height=48, width=64, num_inference_steps=2,
                  generator=torch.Generator("cpu").manual_seed(0), output_type="np")
        if variant.endswith("i2v"):
            kw["image"] = Image.new("RGB", (64, 48), (200, 100, 50))
        video = pipe(**kw).frames
        assert video.shape == (1, frames, 48, 64, 3) and bool(torch.isfinite(torch.from_numpy(video)).all()), \
            (variant, video.shape)
