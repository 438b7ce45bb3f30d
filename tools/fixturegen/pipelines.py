"""End-to-end reference runs of the diffusers CogVideoX pipelines on the tiny models of fixtures/tiny/ (issue 7).

fixtures/pipelines/
  index.json              {"cases": ["<variant>/<case>", ...]}
  prompts.json            {"p0": "<prompt text>", ...} every distinct prompt / negative prompt of the cases
  prompts.safetensors     p<k>.ids     I64 [1, 226]      tokenizer(padding="max_length", max_length=226, truncation)
                          p<k>.embeds  F32 [1, 226, 32]  the pipeline's encode_prompt (T5 last_hidden_state)
  <variant>/<case>/
    case.json             the call: pipeline and scheduler class, prompt (+ prompt_key into prompts.safetensors),
                          negative prompt (null when guidance_scale <= 1: no CFG), seed, height, width, num_frames,
                          num_inference_steps, guidance_scale, use_dynamic_cfg, strength, input files, timesteps,
                          the order of every RNG draw, and the dtype/shape of every tensor in reference.safetensors
    reference.safetensors
      initial_latents      F32 [1, F, C, h, w]  what prepare_latents returned (the noise; V2V: the noised video latents)
      image                F32 [1, 3, H, W]     I2V: the preprocessed image (PIL Lanczos resize, 2x/255 - 1)
      image_latents        F32 [1, F, C, h, w]  I2V: encoded + scaled image latent then F-1 zero frames
      video_latents        F32 [1, F, C, h, w]  V2V: scaled encoder sample of the input video (add_noise's x0)
      video_noise          F32 [1, F, C, h, w]  V2V: add_noise's noise
      noise.<k>            F32                  the k-th torch.randn draw of the run (order/source in case.json)
      transformer_outputs  F32 [N, B, F, C, h, w]  raw transformer output per step (B = 2 with CFG, negative first)
      step_latents         F32 [N, 1, F, C, h, w]  latents after each scheduler step
      final_latents        F32 [1, F, C, h, w]  output_type="latent" (1.5: including the front pad frame)
      frames               F16 [F_px, H, W, 3]  output_type="np" in [0, 1]. Stored as F16 to keep the tree small:
                                                the rounding (<= 2.5e-4) is ~70 dB PSNR, far past the 45 dB criterion
    latents.safetensors   (cases with injected latents) tensor `latents` = initial_latents, for `generate --latents`
    image.png / video/    (I2V / V2V) the input exactly as passed to the pipeline (RGB PNG)

Runs use torch.Generator("cpu").manual_seed(seed); with injected latents the generator still drives the VAE posterior
and the DPM noise. Everything is fp32 on the CPU with one thread. Shapes: F latent frames (1.5: padded to even), C = 4
latent channels, h, w = H/8, W/8.
"""
import json
import os
import shutil

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from .common import VARIANTS, tiny_root, write_json

PROMPT = "a panda playing guitar in a bamboo forest, cinematic"
SECOND_PROMPT = "a red robot walking slowly on the beach at sunset"
NEGATIVE = "blurry, dark, low quality"


def long_prompt():
    """More than 225 pieces, so the pipeline's truncation to 225 + </s> is exercised."""
    from .tiny_models import WORDS
    g = torch.Generator().manual_seed(3)
    return " ".join(WORDS[int(i)] for i in torch.randint(0, len(WORDS), (260,), generator=g))


