#!/usr/bin/env python3
"""CogVideoX transformer: Swift vs diffusers fp32 on the same random-weight model, same inputs, same thread count,
in one run (issue 5).

    swift build -c release --product cogvideo-bench && swift build -c release --product cogvideo-convert
    /work/venv/bin/python Benchmarks/transformer.py model [--frames 13 --height 240 --width 368] [--layers 2]
        [--no-torch [--torch-seconds S]] [--q8-attention both|f32|bf16]
    /work/venv/bin/python Benchmarks/transformer.py block [--frames 49 --height 480 --width 720] [--batch 1] [--torch]
        [--types f32,q8_0,q8_0+bf16attn]

`model`: a 2b-width CogVideoXTransformer3DModel (the 2b config, `num_layers` LAYERS, PyTorch's default random init)
is saved in a temporary folder; diffusers runs it in a subprocess (so its peak RSS is its own), then the Swift
benchmark runs it from the saved safetensors (F32) and from a Q8_0 GGUF made by `cogvideo-convert convert`, the
Q8_0 model once with fp32 attention (`q8_0`) and once with bf16 attention products (`q8_0+bf16attn`, the engine's
default for Q8_0/Q4_0 weights on CPUs with AVX-512 BF16; `COGVIDEO_ATTENTION`). Inputs
are a CFG batch of 2 (as the pipeline calls the transformer). Prints seconds per forward (best of REPEATS), peak
RSS, the ratios to diffusers, and the cosine of each Swift output to the diffusers output. CPU seconds (user +
system, all threads) are printed too: on a machine shared with other jobs, wall time includes waiting for a core.
--no-torch skips diffusers (no cosine then; ratios against --torch-seconds when given, else against the first
Swift row).

`block`: one 2b-width block at the pipeline's full sequence (49 frames × 480×720 → 17,776 tokens) with random
weights: Swift time and peak RSS (activations = peak − RSS after the weights); with --torch, diffusers'
CogVideoXBlock on the same sizes in a subprocess too. A type with the suffix `+bf16attn` (`+f32attn`) forces bf16
(fp32) attention products for that row.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "..", ".build", "release")


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    return 0.0


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    return 0.0


def latent(frames, height, width):
    return (frames - 1) // 4 + 1, height // 8, width // 8


# ----------------------------------------------------------------------------------------------------------- workers

def torch_model_worker(args):
    """Runs in its own process: load the saved model, time REPEATS forwards, write the output next to the inputs."""
    import torch
    from diffusers import CogVideoXTransformer3DModel
    from safetensors.torch import load_file, save_file
    torch.set_num_threads(args.threads)
    model = CogVideoXTransformer3DModel.from_pretrained(args.dir, torch_dtype=torch.float32).eval()
    inputs = load_file(os.path.join(args.dir, "inputs.safetensors"))
    weights_rss = rss_mb()
    times, cpu = [], []
    with torch.inference_mode():
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            out = model(hidden_states=inputs["hidden_states"], encoder_hidden_states=inputs["encoder_hidden_states"],
                        timestep=inputs["timestep"], return_dict=False)[0]
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    save_file({**inputs, "output": out.contiguous()}, os.path.join(args.dir, "reference.safetensors"))
    print(json.dumps({"impl": "diffusers", "type": "f32", "seconds": min(times), "all_seconds": times,
                      "cpu_seconds": min(cpu),
                      "rss_weights_mb": weights_rss, "peak_rss_mb": peak_rss_mb()}))


def torch_block_worker(args):
    import torch
    from diffusers.models.transformers.cogvideox_transformer_3d import CogVideoXBlock
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    block = CogVideoXBlock(dim=1920, num_attention_heads=30, attention_head_dim=64, time_embed_dim=512).eval()
    f, h, w = latent(args.frames, args.height, args.width)
    n = f * (h // 2) * (w // 2)
    hidden = torch.randn(args.batch, n, 1920)
    enc = torch.randn(args.batch, 226, 1920)
    temb = torch.randn(args.batch, 512)
    weights_rss = rss_mb()
    with torch.inference_mode():
        t0, c0 = time.perf_counter(), time.process_time()
        block(hidden, enc, temb)
        t, c = time.perf_counter() - t0, time.process_time() - c0
    peak = peak_rss_mb()
    print(json.dumps({"impl": "diffusers", "type": "f32", "tokens": n + 226, "batch": args.batch, "seconds": t, "cpu_seconds": c,
                      "rss_weights_mb": weights_rss, "peak_rss_mb": peak, "activation_peak_mb": peak - weights_rss}))


# ----------------------------------------------------------------------------------------------------------- drivers

def run_json(cmd, attention=None):
    env = dict(os.environ)
    if attention:
        env["COGVIDEO_ATTENTION"] = attention
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def label(row):
    """The weight type plus `+bf16attn` when the attention products ran in bf16."""
    return row["type"] + ("+bf16attn" if row.get("attention") == "bf16" else "")


def model_driver(args):
    import torch
    from diffusers import CogVideoXTransformer3DModel
    from safetensors.torch import save_file
    f, h, w = latent(args.frames, args.height, args.width)
    tokens = 226 + f * (h // 2) * (w // 2)
    with tempfile.TemporaryDirectory(dir=args.tmp) as d:
        torch.manual_seed(0)
        model = CogVideoXTransformer3DModel(num_layers=args.layers)  # the class defaults are the 2b config
        model.save_pretrained(d, safe_serialization=True)
        del model
        save_file({"hidden_states": torch.randn(2, f, 16, h, w),
                   "encoder_hidden_states": torch.randn(2, 226, 4096) * 0.2,
                   "timestep": torch.tensor([500.0, 500.0])}, os.path.join(d, "inputs.safetensors"))
        gguf = os.path.join(d, "q8_0.gguf")
        subprocess.run([os.path.join(BUILD, "cogvideo-convert"), "convert", d, "-o", gguf, "--type", "q8_0", "--quiet"],
                       check=True, capture_output=True)
        print(f"2b-width transformer, {args.layers} layers, {args.frames} frames × {args.height}×{args.width} "
              f"({tokens} tokens), CFG batch 2, {args.threads} threads, best of {args.repeats}")
        rows = []
        if not args.no_torch:
            rows.append(run_json([sys.executable, __file__, "torch-model-worker", "--dir", d, "--threads",
                                  str(args.threads), "--repeats", str(args.repeats)]))
        ref = os.path.join(d, "reference.safetensors" if not args.no_torch else "inputs.safetensors")
        q8_attention = ["f32", "bf16"] if args.q8_attention == "both" else [args.q8_attention]
        for weights, attention in [(d, "f32")] + [(gguf, a) for a in q8_attention]:
            rows.append(run_json([os.path.join(BUILD, "cogvideo-bench"), "transformer", "model", d, weights, ref,
                                  str(args.threads), str(args.repeats)], attention=attention))
    if args.no_torch and args.torch_seconds:
        base = {"seconds": args.torch_seconds, "cpu_seconds": args.torch_seconds * args.threads}
        print(f"ratios against diffusers f32 at --torch-seconds {args.torch_seconds} (CPU s assumed = threads × wall)")
    else:
        base = rows[0]
    print(f"{'impl':<10}{'weights':<15}{'s/forward':>10}{'speed-up':>9}{'CPU s':>8}{'CPU speed-up':>13}"
          f"{'peak RSS MB':>13}{'RSS ratio':>10}{'weights RSS MB':>15}{'cosine':>12}")
    def rss_ratio(r):
        return "" if args.no_torch else f"{r['peak_rss_mb'] / base['peak_rss_mb']:.2f}"

    for r in rows:
        cos = r.get("cosine_to_diffusers")
        print(f"{r['impl']:<10}{label(r):<15}{r['seconds']:>10.3f}{base['seconds'] / r['seconds']:>8.2f}x"
              f"{r['cpu_seconds']:>8.1f}{base['cpu_seconds'] / r['cpu_seconds']:>12.2f}x"
              f"{r['peak_rss_mb']:>13.0f}{rss_ratio(r):>10}{r['rss_weights_mb']:>15.0f}"
              f"{'' if cos is None else f'{cos:.7f}':>12}")
    print(json.dumps(rows))


def block_driver(args):
    f, h, w = latent(args.frames, args.height, args.width)
    rows = []
    if args.torch:
        rows.append(run_json([sys.executable, __file__, "torch-block-worker", "--threads", str(args.threads),
                              "--frames", str(args.frames), "--height", str(args.height), "--width", str(args.width),
                              "--batch", str(args.batch)]))
    for t in args.types.split(","):
        t, _, attention = t.partition("+")
        rows.append(run_json([os.path.join(BUILD, "cogvideo-bench"), "transformer", "block", str(f), str(h), str(w),
                              str(args.batch), str(args.threads), t],
                             attention=attention.replace("attn", "") if attention else None))
    tokens = 226 + f * (h // 2) * (w // 2)
    print(f"one 2b-width block, {args.frames} frames × {args.height}×{args.width} ({tokens} tokens), batch "
          f"{args.batch}, {args.threads} threads")
    print(f"{'impl':<10}{'weights':<15}{'seconds':>9}{'CPU s':>8}{'peak RSS MB':>13}{'weights RSS MB':>15}{'activations MB':>15}")
    for r in rows:
        print(f"{r['impl']:<10}{label(r):<15}{r['seconds']:>9.2f}{r['cpu_seconds']:>8.1f}{r['peak_rss_mb']:>13.0f}{r['rss_weights_mb']:>15.0f}"
              f"{r['activation_peak_mb']:>15.0f}")
    print(json.dumps(rows))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["model", "block", "torch-model-worker", "torch-block-worker"])
    ap.add_argument("--frames", type=int)
    ap.add_argument("--height", type=int)
    ap.add_argument("--width", type=int)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1, help="block: batch (2 = a CFG pair)")
    ap.add_argument("--types", default="f32", help="block: comma-separated Swift weight types (f32, q8_0, ...)")
    ap.add_argument("--torch", action="store_true", help="block: run diffusers' block too")
    ap.add_argument("--no-torch", action="store_true", help="model: skip diffusers (no cosine)")
    ap.add_argument("--torch-seconds", type=float, help="model with --no-torch: diffusers seconds/forward for the ratios")
    ap.add_argument("--q8-attention", choices=["both", "f32", "bf16"], default="both",
                    help="model: attention precision(s) of the Q8_0 rows (both: one row each)")
    ap.add_argument("--tmp", default=None, help="folder for the temporary checkpoint (default: $TMPDIR)")
    ap.add_argument("--dir")
    args = ap.parse_args()
    big = args.mode in ("block", "torch-block-worker")
    args.frames = args.frames or (49 if big else 13)
    args.height = args.height or (480 if big else 240)
    args.width = args.width or (720 if big else 368)
    {"model": model_driver, "block": block_driver, "torch-model-worker": torch_model_worker,
     "torch-block-worker": torch_block_worker}[args.mode](args)


if __name__ == "__main__":
    main()
