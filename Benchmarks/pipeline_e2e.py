#!/usr/bin/env python3
"""End-to-end generation benchmark (issue 7): 9 frames at 240×368, 4 DDIM steps, CFG on, with a 2b-width transformer
of 2 layers (30 heads × 64), T5 at XXL width with 2 layers, and the real VAE config — random weights, fp32 — run by
diffusers and by `cogvideo-convert generate` (F32 from the diffusers folder, and Q8_0 from a converted GGUF) in the
same run. Reports wall time and peak RSS of each.

    swift build -c release --product cogvideo-convert
    python3 Benchmarks/pipeline_e2e.py [--work /tmp/e2e] [--threads 2]
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DIFFUSERS = r'''
import sys, time, resource, torch
torch.set_num_threads(int(sys.argv[2]))
from diffusers import CogVideoXPipeline
pipe = CogVideoXPipeline.from_pretrained(sys.argv[1], torch_dtype=torch.float32)
t0 = time.perf_counter()
out = pipe("a panda playing guitar", num_frames=9, height=240, width=368, num_inference_steps=4, guidance_scale=6.0,
           generator=torch.Generator("cpu").manual_seed(42), output_type="np")
print("seconds", time.perf_counter() - t0, "frames", out.frames[0].shape)
'''
BUILD = r'''
import sys, torch, os
from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXPipeline, CogVideoXTransformer3DModel
from transformers import T5Config, T5EncoderModel, T5Tokenizer
root, tok = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
tr = CogVideoXTransformer3DModel(num_attention_heads=30, attention_head_dim=64, num_layers=2)
vae = AutoencoderKLCogVideoX(scaling_factor=1.15258426)
t5 = T5EncoderModel(T5Config(d_model=4096, d_kv=64, num_heads=64, d_ff=10240, num_layers=2, vocab_size=32128,
                             feed_forward_proj="gated-gelu", dense_act_fn="gelu_new", is_gated_act=True))
for m in (tr, vae, t5):
    for p in m.parameters(): p.data.normal_(0, 0.02)
sched = CogVideoXDDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
    prediction_type="v_prediction", rescale_betas_zero_snr=True, set_alpha_to_one=True, snr_shift_scale=3.0, timestep_spacing="trailing")
CogVideoXPipeline(tokenizer=T5Tokenizer.from_pretrained(tok), text_encoder=t5, vae=vae, transformer=tr, scheduler=sched).save_pretrained(root)
import shutil; shutil.copy(os.path.join(tok, "spiece.model"), os.path.join(root, "tokenizer", "spiece.model"))
'''


def measured(cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr[-3000:]}")
    return dt, int(p.stderr.strip().splitlines()[-1]) / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/e2e")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--cli", default=os.path.join(HERE, "..", ".build", "release", "cogvideo-convert"))
    args = ap.parse_args()
    folder = os.path.join(args.work, "cogvideox-2b-width-2layers")
    if not os.path.exists(os.path.join(folder, "model_index.json")):
        subprocess.run([sys.executable, "-c", BUILD, folder, os.path.join(HERE, "..", "fixtures", "tiny", "cogvideox-2b", "tokenizer")], check=True)
    gguf = os.path.join(args.work, "q8_0.gguf")
    if not os.path.exists(gguf):
        subprocess.run([args.cli, "convert", folder, "-o", gguf, "--type", "q8_0", "--quiet"], check=True)
    common = ["--prompt", "a panda playing guitar", "--frames", "9", "--height", "240", "--width", "368", "--steps", "4",
              "--guidance", "6", "--seed", "42", "--quiet", "--threads", args.threads]
    rows = []
    dt, rss = measured([sys.executable, "-c", DIFFUSERS, folder, args.threads])
    rows.append(("diffusers fp32", dt, rss))
    dt, rss = measured([args.cli, "generate", "--model", folder, *common, "-o", os.path.join(args.work, "f32.gif")])
    rows.append(("swift F32", dt, rss))
    dt, rss = measured([args.cli, "generate", "--model", gguf, *common, "-o", os.path.join(args.work, "q8.gif")])
    rows.append(("swift Q8_0 GGUF", dt, rss))
    base = rows[0]
    print(f"{'run':<18}{'wall s':>9}{'peak RSS MB':>13}{'speed-up':>10}{'RSS ratio':>11}")
    for name, dt, rss in rows:
        print(f"{name:<18}{dt:>9.1f}{rss:>13.0f}{base[1] / dt:>9.2f}x{rss / base[2]:>10.2f}")


if __name__ == "__main__":
    main()