def cases():
    """(variant, case name, settings). Sizes stay small; 5b-I2V must run at its learned table's 48x64, 9 frames."""
    out = []
    for variant in VARIANTS:
        is_15 = variant.startswith("cogvideox1.5")
        size = (48, 64) if variant == "cogvideox-5b-i2v" else (32, 48)
        for sched in ("ddim", "dpm"):
            base = dict(scheduler=sched, height=size[0], width=size[1], num_inference_steps=4, guidance_scale=6.0)
            # Seeded runs. 1.5 DDIM at 17 frames: 5 latent frames padded to 6, the pad dropped, decoded as 3 + 2.
            out.append((variant, f"{sched}_seed", dict(base, prompt=PROMPT, seed=42 if sched == "ddim" else 43,
                                                      num_frames=17 if is_15 and sched == "ddim" else 9)))
            # Injected initial latents. 2b DDIM at 17 frames (5 latent frames, decoded as 3 + 2) with a prompt
            # longer than 226 tokens; 1.5 at 9 frames (3 latent frames padded to 4).
            out.append((variant, f"{sched}_latents",
                        dict(base, prompt=long_prompt() if sched == "ddim" else SECOND_PROMPT,
                             num_frames=17 if variant == "cogvideox-2b" and sched == "ddim" else 9,
                             seed=44 if sched == "ddim" else 45, latents_seed=1000 + (0 if sched == "ddim" else 1))))
    extra = [
        ("cogvideox-5b", "dpm_dynamic_cfg", dict(scheduler="dpm", prompt=PROMPT, negative_prompt=NEGATIVE,
                                                 use_dynamic_cfg=True, height=32, width=48, num_frames=9,
                                                 num_inference_steps=4, guidance_scale=6.0, seed=46)),
        # Portrait size off the 6x8 sample grid: fractional 1.0 RoPE column positions (crop-region linspace [1, 1.5]).
        ("cogvideox-5b", "ddim_portrait", dict(scheduler="ddim", prompt=PROMPT, height=48, width=32, num_frames=9,
                                               num_inference_steps=4, guidance_scale=6.0, seed=47)),
        # guidance_scale 1: no CFG, batch of one, no negative prompt encoded.
        ("cogvideox-5b", "ddim_no_cfg", dict(scheduler="ddim", prompt=PROMPT, height=32, width=48, num_frames=9,
                                             num_inference_steps=4, guidance_scale=1.0, seed=48)),
        # Video-to-video: strength 0.8 keeps int(4 * 0.8) = 3 of 4 steps.
        ("cogvideox-2b", "ddim_v2v", dict(scheduler="ddim", prompt=SECOND_PROMPT, height=32, width=48, num_frames=9,
                                          num_inference_steps=4, guidance_scale=6.0, strength=0.8, seed=50,
                                          video=True)),
        ("cogvideox-5b", "dpm_v2v", dict(scheduler="dpm", prompt=PROMPT, height=32, width=48, num_frames=9,
                                         num_inference_steps=4, guidance_scale=6.0, strength=0.8, seed=51,
                                         video=True)),
    ]
    return out + extra


def input_image():
    """A deterministic 72x96 RGB picture (gradients and a disc), resized by the pipeline with PIL Lanczos."""
    h, w = 72, 96
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / (w - 1)
    g = 255 * y / (h - 1)
    b = np.where((x - 60) ** 2 + (y - 30) ** 2 < 15 ** 2, 230.0, 40.0 + 100 * np.sin(x / 7) ** 2)
    return Image.fromarray(np.stack([r, g, b], -1).round().clip(0, 255).astype(np.uint8), "RGB")


def input_video(height, width, frames):
    """A moving pattern already at the target size (so the pipeline's resize is the identity)."""
    out = []
    for f in range(frames):
        y, x = np.mgrid[0:height, 0:width].astype(np.float64)
        r = 127.5 + 127.5 * np.sin((x + 3 * f) / 5)
        g = 127.5 + 127.5 * np.cos((y - 2 * f) / 4)
        b = np.full_like(x, 20.0 * f)
        out.append(Image.fromarray(np.stack([r, g, b], -1).round().clip(0, 255).astype(np.uint8), "RGB"))
    return out


class Recorder:
    """Records every torch.randn draw the pipeline makes (initial noise, VAE posterior, DPM noise), in order."""

    MODULES = {"diffusers.pipelines.cogvideo.pipeline_cogvideox": "initial noise",
               "diffusers.pipelines.cogvideo.pipeline_cogvideox_image2video": "initial noise",
               "diffusers.pipelines.cogvideo.pipeline_cogvideox_video2video": "initial noise",
               "diffusers.schedulers.scheduling_dpm_cogvideox": "DPM step noise",
               "diffusers.models.autoencoders.vae": "VAE posterior sample"}

    def __init__(self):
        import importlib
        self.draws = []
        self.saved = []
        for name, source in self.MODULES.items():
            mod = importlib.import_module(name)
            original = mod.randn_tensor

            def wrapped(*args, _orig=original, _source=source, **kwargs):
                t = _orig(*args, **kwargs)
                self.draws.append((_source, t.detach().clone()))
                return t

            self.saved.append((mod, original))
            mod.randn_tensor = wrapped

    def restore(self):
        for mod, original in self.saved:
            mod.randn_tensor = original


def load_pipeline(variant, settings):
    from diffusers import (CogVideoXDDIMScheduler, CogVideoXDPMScheduler, CogVideoXImageToVideoPipeline,
                           CogVideoXPipeline, CogVideoXVideoToVideoPipeline)
    if settings.get("video"):
        cls = CogVideoXVideoToVideoPipeline
    elif variant.endswith("i2v"):
        cls = CogVideoXImageToVideoPipeline
    else:
        cls = CogVideoXPipeline
    pipe = cls.from_pretrained(os.path.join(ROOT, variant))  # fp32 as stored
    sched_cls = CogVideoXDPMScheduler if settings["scheduler"] == "dpm" else CogVideoXDDIMScheduler
    pipe.scheduler = sched_cls.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def latent_shape(pipe, variant, settings):
    f = (settings["num_frames"] - 1) // 4 + 1
    if pipe.transformer.config.patch_size_t is not None:
        f += f % pipe.transformer.config.patch_size_t
    c = pipe.transformer.config.in_channels // (2 if variant.endswith("i2v") else 1)
    return (1, f, c, settings["height"] // 8, settings["width"] // 8)


@torch.no_grad()
def run_case(variant, name, settings, folder):
    os.makedirs(folder, exist_ok=True)
    pipe = load_pipeline(variant, settings)
    cfg = settings["guidance_scale"] > 1
    negative = settings.get("negative_prompt", "")
    kwargs = dict(prompt=settings["prompt"], num_frames=settings["num_frames"], height=settings["height"],
                  width=settings["width"], num_inference_steps=settings["num_inference_steps"],
                  guidance_scale=settings["guidance_scale"], use_dynamic_cfg=settings.get("use_dynamic_cfg", False),
                  max_sequence_length=226)
    if "negative_prompt" in settings:
        kwargs["negative_prompt"] = negative
    if "video" in settings:
        kwargs.pop("num_frames")
        kwargs["strength"] = settings["strength"]
    meta = {k: v for k, v in settings.items() if k != "video"}
    meta.update(variant=variant, case=name, pipeline=type(pipe).__name__, scheduler=type(pipe.scheduler).__name__)
    meta["negative_prompt"] = negative if cfg else None
    meta["max_sequence_length"] = 226

    tensors = {}
    meta["prompt_key"] = PROMPTS.add(pipe, settings["prompt"])
    meta["negative_prompt_key"] = PROMPTS.add(pipe, negative) if cfg else None

    if variant.endswith("i2v"):
        image = input_image()
        image.save(os.path.join(folder, "image.png"), optimize=False, compress_level=9)
        kwargs["image"] = Image.open(os.path.join(folder, "image.png")).convert("RGB")
        meta["image"] = "image.png"
    if settings.get("video"):
        video = input_video(settings["height"], settings["width"], settings["num_frames"])
        os.makedirs(os.path.join(folder, "video"), exist_ok=True)
        paths = []
        for i, frame in enumerate(video):
            path = os.path.join("video", f"frame_{i:03d}.png")
            frame.save(os.path.join(folder, path), optimize=False, compress_level=9)
            paths.append(path)
        kwargs["video"] = [Image.open(os.path.join(folder, p)).convert("RGB") for p in paths]
        meta["video"] = "video"
        meta["video_frames"] = paths

    if "latents_seed" in settings:
        shape = latent_shape(pipe, variant, settings)
        injected = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(settings["latents_seed"]))
        kwargs["latents"] = injected
        save_file({"latents": injected.contiguous()}, os.path.join(folder, "latents.safetensors"))
        meta["latents_file"] = "latents.safetensors"

    # Capture points.
    captured = {}
    original_prepare = pipe.prepare_latents

    def prepare(*args, **kw):
        result = original_prepare(*args, **kw)
        if isinstance(result, tuple):
            captured["initial_latents"], captured["image_latents"] = result[0].clone(), result[1].clone()
        else:
            captured["initial_latents"] = result.clone()
        return result

    pipe.prepare_latents = prepare
    original_add_noise = pipe.scheduler.add_noise

    def add_noise(original, noise, timesteps):
        captured["video_latents"], captured["video_noise"] = original.clone(), noise.clone()
        captured["latent_timestep"] = [int(t) for t in timesteps]
        return original_add_noise(original, noise, timesteps)

    pipe.scheduler.add_noise = add_noise
    processor = pipe.video_processor
    original_pre, original_pre_video = processor.preprocess, processor.preprocess_video

    def preprocess(*a, **kw):
        out = original_pre(*a, **kw)
        captured["image"] = out.clone()
        return out

    def preprocess_video(*a, **kw):
        out = original_pre_video(*a, **kw)
        captured["video"] = out.clone()
        return out

    processor.preprocess, processor.preprocess_video = preprocess, preprocess_video
    outputs, steps = [], []
    hook = pipe.transformer.register_forward_hook(lambda m, i, o: outputs.append(o[0].clone()))

    def on_step(p, i, t, kw):
        steps.append(kw["latents"].clone())
        return {}

    results = {}
    draws = {}
    for output_type in ("np", "latent"):
        outputs.clear(), steps.clear(), captured.clear()
        recorder = Recorder()
        try:
            result = pipe(**kwargs, output_type=output_type, generator=torch.Generator("cpu").manual_seed(
                settings["seed"]), callback_on_step_end=on_step, callback_on_step_end_tensor_inputs=["latents"])
        finally:
            recorder.restore()
        results[output_type] = (result.frames, list(outputs), list(steps), dict(captured), recorder.draws)
    frames, outputs_np, steps_np, captured_np, draws_np = results["np"]
    final, outputs_l, steps_l, captured_l, draws_l = results["latent"]
    # Both runs are the same computation up to the decode.
    assert torch.equal(final, steps_np[-1]) and all(torch.equal(a, b) for a, b in zip(steps_np, steps_l))
    assert all(torch.equal(a, b) for a, b in zip(outputs_np, outputs_l))
    hook.remove()

    if "video" in settings:
        captured_np.pop("image", None)  # preprocess_video goes through preprocess; the PNGs are the input
    for key in ("initial_latents", "image_latents", "image", "video_latents", "video_noise"):
        if key in captured_np:
            tensors[key] = captured_np[key]
    if "latent_timestep" in captured_np:
        meta["latent_timestep"] = captured_np["latent_timestep"]
    meta["rng_draws"] = []
    for k, (source, t) in enumerate(draws_np):
        tensors[f"noise.{k}"] = t
        meta["rng_draws"].append({"tensor": f"noise.{k}", "source": source, "shape": list(t.shape)})
    tensors["transformer_outputs"] = torch.stack(outputs_np)
    tensors["step_latents"] = torch.stack(steps_np)
    tensors["final_latents"] = final
    tensors["frames"] = torch.from_numpy(np.ascontiguousarray(frames[0])).to(torch.float16)
    meta["timesteps"] = [int(t) for t in pipe.scheduler.timesteps]
    if "video" in settings:
        meta["timesteps_run"] = meta["timesteps"][len(meta["timesteps"]) - len(steps_np):]
    tensors = {k: v.detach().to(torch.float16 if k == "frames" else torch.float32).contiguous()
               for k, v in tensors.items()}
    save_file(tensors, os.path.join(folder, "reference.safetensors"), metadata={"format": "pt"})
    meta["tensors"] = {k: {"dtype": "F16" if v.dtype == torch.float16 else "F32", "shape": list(v.shape)}
                       for k, v in sorted(tensors.items())}
    meta["diffusers_version"] = __import__("diffusers").__version__
    write_json(os.path.join(folder, "case.json"), meta)


ROOT = None


class PromptStore:
    """Token ids and T5 embeddings of each distinct prompt, shared by all cases (every variant has the same T5)."""

    def __init__(self):
        self.keys, self.tensors = {}, {}

    def add(self, pipe, text):
        if text in self.keys:
            return self.keys[text]
        key = f"p{len(self.keys)}"
        ids = pipe.tokenizer([text], padding="max_length", max_length=226, truncation=True, add_special_tokens=True,
                             return_tensors="pt").input_ids.to(torch.int64)
        embeds, _ = pipe.encode_prompt(text, do_classifier_free_guidance=False, max_sequence_length=226)
        self.keys[text] = key
        self.tensors[f"{key}.ids"] = ids.contiguous()
        self.tensors[f"{key}.embeds"] = embeds.float().contiguous()
        return key

    def save(self, folder):
        save_file(self.tensors, os.path.join(folder, "prompts.safetensors"), metadata={"format": "pt"})
        write_json(os.path.join(folder, "prompts.json"), {k: text for text, k in self.keys.items()})


PROMPTS = None


def generate(out):
    global ROOT, PROMPTS
    ROOT = tiny_root(out)
    PROMPTS = PromptStore()
    folder = os.path.join(out, "pipelines")
    shutil.rmtree(folder, ignore_errors=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same reduction order on every machine
    index = []
    try:
        for variant, name, settings in cases():
            print(f"   {variant}/{name}", flush=True)
            run_case(variant, name, settings, os.path.join(folder, variant, name))
            index.append(f"{variant}/{name}")
    finally:
        torch.set_num_threads(threads)
    PROMPTS.save(folder)
    write_json(os.path.join(folder, "index.json"), {"cases": index})
